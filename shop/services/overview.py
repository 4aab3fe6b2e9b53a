"""The admin overview's numbers: paid orders, sales and clicks by China day, rebate totals,
open work, and the top sharers and products of the last days.

Everything comes from the daily rollups, never from the raw clicks, orders, items or ledger
entries: clicks from ``ClickDay``, paid orders and sales from ``SaleDay`` (by sharer) and
``ProductDay``, rebate totals from ``LedgerDay`` (``shop.services.sales`` keeps them). The
click totals of days that have ended (one rollup row per link and day: the costly part) are
kept ``OVERVIEW_PAST_DAYS_SECONDS`` per process. A paid order counts on the China day it was
paid and stays counted if it is refunded later (sales are gross; refunds are shown apart).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select

from shop.extensions import db
from shop.models import (
    ClickDay,
    EntryKind,
    LedgerDay,
    Merchant,
    Payout,
    PayoutStatus,
    Product,
    ProductDay,
    SaleDay,
    User,
)
from shop.services.cache import app_cache
from shop.services.rollup import as_date, china_day


@dataclass(frozen=True)
class Day:
    day: date
    orders: int  #: orders paid that day
    gmv_cents: int  #: their totals
    clicks: int  #: counted clicks that day


@dataclass(frozen=True)
class RebateTotals:
    estimated_cents: int  #: waiting for the return window (estimated, not yet settled)
    settled_cents: int  #: ever settled, less clawbacks
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


def _window(model, *, now: datetime, days: int):
    return model.day >= first_day(now, days), model.day <= china_day(now)


def daily(*, now: datetime, days: int = 30) -> list[Day]:
    """One row per China day, oldest first, ending today; days without data are zeros."""
    start = first_day(now, days)
    orders = {
        as_date(day): (n or 0, total or 0)
        for day, n, total in db.session.execute(
            select(SaleDay.day, func.sum(SaleDay.orders), func.sum(SaleDay.gmv_cents))
            .where(*_window(SaleDay, now=now, days=days))
            .group_by(SaleDay.day)
        )
    }
    today = china_day(now)
    # Days that have ended get no more clicks: their totals (the costly part, one rollup
    # row per link and day) are kept a while per process; today's are always counted.
    cache = app_cache("overview_click_days", "OVERVIEW_PAST_DAYS_SECONDS")
    clicks = dict(cache.get((start, today), lambda: _clicks(start, today - timedelta(days=1))))
    clicks.update(_clicks(today, today))
    result = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        n, gmv = orders.get(day, (0, 0))
        result.append(
            Day(day=day, orders=int(n), gmv_cents=int(gmv), clicks=int(clicks.get(day, 0)))
        )
    return result


def _clicks(first: date, last: date) -> dict[date, int]:
    """Counted clicks per China day from ``first`` to ``last``."""
    return {
        as_date(day): int(n or 0)
        for day, n in db.session.execute(
            select(ClickDay.day, func.sum(ClickDay.counted))
            .where(ClickDay.day >= first, ClickDay.day <= last)
            .group_by(ClickDay.day)
        )
    }


def rebate_totals() -> RebateTotals:
    sums = dict(
        db.session.execute(
            select(LedgerDay.kind, func.sum(LedgerDay.amount_cents)).group_by(LedgerDay.kind)
        ).all()
    )

    def total(kind: EntryKind) -> int:
        return int(sums.get(str(kind)) or 0)

    payouts = dict(
        db.session.execute(
            select(Payout.status, func.coalesce(func.sum(Payout.amount_cents), 0)).group_by(
                Payout.status
            )
        ).all()
    )
    return RebateTotals(
        estimated_cents=total(EntryKind.ESTIMATED)
        - total(EntryKind.SETTLED)
        - total(EntryKind.VOIDED),
        settled_cents=total(EntryKind.SETTLED) - total(EntryKind.CLAWBACK),
        paid_out_cents=int(payouts.get(PayoutStatus.PAID, 0)),
        requested_cents=int(payouts.get(PayoutStatus.REQUESTED, 0)),
    )


def refunded_in(*, now: datetime, days: int = 30) -> int:
    """Orders paid in the period that have since been refunded."""
    return int(
        db.session.execute(
            select(func.coalesce(func.sum(SaleDay.refunded), 0)).where(
                *_window(SaleDay, now=now, days=days)
            )
        ).scalar_one()
    )


def top_sharers(*, now: datetime, days: int = 30, limit: int = 10) -> list[TopSharer]:
    """Sharers by the sales of the orders paid through their links in the period."""
    gmv = func.sum(SaleDay.gmv_cents)
    top = (
        select(SaleDay.sharer_id, func.sum(SaleDay.orders).label("orders"), gmv.label("gmv"))
        .where(*_window(SaleDay, now=now, days=days), SaleDay.sharer_id != 0)
        .group_by(SaleDay.sharer_id)
        .order_by(gmv.desc(), SaleDay.sharer_id)
        .limit(limit)
        .subquery()
    )
    rows = db.session.execute(
        select(top.c.sharer_id, User.display_name, top.c.orders, top.c.gmv)
        .join(User, User.id == top.c.sharer_id)
        .order_by(top.c.gmv.desc(), top.c.sharer_id)
    ).all()
    return [TopSharer(sid, name, int(n), int(total or 0)) for sid, name, n, total in rows]


def top_products(*, now: datetime, days: int = 30, limit: int = 10) -> list[TopProduct]:
    """Products by units sold in orders paid in the period (then by sales)."""
    units, gmv = func.sum(ProductDay.units), func.sum(ProductDay.gmv_cents)
    top = (
        select(ProductDay.product_id, units.label("units"), gmv.label("gmv"))
        .where(*_window(ProductDay, now=now, days=days))
        .group_by(ProductDay.product_id)
        .order_by(units.desc(), gmv.desc(), ProductDay.product_id)
        .limit(limit)
        .subquery()
    )
    rows = db.session.execute(
        select(Product.id, Product.title, Merchant.id, Merchant.name, top.c.units, top.c.gmv)
        .join(top, top.c.product_id == Product.id)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .order_by(top.c.units.desc(), top.c.gmv.desc(), Product.id)
    ).all()
    return [TopProduct(pid, t, mid, mname, int(u), int(g)) for pid, t, mid, mname, u, g in rows]
