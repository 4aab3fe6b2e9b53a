"""Review moderation: the admins' queue, their decisions (each audited in the same
transaction) and the list of blocked words.

Admins decide whether a review is shown; they never change what it says. Nothing here
touches a review's text, rating or photos, and hidden reviews are kept.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.orm import selectinload

from shop.accounts.models import User
from shop.catalog.catalog import page_count
from shop.platform import audit
from shop.platform.errors import Conflict, InvalidTransition, ValidationError
from shop.platform.extensions import db
from shop.reviews import notices
from shop.reviews.models import BlockedWord, Review, ReviewPhoto, ReviewReport, ReviewStatus
from shop.reviews.reading import forget_preview
from shop.reviews.rules import PER_PAGE
from shop.reviews.writing import insert_once, normalize

S = ReviewStatus
#: (status, action) -> new status. Approving a published review closes its reports.
TRANSITIONS = {
    (S.HELD, "approve"): S.PUBLISHED,
    (S.PUBLISHED, "approve"): S.PUBLISHED,
    (S.HELD, "hide"): S.HIDDEN,
    (S.PUBLISHED, "hide"): S.HIDDEN,
    (S.HIDDEN, "restore"): S.PUBLISHED,
}
ACTION_LABELS = {
    "approve": _l("Approve"),
    "hide": _l("Hide"),
    "restore": _l("Restore"),
}
MAX_REASON = 200


def can(review: Review, action: str) -> bool:
    if (review.status, action) not in TRANSITIONS:
        return False
    # Approving a published review only makes sense while someone has reported it.
    return not (review.status == S.PUBLISHED and action == "approve" and not review.open_reports)


def decide(
    review: Review, action: str, *, actor: User, reason: str | None, now: datetime
) -> Review:
    """Apply an admin's ``action`` ("approve", "hide" or "restore") to ``review``.

    Hiding needs a reason (shown to the author). Open reports are closed by any decision.
    Raises InvalidTransition for an action the state table does not allow, ValidationError
    for a missing or long reason, Conflict when another admin decided first.
    """
    reason = " ".join((reason or "").split())
    if not can(review, action):
        raise InvalidTransition(_l("This review has already been decided. Please look again."))
    if action == "hide" and not reason:
        raise ValidationError(_l("Say why it is hidden; the author will see it."), "reason")
    if len(reason) > MAX_REASON:
        raise ValidationError(_l("At most %(n)d characters.", n=MAX_REASON), "reason")
    before = {
        "status": str(review.status),
        "open_reports": review.open_reports,
        "hidden_reason": review.hidden_reason,
    }
    to = TRANSITIONS[(review.status, action)]
    values = {
        "status": to,
        "version": Review.version + 1,
        "open_reports": 0,
        "decided_at": now,
        "hidden_reason": reason if to == S.HIDDEN else "",
    }
    result = db.session.execute(
        update(Review)
        .where(
            Review.id == review.id,
            Review.status == review.status,
            Review.version == review.version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(review)
        raise Conflict(_l("Another administrator decided this review first. Please look again."))
    db.session.execute(
        update(ReviewReport)
        .where(ReviewReport.review_id == review.id, ReviewReport.resolved_at.is_(None))
        .values(resolved_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(review)
    forget_preview(review.product_id)
    if before["status"] == S.HELD and review.status == S.PUBLISHED:
        notices.review_shown(review, now=now)
    audit.record(
        actor=actor,
        action=f"review.{action}",
        object_type="review",
        object_id=review.id,
        before=before,
        after={
            "status": str(review.status),
            "open_reports": 0,
            "hidden_reason": review.hidden_reason,
        },
        reason=reason or None,
        now=now,
    )
    return review


# --- the queue -----------------------------------------------------------------------------

#: The work queues first; "published" lets an admin find and hide any shown review.
TABS = ("held", "reported", "hidden", "published")


def _tab_condition(tab: str):
    if tab == "held":
        return Review.status == S.HELD
    if tab == "reported":
        return (Review.status == S.PUBLISHED) & (Review.open_reports > 0)
    if tab == "published":
        return Review.status == S.PUBLISHED
    return Review.status == S.HIDDEN


@dataclass(frozen=True)
class QueuePage:
    reviews: list[Review]
    reports: dict[int, list[ReviewReport]]
    total: int
    page: int
    pages: int


@cache
def queue_counts_query():
    """One row: how many reviews are in each of TABS (the admin home reads it with its other
    counts in one query)."""
    return select(
        *(func.count().filter(_tab_condition(tab)).label(f"reviews_{tab}") for tab in TABS)
    ).select_from(Review)


def queue_counts() -> dict[str, int]:
    row = db.session.execute(queue_counts_query()).one()
    return dict(zip(TABS, row, strict=True))


def queue(tab: str, *, page: int = 1) -> QueuePage:
    """Reviews in ``tab`` (one of TABS), oldest first for the work queues and newest first for
    the hidden and published ones; with their open reports."""
    condition = _tab_condition(tab)
    total = db.session.execute(
        select(func.count()).select_from(Review).where(condition)
    ).scalar_one()
    pages = page_count(total, PER_PAGE)
    page = min(max(1, page), pages)
    if tab == "hidden":
        order = (Review.decided_at.desc(), Review.id.desc())
    elif tab == "published":
        order = (Review.created_at.desc(), Review.id.desc())
    else:
        order = (Review.created_at, Review.id)
    rows = list(
        db.session.execute(
            select(Review)
            .where(condition)
            .order_by(*order)
            .limit(PER_PAGE)
            .offset((page - 1) * PER_PAGE)
            .options(
                selectinload(Review.author),
                selectinload(Review.product),
                selectinload(Review.photos).selectinload(ReviewPhoto.image),
                selectinload(Review.parent),
            )
        ).scalars()
    )
    reports: dict[int, list[ReviewReport]] = {}
    if rows:
        for report in db.session.execute(
            select(ReviewReport)
            .where(
                ReviewReport.review_id.in_([r.id for r in rows]),
                ReviewReport.resolved_at.is_(None),
            )
            .order_by(ReviewReport.id)
            .options(selectinload(ReviewReport.reporter))
        ).scalars():
            reports.setdefault(report.review_id, []).append(report)
    return QueuePage(rows, reports, total, page, pages)


# --- blocked words -------------------------------------------------------------------------


def blocked_words() -> list[BlockedWord]:
    return list(db.session.execute(select(BlockedWord).order_by(BlockedWord.word)).scalars())


def add_blocked_word(word: str | None, *, actor: User, now: datetime) -> BlockedWord:
    """Add a word that holds new reviews containing it (already published ones are not
    touched). Raises ValidationError for an empty, long or repeated word."""
    word = normalize(" ".join((word or "").split()))
    if not word:
        raise ValidationError(_l("Enter a word or phrase."), "word")
    if len(word) > 40:
        raise ValidationError(_l("At most %(n)d characters.", n=40), "word")
    row = BlockedWord(word=word, added_by_id=actor.id, created_at=now)
    insert_once(row, _l("That word is on the list already."), "word")
    audit.record(
        actor=actor,
        action="blocked_word.add",
        object_type="blocked_word",
        object_id=row.id,
        before={},
        after={"word": word},
        reason=None,
        now=now,
    )
    return row


def remove_blocked_word(row: BlockedWord, *, actor: User, now: datetime) -> None:
    audit.record(
        actor=actor,
        action="blocked_word.remove",
        object_type="blocked_word",
        object_id=row.id,
        before={"word": row.word},
        after={},
        reason=None,
        now=now,
    )
    db.session.delete(row)
    db.session.flush()
