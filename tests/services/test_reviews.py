"""Verified reviews: who may write one and when, follow-ups, merchant replies, reports, and
what readers see (summaries, filters, pages), with explicit times."""

import hashlib
import itertools
from datetime import datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from shop.catalog.models import Image
from shop.orders import states
from shop.orders.models import OrderStatus
from shop.platform.errors import NotFound, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.reviews import reading, writing
from shop.reviews.models import (
    Disclosure,
    Review,
    ReviewKind,
    ReviewPhoto,
    ReviewReply,
    ReviewReport,
    ReviewStatus,
)
from shop.reviews.rules import REPORT_REASONS, Rules
from tests import invariants
from tests.factories import make_merchant, make_product, make_user, png_bytes
from tests.services.test_orders import pay, place, shared_click

NOW = datetime(2026, 11, 24, 10, 0, 0)
#: When the buyer of ``completed_order`` confirms receipt: the review windows start here.
RECEIVED = NOW + timedelta(days=3)
SOON = RECEIVED + timedelta(hours=1)
_keys = itertools.count(1)


def count(model) -> int:
    return db.session.execute(select(func.count()).select_from(model)).scalar_one()


def new_products(n=1, *, merchant=None, price=9900):
    merchant = merchant or make_merchant()
    return [
        make_product(
            merchant=merchant,
            price_cents=price,
            original_price_cents=None,
            stock=100,
            with_image=False,
        )
        for _ in range(n)
    ]


def placed_order(buyer=None, products=1, *, at=NOW, visitor=None, allow=True):
    """An unpaid order of one unit of each of ``products`` (a list of one merchant's
    products, or how many new ones to make)."""
    if isinstance(products, int):
        products = new_products(products)
    [order] = place(
        buyer or make_user(),
        [(p.id, 1) for p in products],
        key=f"r{next(_keys)}",
        visitor=visitor,
        at=at,
        allow=allow,
    )
    return order


def ship(order, at=NOW + timedelta(days=1)):
    states.ship(order, "顺丰速运", "SF1234567890", actor=order.merchant.user, now=at)


def completed_order(buyer=None, products=1, *, at=NOW, received=None, **place_kwargs):
    """An order placed and paid at ``at``, shipped a day later and received at ``received``
    (three days after ``at`` unless given)."""
    order = placed_order(buyer, products, at=at, **place_kwargs)
    pay(order, at)
    ship(order, at + timedelta(days=1))
    states.confirm_receipt(order, actor=order.buyer, now=received or at + timedelta(days=3))
    return order


def review_of(order, index=0, *, rating=5, body="很好用，物流也快", at=SOON, **kwargs):
    return writing.write_review(
        order.items[index], actor=order.buyer, rating=rating, body=body, now=at, **kwargs
    )


def rules():
    return Rules.current()


def state(order, index=0, *, at):
    item = order.items[index]
    return writing.item_state(
        item, writing.reviews_of_order(order).get(item.id), now=at, rules=rules()
    )


@pytest.fixture(autouse=True)
def _english_and_invariants(request):
    """Messages are read in English (the msgids), so these tests do not depend on the
    Chinese catalogue; after each test the money invariants still hold."""
    if "ctx" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("ctx")  # set up first, so torn down after this check
    with force_locale("en"):
        yield
    db.session.flush()
    invariants.check(db.session)


# --- who may review, and when --------------------------------------------------------------


def test_the_buyer_reviews_an_item_of_a_completed_order(ctx):
    order = completed_order()
    review = review_of(order, rating=4, body="  很好用\r\n\n\n\n下次还买  ")
    assert review.id is not None and review.kind == ReviewKind.INITIAL
    assert (review.order_id, review.order_item_id) == (order.id, order.items[0].id)
    assert (review.product_id, review.merchant_id) == (order.items[0].product_id, order.merchant_id)
    assert (review.author_id, review.rating, review.created_at) == (order.buyer_id, 4, SOON)
    assert review.body == "很好用\n\n下次还买"  # trimmed, at most one blank line kept
    assert review.status == ReviewStatus.PUBLISHED and review.hold_rules == []
    assert not review.is_anonymous and not review.has_photos
    assert review.disclosure == Disclosure.NONE


