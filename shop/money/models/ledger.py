"""The rebate ledger (append-only) and payouts."""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.orders.models import Order, OrderItem
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db


class EntryKind(enum.StrEnum):
    ESTIMATED = "estimated"  #: order paid: +estimated
    SETTLED = "settled"  #: return window passed: -estimated, +available
    VOIDED = "voided"  #: refunded before settlement: -estimated
    CLAWBACK = "clawback"  #: refunded after settlement: -available
    PAYOUT = "payout"  #: payout requested: -available (held)
    PAYOUT_RETURNED = "payout_returned"  #: payout rejected: +available
    ADJUSTMENT = "adjustment"  #: an upheld appeal (shop.money.appeals): +available


#: How each kind moves the two balances, in units of the entry's (positive) amount.
EFFECTS: dict[EntryKind, tuple[int, int]] = {
    EntryKind.ESTIMATED: (1, 0),
    EntryKind.SETTLED: (-1, 1),
    EntryKind.VOIDED: (-1, 0),
    EntryKind.CLAWBACK: (0, -1),
    EntryKind.PAYOUT: (0, -1),
    EntryKind.PAYOUT_RETURNED: (0, 1),
    EntryKind.ADJUSTMENT: (0, 1),
}


#: Rebate tiers: 1, the sharer whose link sold; 2, that sharer's team leader (an override
#: on the first tier's rebate). There is no third: the CHECK below refuses one.
TIERS = (1, 2)


#: Every entry comes from exactly one thing: an order item, a payout or an appeal.
ONE_SOURCE = (
    "(CASE WHEN order_item_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN payout_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN appeal_id IS NULL THEN 0 ELSE 1 END) = 1"
)


class LedgerEntry(db.Model):
    """One movement of a sharer's rebate money. Never updated or deleted (database triggers
    refuse it); at most one entry of each kind per order item and tier, and per payout."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        # One entry of each kind per order item and tier; a partial refund's reversals are
        # keyed by their refund as well, so each refund reverses an item once.
        Index(
            "uq_ledger_entries_item_kind_tier",
            "order_item_id",
            "kind",
            "tier",
            unique=True,
            sqlite_where=text("refund_id IS NULL"),
            postgresql_where=text("refund_id IS NULL"),
        ),
        Index(
            "uq_ledger_entries_refund_item_kind_tier",
            "refund_id",
            "order_item_id",
            "kind",
            "tier",
            unique=True,
            sqlite_where=text("refund_id IS NOT NULL"),
            postgresql_where=text("refund_id IS NOT NULL"),
        ),
        CheckConstraint(
            "refund_id IS NULL OR kind IN ('voided', 'clawback')", name="refund_reverses"
        ),
        UniqueConstraint("payout_id", "kind"),
        UniqueConstraint("appeal_id", "kind"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(ONE_SOURCE, name="one_source"),
        CheckConstraint("tier IN (1, 2)", name="two_tiers"),
        CheckConstraint("tier = 1 OR order_item_id IS NOT NULL", name="override_of_an_item"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    kind: Mapped[EntryKind] = enum_column(EntryKind)
    amount_cents: Mapped[int]
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    order_item_id: Mapped[int | None] = mapped_column(ForeignKey("order_items.id"))
    payout_id: Mapped[int | None] = mapped_column(ForeignKey("payouts.id"))
    #: An upheld appeal's adjustment (never with an order: the order's own rebate stays as
    #: it was; the platform pays the adjustment on top).
    appeal_id: Mapped[int | None] = mapped_column(ForeignKey("appeals.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: 1: the sharer's own rebate; 2: a team leader's override on it (see TIERS).
    tier: Mapped[int] = mapped_column(default=1, server_default="1")
    #: The partial refund (shop.money.refunds) a VOIDED or CLAWBACK entry reverses part of;
    #: None for every other entry and for a whole order's refund.
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refund_requests.id"))

    order: Mapped[Order | None] = relationship()
    order_item: Mapped[OrderItem | None] = relationship()


class PayoutStatus(enum.StrEnum):
    REQUESTED = "requested"
    PAID = "paid"
    REJECTED = "rejected"


class PayoutMethod(enum.StrEnum):
    WECHAT = "wechat"
    ALIPAY = "alipay"
    BANK = "bank"


class PayoutAccount(db.Model):
    """Where a sharer's payouts go; one per sharer, changed only after re-entering the
    password."""

    __tablename__ = "payout_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    method: Mapped[PayoutMethod] = enum_column(PayoutMethod)
    account_name: Mapped[str] = mapped_column(String(40))
    account_number: Mapped[str] = mapped_column(String(40))
    bank_name: Mapped[str] = mapped_column(String(60), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payout(db.Model):
    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("user_id", "idempotency_key"),
        CheckConstraint("amount_cents > 0", name="payout_positive"),
        # One open request per sharer, by construction.
        Index(
            "uq_payouts_one_open",
            "user_id",
            unique=True,
            sqlite_where=text("status = 'requested'"),
            postgresql_where=text("status = 'requested'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(40))
    amount_cents: Mapped[int]
    status: Mapped[PayoutStatus] = enum_column(PayoutStatus, default=PayoutStatus.REQUESTED)
    #: Copied from the payout account when requested.
    method: Mapped[str] = mapped_column(String(20))
    account_name: Mapped[str] = mapped_column(String(40))
    account_number: Mapped[str] = mapped_column(String(40))
    bank_name: Mapped[str] = mapped_column(String(60), default="", server_default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    reference: Mapped[str] = mapped_column(String(64), default="")
    reject_reason: Mapped[str] = mapped_column(String(200), default="")

    user: Mapped[User] = relationship(foreign_keys=[user_id])
