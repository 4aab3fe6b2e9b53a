"""Order and rebate rollups (``shop.money.models.sales``), kept as orders and ledger entries change.

Each change is an increment (``INSERT ... ON CONFLICT DO UPDATE SET n = n + excluded.n``) in
the transaction of the change it counts, so concurrent payments add up instead of
overwriting each other, and a rolled-back change leaves no count behind. The callers are
the places where an order or its rebate changes state once (the guarded transitions in
``orders``, the ON-CONFLICT postings in ``ledger``), which is what keeps the counts exact
under retries: a replayed payment notice or a second settlement run posts nothing and so
counts nothing.

``recount`` rebuilds all four tables from orders, items and ledger entries (``flask rollup``,
the migration's backfill, and the tests, which hold both to the same numbers).
"""

from collections import defaultdict
from datetime import date, datetime
from functools import cache

from sqlalchemy import delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from shop.money.models import (
    EntryKind,
    LedgerDay,
    LedgerEntry,
    OrderDay,
    ProductDay,
    RefundRequest,
    RefundStatus,
    SaleDay,
)
from shop.orders.models import Order, OrderItem
from shop.platform.extensions import db
from shop.sharing.attribution import EARNING_REASONS
from shop.sharing.rollup import as_date, china_day, day_start

#: Each rollup: its key columns and the columns that are added up.
TABLES = {
    OrderDay: (
        ("day", "link_id"),
        (
            "orders",
            "paid",
            "estimated_cents",
            "settled",
            "settled_cents",
            "refunded",
            "refunded_cents",
        ),
    ),
    SaleDay: (("day", "sharer_id"), ("orders", "gmv_cents", "refunded", "refunded_cents")),
    ProductDay: (("day", "product_id"), ("units", "gmv_cents")),
    LedgerDay: (("day", "kind"), ("entries", "amount_cents")),
}


@cache
def _upsert(dialect: str, model):
    keys, counts = TABLES[model]
    statement = (postgresql if dialect == "postgresql" else sqlite).insert(model)
    return statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: getattr(model, name) + getattr(statement.excluded, name) for name in counts},
    )


def _add(connection, model, rows: list[dict]) -> None:
    """Add ``rows`` (key and count columns; missing counts are 0) to ``model``'s table, in
    key order so concurrent writers lock rows in the same order."""
    if not rows:
        return
    keys, counts = TABLES[model]
    filled = [{**dict.fromkeys(counts, 0), **row} for row in rows]
    filled.sort(key=lambda row: tuple(str(row[k]) for k in keys))
    connection.execute(_upsert(connection.dialect.name, model), filled)


def _session():
    return db.session.connection()


def _earns_through_link(order: Order) -> bool:
    return (
        order.sharer_id is not None
        and order.link_id is not None
        and order.attribution_reason in EARNING_REASONS
    )


def _order_day(order: Order, **counts) -> None:
    if _earns_through_link(order):
        row = {"day": china_day(order.placed_at), "link_id": order.link_id}
        _add(_session(), OrderDay, [{**row, "sharer_id": order.sharer_id, **counts}])


# --- events --------------------------------------------------------------------------------


def order_placed(order: Order) -> None:
    _order_day(order, orders=1)


def order_paid(order: Order, estimated_cents: int) -> None:
    """Once per order, when it becomes paid (``order.paid_at`` set)."""
    _order_day(order, paid=1, estimated_cents=estimated_cents)
    day = china_day(order.paid_at)
    connection = _session()
    _add(
        connection,
        SaleDay,
        [
            {
                "day": day,
                "sharer_id": order.sharer_id or 0,
                "orders": 1,
                "gmv_cents": order.total_cents,
            }
        ],
    )
    units: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for item in order.items:
        units[item.product_id][0] += item.quantity
        units[item.product_id][1] += item.unit_price_cents * item.quantity
    _add(
        connection,
        ProductDay,
        [
            {"day": day, "product_id": product_id, "units": n, "gmv_cents": value}
            for product_id, (n, value) in units.items()
        ],
    )


def order_refunded(order: Order, refunded_cents: int) -> None:
    """Once per order, when it becomes refunded; ``refunded_cents``: the money that went
    back with that change (the whole order, or what partial refunds had left)."""
    money_refunded(order, refunded_cents, whole=True)


