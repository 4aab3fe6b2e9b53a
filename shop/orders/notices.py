"""The notices an order's changes emit to the outbox, in the transaction of the change.

Who hears what (``shop.notify.kinds`` has the text): the merchant of a paid order and of a
refund request; the sharer an order earns for, with the estimate (never the buyer's name,
phone or address); the buyer of a shipped order and of a decided refund (never a rebate).
"""

from datetime import datetime

from shop.orders import carriers
from shop.orders.models import Order, OrderStatus
from shop.platform import outbox

S = OrderStatus


def _emit(kind: str, user_id: int | None, payload: dict, now: datetime) -> None:
    if user_id is not None:
        outbox.emit("notify", kind, user_id=user_id, payload=payload, now=now)


def _product(order: Order) -> str:
    titles = [item.title for item in order.items]
    return titles[0] + (f" +{len(titles) - 1}" if len(titles) > 1 else "") if titles else ""


def order_changed(
    order: Order, before: OrderStatus, *, now: datetime, estimate_cents: int = 0
) -> None:
    """Called by ``states.transition`` after the guarded update (and the ledger postings)."""
    to = order.status
    base = {"order_id": order.id, "order_no": order.number}
    if to == S.PAID and before == S.PLACED:  # both rows in one statement (the worker's path)
        product = _product(order)
        rows = [("order_paid", order.merchant.user_id, {
            **base, "product": product, "total_cents": order.total_cents,
        })]  # fmt: skip
        if estimate_cents > 0:
            rows.append(("order_attributed", order.sharer_id, {
                "order_no": order.number, "product": product, "amount_cents": estimate_cents,
            }))  # fmt: skip
        outbox.emit_many("notify", [row for row in rows if row[1] is not None], now=now)
    elif to == S.SHIPPED and before == S.PAID:
        _emit("order_shipped", order.buyer_id, {
            **base, "carrier": carriers.label(order.carrier or ""),
            "tracking": order.tracking_number,
        }, now)  # fmt: skip
    elif to == S.REFUND_REQUESTED:
        _emit("refund_requested", order.merchant.user_id, {
            **base, "total_cents": order.total_cents, "reason": order.refund_reason,
        }, now)  # fmt: skip
    elif to in (S.REFUNDED, S.REFUND_REJECTED) and before in (
        S.REFUND_REQUESTED, S.REFUND_REJECTED,
    ):  # fmt: skip
        _emit("refund_decided", order.buyer_id, {
            **base, "approved": to == S.REFUNDED, "total_cents": order.total_cents,
        }, now)  # fmt: skip


def part_refund_requested(order: Order, amount_cents: int, reason: str, *, now: datetime) -> None:
    """A buyer asked for part of ``order`` back (shop.money.refunds): the merchant hears of it
    as of any refund request, with the amount asked."""
    _emit("refund_requested", order.merchant.user_id, {
        "order_id": order.id, "order_no": order.number, "total_cents": amount_cents,
        "reason": reason,
    }, now)  # fmt: skip


def part_refund_decided(order: Order, approved: bool, amount_cents: int, *, now: datetime) -> None:
    _emit("refund_decided", order.buyer_id, {
        "order_id": order.id, "order_no": order.number, "approved": approved,
        "total_cents": amount_cents,
    }, now)  # fmt: skip
