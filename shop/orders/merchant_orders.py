"""A merchant's orders as the console lists them: the status tabs with their counts (one
grouped query), the search filters, a page of rows, the 待发货 count of the navigation, and
the rows of the courier export (快递单导出).

Every query here is bounded by the merchant's id first; a filter can only narrow it, so an
order number, a phone or a product id of another merchant finds nothing.
"""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import case, func, literal, or_, select
from sqlalchemy.orm import selectinload

from shop.catalog.models import Product
from shop.orders.models import Order, OrderItem, OrderStatus
from shop.platform.extensions import db
from shop.sharing.rollup import day_start

S = OrderStatus

#: The tabs, in the order shown (全部 待付款 待发货 待收货 已完成 售后), and the statuses each
#: holds. 全部 also holds cancelled orders, which have no tab of their own.
TAB_STATUSES: dict[str, tuple[OrderStatus, ...]] = {
    "all": tuple(S),
    "unpaid": (S.PLACED,),
    "unshipped": (S.PAID,),
    "shipped": (S.SHIPPED,),
    "completed": (S.COMPLETED,),
    "aftersale": (S.REFUND_REQUESTED, S.REFUND_REJECTED, S.REFUNDED),
}
#: Rows in one courier export at most (a day's parcels of a small shop many times over).
EXPORT_LIMIT = 2000


@dataclass(frozen=True)
class OrderFilter:
    """What the merchant narrowed the list to; every field already checked by the caller.
    ``query`` is digits: an order number, a receiver's phone or its last four digits."""

    query: str = ""
    start: date | None = None  #: China dates, both ends included
    end: date | None = None
    product_id: int | None = None

    def conditions(self, merchant_id: int) -> list:
        found = [Order.merchant_id == merchant_id]
        if self.query:
            matches = [Order.number == self.query, Order.ship_phone == self.query]
            if len(self.query) == 4:  # 手机尾号: the last four digits of the receiver's phone
                matches.append(Order.ship_phone.like(f"%{self.query}"))
            found.append(or_(*matches))
        if self.start is not None:
            found.append(Order.placed_at >= day_start(self.start))
        if self.end is not None:
            found.append(Order.placed_at < day_start(self.end + timedelta(days=1)))
        if self.product_id is not None:
            # The merchant's own items only (orders by merchant, then items by order, both
            # indexed): order_items has no index on product_id, and need not scan other shops.
            found.append(
                Order.id.in_(
                    select(OrderItem.order_id)
                    .join(Order, Order.id == OrderItem.order_id)
                    .where(
                        Order.merchant_id == merchant_id, OrderItem.product_id == self.product_id
                    )
                )
            )
        return found


def tab_counts(merchant_id: int, where: OrderFilter, open_parts=None) -> dict[str, int]:
    """The number of orders under each tab, counted by one query grouped by status.
    ``open_parts``: a SELECT of the ids of orders with a partial refund waiting (from the
    money layer); those count under 售后 too, whatever their status."""
    waiting = (
        func.sum(case((Order.id.in_(open_parts), 1), else_=0))
        if open_parts is not None
        else literal(0)
    )
    rows = db.session.execute(
        select(Order.status, func.count(), waiting)
        .where(*where.conditions(merchant_id))
        .group_by(Order.status)
    ).all()
    by_status = {S(status): count for status, count, _parts in rows}
    counts = {
        tab: sum(by_status.get(s, 0) for s in statuses) for tab, statuses in TAB_STATUSES.items()
    }
    counts["aftersale"] += sum(
        int(parts or 0) for status, _count, parts in rows
        if S(status) not in TAB_STATUSES["aftersale"]
    )  # fmt: skip
    return counts


def page_of(
    merchant_id: int, where: OrderFilter, tab: str, *, page: int, per_page: int, open_parts=None
) -> list[Order]:
    """One page of the tab's orders, newest first, with their items, products and images
    (``open_parts`` as in :func:`tab_counts`)."""
    query = (
        select(Order)
        .where(*where.conditions(merchant_id))
        .options(
            selectinload(Order.items).selectinload(OrderItem.product).selectinload(Product.images)
        )
        .order_by(Order.placed_at.desc(), Order.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    if tab == "aftersale" and open_parts is not None:
        query = query.where(or_(Order.status.in_(TAB_STATUSES[tab]), Order.id.in_(open_parts)))
    elif tab != "all":
        query = query.where(Order.status.in_(TAB_STATUSES[tab]))
    return list(db.session.execute(query).scalars())


def to_ship_count(merchant_id: int) -> int:
    """Paid orders not yet shipped (the badge on 订单 in the console's navigation)."""
    return db.session.execute(
        select(func.count())
        .select_from(Order)
        .where(Order.merchant_id == merchant_id, Order.status == S.PAID)
    ).scalar_one()


def product_choices(merchant_id: int, limit: int = 300) -> list[tuple[int, str]]:
    """The merchant's products to filter by (id, title), newest first."""
    rows = db.session.execute(
        select(Product.id, Product.title)
        .where(Product.merchant_id == merchant_id)
        .order_by(Product.id.desc())
        .limit(limit)
    ).all()
    return [(pid, title) for pid, title in rows]


def owns_product(merchant_id: int, product_id: int) -> bool:
    return (
        db.session.execute(
            select(Product.id).where(Product.id == product_id, Product.merchant_id == merchant_id)
        ).scalar_one_or_none()
        is not None
    )


@dataclass(frozen=True)
class ExportRow:
    number: str
    name: str
    phone: str
    address: str  #: province city district detail
    items: str  #: "Title（spec）×2; Other ×1"
    note: str
    weight_grams: int  #: 0 when a product in the order has no weight


def export_rows(merchant_id: int, where: OrderFilter) -> list[ExportRow]:
    """The paid, unshipped orders (待发货) the filter keeps, oldest first, for the courier."""
    orders = db.session.execute(
        select(Order)
        .where(*where.conditions(merchant_id), Order.status == S.PAID)
        .options(selectinload(Order.items).selectinload(OrderItem.product))
        .order_by(Order.paid_at, Order.id)
        .limit(EXPORT_LIMIT)
    ).scalars()
    rows = []
    for order in orders:
        items = "; ".join(
            f"{i.title}（{i.spec_text}）×{i.quantity}"
            if i.spec_text
            else f"{i.title} ×{i.quantity}"
            for i in order.items
        )
        weights = [i.product.weight_grams * i.quantity for i in order.items]
        rows.append(
            ExportRow(
                number=order.number,
                name=order.ship_name,
                phone=order.ship_phone,
                address=f"{order.ship_region} {order.ship_detail}".strip(),
                items=items,
                note=order.buyer_note,
                weight_grams=sum(weights) if weights and all(weights) else 0,
            )
        )
    return rows