@pytest.mark.parametrize("who", ["merchant", "admin", "another buyer"])
def test_nobody_but_the_buyer_can_review_and_nothing_is_stored(ctx, who):
    order = completed_order()
    actor = {
        "merchant": order.merchant.user,
        "admin": make_user(is_admin=True),
        "another buyer": completed_order().buyer,
    }[who]
    with pytest.raises(PermissionDenied):
        writing.write_review(order.items[0], actor=actor, rating=5, body="好", now=SOON)
    assert count(Review) == 0


def order_at_stage(stage):
    """An order of a new buyer that reached ``stage`` through the order services."""
    order = placed_order()
    buyer, merchant = order.buyer, order.merchant.user
    if stage == "placed":
        return order
    pay(order)
    if stage == "paid":
        return order
    ship(order)
    if stage == "shipped":
        return order
    if stage == "refund rejected before receipt":
        states.request_refund(order, "太慢", actor=buyer, now=NOW + timedelta(days=2))
        states.decide_refund(
            order, False, actor=merchant, source="merchant", now=NOW + timedelta(days=2)
        )
        return order
    states.confirm_receipt(order, actor=buyer, now=RECEIVED)
    states.request_refund(order, "坏了", actor=buyer, now=RECEIVED + timedelta(hours=1))
    if stage == "refund requested":
        return order
    states.decide_refund(order, True, actor=merchant, source="merchant", now=SOON)
    return order


@pytest.mark.parametrize(
    ("stage", "status"),
    [
        ("placed", OrderStatus.PLACED),
        ("paid", OrderStatus.PAID),
        ("shipped", OrderStatus.SHIPPED),
        ("refund rejected before receipt", OrderStatus.REFUND_REJECTED),
        ("refund requested", OrderStatus.REFUND_REQUESTED),
        ("refunded", OrderStatus.REFUNDED),
    ],
)
def test_an_order_not_received_and_kept_cannot_be_reviewed(ctx, stage, status):
    order = order_at_stage(stage)
    assert order.status == status
    with pytest.raises(ValidationError, match="confirmed receipt"):
        review_of(order, at=SOON + timedelta(hours=1))
    assert count(Review) == 0
    assert state(order, at=SOON).action is None


def test_an_order_whose_refund_was_rejected_after_receipt_can_be_reviewed(ctx):
    order = completed_order(received=RECEIVED)
    states.request_refund(order, "不满意", actor=order.buyer, now=SOON)
    states.decide_refund(order, False, actor=order.merchant.user, source="merchant", now=SOON)
    assert order.status == OrderStatus.REFUND_REJECTED
    assert review_of(order, rating=2, at=SOON + timedelta(hours=1)).rating == 2


def test_an_item_is_reviewed_once(ctx):
    order = completed_order(products=2)
    review_of(order, 0)
    with pytest.raises(ValidationError, match="already reviewed"):
        review_of(order, 0, rating=1, body="改主意了")
    review_of(order, 1)  # the other item of the order is its own review
    assert count(Review) == 2


def test_the_database_itself_refuses_a_second_review_of_an_item(ctx):
    first = review_of(completed_order())
    copy = Review(
        kind=ReviewKind.INITIAL,
        order_item_id=first.order_item_id,
        order_id=first.order_id,
        product_id=first.product_id,
        merchant_id=first.merchant_id,
        author_id=first.author_id,
        rating=1,
        body="again",
        created_at=SOON,
    )
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(copy)
            db.session.flush()
    assert count(Review) == 1


@pytest.mark.parametrize("row", ["followup", "reply", "report"])
def test_the_database_itself_refuses_a_second_followup_reply_or_report(ctx, row):
    order = completed_order()
    review = review_of(order)
    reader = make_user()
    first = {
        "followup": lambda: writing.write_followup(
            review, actor=order.buyer, body="追评", now=SOON
        ),
        "reply": lambda: writing.write_reply(
            review, merchant=order.merchant, actor=order.merchant.user, body="谢谢", now=SOON
        ),
        "report": lambda: writing.report_review(review, reporter=reader, reason="spam", now=SOON),
    }[row]()
    copy = {
        "followup": lambda: Review(
            kind=ReviewKind.FOLLOWUP,
            parent_id=review.id,
            order_item_id=review.order_item_id,
            order_id=review.order_id,
            product_id=review.product_id,
            merchant_id=review.merchant_id,
            author_id=review.author_id,
            body="again",
        ),
        "reply": lambda: ReviewReply(
            review_id=review.id,
            merchant_id=first.merchant_id,
            author_id=first.author_id,
            body="again",
        ),
        "report": lambda: ReviewReport(review_id=review.id, reporter_id=reader.id, reason="spam"),
    }[row]()
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(copy)
            db.session.flush()
    assert count(type(first)) == (2 if row == "followup" else 1)


