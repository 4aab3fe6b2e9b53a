"""The rebate ledger: append-only entries in fen; balances are sums of entries.

Every posting goes through :func:`post`, an ``INSERT ... ON CONFLICT DO NOTHING`` against the
unique keys (order item, kind, tier), (payout, kind) and (appeal, kind): a second posting of
the same thing, from a replay, a retry or a concurrent run, inserts nothing and says so.
Rounding happens once, in ``catalog.rebate_cents`` (down to the fen), when the order item is
made.
"""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import case, func, select

from shop.money import merchant_ledger, notices, sales
from shop.money.models import EFFECTS, EntryKind, LedgerEntry, Payout, PayoutStatus, RefundRequest
from shop.money.refund_queries import open_refunds
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
    refund_id: int | None = None,
) -> bool:
    """Append one entry; False (and nothing written) when that entry already exists."""
    if amount_cents <= 0:
        return False
    result = db.session.execute(
        _entry_insert(db.session.get_bind().dialect.name),
        {
            "sharer_id": sharer_id,
            "kind": kind,
            "amount_cents": amount_cents,
            "order_id": order_item.order_id if order_item is not None else order_id,
            "order_item_id": order_item.id if order_item is not None else None,
            "payout_id": payout_id,
            "appeal_id": appeal_id,
            "created_at": now,
            "tier": tier,
            "refund_id": refund_id,
        },
    )
    if result.first() is None:
        return False
    sales.entry_posted(kind, amount_cents, now)
    return True


@cache
def _entry_insert(dialect: str):
    """The entry's ``INSERT ... ON CONFLICT DO NOTHING``, built once per dialect."""
    table = LedgerEntry.__table__
    # rowcount is -1 here under psycopg; a returned id is not
    return dbsetup.insert_of(dialect, table).on_conflict_do_nothing().returning(table.c.id)


def order_earns(order: Order) -> bool:
    return order.sharer_id is not None and order.attribution_reason in EARNING


def _post_item(
    order: Order,
    item: OrderItem,
    kind: EntryKind,
    *,
    now: datetime,
    amounts: tuple[int, int] | None = None,
    refund_id: int | None = None,
) -> bool:
    """Post ``kind`` for one item: the sharer's rebate (tier 1) and, when the order carries
    an override, the leader's override (tier 2) of the same kind in the same transaction.
    Tier 2 is only ever posted here, with its tier 1, and only for the leader named on the
    order: one step up, never two. ``amounts`` (rebate, override) defaults to the item's
    whole rebate and override; a partial refund or a remainder passes its own."""
    given = amounts is not None
    rebate, override = amounts if given else (item.rebate_cents, override_of(order, item))
    posted = post(
        sharer_id=order.sharer_id, kind=kind, amount_cents=rebate, order_item=item, now=now,
        refund_id=refund_id,
    )  # fmt: skip
    if order.leader_id is not None and order.override_bps > 0 and (posted or given):
        post(
            sharer_id=order.leader_id, kind=kind, amount_cents=override, order_item=item,
            now=now, tier=2, refund_id=refund_id,
        )  # fmt: skip
    return posted


def post_item_part(
    order: Order, item: OrderItem, kind: EntryKind, amounts: tuple[int, int], *, refund_id: int,
    now: datetime,
) -> bool:  # fmt: skip
    """A partial refund's reversal of (rebate, override) of one item, keyed by the refund."""
    return _post_item(order, item, kind, now=now, amounts=amounts, refund_id=refund_id)


def settled_items(order: Order) -> set[int]:
    """Ids of the order's items whose rebate has settled."""
    kinds = _kinds_by_item(order)
    return {item_id for item_id, have in kinds.items() if EntryKind.SETTLED in have}


def override_of(order: Order, item: OrderItem) -> int:
    """The leader's override on ``item``'s rebate (0 without one)."""
    if order.leader_id is None or order.override_bps <= 0:
        return 0
    return item.rebate_cents * order.override_bps // 10_000


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
    """The kinds of the sharer's own entries (tier 1) per order item, a partial refund's
    reversals left out (see :func:`_partials`)."""
    rows = db.session.execute(
        select(LedgerEntry.order_item_id, LedgerEntry.kind).where(
            LedgerEntry.order_id == order.id,
            LedgerEntry.order_item_id.is_not(None),
            LedgerEntry.tier == 1,
            LedgerEntry.refund_id.is_(None),
        )
    )
    found: dict[int, set[EntryKind]] = {}
    for item_id, kind in rows:
        found.setdefault(item_id, set()).add(EntryKind(kind))
    return found


def _partials(order: Order) -> dict[tuple[int, int, EntryKind], int]:
    """The fen partial refunds reversed so far, by (item, tier, kind)."""
    rows = db.session.execute(
        select(
            LedgerEntry.order_item_id, LedgerEntry.tier, LedgerEntry.kind,
            func.sum(LedgerEntry.amount_cents),
        )
        .where(LedgerEntry.order_id == order.id, LedgerEntry.refund_id.is_not(None))
        .group_by(LedgerEntry.order_item_id, LedgerEntry.tier, LedgerEntry.kind)
    )  # fmt: skip
    return {(item, tier, EntryKind(kind)): int(cents) for item, tier, kind, cents in rows}


