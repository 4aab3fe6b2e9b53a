"""The guarded UPDATE of ``states.transition`` returns the order's row instead of refreshing it
afterwards (shop.orders.order_rows): the loaded order must end exactly as a refresh left it.
Columns another writer changed without bumping the version (the buyer's return parcel, the
escalation sweep) are read back; a loaded collection (the order's events) is read again; a
stale order object still changes nothing; a payment loads its items, products and categories
in one statement and the products then read their new sales count."""

import pytest
from sqlalchemy import event, text

from shop.catalog.models import Product
from shop.orders import payments, states
from shop.orders.models import Order, OrderStatus
from shop.platform.errors import Conflict
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.services.test_orders import NOW, place

S = OrderStatus


def placed(quantity=2):
    product = make_product(price_cents=1000, stock=10)
    [order] = place(make_user(), [(product.id, quantity)])
    db.session.flush()
    return order, product.id


def test_the_order_reads_columns_changed_behind_its_back_and_its_new_event(ctx):
    order, _product_id = placed()
    assert [e.to_status for e in order.events] == ["placed"]  # loaded before the change
    db.session.execute(  # another writer, no version bump (as the escalation sweep does)
        text("UPDATE orders SET buyer_note = 'behind its back' WHERE id = :id"), {"id": order.id}
    )
    version = order.version
    states.transition(order, S.PAID, source="payment", actor=None, now=NOW)
    assert (order.status, order.paid_at, order.version) == (S.PAID, NOW, version + 1)
    assert order.buyer_note == "behind its back"
    assert [e.to_status for e in order.events] == ["placed", "paid"]
    row = db.session.execute(
        text("SELECT status, version FROM orders WHERE id = :id"), {"id": order.id}
    ).one()
    assert tuple(row) == ("paid", version + 1)


def test_a_stale_order_changes_nothing_and_is_refreshed(ctx):
    order, _product_id = placed()
    db.session.execute(
        text("UPDATE orders SET version = version + 1 WHERE id = :id"), {"id": order.id}
    )
    with pytest.raises(Conflict):
        states.transition(order, S.PAID, source="payment", actor=None, now=NOW)
    assert (order.status, order.paid_at) == (S.PLACED, None)
    assert [e.to_status for e in order.events] == ["placed"]


def test_a_payment_loads_items_products_and_categories_in_one_statement(ctx):
    order, product_id = placed(quantity=3)
    number, total = order.number, order.total_cents
    db.session.commit()
    db.session.expunge_all()  # as the worker finds it: nothing loaded
    seen = []

    def count(conn, cursor, statement, parameters, context, executemany):
        seen.append(" ".join(statement.split()))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        result = payments.apply_notice(
            "sandbox", payments.PaymentNotice("evt-rows-1", number, total), now=NOW
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert result.outcome == "paid"
    assert sum(s.startswith("SELECT order_items.") for s in seen) == 1
    assert not [s for s in seen if s.startswith(("SELECT products.", "SELECT categories."))]
    assert not [s for s in seen if s.startswith("SELECT merchants.")]
    [found] = [s for s in seen if s.startswith("SELECT orders.")]  # with its merchant
    assert "JOIN merchants" in found
    order = result.order
    assert order.items[0].product.sales_count == 3  # read again after the UPDATE
    assert db.session.get(Product, product_id).sales_count == 3
    assert db.session.get(Order, order.id).status == S.PAID
