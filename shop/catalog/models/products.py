import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models.media import Image
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db


class Category(db.Model):
    __tablename__ = "categories"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    position: Mapped[int] = mapped_column(default=0)
    #: The platform fee on goods of this category, in basis points, unless the merchant has
    #: its own rate; None: 0.
    fee_bps: Mapped[int | None] = mapped_column()

    def name_for(self, locale: str) -> str:
        return self.name_zh if locale.startswith("zh") else self.name_en


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    LISTED = "listed"
    DELISTED = "delisted"


class Product(db.Model):
    __tablename__ = "products"
    __table_args__ = (
        CheckConstraint("price_cents > 0", name="price_positive"),
        CheckConstraint(
            "original_price_cents IS NULL OR original_price_cents >= price_cents",
            name="original_not_below_price",
        ),
        CheckConstraint("stock >= 0", name="stock_not_negative"),
        CheckConstraint("rebate_bps >= 0 AND rebate_bps <= 10000", name="rebate_bps_range"),
        CheckConstraint("sales_count >= 0", name="sales_not_negative"),
        Index("ix_products_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    category_id: Mapped[int] = mapped_column(ForeignKey("categories.id"), index=True)
    title: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    #: The lowest price of the active SKUs (shop.catalog.skus keeps it).
    price_cents: Mapped[int] = mapped_column()
    #: The "was" price shown struck through; None when there is none.
    original_price_cents: Mapped[int | None] = mapped_column()
    #: The stock of the active SKUs added up (moved together with theirs).
    stock: Mapped[int] = mapped_column(default=0)
    #: The sharer's rebate, in basis points of the price paid (100 = 1%).
    rebate_bps: Mapped[int] = mapped_column()
    status: Mapped[ProductStatus] = enum_column(ProductStatus, default=ProductStatus.DRAFT)
    #: Whether the active SKUs' prices differ: the price shows as "¥59 起" (from).
    has_price_range: Mapped[bool] = mapped_column(default=False, server_default=sa_false())
    #: Units sold in completed or paid orders; kept for sorting by sales.
    sales_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    #: For shipping fees by weight; 0 when not given.
    weight_grams: Mapped[int] = mapped_column(default=0, server_default="0")
    #: How its delivery is charged; None ships free (shop.orders.shipping).
    shipping_template_id: Mapped[int | None] = mapped_column(
        ForeignKey("shipping_templates.id", ondelete="SET NULL")
    )

    merchant: Mapped["Merchant"] = relationship()  # noqa: F821
    category: Mapped[Category] = relationship()
    images: Mapped[list["ProductImage"]] = relationship(
        order_by="ProductImage.position", cascade="all, delete-orphan"
    )

    specs: Mapped[list["ProductSpec"]] = relationship(  # noqa: F821
        order_by="ProductSpec.position", cascade="all, delete-orphan"
    )
    skus: Mapped[list["Sku"]] = relationship(  # noqa: F821
        order_by="Sku.position", cascade="all, delete-orphan"
    )
    #: Loaded with the product page's query, so its delivery line costs no query of its own
    #: (shop.orders.shipping finds it in the session by its id).
    shipping_template: Mapped["ShippingTemplate | None"] = relationship(  # noqa: F821
        viewonly=True
    )

    @property
    def active_skus(self) -> list:
        return [s for s in self.skus if s.is_active]

    @property
    def cover(self) -> Image | None:
        return self.images[0].image if self.images else None


class ProductImage(db.Model):
    __tablename__ = "product_images"
    __table_args__ = (UniqueConstraint("product_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"), index=True)
    position: Mapped[int] = mapped_column(default=0)

    image: Mapped[Image] = relationship(lazy="joined")
