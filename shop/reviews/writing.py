"""Writing verified reviews: only the buyer of a completed order writes one per item (and one
follow-up), within windows; merchants reply once; readers report. The moderation rules that
hold a review as it is written are here too; the admins' decisions live in
``shop.reviews.moderation``, reading reviews in ``shop.reviews.reading``, the settings and
labels in ``shop.reviews.rules``, the merchant credit score in ``shop.reviews.credit``.

There is no function here that takes an author: the author of a review is always the buyer of
the order, and every writing function checks that the actor is that buyer.
"""

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from shop.accounts import accounts
from shop.accounts.models import User
from shop.catalog import images
from shop.catalog.models import Merchant
from shop.orders.models import Order, OrderItem
from shop.platform.errors import NotFound, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.reviews import notices
from shop.reviews.models import (
    BlockedWord,
    Disclosure,
    Review,
    ReviewKind,
    ReviewPhoto,
    ReviewReply,
    ReviewReport,
    ReviewStatus,
)
from shop.reviews.reading import forget_preview
from shop.reviews.rules import REPORT_REASONS, REVIEWABLE, Rules
from shop.sharing.attribution import Reason

# --- what a buyer may do ---------------------------------------------------------------------


@dataclass(frozen=True)
class ItemReviewState:
    """What the buyer of ``item`` can do now: ``action`` is "write", "followup" or None."""

    review: Review | None
    followup: Review | None
    action: str | None
    deadline: datetime | None


def _window_end(order: Order, days: int) -> datetime | None:
    return order.completed_at + timedelta(days=days) if order.completed_at else None


def item_state(
    item: OrderItem, review: Review | None, *, now: datetime, rules: Rules
) -> ItemReviewState:
    order = item.order
    followup = review.followup if review else None
    if order.status not in REVIEWABLE or order.completed_at is None:
        return ItemReviewState(review, followup, None, None)
    if review is None:
        end = _window_end(order, rules.review_days)
        return ItemReviewState(None, None, "write" if now <= end else None, end)
    if followup is None and review.status != ReviewStatus.HIDDEN:
        end = _window_end(order, rules.followup_days)
        return ItemReviewState(review, None, "followup" if now <= end else None, end)
    return ItemReviewState(review, followup, None, None)


def reviews_of_order(order: Order) -> dict[int, Review]:
    """The initial reviews of ``order``'s items, by order item id (follow-ups loaded)."""
    rows = db.session.execute(
        select(Review)
        .where(Review.order_id == order.id, Review.kind == ReviewKind.INITIAL)
        .options(selectinload(Review.followup), selectinload(Review.photos))
    ).scalars()
    return {review.order_item_id: review for review in rows}


def _check_author(order: Order, actor: User) -> None:
    if order.buyer_id != actor.id:
        # Nobody (a merchant, an admin) writes a review for someone else.
        raise PermissionDenied(_l("Only the buyer of this order can review it."))


def _check_reviewable(order: Order) -> None:
    if order.status not in REVIEWABLE or order.completed_at is None:
        raise ValidationError(
            _l("You can review an order once you have received it and confirmed receipt.")
        )


def _clean_body(text: str | None, rules: Rules, *, required: bool) -> str:
    # Line breaks are kept (shown as written); control and invisible format characters are
    # dropped (bidirectional overrides make text read backwards, zero-width spaces would hide
    # a blocked word), except the zero-width joiner that holds emoji such as 👨‍👩‍👧 together.
    body = "".join(
        ch for ch in (text or "") if ch in "\n\u200d" or unicodedata.category(ch)[0] != "C"
    )
    body = re.sub(r"\n{3,}", "\n\n", body.replace("\r", "")).strip()
    if required and not body:
        raise ValidationError(_l("Write a few words about it."), "body")
    if len(body) > rules.max_chars:
        raise ValidationError(
            _l("At most %(n)d characters (you wrote %(m)d).", n=rules.max_chars, m=len(body)),
            "body",
        )
    return body


# --- moderation rules ----------------------------------------------------------------------

_LINK_RE = re.compile(
    r"https?:|www\.|[a-z0-9-]+\.(?:com|cn|net|org|top|xyz|cc|io|me|vip|shop|info|co|link|site)\b",
    re.IGNORECASE,
)
_PHONE_RE = re.compile(r"(?<!\d)(?:\+?86)?1[3-9]\d{9}(?!\d)")
_PHONE_SEPARATORS = re.compile(r"(?<=\d)[\s\-.·]+(?=\d)")


def normalize(text: str) -> str:
    """Full-width letters and digits folded (NFKC), lower-cased, zero-width joiners removed:
    what the rules look at."""
    return unicodedata.normalize("NFKC", text).lower().replace("\u200d", "")


