"""The platform's one table: the audit log every domain writes to (``shop.platform.audit``)."""

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.platform.base import utcnow
from shop.platform.extensions import db

if TYPE_CHECKING:  # the platform imports no domain; the mapper resolves "User" by name
    from shop.accounts.models import User


class AuditEntry(db.Model):
    """One decision by a person with power over others (an admin, or the system acting for
    them): who, what, on which object, why, and the object's state before and after.

    Written in the same transaction as the decision, so a decision without its row (or a row
    without its decision) cannot exist. Never updated or deleted.
    """

    __tablename__ = "audit_entries"
    __table_args__ = (Index("ix_audit_entries_object", "object_type", "object_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: None when the system acted on its own (a scheduled job).
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: A verb, e.g. "merchant.approve".
    action: Mapped[str] = mapped_column(String(40))
    object_type: Mapped[str] = mapped_column(String(30))
    object_id: Mapped[int] = mapped_column()
    reason: Mapped[str | None] = mapped_column(Text)
    before: Mapped[dict] = mapped_column(JSON, default=dict)
    after: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)

    actor: Mapped["User | None"] = relationship("User")
