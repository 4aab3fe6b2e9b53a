"""The buy-now checkout's live totals: the page carries the SKU's price and the shipping fee of
every quantity (worked out as placing the order does), and without JavaScript the
"Recalculate" button shows the same numbers from the server, placing nothing."""

import re

import pytest
from sqlalchemy import func, select

from shop.catalog.models import Product, ShippingBasis, ShippingKind, ShippingTemplate
from shop.orders import shipping
from shop.orders.models import Order
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.web.test_checkout import ADDRESS


def with_template(app, *, stock=5, price=12800, **template):
    with app.app_context():
        product = make_product(price_cents=price, original_price_cents=None, stock=stock)
        fields = {
            "kind": ShippingKind.FLAT,
            "basis": ShippingBasis.PIECE,
            "first_fee_cents": 800,
            "extra_fee_cents": 200,
            **template,
        }
        row = ShippingTemplate(merchant_id=product.merchant_id, name="运费", **fields)
        db.session.add(row)
        db.session.flush()
        product.shipping_template_id = row.id
        buyer = make_user()
        db.session.commit()
        return product.id, buyer


def group_data(page: str) -> dict[str, str]:
    tag = re.search(r'<section class="card checkout-group"[^>]*>', page).group(0)
    return dict(re.findall(r'data-(price|max|fees)="([^"]*)"', tag))


@pytest.mark.parametrize(
    ("template", "fees"),
    [
        ({}, "800,1000,1200,1400,1600"),
        # 满 ¥300 包邮: three shirts at ¥128 ship free.
        ({"kind": ShippingKind.FREE_OVER, "free_over_cents": 30000}, "800,1000,0,0,0"),
        ({"unreachable": ["330000"]}, "x,x,x,x,x"),
        # By weight: 400 g each, started kilograms counted whole.
        ({"basis": ShippingBasis.WEIGHT}, "800,800,1000,1000,1000"),
    ],
)
def test_the_page_carries_the_fee_of_every_quantity(app, user_client, template, fees):
    product_id, buyer = with_template(app, **template)
    with app.app_context():
        db.session.get(Product, product_id).weight_grams = 400
        db.session.commit()
    client = user_client(buyer)
    page = client.post(f"/checkout/{product_id}", data={**ADDRESS, "quantity": "1", "recalc": "1"})
    data = group_data(page.get_data(as_text=True))
    assert data == {"price": "12800", "max": "5", "fees": fees}
    with app.app_context():  # the same numbers as placing the order works out
        product = db.session.get(Product, product_id)
        for quantity, fee in enumerate(fees.split(","), start=1):
            try:
                expected = str(
                    shipping.order_fee(product.merchant, [(product, quantity)], "330000")
                )
            except shipping.Unreachable:
                expected = "x"
            assert fee == expected


def test_the_quantity_limit_is_the_stock_or_the_order_limit(app, user_client):
    product_id, buyer = with_template(app, stock=500)
    page = user_client(buyer).get(f"/checkout/{product_id}").get_data(as_text=True)
    data = group_data(page)
    assert data["max"] == "99" and len(data["fees"].split(",")) == 99
    assert 'max="99"' in page and "checkout-qty.js" in page


def test_recalculate_shows_the_new_amounts_and_places_nothing(app, user_client):
    product_id, buyer = with_template(app)
    client = user_client(buyer)
    client.set_cookie("lang", "en")
    response = client.post(
        f"/checkout/{product_id}", data={**ADDRESS, "quantity": "3", "recalc": "1", "note": "留言"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert '<span class="part-goods">¥384.00</span>' in page
    assert (
        '<span class="shipping-fee" data-free="Free shipping" data-none="not delivered">¥12.00'
        in (page)
    )
    assert "¥396.00" in page and 'value="留言"' in page and 'value="3"' in page
    for bad, message in (("0", "Buy at least 1."), ("abc", "Enter a whole number of items.")):
        response = client.post(
            f"/checkout/{product_id}", data={**ADDRESS, "quantity": bad, "recalc": "1"}
        )
        assert message in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count(Order.id))).scalar() == 0