def test_the_windows_and_limits_come_from_the_settings(app, ctx):
    app.config.update(REVIEW_WINDOW_DAYS=7, REVIEW_MAX_CHARS=10, MAX_REVIEW_PHOTOS=1)
    order = completed_order(products=2, received=RECEIVED)
    end = RECEIVED + timedelta(days=7)
    with pytest.raises(ValidationError, match="7 days"):
        review_of(order, 0, at=end + timedelta(seconds=1))
    with pytest.raises(ValidationError, match="10 characters"):
        review_of(order, 0, body="好" * 11, at=end)
    with pytest.raises(ValidationError, match="1 photos"):
        review_of(order, 0, body="好", photos=colours(2), at=end)
    assert review_of(order, 0, body="好" * 10, photos=colours(1), at=end).has_photos
    assert state(order, 1, at=end).deadline == end


def test_the_review_window_closes_thirty_days_after_receipt(ctx):
    order = completed_order(products=2, received=RECEIVED)
    end = RECEIVED + timedelta(days=30)
    with pytest.raises(ValidationError, match="30 days"):
        review_of(order, 0, at=end + timedelta(seconds=1))
    assert count(Review) == 0
    assert review_of(order, 1, at=end).created_at == end


@pytest.mark.parametrize("rating", [0, 6, -1, None, "5", 4.5])
def test_a_rating_outside_one_to_five_is_refused(ctx, rating):
    with pytest.raises(ValidationError) as caught:
        review_of(completed_order(), rating=rating)
    assert caught.value.field == "rating"
    assert count(Review) == 0


def test_text_up_to_five_hundred_characters(ctx):
    order = completed_order(products=2)
    with pytest.raises(ValidationError) as caught:
        review_of(order, 0, body="好" * 501)
    assert caught.value.field == "body" and count(Review) == 0
    assert review_of(order, 0, body=f"  {'好' * 500}\n").body == "好" * 500
    assert review_of(order, 1, body=None).body == ""  # words are optional with a rating


def test_html_and_script_are_stored_verbatim_for_the_template_to_escape(ctx):
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)> &amp; <b>好</b>'
    review = review_of(completed_order(), body=payload)
    db.session.expire_all()
    assert db.session.get(Review, review.id).body == payload
    assert review.status == ReviewStatus.PUBLISHED


def test_control_characters_are_dropped_and_line_breaks_kept(ctx):
    body = "好\x00用\u202e反\u200b转\t了\r\n第二行"
    assert review_of(completed_order(), body=body).body == "好用反转了\n第二行"


def colours(n):
    return [png_bytes(color=(40 * i, 90, 200 - 20 * i)) for i in range(n)]


def test_up_to_six_photos_are_stored_in_order(ctx):
    photos = colours(6)
    review = review_of(completed_order(), photos=photos)
    db.session.expire_all()
    stored = db.session.get(Review, review.id)
    assert stored.has_photos
    assert [p.position for p in stored.photos] == [0, 1, 2, 3, 4, 5]
    assert [p.image.sha256 for p in stored.photos] == [
        hashlib.sha256(data).hexdigest() for data in photos
    ]
    assert {p.image.uploaded_by_id for p in stored.photos} == {stored.author_id}


def test_a_seventh_photo_is_refused_before_anything_is_stored(ctx):
    order = completed_order()
    images_before = count(Image)
    with pytest.raises(ValidationError) as caught:
        review_of(order, photos=colours(7))
    assert caught.value.field == "photos"
    assert (count(Review), count(ReviewPhoto), count(Image)) == (0, 0, images_before)