def _left(order: Order, item: OrderItem, partials: dict, settled: bool) -> tuple[int, int]:
    """What of ``item``'s (rebate, override) is still live: estimated less what partial
    refunds voided (not settled yet), or that less what they clawed back (settled)."""
    left = []
    for tier, whole in ((1, item.rebate_cents), (2, override_of(order, item))):
        gone = partials.get((item.id, tier, EntryKind.VOIDED), 0)
        if settled:
            gone += partials.get((item.id, tier, EntryKind.CLAWBACK), 0)
        left.append(max(whole - gone, 0))
    return left[0], left[1]


REVERSALS = frozenset({EntryKind.VOIDED, EntryKind.CLAWBACK})


def reverse_for_refund(order: Order, *, now: datetime) -> int:
    """Order refunded whole: void what was only estimated, claw back what was settled (the
    override with its rebate), and the merchant's share with them. After partial refunds
    only what they left is reversed."""
    merchant_ledger.reverse_for_refund(order, now=now)
    kinds = _kinds_by_item(order)
    partials = _partials(order)
    first = not had_reversal(order)
    posted = clawed_back = voided = 0
    for item in order.items:
        have = kinds.get(item.id, set())
        if EntryKind.ESTIMATED not in have or have & REVERSALS:
            continue
        settled = EntryKind.SETTLED in have
        kind = EntryKind.CLAWBACK if settled else EntryKind.VOIDED
        amounts = _left(order, item, partials, settled)
        done = _post_item(order, item, kind, now=now, amounts=amounts)
        posted += done
        clawed_back += amounts[0] if done and settled else 0
        voided += amounts[0] if done and not settled else 0
    rollup_reversal(order, voided=voided, clawed_back=clawed_back, first=first)
    notices.rebate_reversed(order, voided, clawback=False, now=now)
    notices.rebate_reversed(order, clawed_back, clawback=True, now=now)
    return posted


def had_reversal(order: Order) -> bool:
    """Whether any of the order's own rebate was voided or clawed back yet."""
    return (
        db.session.execute(
            select(LedgerEntry.id).where(
                LedgerEntry.order_id == order.id, LedgerEntry.tier == 1,
                LedgerEntry.kind.in_(REVERSALS),
            ).limit(1)
        ).first()
        is not None
    )  # fmt: skip


def rollup_reversal(order: Order, *, voided: int, clawed_back: int, first: bool) -> None:
    """Count a reversal of ``voided`` + ``clawed_back`` fen of the order's own rebate in the
    order-day rollup (``first``: no reversal of the order before this one)."""
    if not voided + clawed_back:
        return
    settled_left = 0
    if clawed_back:
        settled_left = int(
            db.session.execute(
                select(func.coalesce(func.sum(
                    case((LedgerEntry.kind == EntryKind.SETTLED, LedgerEntry.amount_cents),
                         else_=-LedgerEntry.amount_cents)), 0)).where(
                    LedgerEntry.order_id == order.id, LedgerEntry.tier == 1,
                    LedgerEntry.sharer_id == order.sharer_id,
                    LedgerEntry.kind.in_([EntryKind.SETTLED, EntryKind.CLAWBACK]),
                )
            ).scalar_one()
        )  # fmt: skip
    sales.rebate_reversed(
        order, voided + clawed_back, first=first, clawed_back=clawed_back,
        settled_gone=bool(clawed_back) and settled_left <= 0,
    )  # fmt: skip


#: Orders whose rebates may settle once the return window after completion has passed.
SETTLEABLE = (OrderStatus.COMPLETED, OrderStatus.REFUND_REJECTED)


def due_for_settlement(*, now: datetime, return_window: timedelta) -> list[int]:
    """Ids of orders with an estimated rebate that is neither settled nor voided, completed
    at least ``return_window`` ago and not in a refund."""
    settled_or_void = (
        select(LedgerEntry.order_item_id)
        .where(
            LedgerEntry.kind.in_([EntryKind.SETTLED, EntryKind.VOIDED]),
            LedgerEntry.refund_id.is_(None),
        )
        .scalar_subquery()
    )
    # Items whose whole rebate partial refunds voided: nothing is left to settle.
    voided_by_parts = (
        select(LedgerEntry.order_item_id)
        .join(OrderItem, OrderItem.id == LedgerEntry.order_item_id)
        .where(
            LedgerEntry.refund_id.is_not(None),
            LedgerEntry.kind == EntryKind.VOIDED,
            LedgerEntry.tier == 1,
        )
        .group_by(LedgerEntry.order_item_id, OrderItem.rebate_cents)
        .having(func.sum(LedgerEntry.amount_cents) >= OrderItem.rebate_cents)
        .scalar_subquery()
    )
    query = (
        select(Order.id)
        .join(LedgerEntry, LedgerEntry.order_id == Order.id)
        .where(
            LedgerEntry.kind == EntryKind.ESTIMATED,
            LedgerEntry.order_item_id.not_in(settled_or_void),
            LedgerEntry.order_item_id.not_in(voided_by_parts),
            Order.id.not_in(open_refunds()),
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
        or db.session.execute(open_refunds().where(RefundRequest.order_id == order_id)).first()
    ):
        return 0  # a partial refund request open: it settles once that is decided
    merchant_ledger.settle(order, now=now, return_window=return_window)
    if not order_earns(order):
        return 0
    kinds = _kinds_by_item(order)
    partials = _partials(order)
    posted = amount = 0
    for item in order.items:
        have = kinds.get(item.id, set())
        if EntryKind.ESTIMATED in have and not have & {EntryKind.SETTLED, EntryKind.VOIDED}:
            amounts = _left(order, item, partials, False)  # less what partial refunds voided
            if _post_item(order, item, EntryKind.SETTLED, now=now, amounts=amounts):
                posted += 1
                amount += amounts[0]
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
