"""Uploads are counted per account across every form that takes images
(UPLOAD_LIMIT_PER_ACCOUNT), and an image too big to decode cheaply is refused on the form
with the rest of the input kept."""

import io

import pytest

from shop.catalog.models import Image, Product
from shop.platform.extensions import db
from tests.factories import (
    make_completed_order,
    make_merchant,
    make_product,
    png_bytes,
)
from tests.services.test_image_uploads import png_header_only


def files(field: str, count: int) -> dict:
    return {field: [(io.BytesIO(png_bytes(color=(n, 7, 7))), f"{n}.png") for n in range(count)]}


def upload_routes(product_id: int, order_id: int, item_id: int, category_id: int) -> list:
    """(path, form) of every form that stores images: each with two files."""
    product_form = {
        "title": "正山小种",
        "category_id": str(category_id),
        "price": "128",
        "original_price": "",
        "stock": "10",
        "stock_shown": "10",
        "rebate_percent": "15",
        "description": "",
    }
    return [
        ("/merchant/apply", {"name": "山野茶舍", **files("logo", 2)}),
        ("/merchant/products/new", {**product_form, **files("images", 2)}),
        (f"/merchant/products/{product_id}/edit", {**product_form, **files("images", 2)}),
        (f"/merchant/products/{product_id}/images", files("images", 2)),
        (f"/merchant/products/{product_id}/materials/pictures", files("pictures", 2)),
        ("/me/shop/settings", {"name": "小店", "slug": "my-shop", **files("avatar", 2)}),
        (
            f"/orders/{order_id}/items/{item_id}/review",
            {"rating": "5", "body": "好", **files("photos", 2)},
        ),
    ]


@pytest.fixture
def uploader(app, user_client):
    """An approved merchant with a product, who also bought something and received it."""
    with app.app_context():
        merchant = make_merchant()
        product = make_product(merchant=merchant, stock=10)
        order = make_completed_order(buyer=merchant.user)
        db.session.commit()
        ids = (product.id, order.id, order.items[0].id, product.category_id)
        user = merchant.user
    return user_client(user), ids


def test_every_form_that_stores_images_counts_each_file(app, uploader):
    client, ids = uploader
    app.config["UPLOAD_LIMIT_PER_ACCOUNT"] = "1 per 10 minutes"
    routes = upload_routes(*ids)
    assert app.url_map.bind("localhost").match("/me/shop/settings", method="POST")
    for path, form in routes:
        response = client.post(path, data=form, content_type="multipart/form-data")
        assert response.status_code == 429, path  # two files, one allowed
        assert "尝试次数过多" in response.get_data(as_text=True)
        assert int(response.headers["Retry-After"]) > 0
    with app.app_context():
        assert db.session.query(Image).count() == 2  # the factories' product and order only


def test_the_limit_counts_files_per_account_and_leaves_other_saves_alone(
    app, uploader, user_client
):
    client, (product_id, _order_id, _item_id, category_id) = uploader
    app.config["UPLOAD_LIMIT_PER_ACCOUNT"] = "3 per 10 minutes"
    path = f"/merchant/products/{product_id}/images"
    first = client.post(path, data=files("images", 2), content_type="multipart/form-data")
    second = client.post(
        path, data={"images": [(io.BytesIO(png_bytes(color=(9, 9, 9))), "c.png")]},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert (first.status_code, second.status_code) == (302, 302)
    over = client.post(
        path, data={"images": [(io.BytesIO(png_bytes(color=(8, 9, 9))), "d.png")]},
        content_type="multipart/form-data",
    )  # fmt: skip
    assert over.status_code == 429
    # A save without a file is not an upload: it is neither counted nor refused.
    edit = client.post(
        f"/merchant/products/{product_id}/edit",
        data={
            "title": "新标题", "category_id": str(category_id), "price": "99",
            "original_price": "", "stock": "10", "stock_shown": "10", "rebate_percent": "10",
            "description": "",
        },
    )  # fmt: skip
    assert edit.status_code == 302
    with app.app_context():
        product = db.session.get(Product, product_id)
        assert product.title == "新标题" and len(product.images) == 4
        other = make_merchant()
        other_product_id = make_product(merchant=other).id
        db.session.commit()
        other_user = other.user
    # Another account has its own count.
    answer = user_client(other_user).post(
        f"/merchant/products/{other_product_id}/images",
        data=files("images", 2),
        content_type="multipart/form-data",
    )
    assert answer.status_code == 302


def test_a_png_too_big_to_decode_is_refused_on_the_form_keeping_the_input(app, uploader):
    client, (product_id, _order_id, _item_id, category_id) = uploader
    form = {
        "title": "正山小种 新茶", "category_id": str(category_id), "price": "99.00",
        "original_price": "", "stock": "10", "stock_shown": "10", "rebate_percent": "12",
        "description": "松烟香",
        "images": [(io.BytesIO(png_header_only(6300, 6300)), "big.png")],
    }  # fmt: skip
    response = client.post(
        f"/merchant/products/{product_id}/edit",
        data=form,
        content_type="multipart/form-data",
        headers={"Accept-Language": "en"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "PNG and WebP images can have at most 6 megapixels" in page
    assert 'value="正山小种 新茶"' in page and 'value="99.00"' in page
    with app.app_context():
        product = db.session.get(Product, product_id)
        assert product.title != "正山小种 新茶" and len(product.images) == 1
