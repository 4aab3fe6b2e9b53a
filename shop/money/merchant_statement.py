"""A merchant's statement for a period, read from the order splits and the merchant ledger.

An order counts in the period it was paid in (its split's time); a refund counts in the
period its reversal (voided or clawback entry) was posted in, with what went back: a partial
refund's amount (shop.money.refunds), or for a whole refund what partial ones left (all of
the order without them). The rebate returned is that amount less the share and the fee the
entry moved (``paid = share + rebates + fee`` holds for every part). So, for any period::

    net = gross - refunds - (rebates - rebates returned) - (fee - fee returned)
        = merchant entries estimated - merchant entries voided or clawed back

Rows of the CSV are plain tuples (text, datetime, fen); the web layer streams them.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import case, func, select

from shop.money.models import (
    MerchantEntry,
    MerchantEntryKind,
    OrderSplit,
    RefundRequest,
    RefundStatus,
)
from shop.orders.models import Order
from shop.platform.extensions import db

REVERSALS = (MerchantEntryKind.VOIDED, MerchantEntryKind.CLAWBACK)


def _paid_back():
    """SQL: the money a reversal entry gave back to the buyer."""
    part = (
        select(RefundRequest.amount_cents)
        .where(RefundRequest.id == MerchantEntry.refund_id)
        .scalar_subquery()
    )
    parts = (
        select(func.coalesce(func.sum(RefundRequest.amount_cents), 0))
        .where(
            RefundRequest.order_id == MerchantEntry.order_id,
            RefundRequest.status == RefundStatus.REFUNDED,
        )
        .scalar_subquery()
    )
    return case((MerchantEntry.refund_id.is_not(None), part), else_=OrderSplit.paid_cents - parts)


@dataclass(frozen=True)
class MerchantStatement:
    orders: int  #: orders paid in the period
    gross_cents: int  #: what their buyers paid (goods and shipping)
    refunds: int  #: orders refunded in the period
    refunded_cents: int  #: what went back to buyers
    rebate_cents: int  #: rebates the merchant funded, less those returned by refunds
    fee_cents: int  #: platform fee, less fees returned by refunds
    net_cents: int  #: the merchant's share: gross - refunds - rebates - fee

    def adds_up(self) -> bool:
        return self.net_cents == (
            self.gross_cents - self.refunded_cents - self.rebate_cents - self.fee_cents
        )


def _sums(query) -> tuple[int, int, int, int, int]:
    count, paid, rebate, fee, share = db.session.execute(query).one()
    return int(count), int(paid or 0), int(rebate or 0), int(fee or 0), int(share or 0)


def statement(merchant_id: int, *, since: datetime, until: datetime) -> MerchantStatement:
    columns = (
        func.count(OrderSplit.order_id),
        func.sum(OrderSplit.paid_cents),
        func.sum(OrderSplit.rebate_cents),
        func.sum(OrderSplit.fee_cents),
        func.sum(OrderSplit.merchant_cents),
    )
    orders, gross, rebates, fee, share = _sums(
        select(*columns).where(
            OrderSplit.merchant_id == merchant_id,
            OrderSplit.created_at >= since,
            OrderSplit.created_at < until,
        )
    )
    back = _paid_back()
    refunds, refunded, rebates_back, fee_back, share_back = _sums(
        select(
            func.count(func.distinct(MerchantEntry.order_id)),
            func.sum(back),
            func.sum(back - MerchantEntry.amount_cents - MerchantEntry.fee_cents),
            func.sum(MerchantEntry.fee_cents),
            func.sum(MerchantEntry.amount_cents),
        )
        .join(OrderSplit, MerchantEntry.order_id == OrderSplit.order_id)
        .where(
            MerchantEntry.merchant_id == merchant_id,
            MerchantEntry.kind.in_(REVERSALS),
            MerchantEntry.created_at >= since,
            MerchantEntry.created_at < until,
        )
    )
    return MerchantStatement(
        orders=orders,
        gross_cents=gross,
        refunds=refunds,
        refunded_cents=refunded,
        rebate_cents=rebates - rebates_back,
        fee_cents=fee - fee_back,
        net_cents=share - share_back,
    )


#: The CSV's columns: (heading, kind) with kind "text", "time" or "money".
COLUMNS = (
    (_l("Time"), "time"),
    (_l("Order"), "text"),
    (_l("Event"), "text"),
    (_l("Paid"), "money"),
    (_l("Rebates"), "money"),
    (_l("Platform fee"), "money"),
    (_l("Your share"), "money"),
)
EVENT_LABELS = {
    MerchantEntryKind.ESTIMATED: _l("Paid"),
    MerchantEntryKind.SETTLED: _l("Settled"),
    MerchantEntryKind.VOIDED: _l("Refunded before settling"),
    MerchantEntryKind.CLAWBACK: _l("Refunded after settling"),
}


def lines(merchant_id: int, *, since: datetime, until: datetime) -> Iterator[tuple]:
    """One row per merchant entry of an order in the period (paid, settled, refunded):
    (time, order number, kind, paid, rebates, fee, share), signed as they move the net:
    reversals negative, settlements 0 (they only move the share from pending to available)."""
    query = (
        select(MerchantEntry, OrderSplit, Order.number, _paid_back())
        .join(OrderSplit, OrderSplit.order_id == MerchantEntry.order_id)
        .join(Order, Order.id == MerchantEntry.order_id)
        .where(
            MerchantEntry.merchant_id == merchant_id,
            MerchantEntry.created_at >= since,
            MerchantEntry.created_at < until,
        )
        .order_by(MerchantEntry.created_at, MerchantEntry.id)
        .execution_options(yield_per=500)
    )
    for entry, split, number, back in db.session.execute(query):
        kind = MerchantEntryKind(entry.kind)
        if kind in REVERSALS:  # what this refund (whole or partial) moved
            share, fee = entry.amount_cents, entry.fee_cents
            parts = (-back, -(back - share - fee), -fee, -share)
        else:
            sign = 1 if kind == MerchantEntryKind.ESTIMATED else 0
            parts = tuple(
                sign * n
                for n in (split.paid_cents, split.rebate_cents, split.fee_cents,
                          split.merchant_cents)
            )  # fmt: skip
        yield (entry.created_at, number, str(EVENT_LABELS[kind]), *parts)
