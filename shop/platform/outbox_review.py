"""Outbox rows that need a person (/admin/outbox): those given up after ``MAX_ATTEMPTS``
failures, and those failing and waiting for their next try. An admin may make one due again
("retry"), audited; asking twice changes it once.

A row is **given up** when the worker stopped trying it: done, with its last error, after
``MAX_ATTEMPTS`` tries. It is **retrying** while it is not done and its last try failed. A row
that goes through after failures is done with its error cleared, so it is never taken for a
given-up one.
"""

from datetime import datetime

from sqlalchemy import and_, func, select, update

from shop.platform import audit
from shop.platform.extensions import db
from shop.platform.outbox import MAX_ATTEMPTS, OutboxRow

GIVEN_UP = and_(
    OutboxRow.done_at.is_not(None), OutboxRow.last_error != "", OutboxRow.attempts >= MAX_ATTEMPTS
)
RETRYING = and_(OutboxRow.done_at.is_(None), OutboxRow.last_error != "")
#: What the page lists at most (oldest first within each state).
LIMIT = 200


def state_of(row: OutboxRow) -> str:
    """given_up, retrying, due (waiting for the worker), or done."""
    if row.done_at is None:
        return "retrying" if row.last_error else "due"
    return "given_up" if row.last_error and row.attempts >= MAX_ATTEMPTS else "done"


def given_up_count() -> int:
    return db.session.scalar(select(func.count(OutboxRow.id)).where(GIVEN_UP)) or 0


def troubled(*, limit: int = LIMIT) -> tuple[list[OutboxRow], list[OutboxRow]]:
    """(given up, retrying) rows, each by topic, then oldest first."""
    order = (OutboxRow.topic, OutboxRow.id)
    given_up = db.session.execute(
        select(OutboxRow).where(GIVEN_UP).order_by(*order).limit(limit)
    ).scalars()
    retrying = db.session.execute(
        select(OutboxRow).where(RETRYING).order_by(*order).limit(limit)
    ).scalars()
    return list(given_up), list(retrying)


def retry(row_id: int, *, actor, now: datetime) -> str | None:
    """Make the row due now. A given-up row starts afresh (its attempts and error cleared, so
    it gets every try again, and is purged like any done row once it goes through); a retrying
    one keeps its count and error and is only brought forward. Returns ``"retried"`` when this
    call changed it (audited as ``outbox.retry``), else its state (``due``: already due,
    ``done``), or None when there is no such row. The caller commits."""
    row = db.session.get(OutboxRow, row_id)
    if row is None:
        return None
    before = {
        "state": state_of(row),
        "attempts": row.attempts,
        "last_error": row.last_error,
        "topic": row.topic,
        "kind": row.kind,
    }
    # Guarded: the worker (or another admin) may have taken or changed the row meanwhile.
    changed = (
        db.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, GIVEN_UP)
            .values(done_at=None, available_at=now, attempts=0, last_error="")
            .execution_options(synchronize_session=False)
        ).rowcount
        or db.session.execute(
            update(OutboxRow)
            .where(OutboxRow.id == row_id, RETRYING, OutboxRow.available_at > now)
            .values(available_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
    db.session.expire(row)
    if not changed:  # already due (or being done by the worker now), or done
        return "due" if row.done_at is None else state_of(row)
    audit.record(
        actor=actor,
        action="outbox.retry",
        object_type="outbox",
        object_id=row_id,
        before=before,
        after={"state": "due"},
        reason=None,
        now=now,
    )
    return "retried"
