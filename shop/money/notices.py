"""The notices the ledger's and payouts' changes emit to the outbox, in the same transaction:
a sharer hears of a rebate settled, voided or taken back (with the reason, never the buyer),
and of a payout paid or rejected."""

from datetime import datetime

from shop.money.models import Payout, PayoutStatus
from shop.orders.models import Order
from shop.platform import outbox


def rebate_settled(order: Order, amount_cents: int, *, now: datetime) -> None:
    if amount_cents > 0 and order.sharer_id is not None:
        outbox.emit("notify", "rebate_settled", user_id=order.sharer_id, now=now, payload={
            "order_no": order.number, "amount_cents": amount_cents,
        })  # fmt: skip


def rebate_reversed(order: Order, amount_cents: int, *, clawback: bool, now: datetime) -> None:
    """Voided (refunded before settlement) or clawed back (refunded after)."""
    if amount_cents > 0 and order.sharer_id is not None:
        outbox.emit("notify", "rebate_voided", user_id=order.sharer_id, now=now, payload={
            "order_no": order.number, "amount_cents": amount_cents, "clawback": clawback,
            "reason": "refunded",
        })  # fmt: skip


def payout_decided(payout: Payout, *, now: datetime) -> None:
    paid = payout.status == PayoutStatus.PAID
    outbox.emit("notify", "payout_decided", user_id=payout.user_id, now=now, payload={
        "payout_id": payout.id, "amount_cents": payout.amount_cents, "paid": paid,
        "reference": payout.reference if paid else "",
        "reason": "" if paid else payout.reject_reason,
    })  # fmt: skip
