"""The rebate ledger: append-only entries in fen; balances are sums of entries.

Every posting goes through :func:`post`, an ``INSERT ... ON CONFLICT DO NOTHING`` against the
unique keys (order item, kind, tier), (payout, kind) and (appeal, kind): a second posting of
the same thing, from a replay, a retry or a concurrent run, inserts nothing and says so.
Rounding happens once, in ``catalog.rebate_cents`` (down to the fen), when the order item is
made.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, func, select

from shop.money import merchant_ledger, notices, sales
from shop.money.models import EFFECTS, EntryKind, LedgerEntry, Payout, PayoutStatus
from shop.orders.models import Order, OrderItem, OrderStatus
from shop.platform import db as dbsetup
from shop.platform import faults
from shop.platform.extensions import db
from shop.sharing.attribution import EARNING


def post(
    *,
    sharer_id: int,
    kind: EntryKind,
    amount_cents: int,
    now: datetime,
    order_item: OrderItem | None = None,
    order_id: int | None = None,
    payout_id: int | None = None,
    appeal_id: int | None = None,
    tier: int = 1,
) -> bool:
    """Append one entry; False (and nothing written) when that entry already exists."""
    if amount_cents <= 0:
        return False
    result = db.session.execute(
        dbsetup.insert_for(db.session, LedgerEntry)
        .values(
            sharer_id=sharer_id,
            kind=kind,
            amount_cents=amount_cents,
            order_id=order_item.order_id if order_item is not None else order_id,
            order_item_id=order_item.id if order_item is not None else None,
            payout_id=payout_id,
            appeal_id=appeal_id,
            created_at=now,
            tier=tier,
        )
        .on_conflict_do_nothing()
        .returning(LedgerEntry.id)  # rowcount is -1 here under psycopg; a returned id is not
    )
    if result.first() is None:
        return False
    sales.entry_posted(kind, amount_cents, now)
    return True


def order_earns(order: Order) -> bool:
    return order.sharer_id is not None and order.attribution_reason in EARNING


def _post_item(order: Order, item: OrderItem, kind: EntryKind, *, now: datetime) -> bool:
    """Post ``kind`` for one item: the sharer's rebate (tier 1) and, when it was posted and
    the order carries an override, the leader's override (tier 2) of the same kind in the
    same transaction. Tier 2 is only ever posted here, right after its tier 1, and only
    for the leader named on the order: one step up, never two."""
    posted = post(
        sharer_id=order.sharer_id,
        kind=kind,
        amount_cents=item.rebate_cents,
        order_item=item,
        now=now,
    )
    if posted and order.leader_id is not None and order.override_bps > 0:
        post(
            sharer_id=order.leader_id,
            kind=kind,
            amount_cents=item.rebate_cents * order.override_bps // 10_000,
            order_item=item,
            now=now,
            tier=2,
        )
    return posted


def post_estimates(order: Order, *, now: datetime) -> int:
    """Order paid: an estimated rebate per item (and the leader's override on it), when the
    order earns one. Returns the fen of the sharer's own rebate posted (0 when the order
    earns nothing or the entries exist already). The merchant's share and the order's split
    are posted here too (shop.money.merchant_ledger)."""
    merchant_ledger.on_paid(order, now=now)
    if not order_earns(order):
        return 0
    return sum(
        item.rebate_cents
        for item in order.items
        if _post_item(order, item, EntryKind.ESTIMATED, now=now)
    )


def _kinds_by_item(order: Order) -> dict[int, set[EntryKind]]:
    """The kinds of the sharer's own entries (tier 1) per order item."""
    rows = db.session.execute(
        select(LedgerEntry.order_item_id, LedgerEntry.kind).where(
            LedgerEntry.order_id == order.id,
            LedgerEntry.order_item_id.is_not(None),
            LedgerEntry.tier == 1,
        )
    )
    found: dict[int, set[EntryKind]] = {}
    for item_id, kind in rows:
        found.setdefault(item_id, set()).add(EntryKind(kind))
    return found


REVERSALS = frozenset({EntryKind.VOIDED, EntryKind.CLAWBACK})


def reverse_for_refund(order: Order, *, now: datetime) -> int:
    """Order refunded: void what was only estimated, claw back what was settled (the
    override with its rebate), and the merchant's share with them."""
    merchant_ledger.reverse_for_refund(order, now=now)
    kinds = _kinds_by_item(order)
    posted = clawed_back = voided = reversed_cents = 0
    for item in order.items:
        have = kinds.get(item.id, set())
        if EntryKind.ESTIMATED not in have or have & REVERSALS:
            continue
        kind = EntryKind.CLAWBACK if EntryKind.SETTLED in have else EntryKind.VOIDED
        done = _post_item(order, item, kind, now=now)
        posted += done
        reversed_cents += item.rebate_cents if done else 0
        clawed_back += item.rebate_cents if done and kind == EntryKind.CLAWBACK else 0
        voided += item.rebate_cents if done and kind == EntryKind.VOIDED else 0
    if clawed_back and not any(EntryKind.CLAWBACK in have for have in kinds.values()):
        sales.rebate_clawed_back(order, clawed_back)
    if reversed_cents and not any(have & REVERSALS for have in kinds.values()):
        sales.rebate_reversed(order, reversed_cents)
    notices.rebate_reversed(order, voided, clawback=False, now=now)
    notices.rebate_reversed(order, clawed_back, clawback=True, now=now)
    return posted


