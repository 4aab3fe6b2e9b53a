"""Fraud flags raised by ``shop.money.fraud.scan`` and rebate holds an admin puts on a
sharer after reading one."""

import enum
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db
from shop.sharing.models import ShareLink


class FlagKind(enum.StrEnum):
    LINK_FLOOD = "link_flood"  #: one link got a flood of clicks
    IP_FLOOD = "ip_flood"  #: one (hashed) address sent a flood of clicks
    SELF_PURCHASE = "self_purchase"  #: a sharer's orders are mostly their own
    REFUND_SHARE = "refund_share"  #: a sharer's orders are mostly refunded
    FAST_ORDER = "fast_order"  #: an order placed seconds after its click
    ADDRESS_CLUSTER = "address_cluster"  #: orders to one address through many sharers


class FlagStatus(enum.StrEnum):
    OPEN = "open"
    DISMISSED = "dismissed"
    HELD = "held"  #: the sharer's rebates are held (a RebateHold exists)


class FraudFlag(db.Model):
    """One suspicion, with the numbers that raised it. The scan inserts with ON CONFLICT DO
    NOTHING on (kind, subject_key, period_key), so running it again never duplicates a flag
    (nor reopens a dismissed one). The explanation is built from ``evidence`` when shown, in
    the reader's language (shop.money.fraud.explain)."""

    __tablename__ = "fraud_flags"
    __table_args__ = (
        UniqueConstraint("kind", "subject_key", "period_key"),
        Index("ix_fraud_flags_status_raised", "status", "raised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[FlagKind] = enum_column(FlagKind)
    #: What the flag is about, e.g. "sharer:12", "link:7", "ip:<hash>", "order:3", "addr:<hash>".
    subject_key: Mapped[str] = mapped_column(String(80))
    #: The period it covers ("2024-05-01" for a day, "2024-05" for a month, "" for ever).
    period_key: Mapped[str] = mapped_column(String(20), default="")
    #: The sharer whose rebates a hold would stop, when there is exactly one.
    sharer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    link_id: Mapped[int | None] = mapped_column(ForeignKey("share_links.id", ondelete="SET NULL"))
    ip_hash: Mapped[str] = mapped_column(String(32), default="")
    #: Counts, ids and times (ISO, UTC) the explanation and the detail page are built from.
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[FlagStatus] = enum_column(FlagStatus, default=FlagStatus.OPEN)
    raised_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(String(200), default="")

    sharer: Mapped[User | None] = relationship(foreign_keys=[sharer_id])
    decided_by: Mapped[User | None] = relationship(foreign_keys=[decided_by_id])
    link: Mapped[ShareLink | None] = relationship()


class RebateHold(db.Model):
    """An admin stopped a sharer's payouts (shop.money.payouts.request_payout refuses while
    a hold is active). Released holds are kept; at most one active hold per sharer."""

    __tablename__ = "rebate_holds"
    __table_args__ = (
        Index(
            "uq_rebate_holds_one_active",
            "sharer_id",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: The flag the admin was reading when they held the rebates.
    flag_id: Mapped[int | None] = mapped_column(ForeignKey("fraud_flags.id"))
    reason: Mapped[str] = mapped_column(String(200))
    held_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    held_at: Mapped[datetime] = mapped_column(default=utcnow)
    released_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    released_at: Mapped[datetime | None]
    release_reason: Mapped[str] = mapped_column(String(200), default="")
