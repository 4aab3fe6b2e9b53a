"""A sharer's funnel for a period: clicks -> unique visitors -> orders -> paid -> settled rebate.

``funnel`` reads only the rollups (``click_days``, ``sharer_visitors``), the sharer's orders of
the period (through ``ix_orders_sharer_placed``; each order's winning click is read by primary
key for the time from click to order) and those orders' ledger entries: never a scan of the
clicks table. ``funnel_from_raw`` computes the same numbers from the raw clicks, for the tests
and the benchmark.

Definitions (the page says the same in plain words):

- Periods are whole China days (Beijing time, UTC+8), start and end included.
- Clicks are counted clicks only: robots, link previews, HEAD and prefetch requests
  ("bots"), and repeats of the same visitor on the same link within 10 minutes or floods from
  one address ("repeats") are shown apart as not counted. Scans are counted clicks that were
  scans of a poster's QR code (part of the clicks, not in addition to them).
- Unique visitors (rollup): visitors of the sharer whose first counted click was before the
  period's end and whose last counted click was at or after its start. For a period ending
  today that is exactly the visitors with a counted click in the period. For a past custom
  period it also counts a visitor who clicked before and again after the period but not
  within it, so it can be higher than the raw count (``funnel_from_raw``: distinct visitor
  ids of counted clicks in the period); the per-sharer visitor table keeps only the first
  and last click, which is what makes it cheap.
- Orders: orders attributed to the sharer with an earning reason (``attribution.EARNING``),
  placed in the period. Paid: those of them that were paid (also if refunded later).
  Settled: those whose rebate settled and was not clawed back, with the settled amount.
- Rebate estimated: the ESTIMATED ledger entries of the period's orders (posted when paid).
- Breakdowns and the time from click to order follow the link that earned each order.
- Rates are integer basis points, rounded down; money is integer fen.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from shop.errors import ValidationError
from shop.extensions import db
from shop.models import (
    Channel,
    Click,
    ClickDay,
    EntryKind,
    LedgerEntry,
    Order,
    Product,
    ShareLink,
    SharerVisitor,
)
from shop.services.attribution import EARNING
from shop.services.cache import app_cache
from shop.services.links import CHANNEL_LABELS
from shop.services.rollup import BOT_REASONS, as_date, china_date_sql, china_day, day_start

MAX_DAYS = 366
PRESETS = {"7d": 7, "30d": 30}

# --- periods -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Whole China days from ``start`` to ``end``, both included."""

    start: date
    end: date
    #: "7d", "30d" or "custom".
    key: str = "custom"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def starts_at(self) -> datetime:
        """The UTC moment the period begins."""
        return day_start(self.start)

    @property
    def ends_at(self) -> datetime:
        """The UTC moment after the period (exclusive)."""
        return day_start(self.end + timedelta(days=1))

    def dates(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range(self.days)]


def last_days(days: int, *, now: datetime) -> Period:
    """The ``days`` China days ending today (today included)."""
    today = china_day(now)
    key = next((k for k, n in PRESETS.items() if n == days), "custom")
    return Period(today - timedelta(days=days - 1), today, key)


def _parse_date(raw: str | None, field_name: str) -> date:
    try:
        return date.fromisoformat((raw or "").strip())
    except ValueError:
        raise ValidationError(_l("Enter a date like 2026-11-24."), field_name) from None


def custom_period(start_raw: str | None, end_raw: str | None, *, now: datetime) -> Period:
    """A period from two ISO dates typed by the sharer.

    Raises ValidationError (with the field) for a date that does not parse, a start after the
    end, an end after today (China time) or more than ``MAX_DAYS`` days.
    """
    start = _parse_date(start_raw, "start")
    end = _parse_date(end_raw, "end")
    today = china_day(now)
    if end > today:
        raise ValidationError(_l("The end date cannot be in the future."), "end")
    if start > end:
        raise ValidationError(_l("The start date must be on or before the end date."), "start")
    if (end - start).days + 1 > MAX_DAYS:
        raise ValidationError(
            _l("Choose at most %(days)d days.", days=MAX_DAYS),
            "start",
        )
    return Period(start, end, "custom")


def parse_period(args, *, now: datetime) -> Period:
    """The period a query string asks for: ``period=7d`` / ``30d``, or ``start`` and ``end``
    dates (a custom period); 7 days when nothing is given. Raises ValidationError for a bad
    custom period."""
    preset = args.get("period", "")
    if preset in PRESETS:
        return last_days(PRESETS[preset], now=now)
    if args.get("start") or args.get("end") or preset == "custom":
        return custom_period(args.get("start"), args.get("end"), now=now)
    return last_days(7, now=now)


