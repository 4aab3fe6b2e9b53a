"""The statements :func:`shop.orders.states.transition` runs on an order's rows, built once
and run with bind parameters (building a statement cost more CPU than running it), in as few
round trips as the change allows:

- the guarded UPDATE returns the order's new row (no refresh SELECT after it);
- the order event is one Core INSERT (no unit-of-work flush);
- a payment loads the items with their products and categories in one SELECT;
- the products' counters of every item move in one executemany UPDATE.
"""

from datetime import datetime
from functools import cache

from sqlalchemy import bindparam, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm.attributes import set_committed_value

from shop.catalog.models import Category, Product
from shop.orders.models import Order, OrderEvent, OrderItem, OrderStatus
from shop.platform.extensions import db
from shop.platform.stamps import mark_stale

_EVENT = OrderEvent.__table__.insert()


def guarded_update(order: Order, current: OrderStatus, to: OrderStatus, values: dict) -> bool:
    """``UPDATE orders SET status=:to, version=version+1, <values> WHERE id=:id AND
    status=:current AND version=:version RETURNING *``. True when it changed the row: then
    ``order`` holds the row the database now has (every column, as a refresh would read it:
    the columns other writers changed without bumping the version too). False, and nothing
    written, when someone else changed the order first."""
    db.session.flush()  # as the ORM UPDATE this replaced did first (autoflush)
    keys = tuple(sorted(values))
    params = {"o_id": order.id, "o_from": current, "o_version": order.version, "o_to": to}
    for key in keys:
        params[f"v_{key}"] = values[key]
    row = db.session.execute(_guarded(keys), params).first()
    if row is None:
        return False
    for key, value in zip(_attributes(), row, strict=True):
        set_committed_value(order, key, value)
    # A refresh also expired the loaded relationships: the collections (the event just
    # written is one more), and a many-to-one whose key is not the loaded object's any more
    # (a purged click's ON DELETE SET NULL); the others stay, as loaded (no SELECT again).
    state = sa_inspect(order)
    stale = []
    for key, pairs in _relationships():
        if key in state.unloaded:
            continue
        if pairs is None:
            stale.append(key)
            continue
        target = state.dict.get(key)
        if any(
            state.dict.get(local) != (None if target is None else getattr(target, remote))
            for local, remote in pairs
        ):
            stale.append(key)
    if stale:
        db.session.expire(order, stale)
    return True


@cache
def _guarded(keys: tuple[str, ...]):
    """The guarded UPDATE setting the columns ``keys`` (bind parameters ``v_<column>``)."""
    table = Order.__table__
    status = table.c.status.type
    return (
        table.update()
        .where(
            table.c.id == bindparam("o_id"),
            table.c.status == bindparam("o_from", type_=status),
            table.c.version == bindparam("o_version"),
        )
        .values(
            status=bindparam("o_to", type_=status),
            version=table.c.version + 1,
            **{key: bindparam(f"v_{key}", type_=table.c[key].type) for key in keys},
        )
        .returning(*table.c)
    )


@cache
def _relationships() -> tuple:
    """(key, None) of each collection of Order; (key, ((local attribute, remote attribute)
    ...)) of each many-to-one."""
    mapper = sa_inspect(Order)
    found = []
    for rel in mapper.relationships:
        if rel.uselist:
            found.append((rel.key, None))
        else:
            pairs = tuple(
                (mapper.get_property_by_column(local).key,
                 rel.mapper.get_property_by_column(remote).key)
                for local, remote in rel.local_remote_pairs
            )  # fmt: skip
            found.append((rel.key, pairs))
    return tuple(found)


@cache
def _attributes() -> tuple[str, ...]:
    """Order's attribute of each column of ``orders``, in the table's column order."""
    mapper = sa_inspect(Order)
    return tuple(mapper.get_property_by_column(column).key for column in Order.__table__.c)


def add_event(
    order: Order, current: OrderStatus, to: OrderStatus, *, actor_id: int | None, source: str,
    note: str, now: datetime,
) -> None:  # fmt: skip
    db.session.execute(
        _EVENT,
        {
            "order_id": order.id,
            "from_status": str(current),
            "to_status": str(to),
            "actor_id": actor_id,
            "source": source,
            "note": note[:200],
            "created_at": now,
        },
    )


def load_items(order: Order) -> None:
    """The order's items with their products and categories in one SELECT (a payment's sales
    counts, split, rollups and notices read them all), unless they are loaded already.

    Loaded as plain rows and set as the relationships' loaded values, as the lazy loads they
    replace would have set them, not with eager-loading options: those would stay on the
    items, and a later refresh of the order (which cascades to its items) would load the
    products again with them instead of leaving them to load fresh when next read."""
    if "items" not in sa_inspect(order).unloaded:
        return
    items = []
    for item, product, category in db.session.execute(_items(), {"order_id": order.id}):
        if "order" in sa_inspect(item).unloaded:
            set_committed_value(item, "order", order)
        if "product" in sa_inspect(item).unloaded:
            set_committed_value(item, "product", product)
        if "category" in sa_inspect(product).unloaded:
            set_committed_value(product, "category", category)
        items.append(item)
    set_committed_value(order, "items", items)


@cache
def _items():
    return (
        select(OrderItem, Product, Category)
        .join(Product, Product.id == OrderItem.product_id)
        .outerjoin(Category, Category.id == Product.category_id)
        .where(OrderItem.order_id == bindparam("order_id"))
        .order_by(OrderItem.id)
    )


def add_per_unit(order: Order, column, sign: int, gone: dict[int, int] | None = None) -> None:
    """Add ``sign`` x each item's quantity (less the units ``gone`` with partial refunds) to
    ``column`` of its product (sales counted on payment and taken back on refund): one
    executemany UPDATE, the rows in the items' order (the lock order they always had)."""
    changes = []
    for item in order.items:
        quantity = item.quantity - (gone or {}).get(item.id, 0)
        if quantity > 0:
            changes.append({"p_id": item.product_id, "p_add": sign * quantity})
            mark_stale(item.product_id)  # a Core UPDATE: the landing pages' stamp
    if changes:
        db.session.execute(_per_unit(column.key), changes)
        for item in order.items:  # a product loaded with the items reads the new count
            if "product" not in sa_inspect(item).unloaded:
                db.session.expire(item.product, [column.key])


@cache
def _per_unit(key: str):
    table = Product.__table__
    return (
        table.update()
        .where(table.c.id == bindparam("p_id"))
        .values({key: table.c[key] + bindparam("p_add")})
    )
