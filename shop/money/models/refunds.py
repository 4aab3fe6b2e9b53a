"""Partial refunds (shop.money.refunds): a buyer's request for chosen item lines of an order,
its lines, and the refundable caps that guard, in the database, that no line and no order is
ever refunded past what was paid for it."""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.orders.models import Order, OrderItem
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db


class RefundStatus(enum.StrEnum):
    REQUESTED = "requested"  #: waiting for the merchant (its amount is held on the caps)
    REFUNDED = "refunded"  #: agreed: the money went back, the ledgers reversed its parts
    REJECTED = "rejected"  #: the merchant refused (the hold released)
    WITHDRAWN = "withdrawn"  #: the buyer withdrew it (the hold released)


class RefundRequest(db.Model):
    """One partial refund of an order: some item lines (and quantities), an amount. At most
    one is open per order; ``seq`` numbers them per order (the gateway refund number is
    ``<order number>-P<seq>``)."""

    __tablename__ = "refund_requests"
    __table_args__ = (
        UniqueConstraint("order_id", "seq"),
        # The same form sent twice is the same request.
        UniqueConstraint("order_id", "request_key"),
        CheckConstraint("amount_cents > 0", name="amount_positive"),
        CheckConstraint(
            "shipping_cents >= 0 AND shipping_cents <= amount_cents", name="shipping_range"
        ),
        Index(
            "uq_refund_requests_one_open",
            "order_id",
            unique=True,
            sqlite_where=text("status = 'requested'"),
            postgresql_where=text("status = 'requested'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    seq: Mapped[int]
    request_key: Mapped[str] = mapped_column(String(40))
    status: Mapped[RefundStatus] = enum_column(RefundStatus, default=RefundStatus.REQUESTED)
    #: refund_only (仅退款) or return (退货退款), as for whole-order refunds.
    kind: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(String(200))
    #: What goes back to the buyer: the lines' amounts plus ``shipping_cents``.
    amount_cents: Mapped[int]
    shipping_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    #: buyer, or admin (an administrator refunding part of an order directly).
    source: Mapped[str] = mapped_column(String(20))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    #: When `flask sweep-orders` escalated it to the admins, the merchant having left it
    #: unanswered for ``REFUND_ESCALATE_DAYS`` (once; None while it is not).
    escalated_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    #: The buyer's parcel back to the merchant (退货退款), as for whole-order returns.
    return_carrier: Mapped[str] = mapped_column(String(40), default="", server_default="")
    return_tracking: Mapped[str] = mapped_column(String(40), default="", server_default="")

    order: Mapped[Order] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    lines: Mapped[list["RefundLine"]] = relationship(
        back_populates="refund", order_by="RefundLine.order_item_id"
    )


class RefundLine(db.Model):
    """One item line of a partial refund, and the parts its amount reverses, fixed when the
    request is made (shop.money.refund_math): the sharer's rebate, the leader's override,
    the platform fee and the merchant's share (``rebate + fee + merchant = amount``)."""

    __tablename__ = "refund_lines"
    __table_args__ = (
        UniqueConstraint("refund_id", "order_item_id"),
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(
            "amount_cents >= 0 AND rebate_cents >= 0 AND override_cents >= 0 "
            "AND fee_cents >= 0 AND merchant_cents >= 0",
            name="parts_not_negative",
        ),
        CheckConstraint(
            "rebate_cents + fee_cents + merchant_cents = amount_cents", name="parts_add_up"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    refund_id: Mapped[int] = mapped_column(ForeignKey("refund_requests.id"), index=True)
    order_item_id: Mapped[int] = mapped_column(ForeignKey("order_items.id"), index=True)
    quantity: Mapped[int]
    amount_cents: Mapped[int]
    rebate_cents: Mapped[int] = mapped_column(default=0)
    override_cents: Mapped[int] = mapped_column(default=0)
    fee_cents: Mapped[int] = mapped_column(default=0)
    merchant_cents: Mapped[int] = mapped_column(default=0)

    refund: Mapped[RefundRequest] = relationship(back_populates="lines")
    item: Mapped[OrderItem] = relationship()


class RefundCap(db.Model):
    """What one line of an order (an item, or ``line`` 0: its shipping) may still give back.
    Made once, at the order's first partial refund request, with the item's frozen parts of
    the order's split; ``held`` is what open requests ask, ``done`` what was refunded. The
    CHECKs are the guard: no UPDATE can take a line past what was paid for it, and the caps
    of an order add up to what the buyer paid."""

    __tablename__ = "refund_caps"
    __table_args__ = (
        CheckConstraint(
            "held_cents >= 0 AND done_cents >= 0 AND held_cents + done_cents <= cap_cents",
            name="cents_within_cap",
        ),
        CheckConstraint(
            "held_quantity >= 0 AND done_quantity >= 0 "
            "AND held_quantity + done_quantity <= cap_quantity",
            name="quantity_within_cap",
        ),
        CheckConstraint(
            "rebate_cents >= 0 AND override_cents >= 0 AND fee_cents >= 0 "
            "AND rebate_cents + fee_cents <= cap_cents",
            name="parts_within_cap",
        ),
    )

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    #: The order item's id, or 0 for the order's shipping fee.
    line: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    cap_cents: Mapped[int]  #: what was paid for the line (after its coupon share)
    cap_quantity: Mapped[int]  #: its quantity (1 for shipping)
    rebate_cents: Mapped[int] = mapped_column(default=0)  #: its rebate, when the order earns
    override_cents: Mapped[int] = mapped_column(default=0)  #: its leader's override
    fee_cents: Mapped[int] = mapped_column(default=0)  #: its part of the platform fee
    held_cents: Mapped[int] = mapped_column(default=0)
    held_quantity: Mapped[int] = mapped_column(default=0)
    done_cents: Mapped[int] = mapped_column(default=0)
    done_quantity: Mapped[int] = mapped_column(default=0)
