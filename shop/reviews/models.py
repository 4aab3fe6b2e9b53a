"""Buyers' reviews of order items, their photos, merchants' replies, readers' reports and the
admin-maintained list of words that hold a review for moderation."""

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.catalog.models import Image, Merchant, Product
from shop.orders.models import Order, OrderItem
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db


class ReviewKind(enum.StrEnum):
    INITIAL = "initial"
    FOLLOWUP = "followup"  #: 追评: one per initial review, no rating of its own


class ReviewStatus(enum.StrEnum):
    PUBLISHED = "published"
    HELD = "held"  #: tripped a moderation rule; waits for an admin
    HIDDEN = "hidden"  #: an admin hid it, with a reason the author sees; never deleted


class Disclosure(enum.StrEnum):
    """What readers are told about who wrote a review (frozen from the order's attribution)."""

    NONE = "none"
    #: The buyer bought through their own share link and the order earned them its rebate.
    SHARER_REBATE = "sharer_rebate"
    #: The buyer bought through their own share link; it earned nothing (self-purchase off).
    SELF_PURCHASE = "self_purchase"


class Review(db.Model):
    """A buyer's review of one item of their completed order, or its one follow-up.

    The unique key on (order_item_id, kind) makes "once" a fact of the database, not a check.
    Only the buyer of the order is ever the author (``reviews.write_review`` takes the order's
    buyer as the author; there is no other path).
    """

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("order_item_id", "kind"),
        CheckConstraint(
            # "rating IS NOT NULL": a NULL would pass BETWEEN (a CHECK only fails on false).
            "(kind = 'initial' AND rating IS NOT NULL AND rating BETWEEN 1 AND 5"
            " AND parent_id IS NULL)"
            " OR (kind = 'followup' AND rating IS NULL AND parent_id IS NOT NULL)",
            name="rating_and_parent_by_kind",
        ),
        # Product page: published initial reviews of a product, newest first.
        Index("ix_reviews_product_list", "product_id", "kind", "status", "created_at"),
        Index("ix_reviews_author_created", "author_id", "created_at"),
        # The admins' queues by status.
        Index("ix_reviews_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[ReviewKind] = enum_column(ReviewKind, default=ReviewKind.INITIAL)
    #: The initial review a follow-up belongs to.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("reviews.id"), unique=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    rating: Mapped[int | None] = mapped_column()
    body: Mapped[str] = mapped_column(Text, default="")
    #: Shown as "匿名买家" instead of the author's display name.
    is_anonymous: Mapped[bool] = mapped_column(default=False)
    has_photos: Mapped[bool] = mapped_column(default=False)
    disclosure: Mapped[Disclosure] = enum_column(Disclosure, default=Disclosure.NONE)
    status: Mapped[ReviewStatus] = enum_column(ReviewStatus, default=ReviewStatus.PUBLISHED)
    #: The moderation rules a held review tripped, e.g. ["link", "phone"].
    hold_rules: Mapped[list] = mapped_column(JSON, default=list)
    #: Why an admin hid it; shown to the author.
    hidden_reason: Mapped[str] = mapped_column(String(200), default="")
    #: Reports not yet looked at by an admin (the queue shows reviews with any).
    open_reports: Mapped[int] = mapped_column(default=0)
    #: Bumped by every moderation decision; guarded updates compare it.
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()

    author: Mapped[User] = relationship()
    product: Mapped[Product] = relationship()
    merchant: Mapped[Merchant] = relationship()
    order: Mapped[Order] = relationship()
    order_item: Mapped[OrderItem] = relationship()
    parent: Mapped["Review | None"] = relationship(
        remote_side=[id], back_populates="followup", foreign_keys=[parent_id]
    )
    followup: Mapped["Review | None"] = relationship(
        back_populates="parent", foreign_keys=[parent_id], uselist=False
    )
    photos: Mapped[list["ReviewPhoto"]] = relationship(
        order_by="ReviewPhoto.position", cascade="all, delete-orphan"
    )
    reply: Mapped["ReviewReply | None"] = relationship(uselist=False, back_populates="review")


class ReviewPhoto(db.Model):
    __tablename__ = "review_photos"
    __table_args__ = (UniqueConstraint("review_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id", ondelete="CASCADE"))
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id"))
    position: Mapped[int] = mapped_column()

    image: Mapped[Image] = relationship()


class ReviewReply(db.Model):
    """The merchant's one public reply to a review (the unique key makes it one)."""

    __tablename__ = "review_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    #: The merchant's user who wrote it.
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    review: Mapped[Review] = relationship(back_populates="reply")


class ReviewReport(db.Model):
    """A reader's report of a review. One per reader and review; only admins read it."""

    __tablename__ = "review_reports"
    __table_args__ = (
        UniqueConstraint("review_id", "reporter_id"),
        Index("ix_review_reports_reporter_created", "reporter_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(ForeignKey("reviews.id"), index=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: A key of ``reviews.REPORT_REASONS`` ("spam", "abuse", ..., "other").
    reason: Mapped[str] = mapped_column(String(20))
    #: The reader's own words (required for "other").
    details: Mapped[str] = mapped_column(String(150), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set when an admin decided the review with this report open.
    resolved_at: Mapped[datetime | None] = mapped_column()

    reporter: Mapped[User] = relationship()


class BlockedWord(db.Model):
    """A word or phrase that holds a review containing it for moderation (case-insensitive)."""

    __tablename__ = "blocked_words"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stored lower-cased and trimmed, so the unique key ignores case.
    word: Mapped[str] = mapped_column(String(40), unique=True)
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
