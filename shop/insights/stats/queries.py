"""The reads behind a sharer's funnel: the sharer's links and their labels, the rollups
(``click_days``, ``sharer_visitors``, ``order_days``) and the seconds from click to order kept
on each order, and the same sums from the raw clicks, orders and ledger entries (for
``funnel_from_raw``). Sums come back per link and per day (``_Sums``); a period's numbers
from the rollups as ``_PeriodSums`` (also those of its ended days, ``_closed_days``, and the
visitors new today, ``_new_today``)."""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select

from shop.catalog.models import Product
from shop.insights.stats.periods import Period
from shop.money.models import EntryKind, LedgerEntry, OrderDay
from shop.orders.models import Order
from shop.platform.extensions import db
from shop.sharing.attribution import EARNING_REASONS
from shop.sharing.links import CHANNEL_LABELS
from shop.sharing.models import Channel, Click, ClickDay, ShareLink, SharerVisitor
from shop.sharing.rollup import BOT_REASONS, as_date, china_date_sql, china_day


@dataclass(frozen=True)
class _LinkInfo:
    product_key: str
    product_label: str
    channel_key: str
    channel_label: str
    link_label: str


@cache
def _links_query():
    return (
        select(
            ShareLink.id,
            ShareLink.code,
            ShareLink.product_id,
            ShareLink.channel,
            ShareLink.label,
            Product.title,
        )
        .outerjoin(Product, Product.id == ShareLink.product_id)
        .where(ShareLink.sharer_id == bindparam("sharer_id"))
    )


def _links(sharer_id: int) -> dict[int, _LinkInfo]:
    rows = db.session.execute(_links_query(), {"sharer_id": sharer_id}).all()
    # Each label translated once, not once per link.
    channel_labels = {channel: str(label) for channel, label in CHANNEL_LABELS.items()}
    whole_shop = str(_l("Whole shop"))
    found = {}
    for link_id, code, product_id, channel, label, title in rows:
        channel = Channel(channel)
        product_label = title if product_id is not None else whole_shop
        if channel == Channel.CUSTOM:
            channel_key, channel_label = f"custom:{label}", label
        else:
            channel_key, channel_label = channel.value, channel_labels[channel]
        found[link_id] = _LinkInfo(
            product_key=f"p{product_id}" if product_id is not None else "shop",
            product_label=product_label,
            channel_key=channel_key,
            channel_label=channel_label,
            link_label=f"{product_label} · {channel_label} · {code}",
        )
    return found


_UNKNOWN = _LinkInfo("unknown", "?", "unknown", "?", "?")


#: The counts a breakdown adds up, in this order, per link and per day.
CLICK_FIELDS = ("counted", "scans", "bots", "repeats")
ORDER_FIELDS = (
    "orders",
    "paid",
    "estimated_cents",
    "settled",
    "settled_cents",
    "refunded",
    "refunded_cents",
)


@dataclass
class _Sums:
    """Counts summed per link (for the breakdowns) and per day (for the chart)."""

    by_link: dict[int, list[int]]
    by_day: dict[date, list[int]]

    @classmethod
    def of(cls, per_link_day: dict[tuple[int, date], list[int]], size: int) -> "_Sums":
        by_link: dict[int, list[int]] = {}
        by_day: dict[date, list[int]] = {}
        for (link_id, day), counts in per_link_day.items():
            for target, key in ((by_link, link_id), (by_day, day)):
                total = target.setdefault(key, [0] * size)
                for index, value in enumerate(counts):
                    total[index] += value
        return cls(by_link, by_day)


@cache
def _sums_query(model, fields: tuple[str, ...], key: str):
    """The sum of ``fields`` of a rollup per ``key`` ("link_id", "day" or both) for one
    sharer and a range of days, built once (building it cost more than running it)."""
    keys = [getattr(model, name) for name in key.split(",")]
    return (
        select(*keys, *(func.sum(getattr(model, name)) for name in fields))
        .where(
            model.sharer_id == bindparam("sharer_id"),
            model.day >= bindparam("start"),
            model.day <= bindparam("end"),
        )
        .group_by(*keys)
    )


