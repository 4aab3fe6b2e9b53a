"""Rows of the platform tables for administrators' CSV exports (orders, payouts, ledger,
merchants).

Each export is a list of ``Column`` (a heading and a kind: "text", "int", "time" for a UTC
``datetime``, "money" for fen) and an iterator of tuples in that order, read in batches by id
so a large table streams without being held in memory. The web layer formats the cells.
Orders carry what the admin order pages show (no buyer names, phones or addresses); payout
accounts are masked as on the payout page.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from shop.catalog import merchants
from shop.catalog.models import Merchant
from shop.insights import exports
from shop.money import payouts
from shop.money.models import LedgerEntry, Payout
from shop.orders import states
from shop.orders.models import Order
from shop.platform.extensions import db

BATCH = 500


@dataclass(frozen=True)
class Column:
    heading: str
    kind: str = "text"


def _batches(model, options=()) -> Iterator:
    """Every row of ``model`` by id, ``BATCH`` at a time (keyset, so each batch is an index
    range read)."""
    last = 0
    while True:
        rows = list(
            db.session.execute(
                select(model)
                .options(*options)
                .where(model.id > last)
                .order_by(model.id)
                .limit(BATCH)
            ).scalars()
        )
        if not rows:
            return
        yield from rows
        # The session's identity map holds unchanged rows weakly: finished batches are freed.
        last = rows[-1].id


ORDER_COLUMNS = [
    Column(_l("Order number")),
    Column(_l("Placed (China time)"), "time"),
    Column(_l("Paid (China time)"), "time"),
    Column(_l("Status")),
    Column(_l("Merchant ID"), "int"),
    Column(_l("Merchant")),
    Column(_l("Buyer ID"), "int"),
    Column(_l("Sharer ID"), "int"),
    Column(_l("Attribution")),
    Column(_l("Items")),
    Column(_l("Total (yuan)"), "money"),
    Column(_l("Refund reason")),
]


def order_rows() -> Iterator[tuple]:
    for order in _batches(Order, (selectinload(Order.items), selectinload(Order.merchant))):
        items = "; ".join(f"{item.title} ×{item.quantity}" for item in order.items)
        yield (
            order.number,
            order.placed_at,
            order.paid_at,
            str(states.status_label(order.status)),
            order.merchant_id,
            order.merchant.name,
            order.buyer_id,
            order.sharer_id,
            order.attribution_reason,
            items,
            order.total_cents,
            order.refund_reason,
        )


PAYOUT_COLUMNS = [
    Column(_l("Payout ID"), "int"),
    Column(_l("Sharer ID"), "int"),
    Column(_l("Sharer")),
    Column(_l("Amount (yuan)"), "money"),
    Column(_l("Status")),
    Column(_l("Method")),
    Column(_l("Account holder")),
    Column(_l("Account")),
    Column(_l("Requested (China time)"), "time"),
    Column(_l("Decided (China time)"), "time"),
    Column(_l("Transfer reference")),
    Column(_l("Reason for rejection")),
]


def payout_rows() -> Iterator[tuple]:
    for payout in _batches(Payout, (selectinload(Payout.user),)):
        method = payouts.METHOD_LABELS.get(payout.method, payout.method)
        yield (
            payout.id,
            payout.user_id,
            payout.user.display_name,
            payout.amount_cents,
            str(payouts.STATUS_LABELS.get(payout.status, payout.status)),
            str(method),
            payout.account_name,
            payouts.masked(payout.account_number),
            payout.requested_at,
            payout.decided_at,
            payout.reference,
            payout.reject_reason,
        )


LEDGER_COLUMNS = [
    Column(_l("Entry ID"), "int"),
    Column(_l("Time (China time)"), "time"),
    Column(_l("Sharer ID"), "int"),
    Column(_l("Kind")),
    Column(_l("Amount (yuan)"), "money"),
    Column(_l("Order number")),
    Column(_l("Payout ID"), "int"),
    Column(_l("Rebate or team override")),
]


def ledger_rows() -> Iterator[tuple]:
    for entry in _batches(LedgerEntry, (selectinload(LedgerEntry.order),)):
        yield (
            entry.id,
            entry.created_at,
            entry.sharer_id,
            str(entry.kind),
            entry.amount_cents,
            entry.order.number if entry.order else "",
            entry.payout_id,
            exports.tier_label(entry.tier, entry.order_item_id),
        )


MERCHANT_COLUMNS = [
    Column(_l("Merchant ID"), "int"),
    Column(_l("Name")),
    Column(_l("Status")),
    Column(_l("Licence number")),
    Column(_l("Contact")),
    Column(_l("Contact phone")),
    Column(_l("Submitted (China time)"), "time"),
    Column(_l("Decided (China time)"), "time"),
    Column(_l("Reason")),
]


def merchant_rows() -> Iterator[tuple]:
    for merchant in _batches(Merchant):
        yield (
            merchant.id,
            merchant.name,
            str(merchants.status_label(merchant.status)),
            merchant.licence_no,
            merchant.contact_name,
            merchant.contact_phone,
            merchant.submitted_at,
            merchant.decided_at,
            merchant.status_reason or "",
        )


#: table name in the URL -> (columns, rows)
TABLES: dict[str, tuple[list[Column], Callable[[], Iterator[tuple]]]] = {
    "orders": (ORDER_COLUMNS, order_rows),
    "payouts": (PAYOUT_COLUMNS, payout_rows),
    "ledger": (LEDGER_COLUMNS, ledger_rows),
    "merchants": (MERCHANT_COLUMNS, merchant_rows),
}
