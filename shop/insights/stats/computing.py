"""A sharer's funnel from the sums ``queries`` reads: breakdowns by product, channel and link,
daily points and the time from click to order, with the period's sums of ended days kept per
process; and the public ``funnel``, ``funnel_cached`` and ``funnel_from_raw``."""

from bisect import bisect_left
from datetime import date, datetime, timedelta

from shop.insights.stats.periods import Period
from shop.insights.stats.queries import (
    _UNKNOWN,
    CLICK_FIELDS,
    ORDER_FIELDS,
    _closed_days,
    _lags,
    _link_day_sums,
    _links,
    _new_today,
    _PeriodSums,
    _raw_days,
    _raw_orders,
    _raw_visitors,
    _rollup_visitors,
    _Sums,
    _sums_of,
)
from shop.insights.stats.results import LAG_BUCKETS, DayPoint, Lag, Row, Stats
from shop.money.models import OrderDay
from shop.platform.cache import app_cache
from shop.sharing.models import ClickDay
from shop.sharing.rollup import china_day, day_start, ended_days_final


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
    for link_id, counts in orders.by_link.items():
        placed, paid, estimated, settled, settled_cents, refunded, refunded_cents = counts
        stats.orders += placed
        stats.paid += paid
        stats.estimated_cents += estimated
        stats.settled += settled
        stats.settled_cents += settled_cents
        stats.refunded += refunded
        stats.refunded_cents += refunded_cents
        for row in rows_for(link_id):
            row.orders += placed
            row.paid += paid
            row.estimated_cents += estimated
            row.refunded += refunded
            row.refunded_cents += refunded_cents
            row.settled_cents += settled_cents

    none = [0] * len(ORDER_FIELDS)
    stats.daily = [
        DayPoint(
            day,
            clicks.by_day.get(day, none)[0],
            orders.by_day.get(day, none)[0],
            orders.by_day.get(day, none)[2] - orders.by_day.get(day, none)[6],
        )
        for day in period.dates()
    ]
    stats.by_product = _sorted(groups["product"])
    stats.by_channel = _sorted(groups["channel"])
    stats.by_link = _sorted(groups["link"])
    stats.lag = _lag(lags)
    return stats


def _merged(first: _Sums, second: _Sums) -> _Sums:
    by_link = {key: list(counts) for key, counts in first.by_link.items()}
    for key, counts in second.by_link.items():
        total = by_link.setdefault(key, [0] * len(counts))
        for index, value in enumerate(counts):
            total[index] += value
    return _Sums(by_link, first.by_day | second.by_day)  # the two periods share no day


def _built(sharer_id: int, period: Period, sums: "_PeriodSums") -> Stats:
    return _build(sharer_id, period, sums.clicks, sums.visitors, sums.orders, sums.lags)


def _capped(stats: Stats, *, exact: bool) -> Stats:
    """Never more visitors than counted clicks (a past period's count can be higher: someone
    who came before and after it but not during it); ``exact`` lets the page say which."""
    stats.visitors = min(stats.visitors, stats.clicks)
    stats.visitors_exact = exact
    return stats


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
    ``visitors`` for a past period (see the package docstring): here they are exactly the
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
