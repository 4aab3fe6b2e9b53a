"""Writing a checkout's new orders: their rows (one INSERT, with RETURNING, so they come back
as objects in the session, and nothing written for a checkout key placed already), then their
items and first events (one INSERT per table), instead of a flush working out a graph it
already knows (half of placing an order's CPU time).

Callers write the orders first (their INSERT is the checkout key's check), then take the stock
(shop.catalog.stockmoves.take_stock, which marks the product's pages stale, as a flushed order
item did), then write the lines, all inside their transaction."""

from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, insert, inspect, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import make_transient_to_detached

from shop.catalog.models import Product, Sku
from shop.orders import coupons
from shop.orders.models import Order, OrderEvent, OrderItem, OrderStatus
from shop.platform.extensions import db


@cache
def _inserts(dialect: str):
    """The INSERTs, built once per dialect at their first use, plain Core ones on the tables:
    the orders' with every column back (RETURNING) and nothing done for a row whose checkout
    key this buyer placed for that merchant already (ON CONFLICT DO NOTHING on the unique
    key: a replayed form, or the same form placed by another request at the same moment,
    which PostgreSQL waits for), from which their objects are made; the items' and events'
    with nothing back (nobody reads them in the request that places the orders, and a later
    read loads them)."""
    orders = Order.__table__
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    key = [orders.c.buyer_id, orders.c.checkout_key, orders.c.merchant_id]
    return (
        dialect_insert(orders).on_conflict_do_nothing(index_elements=key).returning(*orders.c),
        insert(OrderItem.__table__),
        insert(OrderEvent.__table__),
    )


@cache
def _attributes() -> tuple[tuple[str, int], ...]:
    """(Order's attribute, its column's place in the orders' RETURNING) of every column."""
    places = {column.key: i for i, column in enumerate(Order.__table__.c)}
    return tuple((prop.key, places[prop.columns[0].key]) for prop in inspect(Order).column_attrs)


def _held(row) -> Order:
    """The order of a RETURNING row as the session's persistent object, every column loaded
    (as a query would load it: no history, no flush to come; the ORM's own RETURNING path
    costs twice as much). Its attributes go straight into its state, as a load puts them (no
    constructor, no attribute events)."""
    order = Order.__mapper__.class_manager.new_instance()
    order.__dict__.update({key: row[place] for key, place in _attributes()})
    make_transient_to_detached(order)
    db.session.add(order)
    return order


def insert_orders(rows: list[dict]) -> list[Order] | None:
    """The orders of ``rows`` (Order's columns; one order per merchant, in merchant order),
    as objects in the session, in one statement whatever their number; their ``items`` and
    ``events`` load when first read. None when the buyer placed this checkout key already
    (for any of the merchants; the rows this call wrote are deleted again): nothing else was
    written, the caller answers with that checkout's orders."""
    db.session.flush()  # what the ORM's INSERT did first (autoflush)
    connection = db.session.connection()  # plain INSERTs: no ORM work around them
    orders_insert = _inserts(connection.dialect.name)[0]
    # One row (a checkout of one shop): a plain execute, not the many-rows path.
    written = connection.execute(orders_insert, rows[0] if len(rows) == 1 else rows).all()
    # A key placed already: for one of these merchants (a row not written), or for other
    # merchants only (the same key sent with another cart's shops): the first checkout answers.
    if len(written) != len(rows) or _placed_before(connection, rows[0], written):
        if written:
            orders = Order.__table__
            connection.execute(orders.delete().where(orders.c.id.in_([r.id for r in written])))
        return None
    by_merchant = {row.merchant_id: row for row in written}
    return [_held(by_merchant[row["merchant_id"]]) for row in rows]


@cache
def _placed_before_statement():
    orders = Order.__table__
    return (
        select(orders.c.id)
        .where(
            orders.c.buyer_id == bindparam("buyer_id"),
            orders.c.checkout_key == bindparam("checkout_key"),
            orders.c.id.not_in(bindparam("written", expanding=True)),
        )
        .limit(1)
    )


def _placed_before(connection, row: dict, written) -> bool:
    """Whether the buyer placed ``row``'s checkout key before, in orders other than
    ``written`` (those the INSERT just wrote)."""
    found = connection.execute(
        _placed_before_statement(),
        {
            "buyer_id": row["buyer_id"],
            "checkout_key": row["checkout_key"],
            "written": [r.id for r in written],
        },
    )
    return found.first() is not None


def insert_lines(
    orders: list[Order], items_of: list[list[dict]], *, actor_id: int, now: datetime
) -> None:
    """Each order's items ``items_of[i]`` (OrderItem's columns but ``order_id``) and its
    first event (placed, by ``actor_id``): two statements, whatever the number of orders and
    items."""
    _orders, items_insert, events_insert = _inserts(db.session.get_bind().dialect.name)
    connection = db.session.connection()
    connection.execute(
        items_insert,
        [
            {**item, "order_id": order.id}
            for order, items in zip(orders, items_of, strict=True)
            for item in items
        ],
    )
    connection.execute(
        events_insert,
        [
            {
                "order_id": order.id,
                "from_status": None,
                "to_status": str(OrderStatus.PLACED),
                "actor_id": actor_id,
                "source": "buyer",
                "created_at": now,
            }
            for order in orders
        ],
    )


def discount_shares(claim, discount: int, items: list[tuple[Product, Sku, int]]) -> list[int]:
    """Each line's share of the order's coupon discount: spread over the lines the coupon
    counts (its product, or all), in proportion to their amounts."""
    if claim is None:
        return [0] * len(items)
    scope = claim.coupon.product_id
    counted = [i for i, (p, _s, _q) in enumerate(items) if scope in (None, p.id)]
    spread = coupons.spread(discount, [items[i][1].price_cents * items[i][2] for i in counted])
    shares = [0] * len(items)
    for i, share in zip(counted, spread, strict=True):
        shares[i] = share
    return shares