def hold_rules(body: str, *, author: User, now: datetime, rules: Rules) -> list[str]:
    """The moderation rules ``body`` by ``author`` trips; empty means publish at once."""
    text = normalize(body)
    tripped = []
    # "taobao。com" reads as a link too (NFKC leaves the ideographic full stop alone).
    if _LINK_RE.search(text.replace("。", ".")):
        tripped.append("link")
    if _PHONE_RE.search(_PHONE_SEPARATORS.sub("", text)):
        tripped.append("phone")
    words = db.session.execute(select(BlockedWord.word)).scalars()
    if any(word and word in text for word in words):
        tripped.append("blocked_word")
    accounts.lock_account(author.id)  # the burst count below
    since = now - timedelta(minutes=rules.burst_minutes)
    recent = db.session.execute(
        select(func.count())
        .select_from(Review)
        .where(Review.author_id == author.id, Review.created_at > since)
    ).scalar_one()
    if recent >= rules.burst_count:
        tripped.append("burst")
    return tripped


# --- writing -------------------------------------------------------------------------------


def _disclosure(order: Order) -> Disclosure:
    if order.sharer_id != order.buyer_id:
        return Disclosure.NONE
    if order.attribution_reason == Reason.SELF_PURCHASE:
        return Disclosure.SHARER_REBATE
    if order.attribution_reason == Reason.SELF_PURCHASE_NOT_ALLOWED:
        return Disclosure.SELF_PURCHASE
    return Disclosure.NONE


def _store_photos(photos: list[bytes], review: Review, author: User, rules: Rules) -> None:
    if len(photos) > rules.max_photos:
        raise ValidationError(_l("At most %(n)d photos.", n=rules.max_photos), "photos")
    images.lock_uploads(photos)
    for position, data in enumerate(photos):
        image = images.store_image(data, field="photos", uploaded_by_id=author.id)
        review.photos.append(ReviewPhoto(image_id=image.id, position=position))
    review.has_photos = bool(photos)


def insert_once(row, duplicate_message, field: str | None = None):
    """Insert ``row`` in a savepoint; a unique-key clash (the same thing sent twice at once,
    past the check before it) becomes ``ValidationError(duplicate_message, field)`` and
    leaves the rest of the transaction intact."""
    try:
        with db.session.begin_nested():
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        raise ValidationError(duplicate_message, field) from None
    return row


def write_review(
    item: OrderItem,
    *,
    actor: User,
    rating: int | None,
    body: str | None,
    anonymous: bool = False,
    photos: list[bytes] = (),
    now: datetime,
    rules: Rules | None = None,
) -> Review:
    """The buyer's review of ``item``. Raises PermissionDenied for anyone but the buyer,
    ValidationError for an order not yet completed (or refunded), a closed window, a second
    review, a rating outside 1-5, text too long or a photo that breaks the upload rules."""
    rules = rules or Rules.current()
    order = item.order
    _check_author(order, actor)
    _check_reviewable(order)
    if now > _window_end(order, rules.review_days):
        raise ValidationError(
            _l("Reviews can be written up to %(n)d days after receipt.", n=rules.review_days)
        )
    already = _l("You have already reviewed this item.")
    if db.session.execute(
        select(Review.id).where(Review.order_item_id == item.id, Review.kind == ReviewKind.INITIAL)
    ).first():
        raise ValidationError(already)
    if rating not in (1, 2, 3, 4, 5):
        raise ValidationError(_l("Choose from 1 to 5 stars."), "rating")
    text = _clean_body(body, rules, required=False)
    tripped = hold_rules(text, author=actor, now=now, rules=rules)
    review = Review(
        kind=ReviewKind.INITIAL,
        order_item_id=item.id,
        order_id=order.id,
        product_id=item.product_id,
        merchant_id=order.merchant_id,
        author_id=actor.id,
        rating=rating,
        body=text,
        is_anonymous=bool(anonymous),
        disclosure=_disclosure(order),
        status=ReviewStatus.HELD if tripped else ReviewStatus.PUBLISHED,
        hold_rules=tripped,
        created_at=now,
    )
    _store_photos(list(photos), review, actor, rules)
    insert_once(review, already)
    forget_preview(review.product_id)
    notices.review_shown(review, now=now)
    return review


