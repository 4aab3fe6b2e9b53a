"""What holds a review for moderation, and the admins' decisions: every pair of the state
table, each audited, none touching what the review says."""

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select, text, update

from shop.platform.errors import Conflict, InvalidTransition, ValidationError
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.reviews import moderation, reading, writing
from shop.reviews.models import BlockedWord, Review, ReviewReport, ReviewStatus
from shop.reviews.rules import Rules
from tests.factories import make_user, png_bytes
from tests.services.test_reviews import SOON, completed_order, count, review_of

S = ReviewStatus
DECIDED = SOON + timedelta(days=1)


@pytest.fixture(autouse=True)
def _english(request):
    """Messages are read in English (the msgids), whatever the Chinese catalogue says."""
    if "ctx" in request.fixturenames:
        request.getfixturevalue("ctx")
    with force_locale("en"):
        yield


def hold(body, *, author=None, now=SOON):
    return writing.hold_rules(body, author=author or make_user(), now=now, rules=Rules.current())


# --- rules that hold a review --------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        "详情看 http://evil.example/x",
        "HTTPS://X.CN",
        "加 www.taobao 领券",
        "去 abc.com 买更便宜",
        "店铺 shop-99.cn 有货",
        "ＷＷＷ．ＡＢＣ．ＣＯＭ",  # full-width letters and dot
        "ｈｔｔｐ：／／ｘ",
    ],
)
def test_a_link_holds_the_review(ctx, body):
    assert hold(body) == ["link"]


@pytest.mark.parametrize(
    "body",
    [
        "加我 13812345678",
        "电话138 1234 5678",
        "138-1234-5678 找我",
        "+86 138 1234 5678",
        "+8613812345678",
        "8613812345678",
        "１３８１２３４５６７８",  # full-width digits
        "１３８－１２３４－５６７８",
    ],
)
def test_a_mobile_number_holds_the_review(ctx, body):
    assert hold(body) == ["phone"]


@pytest.mark.parametrize(
    "body",
    [
        "编号 138123456789 不是手机号",  # 12 digits
        "12345678901",  # 11 digits, but no mobile number starts 12
        "原价 ¥138.00，现价 ¥99.90",
        "花了 13800 元，用了 3.5 个月",
        "2026-11-24 收到，5 星好评",
        "质量很好。物流很快。",
        "<b>不错</b> & 值得",
        "",
    ],
)
def test_ordinary_text_is_published_at_once(ctx, body):
    assert hold(body) == []


def test_a_review_with_a_link_is_held_and_queued(ctx):
    order = completed_order()
    review = review_of(order, body="更多优惠见 www.example.com")
    assert (review.status, review.hold_rules) == (S.HELD, ["link"])
    assert moderation.queue_counts() == {"held": 1, "reported": 0, "hidden": 0, "published": 0}
    assert [r.id for r in moderation.queue("held").reviews] == [review.id]
    assert reading.product_reviews(review.product_id).reviews == []


def test_a_blocked_word_holds_the_review_whatever_its_case_or_width(ctx):
    admin = make_user(is_admin=True)
    row = moderation.add_blocked_word("  Spam   Word ", actor=admin, now=SOON)
    moderation.add_blocked_word("刷单", actor=admin, now=SOON)
    assert row.word == "spam word" and row.added_by_id == admin.id
    assert [w.word for w in moderation.blocked_words()] == ["spam word", "刷单"]
    for body in ("this is SPAM WORD", "ｓｐａｍ ｗｏｒｄ", "专业刷单"):
        assert hold(body) == ["blocked_word"]
    assert hold("spam, word") == []
    entry = (
        db.session.execute(
            select(AuditEntry)
            .where(AuditEntry.action == "blocked_word.add")
            .order_by(AuditEntry.id)
        )
        .scalars()
        .first()
    )
    assert (entry.object_id, entry.after, entry.actor_id) == (
        row.id,
        {"word": "spam word"},
        admin.id,
    )

    moderation.remove_blocked_word(row, actor=admin, now=SOON)
    assert hold("this is SPAM WORD") == []
    assert count(AuditEntry) == 3