def _rollup_sums(model, fields: tuple[str, ...], sharer_id: int, period: Period) -> _Sums:
    """``fields`` of a rollup (``ClickDay`` or ``OrderDay``) summed by the database per link
    and per day: a few dozen rows back instead of one per link and day."""
    params = {"sharer_id": sharer_id, "start": period.start, "end": period.end}
    found = []
    for key in ("link_id", "day"):
        rows = db.session.execute(_sums_query(model, fields, key), params)
        found.append({row[0]: [int(value or 0) for value in row[1:]] for row in rows})
    return _Sums(found[0], {as_date(day): counts for day, counts in found[1].items()})


def _rollup_visitors(sharer_id: int, period: Period, *, open_ended: bool = False) -> int:
    condition = (SharerVisitor.sharer_id == sharer_id) & (
        SharerVisitor.last_seen_at >= period.starts_at
    )
    if not open_ended:  # open-ended: an index-only count on (sharer_id, last_seen_at)
        condition &= SharerVisitor.first_seen_at < period.ends_at
    return db.session.execute(select(func.count()).where(condition)).scalar_one()


def _raw_days(sharer_id: int, period: Period) -> _Sums:
    day = china_date_sql(Click.clicked_at)
    rows = db.session.execute(
        select(Click.link_id, day, Click.uncounted_reason, Click.is_scan, func.count())
        .join(ShareLink, ShareLink.id == Click.link_id)
        .where(
            ShareLink.sharer_id == sharer_id,
            Click.clicked_at >= period.starts_at,
            Click.clicked_at < period.ends_at,
        )
        .group_by(Click.link_id, day, Click.uncounted_reason, Click.is_scan)
    )
    found: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for link_id, raw_day, reason, is_scan, count in rows:
        counts = found[(link_id, as_date(raw_day))]  # CLICK_FIELDS
        if reason is None:
            counts[0] += count
            counts[1] += count if is_scan else 0
        elif reason in BOT_REASONS:
            counts[2] += count
        else:
            counts[3] += count
    return _Sums.of(found, len(CLICK_FIELDS))


def _raw_visitors(sharer_id: int, period: Period) -> int:
    return db.session.execute(
        select(func.count(func.distinct(Click.visitor_id)))
        .join(ShareLink, ShareLink.id == Click.link_id)
        .where(
            ShareLink.sharer_id == sharer_id,
            Click.clicked_at >= period.starts_at,
            Click.clicked_at < period.ends_at,
            Click.uncounted_reason.is_(None),
        )
    ).scalar_one()


def _earning_orders(sharer_id, starts_at, ends_at) -> tuple:
    """The sharer's earning orders placed from ``starts_at`` until ``ends_at`` (values or bind
    parameters)."""
    return (
        Order.sharer_id == sharer_id,
        Order.placed_at >= starts_at,
        Order.placed_at < ends_at,
        Order.attribution_reason.in_(EARNING_REASONS),
    )


@cache
def _lags_query():
    return select(Order.click_lag_seconds).where(
        *_earning_orders(bindparam("sharer_id"), bindparam("starts_at"), bindparam("ends_at")),
        Order.click_lag_seconds.is_not(None),
    )


def _lags(sharer_id: int, period: Period) -> list[int]:
    """Seconds from click to order of the period's earning orders, kept on each order when
    it was placed (read from ``ix_orders_sharer_placed`` alone)."""
    params = {"sharer_id": sharer_id, "starts_at": period.starts_at, "ends_at": period.ends_at}
    return list(db.session.execute(_lags_query(), params).scalars())