# --- results -------------------------------------------------------------------------------


def rate_bps(part: int, whole: int) -> int | None:
    """``part`` as basis points of ``whole``, rounded down; None when ``whole`` is 0."""
    return part * 10_000 // whole if whole else None


@dataclass(frozen=True)
class Step:
    """One step of the funnel and its conversion from the step before."""

    key: str  #: clicks, visitors, orders, paid, settled
    count: int
    rate_bps: int | None  #: of the previous step; None for the first step or after a zero


@dataclass
class Row:
    """One line of a breakdown (a product, a channel or a link)."""

    key: str
    label: str
    clicks: int = 0  #: counted
    scans: int = 0
    not_counted: int = 0  #: bots and repeats
    orders: int = 0
    paid: int = 0
    estimated_cents: int = 0

    @property
    def conversion_bps(self) -> int | None:
        """Orders per counted click."""
        return rate_bps(self.orders, self.clicks)


@dataclass(frozen=True)
class DayPoint:
    day: date
    clicks: int  #: counted
    orders: int
    estimated_cents: int  #: rebate estimated for the orders placed that day


#: Buckets of the time from the earning click to the order: (key, upper bound in seconds).
LAG_BUCKETS = (
    ("under_1m", 60),
    ("under_10m", 600),
    ("under_1h", 3600),
    ("under_1d", 86_400),
    ("under_7d", 7 * 86_400),
    ("longer", None),
)
LAG_LABELS = {
    "under_1m": _l("Under a minute"),
    "under_10m": _l("1 to 10 minutes"),
    "under_1h": _l("10 to 60 minutes"),
    "under_1d": _l("1 to 24 hours"),
    "under_7d": _l("1 to 7 days"),
    "longer": _l("More than 7 days"),
}


@dataclass(frozen=True)
class Lag:
    """Time from the click that earned an order to the order."""

    median_seconds: int | None
    #: (bucket key, orders), every bucket in LAG_BUCKETS order.
    buckets: list[tuple[str, int]]
    orders: int


@dataclass
class Stats:
    sharer_id: int
    start: date
    end: date
    clicks: int = 0  #: counted clicks
    visitors: int = 0
    orders: int = 0
    paid: int = 0
    settled: int = 0  #: orders whose rebate settled (and was not clawed back)
    settled_cents: int = 0
    estimated_cents: int = 0  #: rebate estimated for the period's paid orders
    scans: int = 0  #: counted clicks that were QR scans
    bots: int = 0  #: not counted: robots, previews, HEAD, prefetch
    repeats: int = 0  #: not counted: duplicates and floods
    by_product: list[Row] = field(default_factory=list)
    by_channel: list[Row] = field(default_factory=list)
    by_link: list[Row] = field(default_factory=list)
    daily: list[DayPoint] = field(default_factory=list)
    lag: Lag = field(default_factory=lambda: Lag(None, [(k, 0) for k, _ in LAG_BUCKETS], 0))

    @property
    def recorded(self) -> int:
        """Every recorded follow, counted or not."""
        return self.clicks + self.bots + self.repeats

    @property
    def steps(self) -> list[Step]:
        counts = [
            ("clicks", self.clicks),
            ("visitors", self.visitors),
            ("orders", self.orders),
            ("paid", self.paid),
            ("settled", self.settled),
        ]
        steps, previous = [], None
        for key, count in counts:
            steps.append(Step(key, count, None if previous is None else rate_bps(count, previous)))
            previous = count
        return steps

    @property
    def conversion_bps(self) -> int | None:
        """Orders per counted click, over the whole period."""
        return rate_bps(self.orders, self.clicks)


# --- computing -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _LinkInfo:
    product_key: str
    product_label: str
    channel_key: str
    channel_label: str
    link_label: str