def test_an_oversized_photo_is_refused_and_nothing_is_stored(app, ctx):
    order = completed_order()
    big = png_bytes(size=(400, 300))
    app.config["MAX_IMAGE_BYTES"] = len(big) - 1
    images_before = count(Image)
    with pytest.raises(ValidationError) as caught:
        review_of(order, photos=[big])
    assert caught.value.field == "photos"
    assert (count(Review), count(ReviewPhoto), count(Image)) == (0, 0, images_before)
    app.config["MAX_IMAGE_BYTES"] = len(big)
    assert review_of(order, photos=[big]).has_photos  # the limit is inclusive


@pytest.mark.parametrize(
    "bad",
    [b"not an image at all", b"GIF89a" + b"\0" * 40, png_bytes(fmt="GIF")],
    ids=["text", "fake gif", "real gif"],
)
def test_a_photo_that_is_not_a_jpeg_png_or_webp_is_refused(ctx, bad):
    order = completed_order()
    with pytest.raises(ValidationError) as caught:
        review_of(order, photos=[png_bytes(), bad])
    assert caught.value.field == "photos"
    # The good photo's image may be flushed; the view's rollback drops it with the rest.
    assert (count(Review), count(ReviewPhoto)) == (0, 0)


def test_an_anonymous_review_keeps_the_flag_and_its_followup_too(ctx):
    order = completed_order()
    review = review_of(order, anonymous=True)
    followup = writing.write_followup(
        review, actor=order.buyer, body="用了一个月还不错", now=SOON + timedelta(days=30)
    )
    assert review.is_anonymous and followup.is_anonymous
    assert review.author_id == order.buyer_id  # anonymous to readers, not to the database


@pytest.mark.parametrize(
    ("allow", "disclosure"),
    [(True, Disclosure.SHARER_REBATE), (False, Disclosure.SELF_PURCHASE)],
    ids=["self-purchase allowed", "self-purchase not allowed"],
)
def test_a_review_of_a_purchase_through_ones_own_link_is_disclosed(ctx, allow, disclosure):
    product = new_products()[0]
    sharer = shared_click(product, visitor="s" * 32)
    order = completed_order(sharer, [product], visitor="s" * 32, allow=allow)
    assert order.sharer_id == sharer.id
    assert review_of(order).disclosure == disclosure


def test_a_review_of_an_order_attributed_to_someone_else_discloses_nothing(ctx):
    product = new_products()[0]
    sharer = shared_click(product, visitor="v" * 32)
    order = completed_order(make_user(), [product], visitor="v" * 32)
    assert order.sharer_id == sharer.id and order.attribution_reason == "attributed"
    assert review_of(order).disclosure == Disclosure.NONE
    assert review_of(completed_order()).disclosure == Disclosure.NONE  # no click at all


# --- follow-ups ----------------------------------------------------------------------------


def test_one_followup_within_180_days_of_receipt(ctx):
    order = completed_order(products=2, received=RECEIVED)
    first, second = review_of(order, 0), review_of(order, 1)
    end = RECEIVED + timedelta(days=180)
    with pytest.raises(ValidationError, match="180 days"):
        writing.write_followup(
            second, actor=order.buyer, body="还行", now=end + timedelta(seconds=1)
        )
    followup = writing.write_followup(first, actor=order.buyer, body="半年了还好用", now=end)
    assert followup.kind == ReviewKind.FOLLOWUP and followup.parent_id == first.id
    assert followup.rating is None and followup.order_item_id == first.order_item_id
    assert followup.status == ReviewStatus.PUBLISHED
    with pytest.raises(ValidationError, match="already added"):
        writing.write_followup(first, actor=order.buyer, body="再追一次", now=end)
    assert count(Review) == 3


def test_a_followup_needs_words_and_the_buyer(ctx):
    order = completed_order()
    review = review_of(order)
    for body in ("", "   \n ", None):
        with pytest.raises(ValidationError) as caught:
            writing.write_followup(review, actor=order.buyer, body=body, now=SOON)
        assert caught.value.field == "body"
    for actor in (order.merchant.user, make_user(is_admin=True), make_user()):
        with pytest.raises(PermissionDenied):
            writing.write_followup(review, actor=actor, body="追评", now=SOON)
    assert count(Review) == 1


