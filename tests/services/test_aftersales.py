"""After-sales: refund types, the return parcel, withdrawing a request, escalation."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.catalog.models import Product
from shop.insights import queues
from shop.money.models import LedgerEntry
from shop.orders import aftersales, states
from shop.orders.models import OrderStatus
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.outbox import OutboxRow
from tests.factories import make_product, make_user
from tests.services.test_orders import NOW, pay, place, shared_click

S = OrderStatus


def paid_order(key="k1"):
    product = make_product(stock=10, rebate_bps=1000)
    shared_click(product, visitor="v" * 32)
    buyer = make_user()
    order = place(buyer, [(product.id, 1)], key=key, visitor="v" * 32)[0]
    pay(order)
    return order, buyer


def snapshot(order):
    db.session.flush()
    return (
        db.session.scalar(select(func.count()).select_from(LedgerEntry)),
        db.session.scalar(
            select(Product.sales_count).where(Product.id == order.items[0].product_id)
        ),
        db.session.scalar(select(Product.stock).where(Product.id == order.items[0].product_id)),
        order.paid_at,
    )


def test_return_needs_a_shipped_order_and_takes_a_checked_tracking_number(ctx):
    order, buyer = paid_order()
    with pytest.raises(ValidationError) as error:
        states.request_refund(order, "不合适", actor=buyer, now=NOW, kind=states.RETURN)
    assert error.value.field == "kind"
    with pytest.raises(ValidationError):
        states.request_refund(order, "不合适", actor=buyer, now=NOW, kind="everything")
    states.ship(order, "SF", "SF1234567890", actor=order.merchant.user, now=NOW)
    states.request_refund(order, "尺码不合适", actor=buyer, now=NOW, kind=states.RETURN)
    assert (order.status, order.refund_kind, order.refund_requested_at) == (
        S.REFUND_REQUESTED, "return", NOW
    )  # fmt: skip
    with pytest.raises(PermissionDenied):
        aftersales.enter_return_tracking(order, "ZTO", "78123456789012", actor=make_user(), now=NOW)
    with pytest.raises(ValidationError) as error:
        aftersales.enter_return_tracking(order, "ZTO", "12", actor=buyer, now=NOW)
    assert error.value.field == "tracking"
    aftersales.enter_return_tracking(order, "中通", "7812 3456 7890 12", actor=buyer, now=NOW)
    assert (order.return_carrier, order.return_tracking) == ("ZTO", "78123456789012")


def test_refund_only_takes_no_return_tracking(ctx):
    order, buyer = paid_order()
    states.request_refund(order, "不想要了", actor=buyer, now=NOW)
    assert order.refund_kind == "refund_only"
    with pytest.raises(ValidationError):
        aftersales.enter_return_tracking(order, "SF", "SF1234567890", actor=buyer, now=NOW)


@pytest.mark.parametrize("shipped", [False, True])
def test_withdrawing_goes_back_where_it_was_and_changes_no_money(ctx, shipped):
    order, buyer = paid_order()
    if shipped:
        states.ship(order, "SF", "SF1234567890", actor=order.merchant.user, now=NOW)
    before_status = order.status
    before = snapshot(order)
    notices = db.session.scalar(select(func.count()).select_from(OutboxRow))
    states.request_refund(order, "不想要了", actor=buyer, now=NOW)
    with pytest.raises(PermissionDenied):
        aftersales.cancel_request(order, actor=make_user(), now=NOW)
    aftersales.cancel_request(order, actor=buyer, now=NOW + timedelta(hours=1))
    assert order.status == before_status
    assert snapshot(order) == before  # no second estimate, sale or restock
    # Only the merchant's 'refund requested' notice: withdrawing is no new payment.
    assert db.session.scalar(select(func.count()).select_from(OutboxRow)) == notices + 1
    assert [e.to_status for e in order.events][-2:] == ["refund_requested", str(before_status)]
    with pytest.raises(ValidationError):
        aftersales.cancel_request(order, actor=buyer, now=NOW)
    # The order goes on: a new request, and the merchant can still ship or refund it.
    states.request_refund(order, "还是不要了", actor=buyer, now=NOW + timedelta(hours=2))
    states.decide_refund(order, True, actor=order.merchant.user, source="merchant", now=NOW)
    assert order.status == S.REFUNDED


def test_the_state_table_only_lets_a_request_go_back_where_it_came_from(ctx):
    order, buyer = paid_order()
    states.request_refund(order, "不想要了", actor=buyer, now=NOW)
    assert states.can(order, S.PAID, "withdrawal")
    assert not states.can(order, S.SHIPPED, "withdrawal")
    assert not states.can(order, S.COMPLETED, "withdrawal")
    assert not states.can(order, S.PAID, "buyer")
    assert not states.can(order, S.PAID, "merchant")


def test_unanswered_requests_are_escalated_once_and_listed_first(ctx):
    waiting, buyer = paid_order("k1")
    fresh, other_buyer = paid_order("k2")
    states.request_refund(waiting, "坏了", actor=buyer, now=NOW - timedelta(days=4))
    states.request_refund(fresh, "坏了", actor=other_buyer, now=NOW)
    after = timedelta(days=3)
    assert aftersales.escalate_unanswered(now=NOW, after=after) == 1
    assert aftersales.escalate_unanswered(now=NOW + timedelta(hours=1), after=after) == 0
    db.session.refresh(waiting)
    db.session.refresh(fresh)
    assert waiting.refund_escalated_at == NOW and fresh.refund_escalated_at is None
    assert [o.id for o in queues.refund_disputes()][0] == waiting.id
    # Withdrawn, then asked again: a new request, a new clock.
    aftersales.cancel_request(waiting, actor=buyer, now=NOW)
    assert waiting.refund_escalated_at is None
    states.request_refund(waiting, "坏了", actor=buyer, now=NOW)
    assert aftersales.escalate_unanswered(now=NOW + timedelta(days=1), after=after) == 0
