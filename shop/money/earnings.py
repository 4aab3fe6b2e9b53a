"""What an order meant for a sharer's rebate, in words the sharer and the merchant can check.

Every order that touched a sharer's links is listed with the reason it earned or did not earn
a rebate: the attribution reason frozen on the order when it was placed (for the winner and for
every other sharer who had a click), then what happened to the order since (paid, refunded,
cancelled), read from the ledger entries, never recomputed.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select
from sqlalchemy.orm import joinedload, selectinload

from shop.catalog.catalog import page_count
from shop.money.models import EntryKind, LedgerEntry
from shop.orders.models import Order, OrderStatus
from shop.platform.extensions import db
from shop.sharing.attribution import EARNING, Reason

REASON_LABELS = {
    Reason.ATTRIBUTED: _l("Yours: the buyer's last click was on your link."),
    Reason.SELF_PURCHASE: _l("Yours: you bought through your own link (self-purchase)."),
    Reason.SELF_PURCHASE_NOT_ALLOWED: _l(
        "No rebate: buying through your own link does not earn one here."
    ),
    Reason.OUTSIDE_WINDOW: _l(
        "No rebate: your link was clicked too long before the order (outside the window)."
    ),
    Reason.OVERWRITTEN: _l("No rebate: the buyer clicked another sharer's link later."),
    Reason.BOT: _l("No rebate: the click was not counted (a robot, a preview or a repeat)."),
    Reason.NO_CLICK: _l("No rebate: the buyer did not come through a share link."),
}

#: Where the rebate of one order stands, for the sharer who earns it.
STATE_LABELS = {
    "awaiting_payment": _l("pending payment"),
    "estimated": _l("estimated"),
    "settled": _l("settled"),
    "voided": _l("voided: refunded"),
    "clawback": _l("taken back: refunded after settling"),
    "cancelled": _l("none: order cancelled"),
    "none": _l("none"),
}


def reason_label(reason: str) -> str:
    return str(REASON_LABELS.get(Reason(reason), reason))


@dataclass(frozen=True)
class OrderRebate:
    order: Order
    reason: str  #: the attribution reason for this sharer
    earns: bool  #: this sharer is the one the order may pay
    rebate_cents: int  #: what it earns (or earned) at the rates frozen on the order
    state: str  #: key of STATE_LABELS
    #: When the sharer's own entries of each kind were first posted (estimated, settled,
    #: voided, clawback), read from the ledger.
    dates: dict[EntryKind, datetime] = field(default_factory=dict)
    #: Completion + the return window, for an estimate not yet settled (None otherwise, or
    #: before the order is completed: then it settles "N days after receipt").
    expected_settle_at: datetime | None = None

    @property
    def reason_label(self) -> str:
        return reason_label(self.reason)

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])


def _state(order: Order, kinds: set[EntryKind], earns: bool) -> str:
    if not earns:
        return "none"
    if EntryKind.CLAWBACK in kinds:
        return "clawback"
    if EntryKind.VOIDED in kinds:
        return "voided"
    if EntryKind.SETTLED in kinds:
        return "settled"
    if EntryKind.ESTIMATED in kinds:
        return "estimated"
    if order.status == OrderStatus.PLACED:
        return "awaiting_payment"
    if order.status == OrderStatus.CANCELLED:
        return "cancelled"
    return "none"


def kinds_by_order(order_ids: list[int]) -> dict[int, set[EntryKind]]:
    """The kinds of the sharer's own rebate entries (tier 1, not a team leader's override)
    posted for each order, in one query."""
    found: dict[int, set[EntryKind]] = defaultdict(set)
    if order_ids:
        rows = db.session.execute(
            select(LedgerEntry.order_id, LedgerEntry.kind).where(
                LedgerEntry.order_id.in_(order_ids), LedgerEntry.tier == 1
            )
        )
        for order_id, kind in rows:
            found[order_id].add(EntryKind(kind))
    return found


def entry_dates(order_ids: list[int], sharer_id: int) -> dict[int, dict[EntryKind, datetime]]:
    """When each kind of the sharer's own entries (tier 1) was first posted, per order."""
    found: dict[int, dict[EntryKind, datetime]] = defaultdict(dict)
    if order_ids:
        rows = db.session.execute(
            select(LedgerEntry.order_id, LedgerEntry.kind, func.min(LedgerEntry.created_at))
            .where(
                LedgerEntry.order_id.in_(order_ids),
                LedgerEntry.sharer_id == sharer_id,
                LedgerEntry.tier == 1,
            )
            .group_by(LedgerEntry.order_id, LedgerEntry.kind)
        )
        for order_id, kind, at in rows:
            found[order_id][EntryKind(kind)] = at
    return found


def with_dates(
    row: OrderRebate, dates: dict[EntryKind, datetime], return_window: timedelta
) -> OrderRebate:
    """``row`` with its ledger dates and, while only estimated, when it should settle."""
    expected = None
    if row.state == "estimated" and row.order.completed_at is not None:
        expected = row.order.completed_at + return_window
    return OrderRebate(
        row.order, row.reason, row.earns, row.rebate_cents, row.state, dates, expected
    )