def _links(sharer_id: int) -> dict[int, _LinkInfo]:
    rows = db.session.execute(
        select(
            ShareLink.id,
            ShareLink.code,
            ShareLink.product_id,
            ShareLink.channel,
            ShareLink.label,
            Product.title,
        )
        .outerjoin(Product, Product.id == ShareLink.product_id)
        .where(ShareLink.sharer_id == sharer_id)
    )
    found = {}
    for link_id, code, product_id, channel, label, title in rows:
        channel = Channel(channel)
        product_label = title if product_id is not None else str(_l("Whole shop"))
        if channel == Channel.CUSTOM:
            channel_key, channel_label = f"custom:{label}", label
        else:
            channel_key, channel_label = channel.value, str(CHANNEL_LABELS[channel])
        found[link_id] = _LinkInfo(
            product_key=f"p{product_id}" if product_id is not None else "shop",
            product_label=product_label,
            channel_key=channel_key,
            channel_label=channel_label,
            link_label=f"{product_label} · {channel_label} · {code}",
        )
    return found


_UNKNOWN = _LinkInfo("unknown", "?", "unknown", "?", "?")


@dataclass
class _DayCounts:
    counted: int = 0
    scans: int = 0
    bots: int = 0
    repeats: int = 0


def _rollup_days(sharer_id: int, period: Period) -> dict[tuple[int, date], _DayCounts]:
    rows = db.session.execute(
        select(
            ClickDay.link_id,
            ClickDay.day,
            ClickDay.counted,
            ClickDay.scans,
            ClickDay.bots,
            ClickDay.repeats,
        ).where(
            ClickDay.sharer_id == sharer_id,
            ClickDay.day >= period.start,
            ClickDay.day <= period.end,
        )
    )
    return {
        (link_id, day): _DayCounts(counted, scans, bots, repeats)
        for link_id, day, counted, scans, bots, repeats in rows
    }


def _rollup_visitors(sharer_id: int, period: Period, *, open_ended: bool = False) -> int:
    condition = (SharerVisitor.sharer_id == sharer_id) & (
        SharerVisitor.last_seen_at >= period.starts_at
    )
    if not open_ended:  # open-ended: an index-only count on (sharer_id, last_seen_at)
        condition &= SharerVisitor.first_seen_at < period.ends_at
    return db.session.execute(select(func.count()).where(condition)).scalar_one()


def _raw_days(sharer_id: int, period: Period) -> dict[tuple[int, date], _DayCounts]:
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
    found: dict[tuple[int, date], _DayCounts] = defaultdict(_DayCounts)
    for link_id, raw_day, reason, is_scan, count in rows:
        counts = found[(link_id, as_date(raw_day))]
        if reason is None:
            counts.counted += count
            counts.scans += count if is_scan else 0
        elif reason in BOT_REASONS:
            counts.bots += count
        else:
            counts.repeats += count
    return dict(found)


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


@dataclass
class _OrderFacts:
    link_id: int | None
    placed_at: datetime
    paid: bool
    clicked_at: datetime | None
    estimated_cents: int = 0
    settled_cents: int = 0
    clawed_back: bool = False


