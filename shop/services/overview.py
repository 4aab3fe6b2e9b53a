"""The admin overview's numbers: paid orders, sales and clicks by China day, rebate totals,
open work, and the top sharers and products of the last days.

Clicks come from the daily rollup (``ClickDay``), never from raw clicks; orders are grouped
in the database over ``ix_orders_paid_at``. A paid order counts on the China day it was paid
and stays counted if it is refunded later (sales are gross; refunds are shown apart).
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, select

from shop.extensions import db
from shop.models import (
    ClickDay,
    EntryKind,
    LedgerEntry,
    Merchant,
    Order,
    OrderItem,
    OrderStatus,
    Payout,
    PayoutStatus,
    Product,
    User,
)
from shop.services.rollup import as_date, china_date_sql, china_day, day_start


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


def daily(*, now: datetime, days: int = 30) -> list[Day]:
    """One row per China day, oldest first, ending today; days without data are zeros."""
    start = first_day(now, days)
    since = day_start(start)
    paid_day = china_date_sql(Order.paid_at)
    orders = {
        as_date(day): (n, total or 0)
        for day, n, total in db.session.execute(
            select(paid_day, func.count(Order.id), func.sum(Order.total_cents))
            .where(Order.paid_at >= since, Order.paid_at <= now)
            .group_by(paid_day)
        )
    }
    clicks = {
        as_date(day): n or 0
        for day, n in db.session.execute(
            select(ClickDay.day, func.sum(ClickDay.counted))
            .where(ClickDay.day >= start, ClickDay.day <= china_day(now))
            .group_by(ClickDay.day)
        )
    }
    result = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        n, gmv = orders.get(day, (0, 0))
        result.append(Day(day=day, orders=n, gmv_cents=int(gmv), clicks=int(clicks.get(day, 0))))
    return result


def rebate_totals() -> RebateTotals:
    def kind_sum(kind: EntryKind):
        return func.coalesce(
            func.sum(case((LedgerEntry.kind == kind, LedgerEntry.amount_cents), else_=0)), 0
        )

    estimated, settled, voided, clawback = db.session.execute(
        select(
            kind_sum(EntryKind.ESTIMATED),
            kind_sum(EntryKind.SETTLED),
            kind_sum(EntryKind.VOIDED),
            kind_sum(EntryKind.CLAWBACK),
        )
    ).one()
    payouts = dict(
        db.session.execute(
            select(Payout.status, func.coalesce(func.sum(Payout.amount_cents), 0)).group_by(
                Payout.status
            )
        ).all()
    )
    return RebateTotals(
        estimated_cents=int(estimated - settled - voided),
        settled_cents=int(settled - clawback),
        paid_out_cents=int(payouts.get(PayoutStatus.PAID, 0)),
        requested_cents=int(payouts.get(PayoutStatus.REQUESTED, 0)),
    )


def refunded_in(*, now: datetime, days: int = 30) -> int:
    """Orders paid in the period that have since been refunded."""
    since = day_start(first_day(now, days))
    return db.session.execute(
        select(func.count(Order.id)).where(
            Order.paid_at >= since, Order.paid_at <= now, Order.status == OrderStatus.REFUNDED
        )
    ).scalar_one()


def top_sharers(*, now: datetime, days: int = 30, limit: int = 10) -> list[TopSharer]:
    """Sharers by the sales of the orders paid through their links in the period."""
    since = day_start(first_day(now, days))
    gmv = func.sum(Order.total_cents)
    rows = db.session.execute(
        select(Order.sharer_id, User.display_name, func.count(Order.id), gmv)
        .join(User, User.id == Order.sharer_id)
        .where(Order.paid_at >= since, Order.paid_at <= now, Order.sharer_id.is_not(None))
        .group_by(Order.sharer_id, User.display_name)
        .order_by(gmv.desc(), Order.sharer_id)
        .limit(limit)
    ).all()
    return [TopSharer(sid, name, n, int(total or 0)) for sid, name, n, total in rows]


def top_products(*, now: datetime, days: int = 30, limit: int = 10) -> list[TopProduct]:
    """Products by units sold in orders paid in the period (then by sales)."""
    since = day_start(first_day(now, days))
    units = func.sum(OrderItem.quantity)
    gmv = func.sum(OrderItem.unit_price_cents * OrderItem.quantity)
    rows = db.session.execute(
        select(Product.id, Product.title, Merchant.id, Merchant.name, units, gmv)
        .join(Order, Order.id == OrderItem.order_id)
        .join(Product, Product.id == OrderItem.product_id)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(Order.paid_at >= since, Order.paid_at <= now)
        .group_by(Product.id, Product.title, Merchant.id, Merchant.name)
        .order_by(units.desc(), gmv.desc(), Product.id)
        .limit(limit)
    ).all()
    return [TopProduct(pid, t, mid, mname, int(u), int(g)) for pid, t, mid, mname, u, g in rows]
