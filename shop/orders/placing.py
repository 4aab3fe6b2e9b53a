"""Writing a checkout's new orders: their rows, items and first events in one INSERT per
table (the orders' with RETURNING, so they come back as objects in the session), instead of a
flush working out a graph it already knows (half of placing an order's CPU time).

Callers take the stock first (shop.catalog.skus.take_stock, which marks the product's pages
stale, as a flushed order item did) and run this inside their transaction."""

from datetime import datetime
from functools import cache

from sqlalchemy import insert

from shop.catalog.models import Product, Sku
from shop.orders import coupons
from shop.orders.models import Order, OrderEvent, OrderItem, OrderStatus
from shop.platform.extensions import db


@cache
def _inserts():
    """The INSERTs, built once at their first use: the orders' with their objects back; the
    items' and events' plain (no objects: nobody reads them in the request that places the
    orders, and a later read loads them)."""
    return (
        # render_nulls: a None is written as NULL (no column that has a default is given None),
        # so every row has the same columns and goes in one statement.
        insert(Order)
        .returning(Order, sort_by_parameter_order=True)
        .execution_options(render_nulls=True),
        insert(OrderItem.__table__),
        insert(OrderEvent.__table__),
    )


def insert_orders(
    rows: list[dict], items_of: list[list[dict]], *, actor_id: int, now: datetime
) -> list[Order]:
    """The orders of ``rows`` (Order's columns; one order per merchant), each with its
    items ``items_of[i]`` (OrderItem's columns but ``order_id``) and its first event (placed,
    by ``actor_id``): three statements, whatever the number of orders and items. The orders
    come back as objects; their ``items`` and ``events`` load when first read. Raises
    IntegrityError as a flush would (a checkout key placed already)."""
    orders_insert, items_insert, events_insert = _inserts()
    made = db.session.scalars(orders_insert, rows)
    # One order per merchant: put them in the order of ``rows`` by that, whatever the batches.
    by_merchant = {order.merchant_id: order for order in made}
    orders = [by_merchant[row["merchant_id"]] for row in rows]
    connection = db.session.connection()  # plain INSERTs: no ORM work around them
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
