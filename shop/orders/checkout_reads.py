"""The checkout's reads: the visitor's clicks for attribution, a checkout key's orders, and
the buyer's recent orders of the same lines (a repeated checkout). Each statement is built
once (building one costs more Python than running it); what is only looked at goes on the
session's connection (no ORM work)."""

from collections import Counter
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import Select, bindparam, select

from shop.accounts.models import User
from shop.orders.addresses import ShippingAddress
from shop.orders.models import Order, OrderItem, OrderStatus
from shop.platform.extensions import db
from shop.sharing import attribution
from shop.sharing.models import Click, ShareLink


def line_parts(line) -> tuple[int, int, int | None]:
    """(product id, quantity, SKU id or None) of a line given as a pair or a triple."""
    product_id, quantity, *rest = line
    return product_id, quantity, (rest[0] if rest else None)


@cache
def _statements() -> dict[str, Select]:
    """The checkout's hot reads, built once (building a statement costs more Python than
    running it), at their first use (an entity in a statement needs every model mapped)."""
    return {
        "clicks": select(
            Click.id, ShareLink.sharer_id, Click.clicked_at, Click.uncounted_reason, Click.link_id
        )
        .join(ShareLink, ShareLink.id == Click.link_id)
        .where(
            Click.visitor_id == bindparam("visitor_id"),
            Click.clicked_at <= bindparam("before"),
            Click.clicked_at >= bindparam("since"),
        ),
        "repeat": select(Order.checkout_key, Order.status, OrderItem.product_id, OrderItem.quantity)
        .join(OrderItem, OrderItem.order_id == Order.id)
        .where(
            Order.buyer_id == bindparam("buyer_id"),
            Order.placed_at >= bindparam("since"),
            Order.ship_name == bindparam("name"),
            Order.ship_phone == bindparam("phone"),
            Order.ship_region == bindparam("region"),
            Order.ship_detail == bindparam("detail"),
        )
        .order_by(Order.id.desc()),
        "key placed": select(Order.id)
        .where(Order.buyer_id == bindparam("buyer_id"), Order.checkout_key == bindparam("key"))
        .limit(1),
        "checkout": select(Order)
        .where(Order.buyer_id == bindparam("buyer_id"), Order.checkout_key == bindparam("key"))
        .order_by(Order.id),
    }


def attribution_clicks(visitor_id: str | None, *, before: datetime, window: timedelta):
    """The visitor's clicks that could matter for an order at ``before`` (twice the window
    back, so an order can say "outside window"), as attribution facts."""
    if not visitor_id:
        return []
    # Columns only, of rows nobody writes in this session: on the connection (no ORM work).
    rows = db.session.connection().execute(
        _statements()["clicks"],
        {"visitor_id": visitor_id, "before": before, "since": before - 2 * window},
    )
    return [
        attribution.ClickFact(
            click_id=r[0], sharer_id=r[1], clicked_at=r[2], counted=r[3] is None, link_id=r[4]
        )
        for r in rows
    ]


def recent_repeat(
    buyer: User, lines: list[tuple], address: ShippingAddress, *, since: datetime
) -> list[Order]:
    """The orders of the buyer's latest checkout placed at or after ``since`` with the same
    products and quantities as ``lines``, to the same address, none of them cancelled; []
    when there is none. A checkout of several shops is compared whole."""
    wanted = Counter()
    for product_id, quantity, _sku in (line_parts(line) for line in lines):
        wanted[product_id] += quantity
    rows = db.session.execute(
        _statements()["repeat"],
        {
            "buyer_id": buyer.id,
            "since": since,
            "name": address.name,
            "phone": address.phone,
            "region": address.region,
            "detail": address.detail,
        },
    ).all()
    checkouts: dict[str, Counter] = {}  # newest first (dicts keep insertion order)
    cancelled = set()
    for key, status, product_id, quantity in rows:
        checkouts.setdefault(key, Counter())[product_id] += quantity
        if status == OrderStatus.CANCELLED:
            cancelled.add(key)
    for key, bought in checkouts.items():
        if key not in cancelled and bought == wanted:
            return existing_checkout(buyer, key)
    return []


def key_placed(buyer_id: int, checkout_key: str) -> bool:
    """Whether the buyer placed orders with ``checkout_key`` (a replayed form)."""
    return (
        db.session.connection()
        .execute(_statements()["key placed"], {"buyer_id": buyer_id, "key": checkout_key})
        .first()
        is not None
    )


def existing_checkout(buyer: User, checkout_key: str) -> list[Order]:
    return list(
        db.session.execute(
            _statements()["checkout"], {"buyer_id": buyer.id, "key": checkout_key}
        ).scalars()
    )