def _orders(sharer_id: int, period: Period) -> list[_OrderFacts]:
    """The period's earning orders, with their winning click's time (a primary-key join)
    and their ledger amounts."""
    in_period = (
        Order.sharer_id == sharer_id,
        Order.placed_at >= period.starts_at,
        Order.placed_at < period.ends_at,
        Order.attribution_reason.in_([str(reason) for reason in EARNING]),
    )
    found: dict[int, _OrderFacts] = {}
    rows = db.session.execute(
        select(Order.id, Order.link_id, Order.placed_at, Order.paid_at, Click.clicked_at)
        .outerjoin(Click, Click.id == Order.click_id)
        .where(*in_period)
    )
    for order_id, link_id, placed_at, paid_at, clicked_at in rows:
        found[order_id] = _OrderFacts(link_id, placed_at, paid_at is not None, clicked_at)
    if found:
        entries = db.session.execute(
            select(LedgerEntry.order_id, LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
            .join(Order, Order.id == LedgerEntry.order_id)
            .where(*in_period, LedgerEntry.sharer_id == sharer_id)
            .group_by(LedgerEntry.order_id, LedgerEntry.kind)
        )
        for order_id, kind, amount in entries:
            facts = found.get(order_id)
            if facts is None:
                continue
            kind = EntryKind(kind)
            if kind == EntryKind.ESTIMATED:
                facts.estimated_cents += int(amount)
            elif kind == EntryKind.SETTLED:
                facts.settled_cents += int(amount)
            elif kind == EntryKind.CLAWBACK:
                facts.clawed_back = True
    return list(found.values())


def _lag(orders: list[_OrderFacts]) -> Lag:
    seconds = sorted(
        max(0, int((o.placed_at - o.clicked_at).total_seconds()))
        for o in orders
        if o.clicked_at is not None
    )
    counts = dict.fromkeys((key for key, _ in LAG_BUCKETS), 0)
    for value in seconds:
        for key, upper in LAG_BUCKETS:
            if upper is None or value < upper:
                counts[key] += 1
                break
    median = None
    if seconds:
        middle = len(seconds) // 2
        median = (
            seconds[middle] if len(seconds) % 2 else (seconds[middle - 1] + seconds[middle]) // 2
        )
    return Lag(median, list(counts.items()), len(seconds))


def _sorted(rows: dict[str, Row]) -> list[Row]:
    return sorted(rows.values(), key=lambda r: (-r.clicks, -r.orders, r.label, r.key))


def _build(
    sharer_id: int,
    period: Period,
    days: dict[tuple[int, date], _DayCounts],
    visitors: int,
) -> Stats:
    links = _links(sharer_id)
    orders = _orders(sharer_id, period)
    stats = Stats(sharer_id, period.start, period.end, visitors=visitors)
    groups: dict[str, dict[str, Row]] = {"product": {}, "channel": {}, "link": {}}

    def rows_for(link_id: int | None) -> list[Row]:
        info = links.get(link_id, _UNKNOWN) if link_id is not None else _UNKNOWN
        keys = (
            ("product", info.product_key, info.product_label),
            ("channel", info.channel_key, info.channel_label),
            ("link", str(link_id), info.link_label),
        )
        return [groups[g].setdefault(key, Row(key, label)) for g, key, label in keys]

    daily = {day: [0, 0, 0] for day in period.dates()}
    for (link_id, day), counts in days.items():
        stats.clicks += counts.counted
        stats.scans += counts.scans
        stats.bots += counts.bots
        stats.repeats += counts.repeats
        if day in daily:
            daily[day][0] += counts.counted
        for row in rows_for(link_id):
            row.clicks += counts.counted
            row.scans += counts.scans
            row.not_counted += counts.bots + counts.repeats

    for order in orders:
        stats.orders += 1
        stats.paid += order.paid
        stats.estimated_cents += order.estimated_cents
        if order.settled_cents and not order.clawed_back:
            stats.settled += 1
            stats.settled_cents += order.settled_cents
        day = china_day(order.placed_at)
        if day in daily:
            daily[day][1] += 1
            daily[day][2] += order.estimated_cents
        for row in rows_for(order.link_id):
            row.orders += 1
            row.paid += order.paid
            row.estimated_cents += order.estimated_cents

    stats.by_product = _sorted(groups["product"])
    stats.by_channel = _sorted(groups["channel"])
    stats.by_link = _sorted(groups["link"])
    stats.daily = [DayPoint(day, *values) for day, values in daily.items()]
    stats.lag = _lag(orders)
    return stats


def funnel(sharer_id: int, start: date, end: date, *, now: datetime | None = None) -> Stats:
    """The sharer's funnel for the China days ``start``..``end`` from the rollups and the
    period's orders; never scans the clicks table. Periods are not validated here (the
    parsing helpers do that). With ``now`` given, a period that ends after it counts its
    visitors from the index alone (nobody's first visit can be after now)."""
    period = Period(start, end)
    open_ended = now is not None and period.ends_at > now
    visitors = _rollup_visitors(sharer_id, period, open_ended=open_ended)
    stats = _build(sharer_id, period, _rollup_days(sharer_id, period), visitors)
    # Someone who came before and after a past period but not during it would count: never
    # show more visitors than counted clicks, and let the page say the number is an estimate.
    stats.visitors = min(stats.visitors, stats.clicks)
    stats.visitors_exact = now is None or open_ended
    return stats


def funnel_cached(sharer_id: int, start: date, end: date, *, now: datetime) -> Stats:
    """:func:`funnel`, kept STATS_CACHE_SECONDS in this process: the stats page and its chart
    image ask for the same numbers one request after the other."""
    cache = app_cache("stats_funnels", "STATS_CACHE_SECONDS")
    return cache.get((sharer_id, start, end), lambda: funnel(sharer_id, start, end, now=now))


def funnel_from_raw(sharer_id: int, start: date, end: date) -> Stats:
    """The same numbers from the raw clicks table. Everything equals ``funnel`` except
    ``visitors`` for a past period (see the module docstring): here they are exactly the
    distinct visitor ids of the period's counted clicks."""
    period = Period(start, end)
    return _build(sharer_id, period, _raw_days(sharer_id, period), _raw_visitors(sharer_id, period))
