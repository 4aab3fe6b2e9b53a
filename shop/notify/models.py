"""The inbox, the places a user's notices are sent (webhooks, WeCom bots), each delivery and
its attempts, and a user's preferences per kind."""

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shop.platform.base import utcnow
from shop.platform.extensions import db


class Notification(db.Model):
    """One message in a user's inbox. Its text is made from ``kind`` and ``data`` when it is
    shown, in the reader's language."""

    __tablename__ = "notifications"
    __table_args__ = (
        # The unread badge: one count on this index per signed-in page.
        Index("ix_notifications_unread", "user_id", "read_at"),
        Index("ix_notifications_user_id", "user_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]
    #: The outbox row it came from: a row delivered twice makes one message.
    outbox_id: Mapped[int | None] = mapped_column(unique=True)


class Channel:
    WEBHOOK = "webhook"
    WECOM = "wecom"
    #: A text message to the user's own phone, for the buyer's "shipped" notice only (opt-in).
    SMS = "sms"


class Endpoint(db.Model):
    """A webhook URL (HTTPS, signed) or a WeCom group bot key a user has set up."""

    __tablename__ = "notify_endpoints"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(10))
    #: The webhook's URL, or the WeCom bot's key.
    target: Mapped[str] = mapped_column(String(500))
    #: The webhook's signing secret (shown to its owner once, when made); "" for WeCom.
    secret: Mapped[str] = mapped_column(String(80), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Delivery(db.Model):
    """One notice to one endpoint, tried until it is answered 2xx (WeCom: errcode 0) or its
    retry time runs out."""

    __tablename__ = "notify_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "outbox_id"),
        Index("ix_notify_deliveries_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    endpoint_id: Mapped[int] = mapped_column(
        ForeignKey("notify_endpoints.id", ondelete="CASCADE"), index=True
    )
    #: None for a "send a test" delivery.
    outbox_id: Mapped[int | None]
    kind: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    #: "pending", "delivered" or "failed" (gave up).
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Due at this time; a worker that claims it pushes it one lease ahead while it tries.
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: No try after this (created_at + NOTIFY_RETRY_HOURS).
    expires_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class Attempt(db.Model):
    """One try of a delivery: the answer's status code (None: no answer) and how long it took."""

    __tablename__ = "notify_attempts"
    __table_args__ = (Index("ix_notify_attempts_endpoint", "endpoint_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("notify_deliveries.id", ondelete="CASCADE"), index=True
    )
    endpoint_id: Mapped[int] = mapped_column(ForeignKey("notify_endpoints.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None]
    duration_ms: Mapped[int] = mapped_column(default=0)
    ok: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str] = mapped_column(Text, default="")


class Preference(db.Model):
    """Where one kind of notice goes for one user; no row means everywhere."""

    __tablename__ = "notify_preferences"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    inbox: Mapped[bool] = mapped_column(default=True)
    webhook: Mapped[bool] = mapped_column(default=True)
    wecom: Mapped[bool] = mapped_column(default=True)
