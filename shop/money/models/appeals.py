"""Appeals: a sharer asks why an order did not earn them a rebate (shop.money.appeals).

Every question is kept, answered or not sent on: the rows are what the rate limits count
(per sharer per hour and per day), so the answers cannot be used to probe order numbers in
bulk. A question the sharer sends on to the admins becomes ``submitted``; an admin upholds
it (a ledger ADJUSTMENT entry, unique per appeal) or rejects it, with a reason the sharer
reads.
"""

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from shop.accounts.models import User
from shop.orders.models import Order
from shop.platform.base import enum_column, utcnow
from shop.platform.extensions import db
from shop.sharing.models import Click


class AppealStatus(enum.StrEnum):
    ANSWERED = "answered"  #: the system answered; the sharer did not send it on
    SUBMITTED = "submitted"  #: sent to the admins with a note
    UPHELD = "upheld"  #: an admin agreed: an adjustment was posted
    REJECTED = "rejected"  #: an admin kept the order's attribution


class Appeal(db.Model):
    __tablename__ = "appeals"
    __table_args__ = (
        CheckConstraint("adjustment_cents >= 0", name="adjustment_not_negative"),
        Index("ix_appeals_sharer_created", "sharer_id", "created_at"),
        Index("ix_appeals_status_submitted", "status", "submitted_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sharer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    #: The order the question is about, when the sharer may know of it (None: "not found").
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True)
    #: The click the sharer picked in their link audit, if they started from one.
    click_id: Mapped[int | None] = mapped_column(ForeignKey("clicks.id", ondelete="SET NULL"))
    #: What the sharer typed (kept for the admins; an order number or "").
    typed_number: Mapped[str] = mapped_column(String(32), default="")
    #: Key of shop.money.appeals.ANSWERS: the rule applied, in words built when shown.
    answer: Mapped[str] = mapped_column(String(24))
    status: Mapped[AppealStatus] = enum_column(AppealStatus, default=AppealStatus.ANSWERED)
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None]
    decision_reason: Mapped[str] = mapped_column(String(200), default="")
    #: Posted as one ADJUSTMENT ledger entry when upheld (0 otherwise).
    adjustment_cents: Mapped[int] = mapped_column(default=0)

    sharer: Mapped[User] = relationship(foreign_keys=[sharer_id])
    order: Mapped[Order | None] = relationship()
    click: Mapped[Click | None] = relationship()
