"""Orders, their items (price and rebate snapshots), their events, payment callbacks received,
and buyers' saved addresses."""

import enum
from datetime import date, datetime

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.catalog.models import Merchant, Product
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db
from shop.sharing.models import Click, ShareLink


class OrderStatus(enum.StrEnum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUND_REQUESTED = "refund_requested"
    REFUNDED = "refunded"
    REFUND_REJECTED = "refund_rejected"


class Address(db.Model):
    """A buyer's saved delivery address (the address book); at most one is the default."""

    __tablename__ = "addresses"
    __table_args__ = (
        Index(
            "uq_addresses_one_default",
            "user_id",
            unique=True,
            sqlite_where=text("is_default"),
            postgresql_where=text("is_default"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    phone: Mapped[str] = mapped_column(String(11))
    #: The province, city and district names as text ("浙江省 杭州市 西湖区").
    region: Mapped[str] = mapped_column(String(60))
    detail: Mapped[str] = mapped_column(String(200))
    #: GB/T 2260 codes picked in the address picker; "" where the level does not exist.
    province_code: Mapped[str] = mapped_column(String(6), default="", server_default="")
    city_code: Mapped[str] = mapped_column(String(6), default="", server_default="")
    district_code: Mapped[str] = mapped_column(String(6), default="", server_default="")
    is_default: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Saved before the picker: ``region`` is free text and there are no codes; it must be
    #: picked again before it can be shipped to.
    is_legacy: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Order(db.Model):
    """One merchant's part of a checkout. Amounts in fen; the address is copied, not linked,
    so editing a saved address never changes an order."""

    __tablename__ = "orders"
    __table_args__ = (
        # A replayed checkout form finds the orders the first submission made.
        UniqueConstraint("buyer_id", "checkout_key", "merchant_id"),
        CheckConstraint("total_cents >= 0", name="total_not_negative"),
        CheckConstraint("shipping_cents >= 0", name="shipping_not_negative"),
        CheckConstraint("discount_cents >= 0", name="discount_not_negative"),
        CheckConstraint("override_bps BETWEEN 0 AND 10000", name="override_bps_range"),
        Index("ix_orders_status_deadline", "status", "pay_deadline"),
        Index("ix_orders_status_refund_requested_at", "status", "refund_requested_at"),
        # A sharer's orders in a period, and the time from click to order of the earning
        # ones (the stats page), read from this index alone.
        Index(
            "ix_orders_sharer_placed",
            "sharer_id",
            "placed_at",
            "attribution_reason",
            "click_lag_seconds",
        ),
        # Paid orders by day (the admin overview, the fraud scan).
        Index("ix_orders_paid_at", "paid_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(24), unique=True)
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    checkout_key: Mapped[str] = mapped_column(String(40))
    status: Mapped[OrderStatus] = enum_column(OrderStatus, default=OrderStatus.PLACED)
    #: What the buyer pays: goods_cents - discount_cents + shipping_cents.
    total_cents: Mapped[int]
    #: The items' sum (rebates are worked out on items, never on shipping).
    goods_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The delivery fee, fixed when the order is placed (shop.orders.shipping).
    shipping_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The coupon used (snapshot) and what it took off the goods: total = goods - discount
    #: + shipping.
    coupon_id: Mapped[int | None] = mapped_column(ForeignKey("coupons.id", ondelete="SET NULL"))
    discount_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    #: The buyer's note to the merchant.
    buyer_note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    ship_name: Mapped[str] = mapped_column(String(40))
    ship_phone: Mapped[str] = mapped_column(String(11))
    ship_region: Mapped[str] = mapped_column(String(60))
    ship_detail: Mapped[str] = mapped_column(String(200))
    #: The deepest region code of the address (district, or city / province where the
    #: data has no lower level); "" for orders placed before the picker.
    ship_region_code: Mapped[str] = mapped_column(String(6), default="", server_default="")
    payment_provider: Mapped[str] = mapped_column(String(20))
    # Attribution, decided once when the order is placed (attribution.decide).
    attribution_reason: Mapped[str] = mapped_column(String(32))
    click_id: Mapped[int | None] = mapped_column(ForeignKey("clicks.id", ondelete="SET NULL"))
    link_id: Mapped[int | None] = mapped_column(ForeignKey("share_links.id"))
    #: Seconds from the winning click to the order, kept here when the order is placed (the
    #: click row may be purged later; the stats page reads this instead of joining clicks).
    click_lag_seconds: Mapped[int | None]
    #: The sharer the winning click belongs to, also when the reason earns nothing
    #: (self-purchase not allowed): they can see why.
    sharer_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: The sharer's team leader and their override rate (basis points of the sharer's
    #: rebate), decided when the order is placed; None / 0 when no override applies.
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    override_bps: Mapped[int] = mapped_column(default=0, server_default="0")
    #: Other sharers with clicks before the order, and why they earned nothing: {id: reason}.
    attribution_others: Mapped[dict] = mapped_column(JSON, default=dict)
    placed_at: Mapped[datetime] = mapped_column(default=utcnow)
    pay_deadline: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    shipped_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]  #: cancelled or refunded
    carrier: Mapped[str] = mapped_column(String(40), default="")
    tracking_number: Mapped[str] = mapped_column(String(40), default="")
    refund_reason: Mapped[str] = mapped_column(String(200), default="")
    #: The status a refund request came from (paid, shipped or completed).
    refund_from: Mapped[str | None] = mapped_column(String(20))
    #: "refund_only" (仅退款) or "return" (退货退款); "" for requests made before refund types.
    refund_kind: Mapped[str] = mapped_column(String(20), default="", server_default="")
    refund_requested_at: Mapped[datetime | None]
    #: Set by `flask sweep-orders` when the merchant left the request unanswered too long.
    refund_escalated_at: Mapped[datetime | None]
    #: The buyer's parcel back to the merchant (退货退款).
    return_carrier: Mapped[str] = mapped_column(String(40), default="", server_default="")
    return_tracking: Mapped[str] = mapped_column(String(40), default="", server_default="")
    #: Bumped by every transition; guarded updates compare it.
    version: Mapped[int] = mapped_column(default=1)

    buyer: Mapped[User] = relationship(foreign_keys=[buyer_id])
    sharer: Mapped[User | None] = relationship(foreign_keys=[sharer_id])
    leader: Mapped[User | None] = relationship(foreign_keys=[leader_id])
    merchant: Mapped[Merchant] = relationship()
    click: Mapped[Click | None] = relationship()
    link: Mapped[ShareLink | None] = relationship()
    items: Mapped[list["OrderItem"]] = relationship(
        back_populates="order", order_by="OrderItem.id", cascade="all, delete-orphan"
    )
    events: Mapped[list["OrderEvent"]] = relationship(
        back_populates="order", order_by="OrderEvent.id", cascade="all, delete-orphan"
    )


class OrderItem(db.Model):
    __tablename__ = "order_items"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("unit_price_cents >= 0", name="price_not_negative"),
        CheckConstraint("rebate_cents >= 0", name="rebate_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    title: Mapped[str] = mapped_column(String(120))
    #: The SKU bought and its spec text when ordered ("颜色：红；尺码：M"; "" without specs).
    sku_id: Mapped[int | None] = mapped_column(
        ForeignKey("skus.id", ondelete="SET NULL"), index=True
    )
    spec_text: Mapped[str] = mapped_column(String(80), default="", server_default="")
    unit_price_cents: Mapped[int]
    quantity: Mapped[int]
    #: The merchant's rate when the order was placed, in basis points.
    rebate_bps: Mapped[int]
    #: What the item earns its sharer if the order earns at all (catalog.rebate_cents of
    #: the line's amount after its share of the order's coupon discount).
    rebate_cents: Mapped[int]
    #: The item's share of the order's coupon discount (shop.orders.coupons.spread).
    discount_cents: Mapped[int] = mapped_column(default=0, server_default="0")

    order: Mapped[Order] = relationship(back_populates="items")
    product: Mapped[Product] = relationship()

    @property
    def line_cents(self) -> int:
        return self.unit_price_cents * self.quantity


class OrderEvent(db.Model):
    """One transition of an order: who, when, from, to."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    #: None for the system (timeouts, automatic completion, payment callbacks).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: buyer, merchant, admin, payment, system, withdrawal (a buyer withdrawing a refund request)
    source: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    order: Mapped[Order] = relationship(back_populates="events")
    actor: Mapped[User | None] = relationship()


class PaymentEvent(db.Model):
    """A payment notification accepted from a provider; the unique key makes a replay a no-op."""

    __tablename__ = "payment_events"
    __table_args__ = (UniqueConstraint("provider", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    event_id: Mapped[str] = mapped_column(String(64))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  #: "paid"
    amount_cents: Mapped[int]
    outcome: Mapped[str] = mapped_column(String(40))  #: what applying it did
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class GatewayPayment(db.Model):
    """An order the buyer started paying through a real gateway: what the sweep asks the
    gateway about (a callback that never came) and closes there when the order is cancelled."""

    __tablename__ = "gateway_payments"

    order_id: Mapped[int] = mapped_column(
        ForeignKey("orders.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str] = mapped_column(String(10))  #: jsapi, h5, native, wap, page
    #: WeChat Pay partner mode: the sub-merchant the payment was created under (its
    #: merchant's number then). Every later call about the order names this one, so a number
    #: an admin changes afterwards does not send old orders' refunds to the new account.
    sub_mchid: Mapped[str] = mapped_column(String(32), default="", server_default="")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Set once nothing more can happen at the gateway: paid here, or closed there.
    settled_at: Mapped[datetime | None] = mapped_column(index=True)

    order: Mapped[Order] = relationship()


class GatewayRefund(db.Model):
    """Money going back through the gateway it came from. The refund number is made from the
    order number and the kind, so asking twice (here or at the gateway) is one refund."""

    __tablename__ = "gateway_refunds"
    __table_args__ = (
        CheckConstraint("amount_cents > 0", name="refund_positive"),
        Index("ix_gateway_refunds_due", "state", "next_try_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    refund_number: Mapped[str] = mapped_column(String(40), unique=True)
    #: refund: the order's refund was approved; late_payment: paid after it was cancelled.
    kind: Mapped[str] = mapped_column(String(20))
    amount_cents: Mapped[int]
    reason: Mapped[str] = mapped_column(String(200), default="")
    #: pending (not yet accepted, or accepted and not yet done), done, failed (retrying).
    state: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str] = mapped_column(String(80), default="")
    next_try_at: Mapped[datetime] = mapped_column(default=utcnow)
    gateway_refund_id: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    done_at: Mapped[datetime | None]

    order: Mapped[Order] = relationship()


class ReconciliationItem(db.Model):
    """A difference between a gateway's daily bill and what we recorded. Unique per provider,
    day, subject and reference, so running the reconciliation again adds nothing."""

    __tablename__ = "reconciliation_items"
    __table_args__ = (UniqueConstraint("provider", "day", "subject", "reference", "kind"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(20))
    day: Mapped[date]
    #: missing_ours (in their bill, not recorded here), missing_theirs, amount_mismatch,
    #: wrong_account (partner mode: through another sub-merchant than the order's merchant's)
    kind: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(10))  #: payment or refund
    reference: Mapped[str] = mapped_column(String(64))  #: trade id or refund number
    order_number: Mapped[str] = mapped_column(String(24))
    ours_cents: Mapped[int | None]
    theirs_cents: Mapped[int | None]
    #: WeChat Pay partner mode: the sub-merchant number (特约商户号) the bill says the money
    #: went through, for a ``wrong_account`` difference (another than the order's merchant's).
    account: Mapped[str] = mapped_column(String(32), default="", server_default="")
    found_at: Mapped[datetime] = mapped_column(default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    resolution: Mapped[str] = mapped_column(String(200), default="")

    resolved_by: Mapped[User | None] = relationship()


class Coupon(db.Model):
    """A merchant's coupon (funded by the merchant): ``off_cents`` off an order of at least
    ``threshold_cents`` of its scope's goods (0: no threshold, 满减 otherwise); the scope is
    one product (``product_id``) or the merchant's whole shop (None). ``remaining`` is taken
    down by one guarded UPDATE per claim, so it never goes below zero."""

    __tablename__ = "coupons"
    __table_args__ = (
        CheckConstraint("off_cents > 0", name="off_positive"),
        CheckConstraint("threshold_cents >= 0", name="threshold_not_negative"),
        CheckConstraint("remaining >= 0 AND remaining <= total_count", name="remaining_range"),
        CheckConstraint("per_buyer >= 1", name="per_buyer_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id"), index=True)
    off_cents: Mapped[int]
    threshold_cents: Mapped[int] = mapped_column(default=0, server_default="0")
    total_count: Mapped[int]
    remaining: Mapped[int]
    per_buyer: Mapped[int] = mapped_column(default=1, server_default="1")
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    is_active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    merchant: Mapped[Merchant] = relationship()
    product: Mapped[Product | None] = relationship()


class CouponClaim(db.Model):
    """One coupon a buyer holds. ``seq`` (1..per_buyer) is unique per buyer and coupon, so
    claims at the same moment can never pass the per-buyer limit. ``order_id`` is set by one
    guarded UPDATE when an order uses it (once), and cleared when that order is cancelled
    unpaid."""

    __tablename__ = "coupon_claims"
    __table_args__ = (UniqueConstraint("coupon_id", "buyer_id", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    seq: Mapped[int]
    #: The share link it was claimed through (or applied by), if any.
    link_id: Mapped[int | None] = mapped_column(ForeignKey("share_links.id", ondelete="SET NULL"))
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
    order_id: Mapped[int | None] = mapped_column(
        ForeignKey("orders.id", ondelete="SET NULL"), index=True
    )
    used_at: Mapped[datetime | None]

    coupon: Mapped[Coupon] = relationship()


class CouponAttachment(db.Model):
    """A sharer's coupon on one of their shop items or share links (one coupon each).
    ``product_id`` is the item's product: the landing page cache drops its pages by it."""

    __tablename__ = "coupon_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupons.id", ondelete="CASCADE"))
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"), index=True)
    shop_item_id: Mapped[int | None] = mapped_column(
        ForeignKey("shop_items.id", ondelete="CASCADE"), unique=True
    )
    link_id: Mapped[int | None] = mapped_column(
        ForeignKey("share_links.id", ondelete="CASCADE"), unique=True
    )

    coupon: Mapped[Coupon] = relationship()
