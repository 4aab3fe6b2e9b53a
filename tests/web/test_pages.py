import pytest

from shop.platform.extensions import db
from tests.factories import make_product, make_user

SECURITY_HEADERS = ("Content-Security-Policy", "X-Content-Type-Options", "Referrer-Policy")


def assert_secure_headers(response):
    for name in SECURITY_HEADERS:
        assert name in response.headers, name
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_home_lists_listed_products_in_chinese_by_default(app, client):
    with app.app_context():
        product = make_product(title="正山小种红茶")
        db.session.commit()
        product_id = product.id
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<html lang="zh-CN">' in page and "新品上架" in page and "正山小种红茶" in page
    assert f"/p/{product_id}" in page
    assert_secure_headers(response)


def test_product_page_shows_price_and_merchant(app, client):
    with app.app_context():
        product = make_product(price_cents=12900, original_price_cents=16800)
        db.session.commit()
        url, merchant = f"/p/{product.id}", product.merchant.name
    page = client.get(url).get_data(as_text=True)
    assert "129.00" in page and "168.00" in page and merchant in page and "认证商家" in page


def test_media_is_served_with_long_cache_headers(app, client):
    with app.app_context():
        product = make_product()
        db.session.commit()
        name = product.cover.sha256 + "-d.webp"
    response = client.get(f"/media/{name}")
    assert response.status_code == 200 and response.mimetype == "image/webp"
    assert "immutable" in response.headers["Cache-Control"]
    assert "max-age=31536000" in response.headers["Cache-Control"]
    assert_secure_headers(response)
    response.close()
    assert client.get("/media/../instance/secret_key").status_code == 404


@pytest.mark.parametrize(
    ("method", "url", "code", "text"),
    [
        ("get", "/no-such-page", 404, "页面不存在"),
        ("get", "/p/999999", 404, "页面不存在"),
        ("get", "/auth/signout", 405, "不支持的操作"),
    ],
)
def test_error_pages_are_translated_and_secured(client, method, url, code, text):
    response = getattr(client, method)(url)
    assert response.status_code == code
    assert text in response.get_data(as_text=True)
    assert_secure_headers(response)


def test_error_pages_in_english(client):
    response = client.get("/no-such-page", headers={"Accept-Language": "en"})
    assert "Page not found" in response.get_data(as_text=True)


def test_body_over_the_limit_gets_413(app, client):
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    response = client.post(
        "/auth/signup",
        data={"account": "x" * (2 * 1024 * 1024)},
    )
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "上传内容超过 1 MB" in page
    assert_secure_headers(response)


def test_500_page_leaks_nothing(app, client):
    app.config["PROPAGATE_EXCEPTIONS"] = False

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("secret internal detail")

    response = client.get("/boom-for-test")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "出错了" in page and "secret internal detail" not in page and "Traceback" not in page
    assert_secure_headers(response)


def test_static_files_carry_security_headers(client):
    response = client.get("/static/css/app.css")
    assert response.status_code == 200
    assert_secure_headers(response)
    response.close()


def test_pages_with_personal_data_are_not_cached(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    response = user_client(user).get("/auth/account")
    assert "no-store" in response.headers["Cache-Control"]


def test_page_fits_a_phone(client):
    page = client.get("/auth/signup").get_data(as_text=True)
    assert 'name="viewport" content="width=device-width, initial-scale=1' in page
    assert "<script" not in page  # nothing on the page needs script
    assert 'class="tabbar"' in page
