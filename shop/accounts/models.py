from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.platform.base import utcnow
from shop.platform.extensions import db


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("phone IS NOT NULL OR email IS NOT NULL", name="has_contact"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Mainland mobile number, 11 digits, no country code.
    phone: Mapped[str | None] = mapped_column(String(11), unique=True)
    #: Stored lower-cased so uniqueness ignores case.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(40))
    #: None for an account made by an SMS code that never set a password: it cannot sign in
    #: by password (``accounts.authenticate``) until one is set on the account page.
    password_hash: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    #: The user's chosen interface language; None means "follow the browser".
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    sessions: Mapped[list["UserSession"]] = relationship(back_populates="user")

    #: The token of the session this object was loaded through (set by the loader, not stored).
    session_token = None
    #: The id of that session's row (set by the loader), so the account page marks "this device".
    session_id = None
    #: The values of the columns the loader was asked to read with the user (``also``).
    loaded_also: tuple = ()

    @property
    def has_password(self) -> bool:
        return self.password_hash is not None

    def get_id(self) -> str | None:
        # Flask-Login keeps this in the cookie: the session token, never the user id, so a
        # session can be ended on the server and a copied cookie stops working.
        return self.session_token

    @property
    def account_label(self) -> str:
        return self.phone or self.email or ""

    def __repr__(self) -> str:
        return f"<User {self.id} {self.display_name!r}>"


class UserSession(db.Model):
    """A signed-in session. The cookie holds a random token; only its SHA-256 is stored."""

    __tablename__ = "user_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()
    #: Updated at most once per SESSION_SEEN_MINUTES by a guarded UPDATE (``touch_session``).
    last_seen_at: Mapped[datetime | None] = mapped_column()
    #: The device family read from the User-Agent at sign-in ("iPhone · 微信"), never the raw UA.
    device: Mapped[str | None] = mapped_column(String(60))
    #: HMAC-SHA256 of the address with the app's secret key: the raw IP is never stored.
    address_hash: Mapped[str | None] = mapped_column(String(64))

    user: Mapped[User] = relationship(back_populates="sessions")


class SmsCode(db.Model):
    """A 6-digit code sent by SMS, for one phone and one purpose. Only a keyed hash of the code
    is kept; a row exists only for a message the provider accepted, so the rows are also what
    the send limits count (per phone and per address)."""

    __tablename__ = "sms_codes"
    __table_args__ = (
        CheckConstraint("attempts >= 0", name="attempts_not_negative"),
        Index("ix_sms_codes_phone_purpose_sent", "phone", "purpose", "sent_at"),
        Index("ix_sms_codes_phone_sent", "phone", "sent_at"),
        Index("ix_sms_codes_address_sent", "address_hash", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(11))
    #: "signin", "reset" or "change_phone": a code sent for one is refused for another.
    purpose: Mapped[str] = mapped_column(String(20))
    #: HMAC-SHA256 over purpose, phone and code, keyed with the app's secret key.
    code_hash: Mapped[str] = mapped_column(String(64))
    #: Who asked for it (HMAC of the address), for the per-address send limit.
    address_hash: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    #: Wrong codes typed against this code; at SMS_CODE_MAX_ATTEMPTS it is dead.
    attempts: Mapped[int] = mapped_column(default=0)
    used_at: Mapped[datetime | None] = mapped_column()