def test_a_followup_is_not_added_to_a_hidden_review_or_to_a_followup(ctx):
    order = completed_order(products=2)
    hidden, other = review_of(order, 0), review_of(order, 1)
    db.session.execute(
        update(Review).where(Review.id == hidden.id).values(status=ReviewStatus.HIDDEN)
    )
    db.session.refresh(hidden)
    with pytest.raises(ValidationError, match="hidden"):
        writing.write_followup(hidden, actor=order.buyer, body="追评", now=SOON)
    followup = writing.write_followup(other, actor=order.buyer, body="追评", now=SOON)
    with pytest.raises(ValidationError):
        writing.write_followup(followup, actor=order.buyer, body="追追评", now=SOON)
    assert count(Review) == 3


def test_item_state_says_what_the_buyer_can_do_and_until_when(ctx):
    order = completed_order(products=2, received=RECEIVED)
    review_end, followup_end = RECEIVED + timedelta(days=30), RECEIVED + timedelta(days=180)
    assert (state(order, at=SOON).action, state(order, at=SOON).deadline) == ("write", review_end)
    late = state(order, at=review_end + timedelta(seconds=1))
    assert (late.action, late.deadline) == (None, review_end)

    review = review_of(order)
    now = state(order, at=SOON)
    assert (now.review, now.action, now.deadline) == (review, "followup", followup_end)
    assert state(order, at=followup_end + timedelta(seconds=1)).action is None

    followup = writing.write_followup(review, actor=order.buyer, body="追评", now=SOON)
    done = state(order, at=SOON)
    assert (done.review, done.followup, done.action, done.deadline) == (
        review,
        followup,
        None,
        None,
    )

    other = review_of(order, 1)
    db.session.execute(
        update(Review).where(Review.id == other.id).values(status=ReviewStatus.HIDDEN)
    )
    db.session.refresh(other)
    assert state(order, 1, at=SOON).action is None

    unfinished = order_at_stage("shipped")
    assert (state(unfinished, at=SOON).action, state(unfinished, at=SOON).deadline) == (None, None)


# --- merchant replies ----------------------------------------------------------------------


def test_the_merchant_replies_once_within_thirty_days_of_the_review(ctx):
    order = completed_order(products=2)
    first, second = review_of(order, 0), review_of(order, 1)
    merchant = order.merchant
    end = SOON + timedelta(days=30)
    with pytest.raises(ValidationError, match="30 days"):
        writing.write_reply(
            second,
            merchant=merchant,
            actor=merchant.user,
            body="谢谢",
            now=end + timedelta(seconds=1),
        )
    reply = writing.write_reply(
        first, merchant=merchant, actor=merchant.user, body="  感谢支持！ ", now=end
    )
    assert (reply.review_id, reply.merchant_id, reply.author_id) == (
        first.id,
        merchant.id,
        merchant.user_id,
    )
    assert reply.body == "感谢支持！" and first.reply is reply
    with pytest.raises(ValidationError, match="already replied"):
        writing.write_reply(first, merchant=merchant, actor=merchant.user, body="再次感谢", now=end)
    with pytest.raises(ValidationError) as caught:
        writing.write_reply(second, merchant=merchant, actor=merchant.user, body=" ", now=SOON)
    assert caught.value.field == "body"
    assert count(ReviewReply) == 1


def test_only_the_products_merchant_replies(ctx):
    order = completed_order()
    review = review_of(order)
    other = make_merchant()
    for merchant, actor in (
        (other, other.user),  # another merchant
        (order.merchant, other.user),  # another merchant's user claiming this merchant
        (order.merchant, order.buyer),
        (order.merchant, make_user(is_admin=True)),
    ):
        with pytest.raises(PermissionDenied):
            writing.write_reply(review, merchant=merchant, actor=actor, body="回复", now=SOON)
    assert count(ReviewReply) == 0


@pytest.mark.parametrize("status", [ReviewStatus.HELD, ReviewStatus.HIDDEN])
def test_only_a_published_review_gets_a_reply(ctx, status):
    order = completed_order()
    review = review_of(order)
    db.session.execute(update(Review).where(Review.id == review.id).values(status=status))
    db.session.refresh(review)
    with pytest.raises(ValidationError, match="published"):
        writing.write_reply(
            review, merchant=order.merchant, actor=order.merchant.user, body="回复", now=SOON
        )
    assert count(ReviewReply) == 0


