"""The admin overview's numbers: paid orders, sales and clicks by China day, rebate totals,
open work, and the top sharers and products of the last days.

Everything comes from the daily rollups, never from the raw clicks, orders, items or ledger
entries: clicks from ``ClickDay``, paid orders and sales from ``SaleDay`` (by sharer) and
``ProductDay``, rebate totals from ``LedgerDay`` (``shop.money.sales`` keeps them). The
sums of the days that have ended (clicks, paid orders and sales by day, by sharer and by
product) are kept ``OVERVIEW_PAST_DAYS_SECONDS`` per process, from ``rollup.CLOSED_AFTER``
past midnight on (until then the click writer may still write clicks of the day before): they
change no more after that, except when ``flask rollup`` recounts them. Today's rows are read
on every call, and so are refunds, which change the rows of the day an order was paid. A paid
order counts on the China day it was paid and stays counted if it is refunded later (sales are
gross; refunds are shown apart).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache

from sqlalchemy import Integer, String, bindparam, func, literal, null, select, union_all

from shop.accounts.models import User
from shop.catalog.models import Merchant, Product
from shop.money.models import EntryKind, LedgerDay, Payout, PayoutStatus, ProductDay, SaleDay
from shop.platform.cache import app_cache
from shop.platform.extensions import db
from shop.sharing.models import ClickDay
from shop.sharing.rollup import as_date, china_day, ended_days_final


@dataclass(frozen=True)
class Day:
    day: date
    orders: int  #: orders paid that day
    gmv_cents: int  #: their totals
    clicks: int  #: counted clicks that day


@dataclass(frozen=True)
class RebateTotals:
    estimated_cents: int  #: waiting for the return window (estimated, not yet settled)
    #: Gross: ever settled, before clawbacks (the sharer's "settled" is the same sum, see
    #: shop.money.statement); clawbacks are shown apart.
    settled_cents: int
    clawed_back_cents: int  #: settled rebates taken back by refunds after settlement
    paid_out_cents: int  #: payouts marked paid
    requested_cents: int  #: payouts waiting for an admin


@dataclass(frozen=True)
class TopSharer:
    sharer_id: int
    name: str
    orders: int
    gmv_cents: int


@dataclass(frozen=True)
class TopProduct:
    product_id: int
    title: str
    merchant_id: int
    merchant_name: str
    units: int
    gmv_cents: int


def first_day(now: datetime, days: int) -> date:
    return china_day(now) - timedelta(days=days - 1)


@dataclass(frozen=True)
class _Closed:
    """Sums over the China days of a window that have ended: they change no more (paid
    orders count on the day they were paid), so they are kept OVERVIEW_PAST_DAYS_SECONDS."""

    clicks: dict[date, int]
    sales: dict[date, tuple[int, int]]  #: day -> (paid orders, GMV)
    sharers: dict[int, tuple[int, int]]  #: sharer -> (paid orders, GMV)
    products: dict[int, tuple[int, int]]  #: product -> (units, GMV)
    #: The keys of ``sharers`` and ``products`` ranked (as the top lists rank them).
    sharers_ranked: list[int]
    products_ranked: list[int]
    #: The leaders' names, and their products' titles and merchants, as they were then.
    names: dict[int, str]
    titles: dict[int, tuple[str, int, str]]


def _sums(query) -> dict:
    return {key: (int(a or 0), int(b or 0)) for key, a, b in db.session.execute(query)}


def _closed(first: date, last: date) -> _Closed:
    def between(model):
        return model.day >= first, model.day <= last

    sales = _sums(
        select(SaleDay.day, func.sum(SaleDay.orders), func.sum(SaleDay.gmv_cents))
        .where(*between(SaleDay))
        .group_by(SaleDay.day)
    )
    sharers = _sums(
        select(SaleDay.sharer_id, func.sum(SaleDay.orders), func.sum(SaleDay.gmv_cents))
        .where(*between(SaleDay), SaleDay.sharer_id != 0)
        .group_by(SaleDay.sharer_id)
    )
    products = _sums(
        select(ProductDay.product_id, func.sum(ProductDay.units), func.sum(ProductDay.gmv_cents))
        .where(*between(ProductDay))
        .group_by(ProductDay.product_id)
    )
    sharers_ranked = sorted(sharers, key=lambda key: _sharer_rank(key, *sharers[key]))
    products_ranked = sorted(products, key=lambda key: _product_rank(key, *products[key]))
    names = db.session.execute(
        select(User.id, User.display_name).where(User.id.in_(sharers_ranked[:MAX_TOP]))
    )
    titles = db.session.execute(
        select(Product.id, Product.title, Merchant.id, Merchant.name)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(Product.id.in_(products_ranked[:MAX_TOP]))
    )
    return _Closed(
        clicks=_clicks(first, last),
        sales={as_date(day): counts for day, counts in sales.items()},
        sharers=sharers,
        products=products,
        sharers_ranked=sharers_ranked,
        products_ranked=products_ranked,
        names=dict(names.all()),
        titles={pid: (title, mid, mname) for pid, title, mid, mname in titles},
    )


def _sharer_rank(sharer_id: int, _orders: int, gmv: int) -> tuple:
    return (-gmv, sharer_id)


def _product_rank(product_id: int, units: int, gmv: int) -> tuple:
    return (-units, -gmv, product_id)


@dataclass(frozen=True)
class _Window:
    """A window of ``days`` China days ending today: the ended days' sums (kept) and today's
    rows (read on every call)."""

    start: date
    today: date
    closed: _Closed
    today_clicks: int
    today_sharers: dict[int, tuple[int, int]]
    today_products: dict[int, tuple[int, int]]
    #: Names of today's sharers, titles and merchants of today's products.
    today_names: dict[int, str]
    today_titles: dict[int, tuple[str, int, str]]
    refunded: int  #: orders paid in the window that have since been refunded
    rebates: "RebateTotals"


def _total(column, *where):
    return select(func.coalesce(func.sum(column), 0)).where(*where).scalar_subquery()


@cache
def _statements():
    """The queries every overview view runs, built once."""
    day = bindparam("day")
    first, last = bindparam("first"), bindparam("last")
    # Every live number that is one sum, in one round trip.
    live = [
        _total(ClickDay.counted, ClickDay.day == day),
        _total(SaleDay.refunded, SaleDay.day >= first, SaleDay.day <= last),
    ]
    live += [_total(LedgerDay.amount_cents, LedgerDay.kind == kind.value) for kind in EntryKind]
    live += [_total(Payout.amount_cents, Payout.status == status.value) for status in PayoutStatus]
    return {
        "live": select(*live),
        # Today's rows with their names, sharers and products in one round trip. Sharer 0
        # stands for orders no sharer earned: part of the day's sales, not a sharer.
        "today": union_all(
            select(
                literal("sharer", String),
                SaleDay.sharer_id,
                SaleDay.orders,
                SaleDay.gmv_cents,
                User.display_name,
                null().cast(Integer),
                null().cast(String),
            )
            .outerjoin(User, User.id == SaleDay.sharer_id)
            .where(SaleDay.day == day),
            select(
                literal("product", String),
                ProductDay.product_id,
                ProductDay.units,
                ProductDay.gmv_cents,
                Product.title,
                Merchant.id,
                Merchant.name,
            )
            .join(Product, Product.id == ProductDay.product_id)
            .join(Merchant, Merchant.id == Product.merchant_id)
            .where(ProductDay.day == day),
        ),
        "clicks": select(ClickDay.day, func.sum(ClickDay.counted))
        .where(ClickDay.day >= first, ClickDay.day <= last)
        .group_by(ClickDay.day),
    }


def _window_sums(now: datetime, days: int) -> _Window:
    start, today = first_day(now, days), china_day(now)
    yesterday = today - timedelta(days=1)
    if ended_days_final(now):
        cache = app_cache("overview_closed_days", "OVERVIEW_PAST_DAYS_SECONDS")
        closed = cache.get((start, today), lambda: _closed(start, yesterday))
    else:  # yesterday's last clicks may still be coming
        closed = _closed(start, yesterday)
    statements = _statements()
    live = db.session.execute(
        statements["live"], {"day": today, "first": start, "last": today}
    ).one()
    today_clicks, refunded, *sums = (int(value) for value in live)
    sharers, products, names, titles = {}, {}, {}, {}
    for kind, key, a, b, name, merchant_id, merchant_name in db.session.execute(
        statements["today"], {"day": today}
    ):
        if kind == "sharer":
            sharers[key], names[key] = (int(a), int(b)), name or ""
        else:
            products[key], titles[key] = (int(a), int(b)), (name, merchant_id, merchant_name)
    ledger = dict(zip((kind.value for kind in EntryKind), sums, strict=False))
    payouts = dict(zip((s.value for s in PayoutStatus), sums[len(EntryKind) :], strict=True))
    return _Window(
        start=start,
        today=today,
        closed=closed,
        today_clicks=today_clicks,
        today_sharers=sharers,
        today_products=products,
        today_names=names,
        today_titles=titles,
        refunded=refunded,
        rebates=_rebates(ledger, payouts),
    )


@dataclass(frozen=True)
class Summary:
    """What the overview page shows for a window, from one read of today's rows."""

    days: list[Day]
    top_sharers: list["TopSharer"]
    top_products: list["TopProduct"]
    refunded: int  #: orders paid in the window that have since been refunded
    rebates: "RebateTotals"


