"""What the pages show of an order's partial refunds (shop.money.refunds): each item with what
was refunded of it and what can still be asked back, the requests, the money given back."""

from dataclasses import dataclass

from sqlalchemy import select

from shop.money.models import RefundCap, RefundRequest
from shop.money.refund_queries import partly_refunded_cents
from shop.orders.models import Order, OrderItem, OrderStatus
from shop.platform.extensions import db


@dataclass(frozen=True)
class Line:
    """One item of an order as the refund pages show it."""

    item: OrderItem
    paid_cents: int  #: what was paid for the line
    refunded_quantity: int
    refunded_cents: int
    left_quantity: int  #: units that can still be asked back (not refunded, not asked)
    left_cents: int


def caps(order: Order) -> dict[int, RefundCap]:
    found = db.session.execute(select(RefundCap).where(RefundCap.order_id == order.id)).scalars()
    return {cap.line: cap for cap in found}


def lines(order: Order) -> list[Line]:
    """Each item with what was refunded of it and what can still be asked back."""
    have = caps(order)
    shown = []
    for item in order.items:
        cap = have.get(item.id)
        paid = item.line_cents - item.discount_cents
        done_q, done_c = (cap.done_quantity, cap.done_cents) if cap else (0, 0)
        held_q, held_c = (cap.held_quantity, cap.held_cents) if cap else (0, 0)
        left = (item.quantity - done_q - held_q, paid - done_c - held_c)
        shown.append(Line(item, paid, done_q, done_c, *left))
    return shown


def refunded_cents(order: Order) -> int:
    """The money given back so far (everything once the order is refunded)."""
    if order.status == OrderStatus.REFUNDED:
        return order.total_cents
    return partly_refunded_cents(order)


def requests_of(order: Order) -> list[RefundRequest]:
    return list(
        db.session.execute(
            select(RefundRequest)
            .where(RefundRequest.order_id == order.id)
            .order_by(RefundRequest.seq)
        ).scalars()
    )
