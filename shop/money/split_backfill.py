"""Splits for orders paid before merchant settlement existed (migration 8e4b2f6a1c57): each
such order gets its :class:`OrderSplit` and the merchant-ledger entries its history implies,
so the money identity holds for every paid order and merchants see their old sales.

What is stored, per order:

- rebates and overrides: exactly what the rebate ledger estimated for it (tier 1 and 2), so
  the split agrees with the ledger that already paid sharers;
- the platform fee: 0 by default (no fee was agreed when those orders were paid), or the
  rates as they are now with ``current_fees`` (the same per-item rule as a new order:
  :func:`shop.money.merchant_ledger.compute_split`);
- the merchant's entries: ``estimated`` at the time it was paid; for a refunded order,
  ``voided`` (or ``settled`` then ``clawback`` when its rebates had settled before the refund);
  ``settled`` when its rebates settled. Anything still due is left to ``flask settle-rebates``.

Idempotent: the split's primary key and the merchant ledger's unique (order, kind) keys make
a second run, or two runs at once, post nothing twice; an order that has a split is skipped.
"""

from datetime import datetime

from sqlalchemy import exists, func, select

from shop.money.merchant_ledger import K, Split, _post, compute_split, store_split
from shop.money.models import EntryKind, LedgerEntry, OrderSplit
from shop.orders.models import Order, OrderEvent, OrderStatus
from shop.platform import db as dbsetup
from shop.platform.extensions import db


def missing(*, after_id: int = 0, limit: int = 500) -> list[int]:
    """Ids above ``after_id`` of orders that were ever paid and have no split, in order."""
    paid = select(OrderEvent.order_id).where(OrderEvent.to_status == OrderStatus.PAID)
    has_split = exists().where(OrderSplit.order_id == Order.id)
    query = (
        select(Order.id)
        .where(Order.id > after_id, Order.id.in_(paid), ~has_split)
        .order_by(Order.id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def _rebate_history(order_id: int) -> tuple[dict[int, int], dict[EntryKind, datetime]]:
    """The order's estimated rebates by tier, and when each kind was first posted."""
    estimated = dict(
        db.session.execute(
            select(LedgerEntry.tier, func.sum(LedgerEntry.amount_cents))
            .where(LedgerEntry.order_id == order_id, LedgerEntry.kind == EntryKind.ESTIMATED)
            .group_by(LedgerEntry.tier)
        ).all()
    )
    first = {
        EntryKind(kind): at
        for kind, at in db.session.execute(
            select(LedgerEntry.kind, func.min(LedgerEntry.created_at))
            .where(LedgerEntry.order_id == order_id, LedgerEntry.order_item_id.is_not(None))
            .group_by(LedgerEntry.kind)
        ).all()
    }
    return {int(t): int(a or 0) for t, a in estimated.items()}, first


def backfill_order(order: Order, *, now: datetime, current_fees: bool = False) -> bool:
    """Store the split of one paid order and post its merchant entries. False when it had a
    split already (another run got there first). The caller commits."""
    estimated, first = _rebate_history(order.id)
    rebates, overrides = estimated.get(1, 0), estimated.get(2, 0)
    fee = compute_split(order).fee_cents if current_fees else 0
    split = Split.of(order, rebates=rebates, overrides=overrides, fee=fee)
    if not store_split(order, split, now=now):
        return False
    share = split.merchant_cents
    _post(order, K.ESTIMATED, share, fee, order.paid_at or now)
    settled_at = first.get(EntryKind.SETTLED)
    if settled_at is not None:
        _post(order, K.SETTLED, share, fee, settled_at)
    if order.status == OrderStatus.REFUNDED:
        refunded_at = order.closed_at or now
        if settled_at is not None:
            _post(order, K.CLAWBACK, share, fee, first.get(EntryKind.CLAWBACK) or refunded_at)
        else:
            _post(order, K.VOIDED, share, fee, first.get(EntryKind.VOIDED) or refunded_at)
    return True


def backfill(*, now: datetime, batch: int = 500, current_fees: bool = False) -> dict[str, int]:
    """Every paid order without a split, ``batch`` orders per transaction (committed here, so
    a long run holds no lock for long and an interrupted run keeps what it did)."""
    counts = {"orders": 0, "batches": 0}
    after = 0
    while True:
        with dbsetup.writing():
            db.session.rollback()
            ids = missing(after_id=after, limit=batch)
            if not ids:
                db.session.rollback()
                return counts
            orders = db.session.execute(select(Order).where(Order.id.in_(ids))).scalars()
            for order in orders:
                counts["orders"] += backfill_order(order, now=now, current_fees=current_fees)
            db.session.commit()
        counts["batches"] += 1
        after = ids[-1]
