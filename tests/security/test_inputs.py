"""What the app accepts from URLs and forms (shop/platform/inputs.py, shop/web/forms.py): ids
beyond the database's integer columns, NUL characters, and tokens with non-ASCII characters
answer 404, a field message or a refusal, never a 500 (tests/security/test_fuzz_routes.py
tries every route; these are the cases it found, one by one)."""

import pytest
from sqlalchemy import func, select

from shop.demo.seed import demo_licence_no
from shop.platform.extensions import db
from shop.reviews.models import BlockedWord
from shop.sharing import links
from shop.sharing.models import Channel
from shop.web.forms import NUL_MESSAGE
from tests.factories import make_product, make_shop, make_user

BEYOND = ("2147483648", "9223372036854775808", "1" + "0" * 30)


@pytest.fixture
def rows(app):
    with app.app_context():
        product = make_product(title="绿茶")
        shop = make_shop(name="小店")
        link = links.get_or_create_link(
            shop, product, Channel.CUSTOM, label="群", now=shop.created_at
        )
        rows = {
            "product": product.id,
            "code": link.code,
            "sharer": shop.user,
            "admin": make_user(is_admin=True),
            "buyer": make_user(),
        }
        db.session.commit()
        return rows


@pytest.mark.parametrize("value", BEYOND + ("0",))
def test_ids_beyond_the_integer_column_are_not_found(client, rows, value):
    for path in (f"/p/{value}", f"/m/{value}", f"/p/{value}/reviews", f"/s/x/p/{value}"):
        assert client.get(path).status_code == 404, path


def test_ids_in_unicode_digits_are_not_ids(client, rows):
    """int("١٢٣") is 123, and werkzeug's \\d matches it: the page of product 123 had a second
    address in every script's digits."""
    ascii_id = str(rows["product"])
    assert client.get(f"/p/{ascii_id}").status_code == 200
    arabic = ascii_id.translate(str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩"))
    fullwidth = ascii_id.translate(str.maketrans("0123456789", "０１２３４５６７８９"))
    assert client.get(f"/p/{arabic}").status_code == 404
    assert client.get(f"/p/{fullwidth}").status_code == 404


def test_the_largest_id_still_routes(app, client):
    assert client.get("/p/2147483647").status_code == 404  # matched, no such product
    with app.test_request_context():
        from flask import url_for

        assert url_for("storefront.product_detail", product_id=2147483647) == "/p/2147483647"


@pytest.mark.parametrize("value", BEYOND)
def test_ids_in_query_args_and_form_fields_beyond_the_column(english_client, rows, value):
    admin = english_client(rows["admin"])
    assert admin.get(f"/admin/flags?sharer={value}").status_code == 200
    buyer = english_client(rows["buyer"])
    assert buyer.post("/cart/add", data={"product_id": value}).status_code == 404
    sharer = english_client(rows["sharer"])
    assert sharer.post("/me/shop/items", data={"product_id": value}).status_code == 404
    form = {
        "name": "新商家",
        "licence_no": demo_licence_no("inputs"),
        "contact_name": "李四",
        "contact_phone": "13922223333",
        "category_id": value,
    }
    response = buyer.post("/merchant/apply", data=form)
    assert response.status_code == 200
    assert "Choose a main category." in response.get_data(as_text=True)


def test_nul_in_a_form_field_is_a_message_at_the_field(app, english_client, user_client, rows):
    """PostgreSQL refuses NUL in text (a 500 before); SQLite stored it. Now the form comes back
    with the message at the field and the text without the NUL, and nothing is stored."""
    admin = english_client(rows["admin"])
    response = admin.post("/admin/reviews/words", data={"word": "违禁\x00词"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert str(NUL_MESSAGE) in page
    assert 'value="违禁词"' in page
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(BlockedWord)).scalar() == 0
    # In Chinese (the default language) too.
    chinese = user_client(rows["admin"]).post("/admin/reviews/words", data={"word": "词\x00"})
    assert "此项含有看不见的控制字符" in chinese.get_data(as_text=True)
    # Sent again without it, the word is added.
    assert admin.post("/admin/reviews/words", data={"word": "违禁词"}).status_code == 302


def test_nul_anywhere_else_never_reaches_the_database(client, rows):
    """Forms not built on shop.web.forms, query args and paths: NUL is taken out (or the path
    does not match), so PostgreSQL never sees it."""
    answer = client.post("/auth/signin", data={"account": "1390000\x000000", "password": "x"})
    assert answer.status_code == 200
    assert client.get("/catalog?q=%E7%BB%BF%00%E8%8C%B6").status_code == 200
    assert client.get("/s/a%00b").status_code == 404
    assert client.get("/r/a%00b").status_code == 404


def test_non_ascii_tokens_and_signatures_are_refused(client, rows):
    """hmac.compare_digest raises TypeError on str with non-ASCII characters."""
    assert client.get("/pay/sandbox/FX1?t=%C3%A9%C3%A9").status_code == 404
    notice = client.post(
        "/payments/sandbox/notify", data=b"{}", headers={"X-Sandbox-Signature": "é" * 64}
    )
    assert notice.status_code == 400 and notice.get_json()["ok"] is False
    assert client.get("/payments/sandbox/return?body=%7B%7D&sig=%C3%A9").status_code == 400


def test_a_forged_visitor_cookie_with_non_ascii_characters_counts_as_none(app, client, rows):
    client.set_cookie(app.config["VISITOR_COOKIE"], "a" * 32 + "." + "é" * 24)
    response = client.get(f"/r/{rows['code']}")
    assert response.status_code == 303
    assert "é" not in response.headers.get("Set-Cookie", "")
