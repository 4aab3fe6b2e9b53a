"""Materials (素材): pictures and ready copy a merchant attaches to a product for sharers, and
the sharers' own copy variants."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Image, Product
from shop.platform.base import utcnow
from shop.platform.extensions import db


class MaterialImage(db.Model):
    """One of at most nine pictures (MAX_MATERIAL_IMAGES) a merchant offers sharers."""

    __tablename__ = "material_images"
    __table_args__ = (UniqueConstraint("product_id", "image_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    product: Mapped[Product] = relationship()
    image: Mapped[Image] = relationship()


class MaterialText(db.Model):
    """The merchant's ready copy for a product (one per product; empty means none)."""

    __tablename__ = "material_texts"

    product_id: Mapped[int] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), primary_key=True
    )
    body: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CopyVariant(db.Model):
    """A sharer's own wording for a product, kept to paste again later."""

    __tablename__ = "copy_variants"
    __table_args__ = (
        Index("ix_copy_variants_sharer_product", "sharer_id", "product_id"),
        CheckConstraint("length(body) > 0", name="not_empty"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
