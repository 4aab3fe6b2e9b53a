"""Writing a checkout's new orders: their rows, items and first events in one INSERT per
table (the orders' with RETURNING, so they come back as objects in the session), instead of a
flush working out a graph it already knows (half of placing an order's CPU time).

Callers take the stock first (shop.catalog.stockmoves.take_stock, which marks the product's pages
stale, as a flushed order item did) and run this inside their transaction."""

from datetime import datetime
from functools import cache

from sqlalchemy import insert, inspect
from sqlalchemy.orm import make_transient_to_detached

from shop.catalog.models import Product, Sku
from shop.orders import coupons
from shop.orders.models import Order, OrderEvent, OrderItem, OrderStatus
from shop.platform.extensions import db


@cache
def _inserts():
    """The INSERTs, built once at their first use, plain Core ones on the tables: the orders'
    with every column back (RETURNING, in the rows' order), from which their objects are
    made; the items' and events' with nothing back (nobody reads them in the request that
    places the orders, and a later read loads them)."""
    orders = Order.__table__
    return (
        insert(orders).returning(*orders.c, sort_by_parameter_order=True),
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
    costs twice as much)."""
    order = Order(**{key: row[place] for key, place in _attributes()})
    make_transient_to_detached(order)
    db.session.add(order)
    return order


def insert_orders(
    rows: list[dict], items_of: list[list[dict]], *, actor_id: int, now: datetime
) -> list[Order]:
    """The orders of ``rows`` (Order's columns; one order per merchant), each with its
    items ``items_of[i]`` (OrderItem's columns but ``order_id``) and its first event (placed,
    by ``actor_id``): three statements, whatever the number of orders and items. The orders
    come back as objects; their ``items`` and ``events`` load when first read. Raises
    IntegrityError as a flush would (a checkout key placed already)."""
    orders_insert, items_insert, events_insert = _inserts()
    db.session.flush()  # what the ORM's INSERT did first (autoflush)
    connection = db.session.connection()  # plain INSERTs: no ORM work around them
    orders = [_held(row) for row in connection.execute(orders_insert, rows)]
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
    return orders


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
