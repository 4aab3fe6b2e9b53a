"""A checkout that fails after its orders were written (a coupon raced, a fault) takes back
the rows with its savepoint, and the order objects made from them leave the session too: the
next checkout in the same session (a retry, demo seeding, a test) places normally, even while
something still holds the failed one's objects."""

import pytest
from sqlalchemy import func, select

from shop.catalog.models import Product
from shop.money import sales
from shop.orders.models import Order, OrderItem
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.services.test_orders import place


def test_a_checkout_failing_after_its_rows_leaves_nothing_behind(app, monkeypatch):
    with app.app_context():
        product = make_product(stock=5)
        buyer = make_user()
        db.session.commit()
        real, calls = sales.order_placed, []

        def fails_once(order):
            calls.append(order)
            if len(calls) == 1:
                raise ValidationError("boom")
            return real(order)

        monkeypatch.setattr(sales, "order_placed", fails_once)
        with pytest.raises(ValidationError) as failed:
            place(buyer, [(product.id, 1)], key="k" * 20)
        assert failed.value and calls[0] not in db.session  # still referenced, not in the session
        assert db.session.scalar(select(func.count(Order.id))) == 0
        assert db.session.scalar(select(func.count(OrderItem.id))) == 0
        [order] = place(buyer, [(product.id, 1)], key="j" * 20)
        db.session.commit()
        assert db.session.execute(select(Order.id, Order.checkout_key)).all() == [
            (order.id, "j" * 20)
        ]
        db.session.expire_all()
        assert db.session.get(Product, product.id).stock == 4