def summary(*, now: datetime, days: int = 30, limit: int = 10) -> Summary:
    window = _window_sums(now, days)
    return Summary(
        days=_daily(window, days),
        top_sharers=_top_sharers(window, limit),
        top_products=_top_products(window, limit),
        refunded=window.refunded,
        rebates=window.rebates,
    )


def daily(*, now: datetime, days: int = 30) -> list[Day]:
    """One row per China day, oldest first, ending today; days without data are zeros."""
    return _daily(_window_sums(now, days), days)


def _daily(window: _Window, days: int) -> list[Day]:
    result = []
    for offset in range(days):
        day = window.start + timedelta(days=offset)
        if day == window.today:
            n = sum(orders for orders, _gmv in window.today_sharers.values())
            gmv = sum(gmv for _orders, gmv in window.today_sharers.values())
            clicks = window.today_clicks
        else:
            n, gmv = window.closed.sales.get(day, (0, 0))
            clicks = window.closed.clicks.get(day, 0)
        result.append(Day(day=day, orders=n, gmv_cents=gmv, clicks=clicks))
    return result


#: The longest top list: the names of this many leaders of the ended days are kept with them.
MAX_TOP = 50


def _top(
    closed: dict, ranked: list[int], today: dict, limit: int, rank
) -> list[tuple[int, int, int]]:
    """The ``limit`` first keys by ``rank`` of the ended days' sums plus today's: (key, a, b).
    Only today's keys can overtake, so those and the ended days' leaders are compared."""
    limit = min(limit, MAX_TOP)
    merged = {}
    for key in {*ranked[:limit], *today}:
        a, b = closed.get(key, (0, 0))
        more_a, more_b = today.get(key, (0, 0))
        merged[key] = (a + more_a, b + more_b)
    top = sorted(merged, key=lambda key: rank(key, *merged[key]))[:limit]
    return [(key, *merged[key]) for key in top]


