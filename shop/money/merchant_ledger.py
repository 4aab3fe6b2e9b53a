"""The split of each paid order and the merchant ledger.

Every paid order splits, in integer fen, into the merchant's share, the sharer's rebates, the
team leader's override and the platform's part::

    paid = merchant + rebates + overrides + platform
    merchant = paid - rebates - fee      (shipping is the merchant's; the merchant funds rebates)
    platform = fee - overrides           (the platform pays the override on top of the rebate)

The fee is worked out per item on its goods (never on shipping), at the merchant's rate when
an admin set one, else the product's category's rate, else 0, rounded down to the fen, and
never more than what is left of the item after its rebate (so the merchant's share is never
below zero). The split is stored once, when the order is paid (:class:`OrderSplit`): what a
profit-sharing (分账) adapter would send.

The merchant ledger follows the rebate ledger (shop.money.ledger): an ESTIMATED entry when
paid, SETTLED after the return window (the same ``flask settle-rebates`` run), VOIDED when
refunded before settlement, CLAWBACK when refunded after it. Every entry carries the
merchant's share and the fee moved with it; (order, kind) is unique, so a replay posts
nothing.
"""

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import func, select

from shop.catalog.models import Merchant
from shop.money import fee_rules
from shop.money.models import (
    MERCHANT_EFFECTS,
    MerchantEntry,
    MerchantEntryKind,
    MerchantWithdrawal,
    OrderSplit,
    WithdrawalStatus,
)
from shop.money.refund_queries import open_refunds
from shop.orders.models import Order, OrderStatus
from shop.platform import db as dbsetup
from shop.platform.extensions import db
from shop.sharing.attribution import EARNING

log = logging.getLogger(__name__)
K = MerchantEntryKind
#: Orders whose money may settle once the return window after completion has passed (the
#: rebate ledger's rule).
SETTLEABLE = (OrderStatus.COMPLETED, OrderStatus.REFUND_REJECTED)
MAX_FEE_BPS = 10_000


def fee_bps_for(merchant: Merchant, category_fee_bps: int | None) -> int:
    """A merchant's own rate wins over the category's; neither set: 0."""
    if merchant.fee_bps is not None:
        return merchant.fee_bps
    return category_fee_bps or 0


def _earns(order: Order) -> bool:
    return order.sharer_id is not None and order.attribution_reason in EARNING


@dataclass(frozen=True)
class Split:
    paid_cents: int
    shipping_cents: int
    rebate_cents: int
    override_cents: int
    fee_cents: int
    merchant_cents: int
    platform_cents: int

    @classmethod
    def of(cls, order: Order, *, rebates: int, overrides: int, fee: int) -> "Split":
        """The split of what the buyer paid for ``order``: the merchant keeps what the rebates
        and the fee leave; the platform keeps the fee less the overrides it pays."""
        paid = order.total_cents
        return cls(
            paid_cents=paid,
            shipping_cents=order.shipping_cents,
            rebate_cents=rebates,
            override_cents=overrides,
            fee_cents=fee,
            merchant_cents=paid - rebates - fee,
            platform_cents=fee - overrides,
        )


def store_split(order: Order, split: Split, *, now: datetime) -> bool:
    """Store ``split`` as the order's (once); False when it had one already."""
    inserted = db.session.execute(
        _insert(db.session.get_bind().dialect.name, "order_splits"),
        {"order_id": order.id, "merchant_id": order.merchant_id, "created_at": now, **vars(split)},
    ).first()
    return inserted is not None


@cache
def _insert(dialect: str, name: str):
    """``INSERT ... ON CONFLICT DO NOTHING RETURNING <key>`` into the order splits or the
    merchant entries, built once per dialect and run with bind parameters."""
    table = {"order_splits": OrderSplit, "merchant_entries": MerchantEntry}[name].__table__
    key = table.c.order_id if name == "order_splits" else table.c.id
    return dbsetup.insert_of(dialect, table).on_conflict_do_nothing().returning(key)


