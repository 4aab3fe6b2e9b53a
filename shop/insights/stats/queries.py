"""A sharer's funnel for a period: clicks -> unique visitors -> orders -> paid -> settled rebate.

``funnel`` reads only the rollups (``click_days``, ``sharer_visitors``, ``order_days``) and,
for the time from click to order, the seconds kept on each order (``ix_orders_sharer_placed``
alone): never the clicks table, nor the orders' items or ledger entries.
``funnel_from_raw`` computes the same numbers from the raw clicks, orders and ledger entries,
for the tests and the benchmark.

Definitions (the page says the same in plain words):

- Periods are whole China days (Beijing time, UTC+8), start and end included.
- Clicks are counted clicks only: robots, link previews, HEAD and prefetch requests
  ("bots"), and repeats of the same visitor on the same link within 10 minutes or floods from
  one address ("repeats") are shown apart as not counted. Scans are counted clicks that were
  scans of a poster's QR code (part of the clicks, not in addition to them).
- Unique visitors (rollup): visitors of the sharer whose first counted click was before the
  period's end and whose last counted click was at or after its start. For a period ending
  today that is exactly the visitors with a counted click in the period (computed as those of
  the ended days plus those new today, from each visitor's last click on an earlier day,
  ``prior_seen_at``, so the ended days' count can be kept). For a past custom
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

from bisect import bisect_left
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import bindparam, func, select

from shop.catalog.models import Product
from shop.money.models import EntryKind, LedgerEntry, OrderDay
from shop.orders.models import Order
from shop.platform.cache import app_cache
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.sharing.attribution import EARNING_REASONS
from shop.sharing.links import CHANNEL_LABELS
from shop.sharing.models import Channel, Click, ClickDay, ShareLink, SharerVisitor
from shop.sharing.rollup import (
    BOT_REASONS,
    as_date,
    china_date_sql,
    china_day,
    day_start,
    ended_days_final,
)

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
ORDER_FIELDS = ("orders", "paid", "estimated_cents", "settled", "settled_cents")


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
        # link, day, paid, estimated, settled, clawed back
        facts[order_id] = [link_id, china_day(placed_at), paid_at is not None, 0, 0, False]
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
        elif kind == EntryKind.CLAWBACK:
            fact[5] = True
    found: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    for link_id, day, paid, estimated, settled, clawed_back in facts.values():
        counts = found[(link_id, day)]  # ORDER_FIELDS
        counts[0] += 1
        counts[1] += paid
        counts[2] += estimated
        if settled and not clawed_back:
            counts[3] += 1
            counts[4] += settled
    return _Sums.of(found, len(ORDER_FIELDS)), lags


def _lag(lags: list[int]) -> Lag:
    seconds = sorted(lags)
    counts, below = [], 0
    for key, upper in LAG_BUCKETS:
        up_to = len(seconds) if upper is None else bisect_left(seconds, upper)
        counts.append((key, up_to - below))
        below = up_to
    median = None
    if seconds:
        middle = len(seconds) // 2
        median = (
            seconds[middle] if len(seconds) % 2 else (seconds[middle - 1] + seconds[middle]) // 2
        )
    return Lag(median, counts, len(seconds))


def _sorted(rows: dict[str, Row]) -> list[Row]:
    return sorted(rows.values(), key=lambda r: (-r.clicks, -r.orders, r.label, r.key))


def _build(
    sharer_id: int,
    period: Period,
    clicks: _Sums,
    visitors: int,
    orders: _Sums,
    lags: list[int],
) -> Stats:
    links = _links(sharer_id)
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

    for link_id, (counted, scans, bots, repeats) in clicks.by_link.items():
        stats.clicks += counted
        stats.scans += scans
        stats.bots += bots
        stats.repeats += repeats
        for row in rows_for(link_id):
            row.clicks += counted
            row.scans += scans
            row.not_counted += bots + repeats
    for link_id, (placed, paid, estimated, settled, settled_cents) in orders.by_link.items():
        stats.orders += placed
        stats.paid += paid
        stats.estimated_cents += estimated
        stats.settled += settled
        stats.settled_cents += settled_cents
        for row in rows_for(link_id):
            row.orders += placed
            row.paid += paid
            row.estimated_cents += estimated

    none = [0] * len(ORDER_FIELDS)
    stats.daily = [
        DayPoint(
            day,
            clicks.by_day.get(day, none)[0],
            orders.by_day.get(day, none)[0],
            orders.by_day.get(day, none)[2],
        )
        for day in period.dates()
    ]
    stats.by_product = _sorted(groups["product"])
    stats.by_channel = _sorted(groups["channel"])
    stats.by_link = _sorted(groups["link"])
    stats.lag = _lag(lags)
    return stats


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


def _merged(first: _Sums, second: _Sums) -> _Sums:
    by_link = {key: list(counts) for key, counts in first.by_link.items()}
    for key, counts in second.by_link.items():
        total = by_link.setdefault(key, [0] * len(counts))
        for index, value in enumerate(counts):
            total[index] += value
    return _Sums(by_link, first.by_day | second.by_day)  # the two periods share no day


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


def _built(sharer_id: int, period: Period, sums: "_PeriodSums") -> Stats:
    return _build(sharer_id, period, sums.clicks, sums.visitors, sums.orders, sums.lags)


def _capped(stats: Stats, *, exact: bool) -> Stats:
    """Never more visitors than counted clicks (a past period's count can be higher: someone
    who came before and after it but not during it); ``exact`` lets the page say which."""
    stats.visitors = min(stats.visitors, stats.clicks)
    stats.visitors_exact = exact
    return stats


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


def funnel(sharer_id: int, start: date, end: date, *, now: datetime | None = None) -> Stats:
    """The sharer's funnel for the China days ``start``..``end`` from the rollups and the
    period's orders; never scans the clicks table. Periods are not validated here (the
    parsing helpers do that).

    With ``now`` given, days that ended more than rollup.CLOSED_AFTER ago are summed once and kept
    STATS_PAST_DAYS_SECONDS in this process; today's numbers are read on every call. So a
    period ending today costs a handful of small reads after its first view, and an order of an
    earlier day that is paid, settled or refunded shows within that time. A period that ends
    after ``now`` counts its visitors exactly: those of the ended days plus those new today."""
    period = Period(start, end)
    if now is None:
        return _funnel(sharer_id, period, open_ended=False, exact=True)
    today = china_day(now)
    today_starts = day_start(today)
    final = ended_days_final(now)  # late click batches are in
    cache = app_cache("stats_closed_days", "STATS_PAST_DAYS_SECONDS")
    if period.end < today and final:  # every day has ended: its sums are kept
        past = cache.get(
            ("past", sharer_id, start, end),
            lambda: _sums_of(sharer_id, period, _rollup_visitors(sharer_id, period)),
        )
        # Labels (channels in the reader's language, product titles) are read on every view.
        return _capped(_built(sharer_id, period, past), exact=False)
    if not final or period.start >= today:
        return _funnel(sharer_id, period, open_ended=period.ends_at > now, exact=False)
    closed_period = Period(start, today - timedelta(days=1))
    closed = cache.get(
        ("closed", sharer_id, start, today),
        lambda: _closed_days(sharer_id, closed_period, today_starts=today_starts),
    )
    live = Period(today, end)
    stats = _build(
        sharer_id,
        period,
        _merged(closed.clicks, _link_day_sums(ClickDay, CLICK_FIELDS, sharer_id, live)),
        closed.visitors + _new_today(sharer_id, period.starts_at, today_starts),
        _merged(closed.orders, _link_day_sums(OrderDay, ORDER_FIELDS, sharer_id, live)),
        closed.lags + _lags(sharer_id, live),
    )
    return _capped(stats, exact=True)


def _funnel(sharer_id: int, period: Period, *, open_ended: bool, exact: bool) -> Stats:
    """Every number read afresh. ``open_ended``: nobody's first visit can be after the period
    (its end is after now), so visitors are counted from the index alone."""
    visitors = _rollup_visitors(sharer_id, period, open_ended=open_ended)
    sums = _sums_of(sharer_id, period, visitors)
    return _capped(_built(sharer_id, period, sums), exact=exact or open_ended)


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
    orders, lags = _raw_orders(sharer_id, period)
    return _build(
        sharer_id,
        period,
        _raw_days(sharer_id, period),
        _raw_visitors(sharer_id, period),
        orders,
        lags,
    )