def _clicks(first: date, last: date) -> dict[date, int]:
    """Counted clicks per China day from ``first`` to ``last``."""
    rows = db.session.execute(_statements()["clicks"], {"first": first, "last": last})
    return {as_date(day): int(n or 0) for day, n in rows}


def _rebates(ledger: dict[str, int], payouts: dict[str, int]) -> RebateTotals:
    """From the ledger's sums per entry kind and the payouts' per status."""

    def total(kind: EntryKind) -> int:
        return ledger.get(kind.value, 0)

    return RebateTotals(
        estimated_cents=total(EntryKind.ESTIMATED)
        - total(EntryKind.SETTLED)
        - total(EntryKind.VOIDED),
        settled_cents=total(EntryKind.SETTLED),
        clawed_back_cents=total(EntryKind.CLAWBACK),
        paid_out_cents=payouts.get(PayoutStatus.PAID.value, 0),
        requested_cents=payouts.get(PayoutStatus.REQUESTED.value, 0),
    )


def _top_sharers(window: _Window, limit: int) -> list[TopSharer]:
    today = {sid: counts for sid, counts in window.today_sharers.items() if sid != 0}
    closed = window.closed
    top = _top(closed.sharers, closed.sharers_ranked, today, limit, _sharer_rank)
    # A sharer who sold today by today's name; the others by the name kept with the days.
    names = closed.names | window.today_names
    return [TopSharer(sid, names.get(sid, ""), n, gmv) for sid, n, gmv in top]


def _top_products(window: _Window, limit: int) -> list[TopProduct]:
    closed = window.closed
    top = _top(closed.products, closed.products_ranked, window.today_products, limit, _product_rank)
    found = closed.titles | window.today_titles
    return [TopProduct(pid, *found[pid], units, gmv) for pid, units, gmv in top if pid in found]
