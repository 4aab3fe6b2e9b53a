"""`flask seed-demo`'s reviews: every rating and every moderation state is there, written by
the real services at past times inside the windows, and seeding again adds nothing."""

from datetime import timedelta

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.catalog import images
from shop.catalog.models import Product
from shop.demo import reviews as demo_reviews
from shop.demo import seed as demo
from shop.platform import db as dbsetup
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.reviews import moderation, reading
from shop.reviews.models import (
    BlockedWord,
    Disclosure,
    Review,
    ReviewKind,
    ReviewReply,
    ReviewReport,
    ReviewStatus,
)
from tests import invariants


def seed(now):
    with dbsetup.writing():
        created = demo.seed_demo(now=now)
        db.session.commit()
    return created


def all_of(model):
    return db.session.execute(select(model).order_by(model.id)).scalars().all()


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def test_demo_has_reviews_in_every_state_within_the_windows(ctx):
    now = utcnow()
    created = seed(now)
    invariants.check(db.session)
    rows = all_of(Review)
    initial = [r for r in rows if r.kind == ReviewKind.INITIAL]
    assert created["reviews"] == len(rows) == len(demo_reviews.REVIEWS) + 1
    published = [r for r in initial if r.status == ReviewStatus.PUBLISHED]
    assert {r.rating for r in published} == {1, 2, 3, 4, 5}
    assert any(r.is_anonymous for r in published)

    # Photos are real uploads: stored images with their files on disk.
    with_photos = [r for r in published if r.has_photos]
    assert 2 <= len(with_photos) <= 3
    for review in with_photos:
        assert review.photos
        for photo in review.photos:
            assert photo.image.width and images.media_file(images.image_url_name(photo.image))

    [followup] = [r for r in rows if r.kind == ReviewKind.FOLLOWUP]
    assert followup.status == ReviewStatus.PUBLISHED and followup.parent.status == "published"

    replies = all_of(ReviewReply)
    assert replies
    for reply in replies:
        # Written by the user of the reviewed product's merchant.
        assert reply.author_id == reply.review.merchant.user_id

    [held] = [r for r in initial if r.status == ReviewStatus.HELD]
    assert set(held.hold_rules) == {"phone", "blocked_word"}
    assert {w.word for w in all_of(BlockedWord)} == set(demo_reviews.BLOCKED_WORDS)

    [hidden] = [r for r in initial if r.status == ReviewStatus.HIDDEN]
    assert hidden.hidden_reason and hidden.decided_at
    admin = db.session.execute(select(User).where(User.is_admin)).scalar_one()
    [audit] = db.session.execute(
        select(AuditEntry).where(AuditEntry.object_type == "review")
    ).scalars()
    assert (audit.object_id, audit.action, audit.actor_id) == (hidden.id, "review.hide", admin.id)
    assert audit.reason == hidden.hidden_reason

    # The hidden review's report was closed by the decision; another waits in the queue.
    reports = all_of(ReviewReport)
    assert {(r.review_id == hidden.id, r.resolved_at is not None) for r in reports} == {
        (True, True),
        (False, False),
    }
    assert moderation.queue_counts() == {"held": 1, "reported": 1, "hidden": 1, "published": 11}

    # 小美's review of her own purchase through her link says so.
    xiaomei = db.session.execute(select(User).where(User.phone == "13800000003")).scalar_one()
    [mine] = [r for r in initial if r.author_id == xiaomei.id]
    assert mine.disclosure != Disclosure.NONE

    # A product page with several reviews in every filter.
    tea = db.session.execute(
        select(Product).where(Product.title.startswith("武夷山正山小种"))
    ).scalar_one()
    assert reading.summary(tea.id).count >= 4
    assert 0 not in reading.filter_counts(tea.id).values()

    # One story in time, inside the windows: review within 30 days of completion, follow-up
    # within 180, reply within 30 days of its review, all before ``now``.
    for review in rows:
        completed = review.order.completed_at
        days = 30 if review.kind == ReviewKind.INITIAL else 180
        assert completed < review.created_at <= min(completed + timedelta(days=days), now)
        assert review.author_id == review.order.buyer_id
    for reply in replies:
        assert reply.review.created_at < reply.created_at <= now
        assert reply.created_at <= reply.review.created_at + timedelta(days=30)
    assert followup.created_at > followup.parent.created_at
    written = {r.id: r.created_at for r in rows}
    for report in reports:
        assert written[report.review_id] < report.created_at <= (report.resolved_at or now)
    assert audit.created_at <= now


def test_seeding_again_creates_no_reviews_and_leaves_decided_ones_alone(ctx):
    now = utcnow()
    seed(now)
    counts = {
        model: count(model)
        for model in (Review, ReviewReply, ReviewReport, BlockedWord, AuditEntry)
    }
    admin = db.session.execute(select(User).where(User.is_admin)).scalar_one()
    [held] = db.session.execute(select(Review).where(Review.status == "held")).scalars()
    with dbsetup.writing():
        moderation.decide(held, "approve", actor=admin, reason="", now=now)
        db.session.commit()
    counts[AuditEntry] += 1

    created = seed(now + timedelta(hours=2))
    assert created["reviews"] == 0
    assert {model: count(model) for model in counts} == counts
    db.session.refresh(held)
    assert held.status == ReviewStatus.PUBLISHED
    invariants.check(db.session)
