"""Tables of the ways to sign in besides the password: the staff second factor (TOTP and its
recovery codes) and WeChat identities bound to accounts. New tables rather than columns on
``users``, so an account's sign-in methods can be added and reset on their own."""

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from shop.platform.base import utcnow
from shop.platform.extensions import db


class SecondFactor(db.Model):
    """A user's TOTP authenticator (RFC 6238, 30 s steps, 6 digits). One per user."""

    __tablename__ = "second_factors"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    #: Base32 TOTP secret. The authenticator app holds the same one.
    secret: Mapped[str] = mapped_column(String(64))
    #: None while enrolment waits for the first code from the app; the factor counts only once set.
    confirmed_at: Mapped[datetime | None] = mapped_column()
    #: The last 30-second step whose code was accepted: that step (and any earlier one) is
    #: never accepted again, so a code seen over a shoulder cannot be replayed.
    last_used_step: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RecoveryCode(db.Model):
    """One of the ten one-time codes given at enrolment; only a SHA-256 of it is stored."""

    __tablename__ = "recovery_codes"
    __table_args__ = (UniqueConstraint("user_id", "code_hash"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WeChatIdentity(db.Model):
    """A WeChat user (an openid of one official account, and the unionid when WeChat gives
    one) bound to an account: signing in through WeChat with it signs that account in."""

    __tablename__ = "wechat_identities"
    __table_args__ = (UniqueConstraint("app_id", "openid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: The official account's AppID the openid belongs to (an openid is per app).
    app_id: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    #: The same person across the apps of one WeChat open platform account; one account each.
    unionid: Mapped[str | None] = mapped_column(String(64), unique=True)
    #: The WeChat nickname at binding time (snsapi_userinfo only), shown to the account owner.
    nickname: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_signin_at: Mapped[datetime | None] = mapped_column()
