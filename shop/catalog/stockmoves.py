"""Stock moves: a checkout taking stock, a cancelled or refunded item giving it back, a
merchant's edit, and a kept page's light read of the numbers. Each moves a SKU and its product
in the same transaction by the same delta, with guarded UPDATEs so stock never goes below zero,
and tells the product's pages (shop.platform.stamps). Specs and SKUs themselves are in
shop.catalog.skus.
"""

from functools import cache

from sqlalchemy import bindparam, select, update

from shop.catalog.models import Product, Sku
from shop.platform.extensions import db
from shop.platform.stamps import sku_stock_moved, stock_moved


def _crossed(after: int, change: int) -> bool:
    """Whether a row whose stock moved by ``change`` to ``after`` crossed sold out (either way)."""
    return (after > 0) != (after - change > 0)


def _product_stock(product_id: int, change: int, *, guard: bool = False) -> bool:
    """stock = stock + change on the product row (never below zero with ``guard``)."""
    query = update(Product).where(Product.id == product_id)
    if guard:
        query = query.where(Product.stock + change >= 0)
    moved = db.session.execute(
        query.values(stock=Product.stock + change)
        .returning(Product.stock)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:  # guarded off (or no such product): nothing changed
        return False
    # "Only 3 left" on the product's pages: Core UPDATEs the flush never sees. Lists of
    # products (a shop page) show only whether it is sold out.
    after = moved[0]
    stock_moved(product_id, sold_out_changed=_crossed(after, change))
    return True


def _sku_stock(sku_id: int, change: int, *, guard=None) -> bool:
    """stock = stock + change on the SKU row, where ``guard`` (a condition) holds; whether it
    moved. Its product's pages learn of it: the number (the stock stamp), and whether the spec
    is greyed out when it crosses sold out (the product's own stamp)."""
    query = update(Sku).where(Sku.id == sku_id)
    if guard is not None:
        query = query.where(guard)
    moved = db.session.execute(
        query.values(stock=Sku.stock + change)
        .returning(Sku.product_id, Sku.stock)
        .execution_options(synchronize_session=False)
    ).first()
    if moved is None:
        return False
    product_id, after = moved
    sku_stock_moved(product_id, sold_out_changed=_crossed(after, change))
    return True


_STOCKS = (
    select(Product.stock, Sku.id, Sku.stock)
    .select_from(Product)
    .outerjoin(Sku, (Sku.product_id == Product.id) & Sku.is_active.is_(True))
    .where(Product.id == bindparam("product_id"))
)


def stocks(product_id: int) -> tuple[int, dict[int, int]] | None:
    """The product's stock and its active SKUs' (by id), in one light query (a kept product
    page's numbers) in a transaction of its own, begun now (a Core connection: a quarter of
    the ORM session's cost); None when there is no such product."""
    with db.engine.connect() as connection:
        rows = connection.execute(_STOCKS, {"product_id": product_id}).all()
    if not rows:
        return None
    return rows[0][0], {sku_id: stock for _stock, sku_id, stock in rows if sku_id is not None}


# Every path below locks the product row before the SKU row (as shop.catalog.products and the
# merchant's save do), so a checkout and a stock edit of one product never wait on each other
# in a circle (a deadlock on PostgreSQL).


@cache
def _taking():
    """take_stock's two guarded UPDATEs, built once (building one costs more Python than
    running it), as Core statements on the tables (the ORM's UPDATE path adds as much again;
    with ``synchronize_session=False`` it did nothing more)."""
    products, sku_rows = Product.__table__, Sku.__table__
    # Parameters named after no column: a parameter named as one is SET too (Core's rule).
    quantity = bindparam("taken")
    return (
        update(products)
        .where(products.c.id == bindparam("taken_from"), products.c.stock >= quantity)
        .values(stock=products.c.stock - quantity)
        .returning(products.c.stock),
        update(sku_rows)
        .where(
            sku_rows.c.id == bindparam("taken_sku"),
            sku_rows.c.is_active.is_(True),
            sku_rows.c.stock >= quantity,
        )
        .values(stock=sku_rows.c.stock - quantity)
        .returning(sku_rows.c.product_id, sku_rows.c.stock),
    )


def take_stock(sku_id: int, product_id: int, quantity: int) -> bool:
    """Take ``quantity`` from an active SKU and its product, unless it has fewer: one guarded
    UPDATE per row, so stock never goes below zero. Whether it was taken (when not, nothing
    changed)."""
    db.session.flush()  # what the ORM's UPDATE did first (autoflush); nothing is pending here
    connection = db.session.connection()
    product_update, sku_update = _taking()
    moved = connection.execute(
        product_update, {"taken_from": product_id, "taken": quantity}
    ).first()
    if moved is None:  # guarded off (or no such product): nothing changed
        return False
    sku_moved = connection.execute(sku_update, {"taken_sku": sku_id, "taken": quantity}).first()
    if sku_moved is None:
        _product_stock(product_id, quantity)
        return False
    # The product's pages learn of it as from _product_stock and _sku_stock.
    stock_moved(product_id, sold_out_changed=_crossed(moved[0], -quantity))
    of_sku, after = sku_moved
    sku_stock_moved(of_sku, sold_out_changed=_crossed(after, -quantity))
    return True


def give_back(sku_id: int | None, product_id: int, quantity: int) -> None:
    """Stock back from a cancelled or refunded item: to its SKU, and to the product while that
    SKU is still sold (an inactive SKU's stock is not in the product's sum)."""
    active = True
    if sku_id is not None:
        active = bool(
            db.session.execute(select(Sku.is_active).where(Sku.id == sku_id)).scalar_one_or_none()
        )
    if active:
        _product_stock(product_id, quantity)
    if sku_id is not None:
        _sku_stock(sku_id, quantity)


def move(sku: Sku, change: int) -> bool:
    """The merchant's stock change on a SKU and (when active) its product, unless the SKU
    would go below zero; whether it moved."""
    if change == 0:
        return True
    if sku.is_active and not _product_stock(sku.product_id, change, guard=True):
        return False
    if not _sku_stock(sku.id, change, guard=Sku.stock + change >= 0):
        if sku.is_active:
            _product_stock(sku.product_id, -change)
        return False
    return True
