"""Sharer teams (微分销, the honest version): an invite code per sharer, a member bound to the
sharer who invited them, once and for good, and the admins' switch that stops a sharer's
overrides. Two tiers by construction: a member has one leader (the primary key), overrides
are ledger entries of tier 2 (a CHECK allows tiers 1 and 2 only), and the code that posts
them looks one step up from the order's sharer, never further."""

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.platform.base import utcnow
from shop.platform.extensions import db


class TeamLeader(db.Model):
    """A sharer's invite code and whether an admin stopped their overrides. Made when the
    sharer first opens their team page."""

    __tablename__ = "team_leaders"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    #: 8 characters from the share-code alphabet, random: /join/<code>.
    invite_code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    overrides_disabled: Mapped[bool] = mapped_column(default=False, server_default=false())
    disabled_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")

    user: Mapped[User] = relationship()


class TeamMember(db.Model):
    """A member bound to the leader who invited them. The member is the primary key: one
    leader per member, ever. Rows are only inserted, when a new account signs up through an
    invite (never for an existing account)."""

    __tablename__ = "team_members"
    __table_args__ = (CheckConstraint("member_id <> leader_id", name="not_own_leader"),)

    member_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    leader_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)

    member: Mapped[User] = relationship(foreign_keys=[member_id])
    leader: Mapped[User] = relationship(foreign_keys=[leader_id])