#: Orders whose rebates may settle once the return window after completion has passed.
SETTLEABLE = (OrderStatus.COMPLETED, OrderStatus.REFUND_REJECTED)


def due_for_settlement(*, now: datetime, return_window: timedelta) -> list[int]:
    """Ids of orders with an estimated rebate that is neither settled nor voided, completed
    at least ``return_window`` ago and not in a refund."""
    settled_or_void = (
        select(LedgerEntry.order_item_id)
        .where(LedgerEntry.kind.in_([EntryKind.SETTLED, EntryKind.VOIDED]))
        .scalar_subquery()
    )
    query = (
        select(Order.id)
        .join(LedgerEntry, LedgerEntry.order_id == Order.id)
        .where(
            LedgerEntry.kind == EntryKind.ESTIMATED,
            LedgerEntry.order_item_id.not_in(settled_or_void),
            Order.status.in_(SETTLEABLE),
            Order.completed_at.is_not(None),
            Order.completed_at <= now - return_window,
        )
        .distinct()
        .order_by(Order.id)
    )
    rebates = set(db.session.execute(query).scalars())
    shares = merchant_ledger.due_for_settlement(now=now, return_window=return_window)
    return sorted(rebates.union(shares))


def settle_order(order_id: int, *, now: datetime, return_window: timedelta) -> int:
    """Settle one order's estimated rebates (and the merchant's share) if it is still due;
    returns rebate entries posted.

    The order row is locked first (FOR UPDATE on PostgreSQL; SQLite's write transaction holds
    the whole database), so a refund request cannot slip between the check and the posting.
    """
    order = db.session.execute(
        select(Order).where(Order.id == order_id).with_for_update()
    ).scalar_one_or_none()
    if (
        order is None
        or order.status not in SETTLEABLE
        or order.completed_at is None
        or order.completed_at > now - return_window
    ):
        return 0
    merchant_ledger.settle(order, now=now, return_window=return_window)
    if not order_earns(order):
        return 0
    kinds = _kinds_by_item(order)
    posted = amount = 0
    for item in order.items:
        have = kinds.get(item.id, set())
        if EntryKind.ESTIMATED in have and not have & {EntryKind.SETTLED, EntryKind.VOIDED}:
            if _post_item(order, item, EntryKind.SETTLED, now=now):
                posted += 1
                amount += item.rebate_cents
    if amount and not any(EntryKind.SETTLED in have for have in kinds.values()):
        sales.rebate_settled(order, amount)
    notices.rebate_settled(order, amount, now=now)
    faults.hit("settle.after_ledger")  # settled entries and rollups written, not committed
    return posted


@dataclass(frozen=True)
class Balances:
    estimated_cents: int  #: paid orders not yet settled
    available_cents: int  #: settled, minus clawbacks and payouts (requested or paid)
    pending_payout_cents: int  #: requested, not yet decided
    paid_out_cents: int  #: payouts marked paid
    settled_total_cents: int  #: everything ever settled
    #: The sum of the sharer's entries of each kind (every kind present, 0 when none).
    by_kind: dict[EntryKind, int] = field(default_factory=dict)


#: Positions in EFFECTS' pairs: the estimated and the available balance.
ESTIMATED_BALANCE, AVAILABLE_BALANCE = 0, 1


def balance_sum(balance: int):
    """SQL: the sum of the selected entries' effect on one balance (``ESTIMATED_BALANCE`` or
    ``AVAILABLE_BALANCE``), by EFFECTS; 0 when there are none."""
    moves = sum(
        case((LedgerEntry.kind == kind, LedgerEntry.amount_cents * effect[balance]), else_=0)
        for kind, effect in EFFECTS.items()
        if effect[balance]
    )
    return func.coalesce(func.sum(moves), 0)


def balances(sharer_id: int) -> Balances:
    """Sums of the sharer's entries, by kind and by balance (and of their payouts by
    status), in two queries."""
    by_kind = dict.fromkeys(EntryKind, 0)
    for kind, amount in db.session.execute(
        select(LedgerEntry.kind, func.coalesce(func.sum(LedgerEntry.amount_cents), 0))
        .where(LedgerEntry.sharer_id == sharer_id)
        .group_by(LedgerEntry.kind)
    ):
        by_kind[EntryKind(kind)] = int(amount)
    payouts = dict(
        db.session.execute(
            select(Payout.status, func.coalesce(func.sum(Payout.amount_cents), 0))
            .where(Payout.user_id == sharer_id)
            .group_by(Payout.status)
        ).all()
    )
    return Balances(
        estimated_cents=sum(by_kind[k] * e[ESTIMATED_BALANCE] for k, e in EFFECTS.items()),
        available_cents=sum(by_kind[k] * e[AVAILABLE_BALANCE] for k, e in EFFECTS.items()),
        pending_payout_cents=int(payouts.get(PayoutStatus.REQUESTED, 0)),
        paid_out_cents=int(payouts.get(PayoutStatus.PAID, 0)),
        settled_total_cents=by_kind[EntryKind.SETTLED],
        by_kind=by_kind,
    )