def _raw_orders(sharer_id: int, period: Period) -> tuple[_Sums, list[int]]:
    """The same as the order rollup's sums and ``_lags``, from the orders, their winning clicks and
    their ledger entries (for the tests and the benchmark)."""
    in_period = _earning_orders(sharer_id, period.starts_at, period.ends_at)
    facts: dict[int, list] = {}
    lags = []
    rows = db.session.execute(
        select(Order.id, Order.link_id, Order.placed_at, Order.paid_at, Click.clicked_at)
        .outerjoin(Click, Click.id == Order.click_id)
        .where(*in_period, Order.link_id.is_not(None))
    )
    for order_id, link_id, placed_at, paid_at, clicked_at in rows:
        # link, day, paid, estimated, settled, clawed back, reversed (voided or clawed back)
        facts[order_id] = [link_id, china_day(placed_at), paid_at is not None, 0, 0, False, 0]
        if clicked_at is not None:
            lags.append(max(0, int((placed_at - clicked_at).total_seconds())))
    entries = db.session.execute(
        select(LedgerEntry.order_id, LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
        .join(Order, Order.id == LedgerEntry.order_id)
        .where(*in_period, LedgerEntry.tier == 1, LedgerEntry.sharer_id == sharer_id)
        .group_by(LedgerEntry.order_id, LedgerEntry.kind)
    )
    for order_id, kind, amount in entries:
        fact = facts.get(order_id)
        if fact is None:
            continue
        kind = EntryKind(kind)
        if kind == EntryKind.ESTIMATED:
            fact[3] += int(amount)
        elif kind == EntryKind.SETTLED:
            fact[4] += int(amount)
        if kind == EntryKind.CLAWBACK:
            fact[5] = True
        if kind in (EntryKind.VOIDED, EntryKind.CLAWBACK):
            fact[6] += int(amount)
    found: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0] * len(ORDER_FIELDS))
    for link_id, day, paid, estimated, settled, clawed_back, reversed_ in facts.values():
        counts = found[(link_id, day)]  # ORDER_FIELDS
        counts[0] += 1
        counts[1] += paid
        counts[2] += estimated
        if settled and not clawed_back:
            counts[3] += 1
            counts[4] += settled
        if reversed_:
            counts[5] += 1
            counts[6] += reversed_
    return _Sums.of(found, len(ORDER_FIELDS)), lags


def _link_day_sums(model, fields: tuple[str, ...], sharer_id: int, period: Period) -> _Sums:
    """Like :func:`_rollup_sums` in one query, for a period of a day or two (today)."""
    rows = db.session.execute(
        _sums_query(model, fields, "link_id,day"),
        {"sharer_id": sharer_id, "start": period.start, "end": period.end},
    )
    found = {
        (link_id, as_date(day)): [int(v or 0) for v in values] for link_id, day, *values in rows
    }
    return _Sums.of(found, len(fields))


@dataclass(frozen=True)
class _PeriodSums:
    """A period's numbers from the rollups. Those of days that have ended are kept per process
    (STATS_PAST_DAYS_SECONDS): sums only, never labels, which are in the reader's language and
    follow product renames."""

    clicks: _Sums
    orders: _Sums
    lags: list[int]
    visitors: int


def _sums_of(sharer_id: int, period: Period, visitors: int) -> _PeriodSums:
    """Every number of ``period`` but its visitors (given) from the rollups."""
    return _PeriodSums(
        _rollup_sums(ClickDay, CLICK_FIELDS, sharer_id, period),
        _rollup_sums(OrderDay, ORDER_FIELDS, sharer_id, period),
        sorted(_lags(sharer_id, period)),  # sorted once: a view then sorts only today's in
        visitors,
    )


def _closed_days(sharer_id: int, period: Period, *, today_starts: datetime) -> _PeriodSums:
    """The ended days ``period`` (up to yesterday). Their visitors: those last seen in it, and
    those last seen today whose last click before today (``prior_seen_at``) was in it."""
    in_days = (SharerVisitor.sharer_id == sharer_id) & (
        SharerVisitor.last_seen_at >= period.starts_at
    )
    came_back = (SharerVisitor.sharer_id == sharer_id) & (
        SharerVisitor.last_seen_at >= today_starts
    )
    visitors = (
        db.session.execute(
            select(func.count()).where(in_days & (SharerVisitor.last_seen_at < today_starts))
        ).scalar_one()
        + db.session.execute(
            select(func.count()).where(
                came_back & (SharerVisitor.prior_seen_at >= period.starts_at)
            )
        ).scalar_one()
    )
    return _sums_of(sharer_id, period, visitors)


@cache
def _new_today_query():
    return select(func.count()).where(
        SharerVisitor.sharer_id == bindparam("sharer_id"),
        SharerVisitor.last_seen_at >= bindparam("today_starts"),
        (SharerVisitor.prior_seen_at.is_(None))
        | (SharerVisitor.prior_seen_at < bindparam("period_starts")),
    )


def _new_today(sharer_id: int, period_starts: datetime, today_starts: datetime) -> int:
    """Visitors last seen today who had no counted click from ``period_starts`` until today."""
    params = {"sharer_id": sharer_id, "today_starts": today_starts, "period_starts": period_starts}
    return db.session.execute(_new_today_query(), params).scalar_one()