def write_followup(
    review: Review, *, actor: User, body: str | None, now: datetime, rules: Rules | None = None
) -> Review:
    """The buyer's one follow-up (追评) to their own ``review``, within the follow-up window."""
    rules = rules or Rules.current()
    order = review.order
    _check_author(order, actor)
    if review.kind != ReviewKind.INITIAL:
        raise ValidationError(_l("A follow-up belongs to a review."))
    _check_reviewable(order)
    if review.status == ReviewStatus.HIDDEN:
        raise ValidationError(_l("This review was hidden; it cannot get a follow-up."))
    if now > _window_end(order, rules.followup_days):
        raise ValidationError(
            _l("Follow-ups can be added up to %(n)d days after receipt.", n=rules.followup_days)
        )
    already = _l("You have already added a follow-up to this review.")
    if db.session.execute(select(Review.id).where(Review.parent_id == review.id)).first():
        raise ValidationError(already)
    text = _clean_body(body, rules, required=True)
    tripped = hold_rules(text, author=actor, now=now, rules=rules)
    followup = Review(
        kind=ReviewKind.FOLLOWUP,
        parent_id=review.id,
        order_item_id=review.order_item_id,
        order_id=review.order_id,
        product_id=review.product_id,
        merchant_id=review.merchant_id,
        author_id=actor.id,
        rating=None,
        body=text,
        is_anonymous=review.is_anonymous,
        disclosure=review.disclosure,
        status=ReviewStatus.HELD if tripped else ReviewStatus.PUBLISHED,
        hold_rules=tripped,
        created_at=now,
    )
    insert_once(followup, already)
    # The follow-up was linked by id: let ``review.followup`` load it, not a stale None.
    db.session.expire(review, ["followup"])
    return followup


def reply_deadline(review: Review, rules: Rules) -> datetime:
    return review.created_at + timedelta(days=rules.reply_days)


def write_reply(
    review: Review,
    *,
    merchant: Merchant,
    actor: User,
    body: str | None,
    now: datetime,
    rules: Rules | None = None,
) -> ReviewReply:
    """The merchant's one public reply to a published review of its product."""
    rules = rules or Rules.current()
    if review.merchant_id != merchant.id or merchant.user_id != actor.id:
        raise PermissionDenied(_l("Only the merchant of this product can reply."))
    if review.status != ReviewStatus.PUBLISHED:
        raise ValidationError(_l("Only a published review can get a reply."))
    if now > reply_deadline(review, rules):
        raise ValidationError(
            _l("Replies can be written up to %(n)d days after the review.", n=rules.reply_days)
        )
    text = _clean_body(body, rules, required=True)
    reply = ReviewReply(
        review_id=review.id, merchant_id=merchant.id, author_id=actor.id, body=text, created_at=now
    )
    return insert_once(reply, _l("You have already replied to this review."))


def report_review(
    review: Review,
    *,
    reporter: User,
    reason: str | None,
    details: str | None = "",
    now: datetime,
    rules: Rules | None = None,
) -> ReviewReport:
    """A reader's report; the review goes into the admins' queue. One per reader and review;
    at most ``reports_per_hour`` from one account. Raises ValidationError otherwise."""
    rules = rules or Rules.current()
    if review.status != ReviewStatus.PUBLISHED:
        raise NotFound(_l("This review is not shown any more."))
    if review.author_id == reporter.id:
        raise ValidationError(_l("This is your own review."))
    if reason not in REPORT_REASONS:
        raise ValidationError(_l("Choose a reason."), "reason")
    details = " ".join((details or "").split())
    if reason == "other" and not details:
        raise ValidationError(_l("Say what is wrong with it."), "details")
    if len(details) > 150:
        raise ValidationError(_l("At most %(n)d characters.", n=150), "details")
    if db.session.execute(
        select(ReviewReport.id).where(
            ReviewReport.review_id == review.id, ReviewReport.reporter_id == reporter.id
        )
    ).first():
        raise ValidationError(_l("You have already reported this review. Thank you."))
    accounts.lock_account(reporter.id)  # the hourly count below
    since = now - timedelta(hours=1)
    recent = db.session.execute(
        select(func.count())
        .select_from(ReviewReport)
        .where(ReviewReport.reporter_id == reporter.id, ReviewReport.created_at > since)
    ).scalar_one()
    if recent >= rules.reports_per_hour:
        raise ValidationError(
            _l("You have sent many reports in the last hour. Please try again later.")
        )
    report = ReviewReport(
        review_id=review.id, reporter_id=reporter.id, reason=reason, details=details, created_at=now
    )
    insert_once(report, _l("You have already reported this review. Thank you."))
    db.session.execute(
        update(Review)
        .where(Review.id == review.id)
        .values(open_reports=Review.open_reports + 1)
        .execution_options(synchronize_session=False)
    )
    # The count changed in SQL: let ``review.open_reports`` load it (moderation.can reads it).
    db.session.expire(review, ["open_reports"])
    return report
