"""Specs and SKUs: a product's spec dimensions (颜色, 尺码) and the sellable combinations."""

from sqlalchemy import JSON, CheckConstraint, ForeignKey, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from shop.catalog.models.media import Image
from shop.platform.extensions import db


class ProductSpec(db.Model):
    """One spec dimension of a product (at most two): its name and its values in order."""

    __tablename__ = "product_specs"
    __table_args__ = (
        UniqueConstraint("product_id", "position"),
        CheckConstraint("position IN (0, 1)", name="position_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column()
    name: Mapped[str] = mapped_column(String(20))
    #: The values as typed, in the order shown: ["红", "蓝"].
    values: Mapped[list] = mapped_column(JSON, default=list)


class Sku(db.Model):
    """A sellable combination of spec values. A product without specs has one SKU whose
    values are both "". A combination the merchant removes is kept inactive (orders name it).

    The product's ``price_cents`` is the lowest price of its active SKUs and its ``stock`` the
    sum of their stock; both move together with the SKU rows (shop.catalog.skus)."""

    __tablename__ = "skus"
    __table_args__ = (
        UniqueConstraint("product_id", "value1", "value2"),
        CheckConstraint("price_cents > 0", name="price_positive"),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint(
            "rebate_bps IS NULL OR (rebate_bps >= 0 AND rebate_bps <= 10000)",
            name="rebate_bps_range",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    #: The value of the first and second spec dimension; "" when there is none.
    value1: Mapped[str] = mapped_column(String(20), default="")
    value2: Mapped[str] = mapped_column(String(20), default="")
    price_cents: Mapped[int] = mapped_column()
    stock: Mapped[int] = mapped_column(default=0)
    #: The sharer's rebate in basis points; None: the product's rate.
    rebate_bps: Mapped[int | None] = mapped_column()
    #: One of the product's images, shown when this SKU is chosen.
    image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    is_active: Mapped[bool] = mapped_column(default=True)
    position: Mapped[int] = mapped_column(default=0)

    image: Mapped[Image | None] = relationship()

    @property
    def values(self) -> tuple[str, ...]:
        return tuple(v for v in (self.value1, self.value2) if v)


@event.listens_for(Session, "before_flush")
def _one_sku_for_new_products(session, _context, _instances) -> None:
    """A product made without SKUs (the demo data, tests, a plain product form) gets its one
    SKU of its price and stock, so every product is sold through a SKU."""
    from shop.catalog.models.products import Product

    for obj in list(session.new):
        if isinstance(obj, Product) and not obj.skus:
            obj.skus.append(
                Sku(value1="", value2="", price_cents=obj.price_cents, stock=obj.stock or 0)
            )
