from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.catalog.models import Image, Product
from shop.platform.base import utcnow
from shop.platform.extensions import db


class Shop(db.Model):
    """A user's personal shop, public at /s/<slug>."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), unique=True)
    #: Letters, digits and hyphens; chosen by the user, random by default.
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(30))
    intro: Mapped[str] = mapped_column(String(200), default="")
    avatar_image_id: Mapped[int | None] = mapped_column(ForeignKey("images.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User] = relationship()
    avatar: Mapped[Image | None] = relationship()
    items: Mapped[list["ShopItem"]] = relationship(
        back_populates="shop", cascade="all, delete-orphan"
    )


class ShopItem(db.Model):
    """A product curated into a shop, with the sharer's own recommendation."""

    __tablename__ = "shop_items"
    __table_args__ = (UniqueConstraint("shop_id", "product_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    recommendation: Mapped[str] = mapped_column(Text, default="")
    position: Mapped[int] = mapped_column(default=0)
    is_pinned: Mapped[bool] = mapped_column(default=False)
    #: Show the product's average rating on the shop page and the poster.
    show_rating: Mapped[bool] = mapped_column(default=False)
    #: A published review of this product the sharer chose to quote (shown while published).
    quote_review_id: Mapped[int | None] = mapped_column(
        ForeignKey("reviews.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    shop: Mapped[Shop] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()
    quote_review: Mapped["Review | None"] = relationship()  # noqa: F821 (shop.reviews.models)
