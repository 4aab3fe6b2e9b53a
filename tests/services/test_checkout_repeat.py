"""A checkout that repeats the buyer's checkout of a moment ago (same lines, same address) with a
new checkout key, as a form fetched again after going back does: refused with the orders it
repeats, unless the buyer asks for it on purpose (``repeat_window=None``)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.catalog.models import Product
from shop.orders import checkout, states
from shop.orders.models import Order
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_merchant, make_product, make_user
from tests.services.test_concurrency import race
from tests.services.test_orders import ADDRESS, NOW, WINDOW

REPEAT = timedelta(seconds=300)


def place(buyer, lines, *, key, at=NOW, address=ADDRESS, repeat=REPEAT):
    return checkout.place_order(
        buyer, lines, address, checkout_key=key, provider="sandbox", visitor_id=None,
        now=at, window=WINDOW, allow_self_purchase=True, pay_within=timedelta(minutes=30),
        repeat_window=repeat,
    )  # fmt: skip


def orders_count() -> int:
    return db.session.execute(select(func.count(Order.id))).scalar()


def test_the_same_lines_to_the_same_address_a_moment_later_are_refused(ctx):
    product = make_product(stock=10)
    buyer = make_user()
    [first] = place(buyer, [(product.id, 2)], key="first-form-key-0001")
    with pytest.raises(checkout.RepeatOrder) as refused:
        place(buyer, [(product.id, 2)], key="second-form-key-002", at=NOW + timedelta(seconds=90))
    assert refused.value.orders == [first]
    assert orders_count() == 1 and db.session.get(Product, product.id).stock == 8
    # Replaying the first form is still a replay, not a refusal.
    assert place(buyer, [(product.id, 2)], key="first-form-key-0001") == [first]
    # Asked for on purpose, it is a new order.
    [again] = place(buyer, [(product.id, 2)], key="second-form-key-002", repeat=None)
    assert again.id != first.id and orders_count() == 2
    assert db.session.get(Product, product.id).stock == 6
    invariants.check(db.session)


def test_a_paid_order_is_repeated_too(ctx):
    from tests.services.test_orders import pay

    product = make_product(stock=10)
    buyer = make_user()
    [first] = place(buyer, [(product.id, 1)], key="first-form-key-0001")
    assert pay(first).outcome == "paid"
    with pytest.raises(checkout.RepeatOrder):
        place(buyer, [(product.id, 1)], key="second-form-key-002", at=NOW + timedelta(seconds=60))
    assert orders_count() == 1


def test_what_is_not_a_repeat_is_placed(ctx):
    product = make_product(stock=50)
    other = make_product(stock=50, merchant=product.merchant)
    buyer = make_user()
    place(buyer, [(product.id, 2)], key="base-form-key-00001")
    moved = checkout.ShippingAddress("王小二", "13912345678", "浙江省 杭州市 西湖区", "文二路 1 号")
    for n, (lines, extra) in enumerate(
        (
            ([(product.id, 3)], {}),  # another quantity
            ([(product.id, 2), (other.id, 1)], {}),  # more products
            ([(other.id, 2)], {}),  # another product
            ([(product.id, 2)], {"address": moved}),  # another address
            ([(product.id, 2)], {"at": NOW + REPEAT + timedelta(seconds=1)}),  # after the window
        )
    ):
        placed = place(buyer, lines, key=f"other-form-key-{n:04d}", **extra)
        assert len(placed) == 1, (lines, extra)
    # Another buyer's identical order is theirs.
    assert place(make_user(), [(product.id, 2)], key="stranger-form-key-1")
    assert orders_count() == 7


def test_a_cancelled_order_may_be_placed_again_at_once(ctx):
    product = make_product(stock=10)
    buyer = make_user()
    [first] = place(buyer, [(product.id, 1)], key="first-form-key-0001")
    states.cancel_by_buyer(first, actor=buyer, now=NOW + timedelta(seconds=10))
    later = NOW + timedelta(seconds=20)
    [again] = place(buyer, [(product.id, 1)], key="second-form-key-002", at=later)
    assert again.id != first.id


def test_a_cart_of_two_shops_is_compared_whole(ctx):
    one, two = make_product(merchant=make_merchant()), make_product(merchant=make_merchant())
    buyer = make_user()
    first = place(buyer, [(one.id, 1), (two.id, 3)], key="cart-form-key-00001")
    assert len(first) == 2
    with pytest.raises(checkout.RepeatOrder) as refused:
        place(buyer, [(two.id, 3), (one.id, 1)], key="cart-form-key-00002")  # any order of lines
    assert sorted(o.id for o in refused.value.orders) == sorted(o.id for o in first)
    # Half of that cart is a new checkout.
    assert len(place(buyer, [(one.id, 1)], key="cart-form-key-00003")) == 1


def test_fresh_forms_submitted_at_once_place_one_order(app):
    """Eight tabs (each with its own fresh form) submitted together: the buyer's row lock
    (PostgreSQL) or the write lock (SQLite) orders them, and only the first places."""
    with app.app_context():
        product_id = make_product(stock=20).id
        buyer_id = make_user().id
        db.session.commit()

    def submit(i):
        buyer = db.session.get(User, buyer_id)
        placed = place(buyer, [(product_id, 1)], key=f"tab-{i}-form-key-xxxx")
        return "placed" if placed else None

    results, _seconds = race(app, 8, submit)
    assert results.count("placed") == 1 and results.count("RepeatOrder") == 7, results
    with app.app_context():
        assert orders_count() == 1
        assert db.session.get(Product, product_id).stock == 19
        invariants.check(db.session)
