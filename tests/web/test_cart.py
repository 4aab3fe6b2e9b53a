"""The cart: products of several merchants, kept across signing in, bought in one checkout
that makes one order per merchant."""

import re

import pytest
from sqlalchemy import select

from shop.catalog.models import Product, ProductStatus
from shop.orders.models import Order
from shop.platform.extensions import db
from tests import invariants
from tests.factories import DEFAULT_PASSWORD, make_product, make_user
from tests.web.test_checkout import ADDRESS
from tests.web.test_sharing import PHONE_UA, make_link


@pytest.fixture
def two_merchants(app):
    with app.app_context():
        link = make_link(price_cents=12800, rebate_bps=1000, stock=5)
        other = make_product(price_cents=3000, original_price_cents=None, stock=2)
        db.session.commit()
        return link.code, link.product_id, link.sharer_id, other.id


def text_of(response) -> str:
    return response.get_data(as_text=True)


def add(client, product_id, quantity=1, ref=""):
    return client.post(
        "/cart/add", data={"product_id": product_id, "quantity": quantity, "ref": ref}
    )


def test_a_cart_of_two_merchants_makes_two_orders_kept_across_sign_in(app, client, two_merchants):
    code, linked_id, sharer_id, other_id = two_merchants
    client.set_cookie("lang", "en")
    client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    assert add(client, linked_id, 2, ref=code).status_code == 303
    assert add(client, other_id).status_code == 303
    page = text_of(client.get("/cart"))
    assert "one order per shop" in page and "¥286.00" in page  # 2 x 128 + 30
    # Not signed in: checkout asks to sign in (or up) and comes back with the cart intact.
    gate = client.get("/cart/checkout")
    assert gate.status_code == 302 and "/auth/signin" in gate.headers["Location"]
    with app.app_context():
        buyer = make_user()
        db.session.commit()
        account = buyer.account_label
    client.post("/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD})
    form = client.get("/cart/checkout")
    assert form.status_code == 200 and "2 orders, one per shop" in text_of(form)
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', text_of(form)).group(1)
    data = {**ADDRESS, "checkout_key": key, "ref": code, "price_cents": "1"}
    placed = client.post("/cart/checkout", data=data)
    assert placed.status_code == 302 and placed.headers["Location"] == "/orders?status=placed"
    assert client.post("/cart/checkout", data=data).status_code == 302  # replay: cart empty
    with app.app_context():
        found = db.session.execute(select(Order).order_by(Order.merchant_id)).scalars().all()
        assert len(found) == 2 and len({o.merchant_id for o in found}) == 2
        assert sorted(o.total_cents for o in found) == [3000, 25600]
        assert {o.checkout_key for o in found} == {key}
        assert all(o.sharer_id == sharer_id for o in found)  # one visitor, one last click
        assert db.session.get(Product, linked_id).stock == 3
        assert db.session.get(Product, other_id).stock == 1
        invariants.check(db.session)
    assert "Your cart is empty" in text_of(client.get("/cart"))


def test_cart_quantities_removal_and_unavailable_items(app, client, two_merchants):
    _code, linked_id, _sharer, other_id = two_merchants
    client.set_cookie("lang", "en")
    add(client, other_id, 1)
    too_many = add(client, other_id, 5)  # stock 2: the product page again, with the message
    assert too_many.status_code == 422
    assert "Only 2 left of this spec. Choose fewer." in text_of(too_many)
    assert 'value="5"' in text_of(too_many)  # the quantity typed is kept
    client.post("/cart/update", data={"product_id": other_id, "quantity": "abc"})
    assert "Enter a whole number" in text_of(client.get("/cart"))
    add(client, linked_id)
    client.post("/cart/update", data={"product_id": linked_id, "remove": "1"})
    assert f'data-product="{linked_id}"' not in text_of(client.get("/cart"))
    with app.app_context():
        db.session.get(Product, other_id).status = ProductStatus.DELISTED
        buyer = make_user()
        db.session.commit()
        account = buyer.account_label
    client.post("/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD})
    form = client.get("/cart/checkout")
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', text_of(form)).group(1)
    refused = client.post("/cart/checkout", data={**ADDRESS, "checkout_key": key})
    assert refused.status_code == 200 and "cannot be bought now" in text_of(refused)
    with app.app_context():
        assert db.session.execute(select(Order)).first() is None
    assert add(client, 999999).status_code == 404