# --- reports -------------------------------------------------------------------------------


def test_a_report_opens_the_review_for_moderation_once_per_reader(ctx):
    review = review_of(completed_order())
    reader, other = make_user(), make_user()
    report = writing.report_review(review, reporter=reader, reason="spam", now=SOON)
    assert (report.review_id, report.reporter_id, report.reason) == (review.id, reader.id, "spam")
    assert report.created_at == SOON and report.resolved_at is None
    assert review.open_reports == 1
    with pytest.raises(ValidationError, match="already reported"):
        writing.report_review(review, reporter=reader, reason="abuse", now=SOON)
    writing.report_review(
        review, reporter=other, reason="other", details="  内容  与商品\n无关 ", now=SOON
    )
    assert review.open_reports == 2
    reasons = db.session.execute(
        select(ReviewReport.reason, ReviewReport.details).order_by(ReviewReport.id)
    ).all()
    assert [tuple(r) for r in reasons] == [("spam", ""), ("other", "内容 与商品 无关")]


@pytest.mark.parametrize(
    ("reason", "details", "field"),
    [
        (None, "", "reason"),
        ("", "", "reason"),
        ("nonsense", "", "reason"),
        ("SPAM", "", "reason"),
        ("other", "", "details"),
        ("other", "   ", "details"),
        ("other", "长" * 151, "details"),
    ],
)
def test_a_report_needs_a_listed_reason_and_words_for_other(ctx, reason, details, field):
    review = review_of(completed_order())
    with pytest.raises(ValidationError) as caught:
        writing.report_review(
            review, reporter=make_user(), reason=reason, details=details, now=SOON
        )
    assert caught.value.field == field
    assert count(ReviewReport) == 0
    db.session.refresh(review)
    assert review.open_reports == 0


def test_every_listed_reason_is_accepted(ctx):
    review = review_of(completed_order())
    for reason in REPORT_REASONS:
        writing.report_review(review, reporter=make_user(), reason=reason, details="说明", now=SOON)
    assert review.open_reports == len(REPORT_REASONS)


def test_the_author_cannot_report_their_own_review(ctx):
    order = completed_order()
    review = review_of(order)
    with pytest.raises(ValidationError, match="own review"):
        writing.report_review(review, reporter=order.buyer, reason="spam", now=SOON)
    assert count(ReviewReport) == 0


@pytest.mark.parametrize("status", [ReviewStatus.HELD, ReviewStatus.HIDDEN])
def test_only_a_published_review_can_be_reported(ctx, status):
    review = review_of(completed_order())
    db.session.execute(update(Review).where(Review.id == review.id).values(status=status))
    db.session.refresh(review)
    with pytest.raises(NotFound):
        writing.report_review(review, reporter=make_user(), reason="spam", now=SOON)
    assert count(ReviewReport) == 0


def published_reviews(n):
    """``n`` published reviews of one buyer, three minutes apart (slower than a burst)."""
    order = completed_order(products=n)
    written = [review_of(order, i, at=SOON + timedelta(minutes=3 * i)) for i in range(n)]
    assert {r.status for r in written} == {ReviewStatus.PUBLISHED}
    return written


def test_a_report_flood_is_rate_limited_for_an_hour(ctx):
    targets = published_reviews(12)
    reader = make_user()
    start = SOON + timedelta(hours=1)
    for i, review in enumerate(targets[:10]):
        writing.report_review(
            review, reporter=reader, reason="spam", now=start + timedelta(minutes=i)
        )
    with pytest.raises(ValidationError, match="many reports"):
        writing.report_review(
            targets[10], reporter=reader, reason="spam", now=start + timedelta(minutes=59)
        )
    assert count(ReviewReport) == 10
    db.session.refresh(targets[10])
    assert targets[10].open_reports == 0
    # Another reader is not limited by this one.
    writing.report_review(targets[10], reporter=make_user(), reason="spam", now=start)
    # One hour after the first report, one more fits in the hour.
    writing.report_review(
        targets[11], reporter=reader, reason="spam", now=start + timedelta(hours=1)
    )
    assert count(ReviewReport) == 12


