"""Small questions about an order's partial refunds, asked by the ledgers and by the order's
whole-refund path (shop.orders.states, through shop.money.ledger)."""

from datetime import datetime, timedelta

from sqlalchemy import func, select, update

from shop.money.models import RefundLine, RefundRequest, RefundStatus
from shop.orders.models import Order
from shop.platform.extensions import db


def open_refunds():
    """SELECT the ids of orders with a partial refund request waiting for the merchant."""
    return select(RefundRequest.order_id).where(RefundRequest.status == RefundStatus.REQUESTED)


def waiting_amounts(order_ids: list[int]) -> dict[int, int]:
    """The amount asked by the partial refund waiting on each of ``order_ids`` (if any)."""
    if not order_ids:
        return {}
    rows = db.session.execute(
        select(RefundRequest.order_id, RefundRequest.amount_cents).where(
            RefundRequest.order_id.in_(order_ids), RefundRequest.status == RefundStatus.REQUESTED
        )
    )
    return {order_id: int(amount) for order_id, amount in rows}


def refunded_units(order: Order) -> dict[int, int]:
    """Units of each item given back by partial refunds (restocked when they were)."""
    rows = db.session.execute(
        select(RefundLine.order_item_id, func.sum(RefundLine.quantity))
        .join(RefundRequest, RefundRequest.id == RefundLine.refund_id)
        .where(RefundRequest.order_id == order.id, RefundRequest.status == RefundStatus.REFUNDED)
        .group_by(RefundLine.order_item_id)
    )
    return {item_id: int(n) for item_id, n in rows}


def partly_refunded_cents(order: Order) -> int:
    """The money partial refunds gave back so far."""
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(RefundRequest.amount_cents), 0)).where(
                RefundRequest.order_id == order.id,
                RefundRequest.status == RefundStatus.REFUNDED,
            )
        ).scalar_one()
    )


def has_open_refund(order: Order) -> bool:
    return (
        db.session.execute(open_refunds().where(RefundRequest.order_id == order.id)).first()
        is not None
    )


def escalate_unanswered(*, now: datetime, after: timedelta) -> int:
    """Mark the partial refund requests the merchant has left unanswered for ``after`` as
    escalated to the admins (`flask sweep-orders`; the admin refunds page lists them first),
    as shop.orders.aftersales does for whole-order requests. One guarded UPDATE: each request
    is escalated once, and a request decided meanwhile is not."""
    result = db.session.execute(
        update(RefundRequest)
        .where(
            RefundRequest.status == RefundStatus.REQUESTED,
            RefundRequest.requested_at <= now - after,
            RefundRequest.escalated_at.is_(None),
        )
        .values(escalated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
