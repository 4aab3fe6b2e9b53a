"""The merchant side of the money: each paid order's split, and the merchant ledger
(append-only, like the rebate ledger)."""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.catalog.models import Merchant
from shop.orders.models import Order
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db


class OrderSplit(db.Model):
    """Where the fen of one paid order go, fixed when it is paid (what a profit-sharing
    adapter would send): ``paid = merchant + rebates + overrides + platform``. The platform's
    part is its fee minus the team overrides it pays out of it: never below zero, as the
    override is cut to the fee when the split is stored (merchant_ledger.cover_override);
    orders split before that, or backfilled with no fee (shop.money.split_backfill), may be."""

    __tablename__ = "order_splits"
    __table_args__ = (
        CheckConstraint(
            "paid_cents = merchant_cents + rebate_cents + override_cents + platform_cents",
            name="split_adds_up",
        ),
        CheckConstraint("merchant_cents >= 0 AND fee_cents >= 0", name="parts_not_negative"),
    )

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    paid_cents: Mapped[int]  #: what the buyer paid (the order's total)
    shipping_cents: Mapped[int]  #: part of the merchant's share
    rebate_cents: Mapped[int]  #: the sharer's rebates, funded by the merchant
    override_cents: Mapped[int]  #: the team leader's override, paid by the platform on top
    fee_cents: Mapped[int]  #: the platform fee charged to the merchant
    merchant_cents: Mapped[int]  #: paid - rebates - fee
    platform_cents: Mapped[int]  #: fee - overrides
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship()


class MerchantEntryKind(enum.StrEnum):
    ESTIMATED = "estimated"  #: order paid: +pending
    SETTLED = "settled"  #: return window passed: -pending, +available
    VOIDED = "voided"  #: refunded before settlement: -pending
    CLAWBACK = "clawback"  #: refunded after settlement: -available
    WITHDRAWAL = "withdrawal"  #: withdrawal requested: -available (held)
    WITHDRAWAL_RETURNED = "withdrawal_returned"  #: withdrawal rejected: +available


#: How each kind moves the (pending, available) balances, in units of the entry's amount.
MERCHANT_EFFECTS: dict[MerchantEntryKind, tuple[int, int]] = {
    MerchantEntryKind.ESTIMATED: (1, 0),
    MerchantEntryKind.SETTLED: (-1, 1),
    MerchantEntryKind.VOIDED: (-1, 0),
    MerchantEntryKind.CLAWBACK: (0, -1),
    MerchantEntryKind.WITHDRAWAL: (0, -1),
    MerchantEntryKind.WITHDRAWAL_RETURNED: (0, 1),
}


class WithdrawalStatus(enum.StrEnum):
    REQUESTED = "requested"
    PAID = "paid"
    REJECTED = "rejected"


class MerchantWithdrawal(db.Model):
    """A merchant asking for its settled share; at most one open per merchant."""

    __tablename__ = "merchant_withdrawals"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        Index(
            "uq_merchant_withdrawals_one_open",
            "merchant_id",
            unique=True,
            sqlite_where=text("status = 'requested'"),
            postgresql_where=text("status = 'requested'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    #: The request form's key: the same form sent again is the same withdrawal.
    idempotency_key: Mapped[str] = mapped_column(String(40), unique=True)
    amount_cents: Mapped[int]
    #: Where to send it, copied from the merchant user's payout account when requested.
    account: Mapped[str] = mapped_column(String(120), default="")
    status: Mapped[WithdrawalStatus] = enum_column(
        WithdrawalStatus, default=WithdrawalStatus.REQUESTED
    )
    reference: Mapped[str] = mapped_column(String(64), default="")
    reason: Mapped[str] = mapped_column(String(200), default="")
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    merchant: Mapped[Merchant] = relationship()


class MerchantEntry(db.Model):
    """One movement of a merchant's share (and, on order entries, the platform fee taken
    alongside). Never updated or deleted (database triggers refuse it); at most one entry of
    each kind per order and per withdrawal."""

    __tablename__ = "merchant_entries"
    __table_args__ = (
        Index(
            "uq_merchant_entries_order_kind",
            "order_id",
            "kind",
            unique=True,
            sqlite_where=text("refund_id IS NULL"),
            postgresql_where=text("refund_id IS NULL"),
        ),
        UniqueConstraint("refund_id", "kind"),
        CheckConstraint(
            "refund_id IS NULL OR (order_id IS NOT NULL AND kind IN ('voided', 'clawback'))",
            name="refund_reverses",
        ),
        UniqueConstraint("withdrawal_id", "kind"),
        CheckConstraint("amount_cents >= 0 AND fee_cents >= 0", name="amounts_not_negative"),
        CheckConstraint(
            "(CASE WHEN order_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN withdrawal_id IS NULL THEN 0 ELSE 1 END) = 1",
            name="one_source",
        ),
        Index("ix_merchant_entries_merchant_created", "merchant_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[MerchantEntryKind] = enum_column(MerchantEntryKind)
    amount_cents: Mapped[int]  #: the merchant's share moved
    fee_cents: Mapped[int] = mapped_column(default=0)  #: the platform fee moved with it
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    withdrawal_id: Mapped[int | None] = mapped_column(ForeignKey("merchant_withdrawals.id"))
    #: The partial refund a VOIDED or CLAWBACK entry reverses part of (None otherwise).
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refund_requests.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProfitShare(db.Model):
    """One order's profit sharing (分账) through WeChat Pay's partner mode: what was (or is to
    be) sent from the merchant's sub-merchant account to the platform once the order's money
    settled. ``out_order_no`` is the gateway's idempotency key: a retry asks for the same
    sharing, never a second one."""

    __tablename__ = "profit_shares"
    __table_args__ = (CheckConstraint("amount_cents >= 0", name="share_not_negative"),)

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    out_order_no: Mapped[str] = mapped_column(String(64), unique=True)
    sub_mchid: Mapped[str] = mapped_column(String(32))
    transaction_id: Mapped[str] = mapped_column(String(64))
    #: What goes to the platform (the rebates it pays sharers, and its fee); 0: only unfreeze.
    amount_cents: Mapped[int]
    #: pending (to send), sending (asked, no answer yet), sent (accepted, processing), done,
    #: failed (retried), given_up (failed too often: an admin retries it), void (the order
    #: was refunded in full before it was sent: nothing is left to share or unfreeze)
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(80), default="")
    #: WeChat Pay's 分账单号 once accepted.
    gateway_order_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]


class ProfitReturn(db.Model):
    """A profit-sharing return (分账回退): before a gateway refund of an order whose sharing
    already sent the platform its part, the platform's part of what is refunded goes back to
    the sub-merchant (shop.money.profit_returns). One per gateway refund; ``out_return_no`` is
    WeChat Pay's idempotency key (a new one, ``_<seq>``, only after WeChat Pay said FAILED)."""

    __tablename__ = "profit_returns"
    __table_args__ = (CheckConstraint("amount_cents > 0", name="return_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(
        ForeignKey("gateway_refunds.id", ondelete="CASCADE"), unique=True
    )
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    out_return_no: Mapped[str] = mapped_column(String(64), unique=True)
    seq: Mapped[int] = mapped_column(default=0)
    sub_mchid: Mapped[str] = mapped_column(String(32))
    out_order_no: Mapped[str] = mapped_column(String(64))  #: the sharing returned from
    amount_cents: Mapped[int]
    #: pending (to send), sent (PROCESSING at WeChat Pay), done, failed (retried with the refund)
    state: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(80), default="")
    gateway_return_id: Mapped[str] = mapped_column(String(64), default="")  #: 微信回退单号
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship()