# --- what readers see ----------------------------------------------------------------------


def reviews_of_product(product, ratings, *, at=SOON, **kwargs):
    """One review per rating, each by a new buyer, a minute apart (the last is newest)."""
    return [
        review_of(
            completed_order(products=[product]),
            rating=rating,
            at=at + timedelta(minutes=i),
            **kwargs,
        )
        for i, rating in enumerate(ratings)
    ]


@pytest.mark.parametrize(
    ("ratings", "tenths", "shown"),
    [
        ([5, 4, 4], 43, "4.3"),  # 4.333
        ([5, 4], 45, "4.5"),
        ([5, 4, 4, 4], 43, "4.3"),  # 4.25 rounds half up (round() would give 4.2)
        ([5, 5, 5, 4], 48, "4.8"),  # 4.75
        ([1], 10, "1.0"),
        ([5, 5], 50, "5.0"),
    ],
)
def test_the_average_is_in_tenths_rounded_half_up(ctx, ratings, tenths, shown):
    product = new_products()[0]
    reviews_of_product(product, ratings)
    summary = reading.summary(product.id)
    assert (summary.count, summary.average_tenths, summary.average) == (len(ratings), tenths, shown)


def test_the_summary_has_a_histogram_and_percentages_of_published_ratings(ctx):
    product = new_products()[0]
    reviews_of_product(product, [5, 4, 4])
    held = review_of(completed_order(products=[product]), rating=1, body="加微信 13812345678")
    hidden = review_of(completed_order(products=[product]), rating=1)
    db.session.execute(
        update(Review).where(Review.id == hidden.id).values(status=ReviewStatus.HIDDEN)
    )
    first = reading.product_reviews(product.id).reviews[-1]
    writing.write_followup(first, actor=first.author, body="追评", now=SOON + timedelta(days=1))
    assert held.status == ReviewStatus.HELD
    summary = reading.summary(product.id)
    assert summary.count == 3 and summary.average_tenths == 43
    assert summary.histogram == [(5, 1), (4, 2), (3, 0), (2, 0), (1, 0)]
    assert [summary.percent(s) for s in (5, 4, 3, 2, 1)] == [33, 67, 0, 0, 0]

    empty = reading.summary(new_products()[0].id)
    assert (empty.count, empty.average, empty.percent(5)) == (0, "0.0", 0)
    assert empty.histogram == [(5, 0), (4, 0), (3, 0), (2, 0), (1, 0)]


def test_summaries_of_many_products_in_one_call(ctx):
    a, b, none = new_products(3)
    reviews_of_product(a, [5, 4])
    reviews_of_product(b, [2])
    result = reading.summaries([a.id, b.id, none.id])
    assert set(result) == {a.id, b.id}
    assert (result[a.id].average_tenths, result[b.id].average_tenths) == (45, 20)
    assert reading.summaries([]) == {}


def test_held_and_hidden_reviews_are_not_shown_to_readers(ctx):
    product = new_products()[0]
    [shown] = reviews_of_product(product, [5])
    held = review_of(completed_order(products=[product]), body="去 abc.com 看看")
    hidden = review_of(completed_order(products=[product]))
    db.session.execute(
        update(Review).where(Review.id == hidden.id).values(status=ReviewStatus.HIDDEN)
    )
    assert held.status == ReviewStatus.HELD and held.hold_rules == ["link"]
    page = reading.product_reviews(product.id)
    assert [r.id for r in page.reviews] == [shown.id] and page.total == 1
    assert reading.summary(product.id).count == 1
    assert reading.filter_counts(product.id)["all"] == 1
    assert [r.id for r in reading.quotable(product)] == [shown.id]
    db.session.expire_all()
    assert reading.shown_quote(db.session.get(Review, hidden.id)) is None
    assert reading.shown_quote(shown) is shown and reading.shown_quote(None) is None