def describe(order: Order, sharer_id: int, kinds: set[EntryKind] | None = None) -> OrderRebate:
    """The order as ``sharer_id`` sees it (the winner or one of the others)."""
    if kinds is None:
        kinds = kinds_by_order([order.id]).get(order.id, set())
    mine = order.sharer_id == sharer_id
    reason = order.attribution_reason if mine else order.attribution_others.get(str(sharer_id))
    reason = reason or Reason.NO_CLICK
    earns = mine and reason in EARNING
    rebate = sum(item.rebate_cents for item in order.items) if earns else 0
    return OrderRebate(order, reason, earns, rebate, _state(order, kinds, earns))


def merchant_cost(order: Order) -> OrderRebate | None:
    """The rebate this order costs its merchant (None when no sharer is involved)."""
    if order.sharer_id is None:
        return None
    return describe(order, order.sharer_id)


def touching(sharer_id: int):
    """A condition on Order: it touched the sharer's links (won, or lost with a reason)."""
    return or_(
        Order.sharer_id == sharer_id,
        Order.attribution_others[str(sharer_id)].as_string().is_not(None),
    )


Row = TypeVar("Row")


@dataclass(frozen=True)
class OrdersPage(Generic[Row]):
    """One page of orders: the sharer's (OrderRebate) or a leader's overrides (OverrideLine)."""

    rows: list[Row]
    total: int  #: orders on all pages
    page: int
    pages: int


def orders_touching(
    sharer_id: int,
    *,
    page: int = 1,
    per_page: int = 20,
    return_window: timedelta = timedelta(days=7),
) -> OrdersPage[OrderRebate]:
    """One page of the orders that touched the sharer's links, newest first, each with its
    ledger dates. A page past the end gives the last one."""
    total = db.session.execute(
        select(func.count()).select_from(Order).where(touching(sharer_id))
    ).scalar_one()
    pages = page_count(total, per_page)
    page = min(max(1, page), pages)
    found = list(
        db.session.execute(
            select(Order)
            .where(touching(sharer_id))
            .options(selectinload(Order.items))
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).scalars()
    )
    kinds = kinds_by_order([o.id for o in found])
    dates = entry_dates([o.id for o in found], sharer_id)
    rows = [
        with_dates(describe(o, sharer_id, kinds.get(o.id, set())), dates[o.id], return_window)
        for o in found
    ]
    return OrdersPage(rows, total, page, pages)


# --- a team leader's overrides ---------------------------------------------------------------


@dataclass(frozen=True)
class OverrideLine:
    """One order on which a team leader earns an override (tier-2 entries), and why: the
    member whose link sold, the member's own rebate and the rate frozen on the order."""

    number: str
    placed_at: datetime
    member_name: str
    rebate_cents: int  #: the member's own rebate on the order (tier 1)
    rate_bps: int  #: the override rate frozen on the order
    override_cents: int  #: the leader's override, as estimated when the order was paid
    state: str  #: key of STATE_LABELS: estimated, settled, voided or clawback

    @property
    def state_label(self) -> str:
        return str(STATE_LABELS[self.state])


def team_overrides(
    leader_id: int, *, page: int = 1, per_page: int = 20
) -> OrdersPage[OverrideLine]:
    """One page of the orders on which ``leader_id`` earned a team override, newest first,
    each with its state read from the leader's own tier-2 entries (never recomputed). A page
    past the end gives the last one."""
    earned = (
        select(LedgerEntry.order_id)
        .where(
            LedgerEntry.sharer_id == leader_id,
            LedgerEntry.tier == 2,
            LedgerEntry.kind == EntryKind.ESTIMATED,
        )
        .distinct()
        .scalar_subquery()
    )
    mine = (Order.id.in_(earned), Order.leader_id == leader_id)
    total = db.session.execute(select(func.count()).select_from(Order).where(*mine)).scalar_one()
    pages = page_count(total, per_page)
    page = min(max(1, page), pages)
    found = list(
        db.session.execute(
            select(Order)
            .where(*mine)
            .options(selectinload(Order.items), joinedload(Order.sharer))
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(per_page)
            .offset((page - 1) * per_page)
        ).scalars()
    )
    kinds: dict[int, set[EntryKind]] = defaultdict(set)
    estimated: dict[int, int] = defaultdict(int)
    if found:
        for order_id, kind, amount in db.session.execute(
            select(LedgerEntry.order_id, LedgerEntry.kind, LedgerEntry.amount_cents).where(
                LedgerEntry.order_id.in_([o.id for o in found]),
                LedgerEntry.sharer_id == leader_id,
                LedgerEntry.tier == 2,
            )
        ):
            kinds[order_id].add(EntryKind(kind))
            if kind == EntryKind.ESTIMATED:
                estimated[order_id] += amount
    rows = [
        OverrideLine(
            number=order.number,
            placed_at=order.placed_at,
            member_name=order.sharer.display_name if order.sharer else "",
            rebate_cents=sum(item.rebate_cents for item in order.items),
            rate_bps=order.override_bps,
            override_cents=estimated[order.id],
            state=_state(order, kinds[order.id], True),
        )
        for order in found
    ]
    return OrdersPage(rows, total, page, pages)