def compute_split(order: Order) -> Split:
    """The split of ``order`` as it stands (items, rates, attribution fixed at placing; the
    fee rates as they are now)."""
    earns = _earns(order)
    with_override = earns and order.leader_id is not None and order.override_bps > 0
    rebates = overrides = fee = 0
    for item in order.items:
        goods = item.unit_price_cents * item.quantity
        rebate = item.rebate_cents if earns else 0
        category = item.product.category
        bps = fee_bps_for(order.merchant, category.fee_bps if category else None)
        fee += min(goods * bps // 10_000, goods - rebate)
        rebates += rebate
        if with_override:
            overrides += item.rebate_cents * order.override_bps // 10_000
    return Split.of(order, rebates=rebates, overrides=overrides, fee=fee)


def split_of(order_id: int) -> OrderSplit | None:
    return db.session.get(OrderSplit, order_id)


def item_fees(order: Order) -> list[int]:
    """Each item's fee at today's rates, as :func:`compute_split` works it out."""
    earns = _earns(order)
    fees = []
    for item in order.items:
        goods = item.unit_price_cents * item.quantity
        category = item.product.category
        bps = fee_bps_for(order.merchant, category.fee_bps if category else None)
        fees.append(min(goods * bps // 10_000, goods - (item.rebate_cents if earns else 0)))
    return fees


def _post(
    order: Order,
    kind: MerchantEntryKind,
    amount: int,
    fee: int,
    now: datetime,
    refund_id: int | None = None,
) -> bool:
    result = db.session.execute(
        _insert(db.session.get_bind().dialect.name, "merchant_entries"),
        {
            "merchant_id": order.merchant_id,
            "kind": kind,
            "amount_cents": amount,
            "fee_cents": fee,
            "order_id": order.id,
            "created_at": now,
            "refund_id": refund_id,
        },
    )
    return result.first() is not None


def cover_override(order: Order) -> int:
    """Before the order's first split: lower its override rate, where the fees in force do not
    cover it, to the highest rate they do (per item, :func:`fee_rules.covered_override_bps`),
    so the platform's part is never below zero. The fee rules refuse such a configuration
    when it is set (and ``flask check-config`` at start); this holds even when one slips
    through (a fee changed while the order waited for payment, a product moved to a cheaper
    category). The leader gets less, never the merchant: the platform pays overrides out of
    its fee. Returns the rate the order keeps; the rebate ledger's override entries, posted
    after this, and the refunds use it."""
    if order.leader_id is None or order.override_bps <= 0 or not _earns(order):
        return order.override_bps
    if split_of(order.id) is not None:
        return order.override_bps  # split and override entries exist: never change them
    rate = fee_rules.covered_override_bps(
        item_fees(order), [item.rebate_cents for item in order.items], order.override_bps
    )
    if rate < order.override_bps:
        log.warning(
            "order %s: team override cut from %s to %s bps, the fee in force covers no more",
            order.id, order.override_bps, rate,
        )  # fmt: skip
        order.override_bps = rate
        db.session.flush()
    return rate


def on_paid(order: Order, *, now: datetime) -> bool:
    """Order paid: store its split (once) and post the merchant's estimated share with the
    fee. False when it was done already (a replayed callback). The team override is cut to
    what the fee covers first (:func:`cover_override`)."""
    cover_override(order)
    split = compute_split(order)
    if not store_split(order, split, now=now):  # stored before: post what it says
        split = db.session.get(OrderSplit, order.id, populate_existing=True)
    return _post(order, K.ESTIMATED, split.merchant_cents, split.fee_cents, now)


def _kinds(order_id: int) -> set[MerchantEntryKind]:
    """The kinds of the order's entries, a partial refund's reversals left out."""
    return {
        MerchantEntryKind(kind)
        for kind in db.session.execute(
            select(MerchantEntry.kind).where(
                MerchantEntry.order_id == order_id, MerchantEntry.refund_id.is_(None)
            )
        ).scalars()
    }


def _partials(order_id: int) -> dict[MerchantEntryKind, tuple[int, int]]:
    """(share, fee) partial refunds reversed so far, by kind."""
    rows = db.session.execute(
        select(
            MerchantEntry.kind,
            func.sum(MerchantEntry.amount_cents),
            func.sum(MerchantEntry.fee_cents),
        )
        .where(MerchantEntry.order_id == order_id, MerchantEntry.refund_id.is_not(None))
        .group_by(MerchantEntry.kind)
    )
    return {MerchantEntryKind(kind): (int(a), int(f)) for kind, a, f in rows}


def _left(order_id: int, split: OrderSplit, settled: bool) -> tuple[int, int]:
    """(share, fee) of the order still live: the split less what partial refunds voided
    (and, once settled, clawed back)."""
    parts = _partials(order_id)
    gone = [parts.get(K.VOIDED, (0, 0))]
    if settled:
        gone.append(parts.get(K.CLAWBACK, (0, 0)))
    return (
        max(split.merchant_cents - sum(g[0] for g in gone), 0),
        max(split.fee_cents - sum(g[1] for g in gone), 0),
    )


def live_share(order_id: int, split: OrderSplit, *, settled: bool = False) -> int:
    """The merchant's share of the order still live: the split less what partial refunds
    voided (and, once ``settled``, clawed back)."""
    return _left(order_id, split, settled)[0]


def reverse_for_refund(order: Order, *, now: datetime) -> bool:
    """Order refunded: void the share (and fee) if only estimated, claw it back if settled;
    after partial refunds, what they left."""
    have = _kinds(order.id)
    if K.ESTIMATED not in have or have & {K.VOIDED, K.CLAWBACK}:
        return False
    split = db.session.get(OrderSplit, order.id)
    settled = K.SETTLED in have
    kind = K.CLAWBACK if settled else K.VOIDED
    return _post(order, kind, *_left(order.id, split, settled), now)


def reverse_part(order: Order, refund_id: int, share: int, fee: int, *, now: datetime) -> bool:
    """A partial refund agreed: reverse its part of the share and the fee, voided while the
    share is only estimated, clawed back once settled. Once per refund."""
    have = _kinds(order.id)
    if K.ESTIMATED not in have:
        return False
    kind = K.CLAWBACK if K.SETTLED in have else K.VOIDED
    return _post(order, kind, share, fee, now, refund_id=refund_id)


def due_for_settlement(*, now: datetime, return_window: timedelta) -> list[int]:
    """Ids of orders with an estimated share neither settled nor voided, completed at least
    ``return_window`` ago and not in a refund."""
    done = (
        select(MerchantEntry.order_id)
        .where(
            MerchantEntry.order_id.is_not(None),
            MerchantEntry.kind.in_([K.SETTLED, K.VOIDED]),
            MerchantEntry.refund_id.is_(None),
        )
        .scalar_subquery()
    )
    query = (
        select(Order.id)
        .join(MerchantEntry, MerchantEntry.order_id == Order.id)
        .where(
            MerchantEntry.kind == K.ESTIMATED,
            MerchantEntry.refund_id.is_(None),
            Order.id.not_in(done),
            Order.id.not_in(open_refunds()),
            Order.status.in_(SETTLEABLE),
            Order.completed_at.is_not(None),
            Order.completed_at <= now - return_window,
        )
        .order_by(Order.id)
    )
    return list(db.session.execute(query).scalars())


def settle(order: Order, *, now: datetime, return_window: timedelta) -> bool:
    """Settle the share of ``order`` (locked by the caller, shop.money.ledger.settle_order)
    if it is due."""
    if (
        order.status not in SETTLEABLE
        or order.completed_at is None
        or order.completed_at > now - return_window
    ):
        return False
    have = _kinds(order.id)
    if K.ESTIMATED not in have or have & {K.SETTLED, K.VOIDED}:
        return False
    split = db.session.get(OrderSplit, order.id)
    return _post(order, K.SETTLED, *_left(order.id, split, False), now)


@dataclass(frozen=True)
class MerchantBalances:
    pending_cents: int  #: paid orders not yet settled
    available_cents: int  #: settled, minus clawbacks and withdrawals (requested or paid)
    withdrawing_cents: int  #: requested, not yet decided
    withdrawn_cents: int  #: withdrawals paid


def balances(merchant_id: int) -> MerchantBalances:
    by_kind = dict.fromkeys(MerchantEntryKind, 0)
    for kind, amount in db.session.execute(
        select(MerchantEntry.kind, func.coalesce(func.sum(MerchantEntry.amount_cents), 0))
        .where(MerchantEntry.merchant_id == merchant_id)
        .group_by(MerchantEntry.kind)
    ):
        by_kind[MerchantEntryKind(kind)] = int(amount)
    withdrawals = dict(
        db.session.execute(
            select(MerchantWithdrawal.status, func.sum(MerchantWithdrawal.amount_cents))
            .where(MerchantWithdrawal.merchant_id == merchant_id)
            .group_by(MerchantWithdrawal.status)
        ).all()
    )
    return MerchantBalances(
        pending_cents=sum(by_kind[k] * e[0] for k, e in MERCHANT_EFFECTS.items()),
        available_cents=sum(by_kind[k] * e[1] for k, e in MERCHANT_EFFECTS.items()),
        withdrawing_cents=int(withdrawals.get(WithdrawalStatus.REQUESTED) or 0),
        withdrawn_cents=int(withdrawals.get(WithdrawalStatus.PAID) or 0),
    )
