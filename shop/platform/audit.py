"""The audit trail of decisions. ``record`` is called by the service that makes a decision,
inside the same transaction."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from shop.platform.extensions import db
from shop.platform.models import AuditEntry

if TYPE_CHECKING:
    from shop.accounts.models import User


def record(
    *,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: int,
    before: dict,
    after: dict,
    reason: str | None,
    now: datetime,
) -> AuditEntry:
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        before=before,
        after=after,
        reason=reason,
        created_at=now,
    )
    db.session.add(entry)
    return entry