def money_refunded(order: Order, refunded_cents: int, *, whole: bool = False) -> None:
    """``refunded_cents`` went back to the buyer (a partial refund, or the rest of the order
    with ``whole``), counted on the day the order was paid."""
    if order.paid_at is not None:
        row = {"day": china_day(order.paid_at), "sharer_id": order.sharer_id or 0}
        row.update(refunded=int(whole), refunded_cents=refunded_cents)
        _add(_session(), SaleDay, [row])


def rebate_settled(order: Order, amount_cents: int) -> None:
    """The order's rebate settled (its first SETTLED entries, ``amount_cents`` in all)."""
    _order_day(order, settled=1, settled_cents=amount_cents)


def rebate_reversed(
    order: Order, reversed_cents: int, *, first: bool, clawed_back: int, settled_gone: bool
) -> None:
    """``reversed_cents`` of the order's rebate were voided or clawed back (a whole refund or
    a partial one). ``first``: the order's first reversal (it counts as refunded once);
    ``clawed_back`` of it was settled, and ``settled_gone`` when nothing settled is left (the
    order no longer counts as settled)."""
    _order_day(
        order,
        refunded=int(first),
        refunded_cents=reversed_cents,
        settled=-int(settled_gone),
        settled_cents=-clawed_back,
    )


def entry_posted(kind: EntryKind, amount_cents: int, at: datetime) -> None:
    row = {"day": china_day(at), "kind": str(kind), "entries": 1, "amount_cents": amount_cents}
    _add(_session(), LedgerDay, [row])


# --- recount -------------------------------------------------------------------------------


def recount(connection, *, since: date | None = None) -> dict[str, int]:
    """Rebuild the four tables from orders, items and ledger entries. ``since`` limits the
    rebuild to rows of days from then on (the order days by placement, the sales by payment,
    the ledger by posting). Idempotent; on PostgreSQL the tables are locked meanwhile."""
    if connection.dialect.name == "postgresql":
        connection.execute(
            # In the order a payment takes them (ledger, order days, sales, products), so a
            # recount and a payment queue up instead of deadlocking.
            text("LOCK TABLE ledger_days, order_days, sale_days, product_days IN EXCLUSIVE MODE")
        )
    rows = expected(connection, since=since)
    for model in TABLES:
        connection.execute(delete(model).where(model.day >= since if since else True))
        _add(connection, model, rows[model])
    return {
        "order_days": len(rows[OrderDay]),
        "sale_days": len(rows[SaleDay]),
        "orders": sum(row["orders"] for row in rows[OrderDay]),
        "paid": sum(row["orders"] for row in rows[SaleDay]),
    }


def kept(connection, *, since: date | None = None) -> dict:
    """The rows the four tables hold now (from ``since``), in ``expected``'s form."""
    found = {}
    for model, (keys, counts) in TABLES.items():
        columns = [getattr(model, name) for name in (*keys, *counts)]
        if model is OrderDay:
            columns.append(OrderDay.sharer_id)
        result = connection.execute(
            select(*columns).where(model.day >= since if since else True)
        ).mappings()
        found[model] = sorted(
            ({**row, "day": as_date(row["day"])} for row in result), key=_row_key(keys)
        )
    return found