@pytest.mark.parametrize("word", ["", "   ", None, "x" * 41, "刷单", "ＳＰＡＭ"])
def test_a_blocked_word_is_not_empty_long_or_repeated(ctx, word):
    admin = make_user(is_admin=True)
    moderation.add_blocked_word("刷单", actor=admin, now=SOON)
    moderation.add_blocked_word("spam", actor=admin, now=SOON)
    with pytest.raises(ValidationError) as caught:
        moderation.add_blocked_word(word, actor=admin, now=SOON)
    assert caught.value.field == "word"
    assert count(BlockedWord) == 2 and count(AuditEntry) == 2


def test_several_rules_are_reported_together(ctx):
    moderation.add_blocked_word("微信", actor=make_user(is_admin=True), now=SOON)
    assert hold("加微信 13812345678 或 www.x.cn") == ["link", "phone", "blocked_word"]


@pytest.mark.parametrize(
    ("sixth_after", "status"),
    [
        (timedelta(minutes=9, seconds=59), S.HELD),  # six within ten minutes
        (timedelta(minutes=10), S.PUBLISHED),  # the first has left the window
    ],
)
def test_a_burst_of_reviews_from_one_account_is_held(ctx, sixth_after, status):
    order = completed_order(products=6)
    first = [review_of(order, i, at=SOON + timedelta(minutes=i)) for i in range(5)]
    assert {r.status for r in first} == {S.PUBLISHED}
    sixth = review_of(order, 5, at=SOON + sixth_after)
    assert sixth.status == status
    assert sixth.hold_rules == (["burst"] if status == S.HELD else [])
    # Another buyer writing at the same moment is not held.
    assert review_of(completed_order(), at=SOON + sixth_after).status == S.PUBLISHED


def test_a_held_followup_is_not_shown_but_the_review_is(ctx):
    order = completed_order()
    review = review_of(order)
    followup = writing.write_followup(
        review, actor=order.buyer, body="联系 138 1234 5678", now=DECIDED
    )
    assert (followup.status, followup.hold_rules) == (S.HELD, ["phone"])
    assert [r.id for r in reading.product_reviews(review.product_id).reviews] == [review.id]
    assert reading.filter_counts(review.product_id)["followups"] == 0


# --- decisions -----------------------------------------------------------------------------


def review_in(status, *, reports=0):
    """A review of a new order in ``status``, with ``reports`` open reports (made while it
    was published)."""
    review = review_of(completed_order())
    for _ in range(reports):
        writing.report_review(review, reporter=make_user(), reason="spam", now=SOON)
    if status != S.PUBLISHED:
        # Forced straight to the state, so the only audit rows are the decision's own.
        hidden_reason = "原先的理由" if status == S.HIDDEN else ""
        db.session.execute(
            update(Review)
            .where(Review.id == review.id)
            .values(status=status, hidden_reason=hidden_reason)
        )
    db.session.refresh(review)
    return review


def audit_rows(review):
    return list(
        db.session.execute(
            select(AuditEntry).where(
                AuditEntry.object_type == "review", AuditEntry.object_id == review.id
            )
        ).scalars()
    )


ACTIONS = ("approve", "hide", "restore")
ALLOWED = sorted(moderation.TRANSITIONS)
REFUSED = [
    (status, action)
    for status in S
    for action in (*ACTIONS, "delete", "edit", "")
    if (status, action) not in moderation.TRANSITIONS
]


@pytest.mark.parametrize(("start", "action"), ALLOWED)
def test_every_pair_of_the_table_decides_and_writes_one_audit_row(ctx, start, action):
    review = review_in(start, reports=1 if start == S.PUBLISHED else 0)
    body, rating, version = review.body, review.rating, review.version
    admin = make_user(is_admin=True)
    assert moderation.can(review, action)
    moderation.decide(review, action, actor=admin, reason="  含有 广告 ", now=DECIDED)
    to = moderation.TRANSITIONS[(start, action)]
    assert (review.status, review.version, review.decided_at) == (to, version + 1, DECIDED)
    assert review.hidden_reason == ("含有 广告" if to == S.HIDDEN else "")
    assert (review.body, review.rating, review.open_reports) == (body, rating, 0)
    [entry] = audit_rows(review)
    assert (entry.action, entry.actor_id, entry.reason, entry.created_at) == (
        f"review.{action}",
        admin.id,
        "含有 广告",
        DECIDED,
    )
    assert entry.before["status"] == str(start) and entry.after["status"] == str(to)
    assert entry.after["hidden_reason"] == review.hidden_reason


