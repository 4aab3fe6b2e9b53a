from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import CheckConstraint, ForeignKey, String
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
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    #: The user's chosen interface language; None means "follow the browser".
    locale: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    password_changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    sessions: Mapped[list["UserSession"]] = relationship(back_populates="user")

    #: The token of the session this object was loaded through (set by the loader, not stored).
    session_token = None

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

    user: Mapped[User] = relationship(back_populates="sessions")