def test_filters_photos_followups_and_low_ratings(ctx):
    product = new_products()[0]
    _, low1, low2, _, with_followup, with_held_followup = reviews_of_product(
        product, [5, 1, 2, 3, 5, 4]
    )
    buyer_of_photo = completed_order(products=[product])
    photo_review = review_of(
        buyer_of_photo, rating=4, photos=[png_bytes()], at=SOON + timedelta(hours=2)
    )
    later = SOON + timedelta(days=2)
    writing.write_followup(with_followup, actor=with_followup.author, body="追评", now=later)
    held = writing.write_followup(
        with_held_followup, actor=with_held_followup.author, body="加我 www.x.cn", now=later
    )
    assert held.status == ReviewStatus.HELD

    def ids(filter):
        return {r.id for r in reading.product_reviews(product.id, filter=filter).reviews}

    assert ids("photos") == {photo_review.id}
    assert ids("followups") == {with_followup.id}
    assert ids("low") == {low1.id, low2.id}
    assert len(ids("all")) == 7
    assert reading.filter_counts(product.id) == {"all": 7, "photos": 1, "followups": 1, "low": 2}
    assert reading.parse_filter("low") == "low" and reading.parse_filter("<script>") == "all"


def test_pages_of_ten_newest_first_and_a_page_past_the_end_is_the_last(ctx):
    product = new_products()[0]
    written = reviews_of_product(product, [5, 4, 3, 2, 1, 5, 4, 3, 2, 1, 5, 4])
    newest_first = [r.id for r in reversed(written)]
    first = reading.product_reviews(product.id)
    assert (first.total, first.page, first.pages) == (12, 1, 2)
    assert [r.id for r in first.reviews] == newest_first[:10]
    for page in (2, 3, 10**6):
        last = reading.product_reviews(product.id, page=page)
        assert last.page == 2 and [r.id for r in last.reviews] == newest_first[10:]
    assert reading.product_reviews(product.id, page=0).page == 1
    empty = reading.product_reviews(new_products()[0].id, page=3)
    assert (empty.reviews, empty.total, empty.page, empty.pages) == ([], 0, 1, 1)


def test_the_author_sees_all_their_reviews_with_the_reason_a_review_was_hidden(ctx):
    order = completed_order(products=2)
    kept, hidden = review_of(order, 0), review_of(order, 1, at=SOON + timedelta(minutes=1))
    db.session.execute(
        update(Review)
        .where(Review.id == hidden.id)
        .values(status=ReviewStatus.HIDDEN, hidden_reason="含有广告")
    )
    writing.write_followup(kept, actor=order.buyer, body="追评", now=SOON + timedelta(days=1))
    db.session.expire_all()
    mine = reading.reviews_by_author(order.buyer)
    assert [r.id for r in mine] == [hidden.id, kept.id]  # initial reviews only, newest first
    assert (mine[0].status, mine[0].hidden_reason) == (ReviewStatus.HIDDEN, "含有广告")
    assert reading.reviews_by_author(make_user()) == []


def test_the_merchant_sees_published_reviews_and_followups_and_which_are_unreplied(ctx):
    order = completed_order(products=2)
    merchant = order.merchant
    first, second = review_of(order, 0), review_of(order, 1, at=SOON + timedelta(minutes=1))
    followup = writing.write_followup(
        first, actor=order.buyer, body="追评", now=SOON + timedelta(days=1)
    )
    review_of(completed_order(), rating=1)  # another merchant's
    writing.write_reply(second, merchant=merchant, actor=merchant.user, body="谢谢", now=SOON)
    page = reading.merchant_reviews(merchant)
    assert [r.id for r in page.reviews] == [followup.id, second.id, first.id]
    assert [r.id for r in reading.merchant_reviews(merchant, unreplied=True).reviews] == [
        followup.id,
        first.id,
    ]


def test_emoji_joined_by_zero_width_joiners_stay_whole(ctx):
    assert review_of(completed_order(), body="一家人都喜欢👨‍👩‍👧").body == "一家人都喜欢👨‍👩‍👧"


def test_a_followup_leaves_the_merchants_list_when_its_review_is_hidden(ctx):
    from shop.reviews import moderation

    order = completed_order()
    review = review_of(order)
    followup = writing.write_followup(review, actor=order.buyer, body="追评", now=SOON)
    merchant = order.merchant
    assert {r.id for r in reading.merchant_reviews(merchant).reviews} == {review.id, followup.id}
    moderation.decide(review, "hide", actor=make_user(is_admin=True), reason="无关", now=SOON)
    assert reading.merchant_reviews(merchant).reviews == []
