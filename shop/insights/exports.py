"""What a sharer may read back about their own links and money: one link's clicks with the
orders it earned, and the rows of the CSV exports (clicks, orders, ledger, payouts).

Nothing here reaches a buyer's person: no names, phones, addresses, IP hashes or visitor ids
leave this module. Rows are plain tuples of text, ``datetime`` (UTC) and fen (``int``) in the
order of the export's columns; the web layer formats and streams them.
"""

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from shop.catalog.catalog import page_count
from shop.catalog.models import Product
from shop.money import earnings, payouts
from shop.money.models import EFFECTS, EntryKind, LedgerEntry, Payout
from shop.orders import states
from shop.orders.models import Order, OrderItem
from shop.platform.extensions import db
from shop.sharing.links import CHANNEL_LABELS
from shop.sharing.models import Channel, Click, ShareLink
from shop.sharing.rollup import CHINA

#: Rows fetched from the database at a time while an export streams.
BATCH = 500

DEVICE_LABELS = {
    "wechat": _l("WeChat"),
    "qq": _l("QQ"),
    "ios": _l("iPhone or iPad"),
    "android": _l("Android phone"),
    "desktop": _l("Computer"),
    "bot": _l("Robot"),
    "other": _l("Other"),
}
UNCOUNTED_LABELS = {
    "bot": _l("a robot or link preview"),
    "head": _l("a HEAD request (a link check, not a visit)"),
    "prefetch": _l("a prefetch or preview by the app"),
    "duplicate": _l("a repeat within 10 minutes"),
    "flood": _l("a flood of clicks from one address"),
}
ENTRY_LABELS = {
    EntryKind.ESTIMATED: _l("Estimated rebate"),
    EntryKind.SETTLED: _l("Rebate settled"),
    EntryKind.VOIDED: _l("Rebate voided (refund)"),
    EntryKind.CLAWBACK: _l("Rebate taken back (refund after settling)"),
    EntryKind.PAYOUT: _l("Payout requested"),
    EntryKind.PAYOUT_RETURNED: _l("Payout returned (rejected)"),
    EntryKind.ADJUSTMENT: _l("Appeal adjustment (upheld)"),
}
#: Whose rebate an order's entry is: the sharer's own (tier 1) or a team leader's override
#: on a member's rebate (tier 2). Payout entries have none.
TIER_LABELS = {1: _l("rebate"), 2: _l("team override")}


def tier_label(tier: int, order_item_id: int | None) -> str:
    return str(TIER_LABELS[tier]) if order_item_id is not None else ""


#: Column kinds: how the web layer writes a cell.
TEXT, TIME, MONEY = "text", "time", "money"


def china_time(moment: datetime | None) -> str:
    """A UTC time as China time, "2026-11-24 18:05"; "" for None."""
    return "" if moment is None else (moment + CHINA).strftime("%Y-%m-%d %H:%M")


def device_label(family: str) -> str:
    return str(DEVICE_LABELS.get(family, DEVICE_LABELS["other"]))


def uncounted_label(reason: str | None) -> str:
    """Why a click does not count, "" for a counted one."""
    if reason is None:
        return ""
    return str(UNCOUNTED_LABELS.get(reason, reason))


def _channel(channel: str, label: str) -> str:
    return label if channel == Channel.CUSTOM else str(CHANNEL_LABELS[Channel(channel)])


# --- one link's clicks ---------------------------------------------------------------------


@dataclass(frozen=True)
class ClickLine:
    """One click as its sharer sees it: nothing that identifies the person who clicked."""

    clicked_at: datetime
    device: str
    is_scan: bool
    counted: bool
    why_not: str  #: "" when counted
    order_numbers: tuple[str, ...]  #: orders this click earned (attributed to it)
    click_id: int = 0  #: for asking about it (an appeal); the sharer's own click


@dataclass(frozen=True)
class EarnedOrder:
    number: str
    placed_at: datetime
    titles: str
    reason_label: str
    earns: bool
    rebate_cents: int
    state: str  #: key of earnings.STATE_LABELS
    state_label: str


@dataclass(frozen=True)
class LinkAudit:
    clicks: list[ClickLine]
    total: int  #: clicks on all pages
    page: int
    pages: int
    orders: list[EarnedOrder]  #: the newest orders the link earned
    orders_total: int


def _titles(order: Order) -> str:
    return " / ".join(item.title for item in order.items)