@pytest.mark.parametrize(("start", "action"), REFUSED)
def test_every_pair_outside_the_table_is_refused_and_writes_nothing(ctx, start, action):
    review = review_in(start, reports=1 if start == S.PUBLISHED else 0)
    before = (review.status, review.version, review.open_reports, review.hidden_reason)
    assert not moderation.can(review, action)
    with pytest.raises(InvalidTransition):
        moderation.decide(
            review, action, actor=make_user(is_admin=True), reason="理由", now=DECIDED
        )
    db.session.refresh(review)
    assert (review.status, review.version, review.open_reports, review.hidden_reason) == before
    assert audit_rows(review) == [] and review.decided_at is None


def test_approving_a_published_review_needs_open_reports(ctx):
    review = review_in(S.PUBLISHED)
    assert not moderation.can(review, "approve")
    with pytest.raises(InvalidTransition):
        moderation.decide(review, "approve", actor=make_user(is_admin=True), reason="", now=DECIDED)
    assert audit_rows(review) == [] and review.version == 1


@pytest.mark.parametrize("reason", ["", "   ", None, "长" * 201])
def test_hiding_needs_a_reason_of_at_most_200_characters(ctx, reason):
    review = review_in(S.HELD)
    with pytest.raises(ValidationError) as caught:
        moderation.decide(
            review, "hide", actor=make_user(is_admin=True), reason=reason, now=DECIDED
        )
    assert caught.value.field == "reason"
    db.session.refresh(review)
    assert (review.status, review.version) == (S.HELD, 1) and audit_rows(review) == []


def test_approving_and_restoring_need_no_reason_and_clear_the_hidden_reason(ctx):
    admin = make_user(is_admin=True)
    held, hidden = review_in(S.HELD), review_in(S.HIDDEN)
    moderation.decide(held, "approve", actor=admin, reason=None, now=DECIDED)
    moderation.decide(hidden, "restore", actor=admin, reason="", now=DECIDED)
    assert (held.status, hidden.status, hidden.hidden_reason) == (S.PUBLISHED, S.PUBLISHED, "")
    assert audit_rows(hidden)[0].reason is None
    assert audit_rows(hidden)[0].before["hidden_reason"] == "原先的理由"


def test_a_decision_closes_the_open_reports_and_a_new_report_opens_it_again(ctx):
    admin = make_user(is_admin=True)
    review = review_in(S.PUBLISHED, reports=2)
    assert review.open_reports == 2
    assert moderation.queue_counts()["reported"] == 1
    queued = moderation.queue("reported")
    assert [r.id for r in queued.reviews] == [review.id] and len(queued.reports[review.id]) == 2

    moderation.decide(review, "hide", actor=admin, reason="广告", now=DECIDED)
    assert review.open_reports == 0
    resolved = db.session.execute(select(ReviewReport.resolved_at)).scalars().all()
    assert resolved == [DECIDED, DECIDED]
    assert audit_rows(review)[0].before["open_reports"] == 2
    assert moderation.queue_counts() == {"held": 0, "reported": 0, "hidden": 1, "published": 0}

    moderation.decide(review, "restore", actor=admin, reason="", now=DECIDED)
    later = DECIDED + timedelta(days=1)
    writing.report_review(review, reporter=make_user(), reason="abuse", now=later)
    assert review.open_reports == 1
    queued = moderation.queue("reported")
    assert [r.reason for r in queued.reports[review.id]] == ["abuse"]  # closed ones not shown
    moderation.decide(review, "approve", actor=admin, reason="", now=later)
    assert review.open_reports == 0 and moderation.queue_counts()["reported"] == 0
    assert [e.action for e in audit_rows(review)] == [
        "review.hide",
        "review.restore",
        "review.approve",
    ]