def expected(connection, *, since: date | None = None) -> dict:
    """What the four tables should hold (from ``since``), counted from orders, items and
    ledger entries: {model: [row dicts sorted by key]}."""

    def after(column):
        return column >= day_start(since) if since else True

    order_days: dict[tuple, dict] = {}
    earning = (
        Order.sharer_id.is_not(None),
        Order.link_id.is_not(None),
        Order.attribution_reason.in_(EARNING_REASONS),
        after(Order.placed_at),
    )
    for order_id, link_id, sharer_id, placed_at, paid_at in connection.execute(
        select(Order.id, Order.link_id, Order.sharer_id, Order.placed_at, Order.paid_at).where(
            *earning
        )
    ):
        row = order_days.setdefault(
            order_id,
            {"day": china_day(placed_at), "link_id": link_id, "sharer_id": sharer_id},
        )
        row["orders"] = 1
        row["paid"] = int(paid_at is not None)
    entries = connection.execute(
        select(LedgerEntry.order_id, LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
        .join(Order, Order.id == LedgerEntry.order_id)
        .where(*earning, LedgerEntry.tier == 1, LedgerEntry.sharer_id == Order.sharer_id)
        .group_by(LedgerEntry.order_id, LedgerEntry.kind)
    )
    clawed: dict[int, int] = {}
    for order_id, kind, amount in entries:
        row = order_days.get(order_id)
        if row is None:
            continue
        if kind == EntryKind.ESTIMATED:
            row["estimated_cents"] = int(amount)
        elif kind == EntryKind.SETTLED:
            row["settled"], row["settled_cents"] = 1, int(amount)
        if kind in (EntryKind.VOIDED, EntryKind.CLAWBACK):
            row["refunded"] = 1
            row["refunded_cents"] = row.get("refunded_cents", 0) + int(amount)
        if kind == EntryKind.CLAWBACK:
            clawed[order_id] = int(amount)
    per_link_day: dict[tuple, dict] = {}
    for order_id, row in order_days.items():
        if order_id in clawed:  # what is left settled after clawbacks (whole or partial)
            row["settled_cents"] = row.get("settled_cents", 0) - clawed[order_id]
            row["settled"] = int(row.get("settled", 0) and row["settled_cents"] > 0)
        total = per_link_day.setdefault(
            (row["day"], row["link_id"]),
            {"day": row["day"], "link_id": row["link_id"], "sharer_id": row["sharer_id"]},
        )
        for name in TABLES[OrderDay][1]:
            total[name] = total.get(name, 0) + row.get(name, 0)

    sales: dict[tuple, dict] = {}
    parts = (
        select(func.sum(RefundRequest.amount_cents))
        .where(RefundRequest.order_id == Order.id, RefundRequest.status == RefundStatus.REFUNDED)
        .scalar_subquery()
    )
    for sharer_id, paid_at, total_cents, status, partly in connection.execute(
        select(Order.sharer_id, Order.paid_at, Order.total_cents, Order.status, parts).where(
            Order.paid_at.is_not(None), after(Order.paid_at)
        )
    ):
        key = (china_day(paid_at), sharer_id or 0)
        row = sales.setdefault(key, {"day": key[0], "sharer_id": key[1]})
        row["orders"] = row.get("orders", 0) + 1
        row["gmv_cents"] = row.get("gmv_cents", 0) + total_cents
        row["refunded"] = row.get("refunded", 0) + int(status == "refunded")
        # A refunded order gave everything back; another, what its partial refunds did.
        back = total_cents if status == "refunded" else int(partly or 0)
        row["refunded_cents"] = row.get("refunded_cents", 0) + back

    products: dict[tuple, dict] = {}
    for product_id, paid_at, quantity, price in connection.execute(
        select(OrderItem.product_id, Order.paid_at, OrderItem.quantity, OrderItem.unit_price_cents)
        .join(Order, Order.id == OrderItem.order_id)
        .where(Order.paid_at.is_not(None), after(Order.paid_at))
    ):
        key = (china_day(paid_at), product_id)
        row = products.setdefault(key, {"day": key[0], "product_id": product_id})
        row["units"] = row.get("units", 0) + quantity
        row["gmv_cents"] = row.get("gmv_cents", 0) + quantity * price

    ledger: dict[tuple, dict] = {}
    for kind, created_at, amount in connection.execute(
        select(LedgerEntry.kind, LedgerEntry.created_at, LedgerEntry.amount_cents).where(
            after(LedgerEntry.created_at)
        )
    ):
        key = (china_day(created_at), str(kind))
        row = ledger.setdefault(key, {"day": key[0], "kind": key[1]})
        row["entries"] = row.get("entries", 0) + 1
        row["amount_cents"] = row.get("amount_cents", 0) + amount
    found = {
        OrderDay: per_link_day.values(),
        SaleDay: sales.values(),
        ProductDay: products.values(),
        LedgerDay: ledger.values(),
    }
    return {
        model: sorted(
            ({**dict.fromkeys(TABLES[model][1], 0), **row} for row in rows),
            key=_row_key(TABLES[model][0]),
        )
        for model, rows in found.items()
    }


def _row_key(keys):
    return lambda row: tuple(str(row[k]) for k in keys)