def link_audit(
    link: ShareLink, *, page: int = 1, per_page: int = 50, orders_limit: int = 50
) -> LinkAudit:
    """One page of ``link``'s clicks, newest first, counted or not and why, and the newest
    orders attributed to it with their reason and rebate state. A page past the end gives
    the last one. The caller has checked the link is the viewer's."""
    total = db.session.execute(
        select(func.count()).select_from(Click).where(Click.link_id == link.id)
    ).scalar_one()
    pages = page_count(total, per_page)
    page = min(max(1, page), pages)
    found = db.session.execute(
        select(Click.id, Click.clicked_at, Click.ua_family, Click.is_scan, Click.uncounted_reason)
        .where(Click.link_id == link.id)
        .order_by(Click.clicked_at.desc(), Click.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    earned_by: dict[int, list[str]] = defaultdict(list)
    if found:
        for click_id, number in db.session.execute(
            select(Order.click_id, Order.number)
            .where(Order.click_id.in_([row.id for row in found]))
            .order_by(Order.id)
        ):
            earned_by[click_id].append(number)
    clicks = [
        ClickLine(
            clicked_at=row.clicked_at,
            device=device_label(row.ua_family),
            is_scan=row.is_scan,
            counted=row.uncounted_reason is None,
            why_not=uncounted_label(row.uncounted_reason),
            order_numbers=tuple(earned_by.get(row.id, ())),
            click_id=row.id,
        )
        for row in found
    ]

    mine = (Order.link_id == link.id, Order.sharer_id == link.sharer_id)
    orders_total = db.session.execute(
        select(func.count()).select_from(Order).where(*mine)
    ).scalar_one()
    recent = list(
        db.session.execute(
            select(Order)
            .where(*mine)
            .options(selectinload(Order.items))
            .order_by(Order.placed_at.desc(), Order.id.desc())
            .limit(orders_limit)
        ).scalars()
    )
    kinds = earnings.kinds_by_order([o.id for o in recent])
    earned = []
    for order in recent:
        seen = earnings.describe(order, link.sharer_id, kinds.get(order.id, set()))
        earned.append(
            EarnedOrder(
                number=order.number,
                placed_at=order.placed_at,
                titles=_titles(order),
                reason_label=seen.reason_label,
                earns=seen.earns,
                rebate_cents=seen.rebate_cents,
                state=seen.state,
                state_label=seen.state_label,
            )
        )
    return LinkAudit(clicks, total, page, pages, earned, orders_total)


# --- CSV exports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    header: object  #: a lazy string, translated when the file is written
    kind: str = TEXT


CLICK_COLUMNS = (
    Column(_l("Time"), TIME),
    Column(_l("Link")),
    Column(_l("Channel")),
    Column(_l("Product")),
    Column(_l("Device")),
    Column(_l("Scan or tap")),
    Column(_l("Counted")),
    Column(_l("Why not counted")),
)
ORDER_COLUMNS = (
    Column(_l("Order number")),
    Column(_l("Placed"), TIME),
    Column(_l("Products")),
    Column(_l("Order total (yuan)"), MONEY),
    Column(_l("Order status")),
    Column(_l("Attribution")),
    Column(_l("Rebate state")),
    Column(_l("Rebate (yuan)"), MONEY),
)
LEDGER_COLUMNS = (
    Column(_l("Time"), TIME),
    Column(_l("Entry")),
    Column(_l("Order number")),
    Column(_l("Product")),
    Column(_l("Amount (yuan)"), MONEY),
    Column(_l("Change to estimated (yuan)"), MONEY),
    Column(_l("Change to available (yuan)"), MONEY),
    Column(_l("Rebate or team override")),
)
PAYOUT_COLUMNS = (
    Column(_l("Requested"), TIME),
    Column(_l("Amount (yuan)"), MONEY),
    Column(_l("Paid to")),
    Column(_l("Account")),
    Column(_l("Status")),
    Column(_l("Decided"), TIME),
    Column(_l("Transfer reference")),
    Column(_l("Reason for rejection")),
)


def click_rows(sharer_id: int) -> Iterator[tuple]:
    """Every click on the sharer's links, newest first, counted or not."""
    stmt = (
        select(
            Click.clicked_at,
            ShareLink.code,
            ShareLink.channel,
            ShareLink.label,
            Product.title,
            Click.ua_family,
            Click.is_scan,
            Click.uncounted_reason,
        )
        .join(ShareLink, ShareLink.id == Click.link_id)
        .outerjoin(Product, Product.id == ShareLink.product_id)
        .where(ShareLink.sharer_id == sharer_id)
        .order_by(Click.clicked_at.desc(), Click.id.desc())
        .execution_options(yield_per=BATCH)
    )
    whole_shop, scan, tap = str(_l("Whole shop")), str(_l("scan")), str(_l("tap"))
    yes, no = str(_l("yes")), str(_l("no"))
    for at, code, channel, label, title, family, is_scan, reason in db.session.execute(stmt):
        yield (
            at,
            code,
            _channel(channel, label),
            title if title is not None else whole_shop,
            device_label(family),
            scan if is_scan else tap,
            yes if reason is None else no,
            uncounted_label(reason),
        )


def order_rows(sharer_id: int) -> Iterator[tuple]:
    """Every order that touched the sharer's links, newest first, as on the earnings page:
    the rebate columns are empty for an order that does not pay this sharer."""
    stmt = (
        select(Order)
        .where(earnings.touching(sharer_id))
        .options(selectinload(Order.items))
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .execution_options(yield_per=BATCH)
    )
    for batch in db.session.execute(stmt).scalars().partitions():
        kinds = earnings.kinds_by_order([o.id for o in batch])
        for order in batch:
            seen = earnings.describe(order, sharer_id, kinds.get(order.id, set()))
            yield (
                order.number,
                order.placed_at,
                _titles(order),
                order.total_cents,
                states.status_label(order.status),
                seen.reason_label,
                seen.state_label if seen.earns else "",
                seen.rebate_cents if seen.earns else None,
            )


def ledger_rows(sharer_id: int) -> Iterator[tuple]:
    """Every ledger entry of the sharer, newest first, with what it did to each balance and
    whether it is their own rebate or a team override."""
    stmt = (
        select(
            LedgerEntry.created_at,
            LedgerEntry.kind,
            Order.number,
            OrderItem.title,
            LedgerEntry.amount_cents,
            LedgerEntry.tier,
            LedgerEntry.order_item_id,
        )
        .outerjoin(Order, Order.id == LedgerEntry.order_id)
        .outerjoin(OrderItem, OrderItem.id == LedgerEntry.order_item_id)
        .where(LedgerEntry.sharer_id == sharer_id)
        .order_by(LedgerEntry.created_at.desc(), LedgerEntry.id.desc())
        .execution_options(yield_per=BATCH)
    )
    for at, kind, number, title, amount, tier, item_id in db.session.execute(stmt):
        kind = EntryKind(kind)
        estimated, available = EFFECTS[kind]
        yield (
            at,
            str(ENTRY_LABELS[kind]),
            number or "",
            title or "",
            amount,
            estimated * amount,
            available * amount,
            tier_label(tier, item_id),
        )


def payout_rows(sharer_id: int) -> Iterator[tuple]:
    """The sharer's payouts, newest first; accounts masked as on the earnings page."""
    stmt = (
        select(Payout)
        .where(Payout.user_id == sharer_id)
        .order_by(Payout.id.desc())
        .execution_options(yield_per=BATCH)
    )
    for payout in db.session.execute(stmt).scalars():
        method = payouts.METHOD_LABELS.get(payout.method, payout.method)
        yield (
            payout.requested_at,
            payout.amount_cents,
            str(method),
            payouts.masked(payout.account_number),
            str(payouts.STATUS_LABELS[payout.status]),
            payout.decided_at,
            payout.reference,
            payout.reject_reason,
        )


#: kind -> (columns, rows of a sharer); the URL names the kind.
EXPORTS = {
    "clicks": (CLICK_COLUMNS, click_rows),
    "orders": (ORDER_COLUMNS, order_rows),
    "ledger": (LEDGER_COLUMNS, ledger_rows),
    "payouts": (PAYOUT_COLUMNS, payout_rows),
}
EXPORT_LABELS = {
    "clicks": _l("Clicks on my links"),
    "orders": _l("Orders through my links"),
    "ledger": _l("Rebate ledger"),
    "payouts": _l("Payouts"),
}


def neutralise(text: str) -> str:
    """A cell a spreadsheet will not run as a formula: text starting with = + - @ (or a tab
    or carriage return, which some programs skip before looking) gets a leading apostrophe."""
    if text and text[0] in "=+-@\t\r":
        return "'" + text
    return text