@pytest.mark.parametrize(
    "meanwhile",
    [
        "status = 'hidden', hidden_reason = '另一位管理员', open_reports = 0",
        "open_reports = 0",  # approved by another admin: same status, new version
    ],
    ids=["hidden meanwhile", "approved meanwhile"],
)
def test_a_stale_copy_raises_conflict_and_writes_nothing(ctx, meanwhile):
    review = review_in(S.PUBLISHED, reports=1)
    # Another admin's decision, committed after this copy was loaded.
    db.session.execute(
        text(f"UPDATE reviews SET {meanwhile}, version = version + 1 WHERE id = :id"),
        {"id": review.id},
    )
    assert review.version == 1  # our copy does not know
    with pytest.raises(Conflict):
        moderation.decide(review, "hide", actor=make_user(is_admin=True), reason="x", now=DECIDED)
    assert review.version == 2  # refreshed, so the admin sees the new state
    assert audit_rows(review) == []
    assert db.session.execute(select(ReviewReport.resolved_at)).scalar_one() is None


def test_decisions_never_change_what_the_review_says(ctx):
    order = completed_order()
    review = review_of(order, rating=2, body="一般般", photos=[png_bytes(), png_bytes(size=(9, 9))])
    writing.report_review(review, reporter=make_user(), reason="fake", now=SOON)
    db.session.refresh(review)
    said = (review.body, review.rating, [p.image_id for p in review.photos], review.has_photos)
    admin = make_user(is_admin=True)
    for action, reason in (("approve", ""), ("hide", "存疑"), ("restore", "")):
        moderation.decide(review, action, actor=admin, reason=reason, now=DECIDED)
        db.session.expire_all()
        review = db.session.get(Review, review.id)
        now_says = (review.body, review.rating, [p.image_id for p in review.photos])
        assert (*now_says, review.has_photos) == said
        assert review.author_id == order.buyer_id


def test_a_hidden_review_is_kept_shown_to_its_author_and_to_no_one_else(ctx):
    order = completed_order()
    review = review_of(order)
    moderation.decide(review, "hide", actor=make_user(is_admin=True), reason="辱骂", now=DECIDED)
    db.session.expire_all()
    kept = db.session.get(Review, review.id)
    assert (kept.status, kept.hidden_reason, kept.body) == (S.HIDDEN, "辱骂", review.body)
    [mine] = reading.reviews_by_author(order.buyer)
    assert (mine.id, mine.hidden_reason) == (review.id, "辱骂")
    assert reading.product_reviews(kept.product_id).total == 0
    assert reading.summary(kept.product_id).count == 0
    assert [r.id for r in moderation.queue("hidden").reviews] == [review.id]


def test_the_hidden_tab_is_newest_decision_first_and_the_work_tabs_oldest_first(ctx):
    admin = make_user(is_admin=True)
    held = [
        review_of(completed_order(), body="www.a.cn", at=SOON + timedelta(minutes=m))
        for m in (5, 1, 3)
    ]
    assert [r.id for r in moderation.queue("held").reviews] == [held[1].id, held[2].id, held[0].id]
    for minutes, review in zip((1, 3, 2), held, strict=True):
        moderation.decide(
            review, "hide", actor=admin, reason="链接", now=DECIDED + timedelta(minutes=minutes)
        )
    assert [r.id for r in moderation.queue("hidden").reviews] == [
        held[1].id,
        held[2].id,
        held[0].id,
    ]
    assert moderation.queue("hidden", page=9).page == 1


def test_an_admin_can_find_and_hide_any_published_review(ctx):
    review = review_of(completed_order(), body="一般般")
    assert [r.id for r in moderation.queue("published").reviews] == [review.id]
    assert moderation.can(review, "hide") and not moderation.can(review, "approve")
    moderation.decide(
        review, "hide", actor=make_user(is_admin=True), reason="与商品无关", now=DECIDED
    )
    assert moderation.queue("published").reviews == []
    assert [r.id for r in moderation.queue("hidden").reviews] == [review.id]


def test_an_ideographic_full_stop_or_a_hidden_space_does_not_slip_past_the_rules(ctx):
    assert hold("去 taobao。com 买更便宜") == ["link"]
    moderation.add_blocked_word("加微信", actor=make_user(is_admin=True), now=SOON)
    # The zero-width space is dropped when the review is cleaned, before the rules look.
    review = review_of(completed_order(), body="加\u200b微信领红包")
    assert (review.status, review.hold_rules, review.body) == (
        S.HELD,
        ["blocked_word"],
        "加微信领红包",
    )
