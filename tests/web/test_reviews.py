"""Reviews over HTTP: a buyer writing one (with photos) and its follow-up, what readers see
(summary, histogram, filters, pages), reports, the merchant's reply, the admins' queue and
blocked words, the merchant's credit page, and a sharer quoting a review. Every page that
shows text somebody typed is checked to show it as text, never as markup."""

import io
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from shop.catalog.models import Image, Product
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.reviews import moderation
from shop.reviews.models import (
    BlockedWord,
    Review,
    ReviewKind,
    ReviewPhoto,
    ReviewReply,
    ReviewReport,
    ReviewStatus,
)
from shop.sharing import links, shops
from shop.sharing.models import Channel
from tests.factories import (
    make_completed_order,
    make_merchant,
    make_product,
    make_review,
    make_shop,
    make_user,
    png_bytes,
)
from tests.services.test_orders import pay, place

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"


@pytest.fixture
def user_client(user_client):
    """Signed-in clients reading English, so the messages below read as written."""

    def make(user):
        client = user_client(user)
        client.set_cookie("lang", "en")
        return client

    return make


def text_of(response) -> str:
    return response.get_data(as_text=True)


def count(model, *where) -> int:
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def completed(buyer=None, product=None, *, days_ago=1):
    """A completed order ``days_ago`` days ago (inside every review window)."""
    return make_completed_order(buyer, product, at=utcnow() - timedelta(days=days_ago))


def review_url(order_id: int, item_id: int) -> str:
    return f"/orders/{order_id}/items/{item_id}/review"


def setup_order(app, **product_fields):
    """A buyer's completed order of a new product; returns plain values."""
    with app.app_context():
        product = make_product(title="山野红茶", **product_fields)
        order = completed(make_user(display_name="李小姐"), product)
        db.session.commit()
        return {
            "buyer": order.buyer,
            "order_id": order.id,
            "item_id": order.items[0].id,
            "product_id": product.id,
            "merchant_user": product.merchant.user,
        }


def photo(name="a.png", data=None):
    return (io.BytesIO(data if data is not None else png_bytes()), name, "image/png")


def post_review(client, order_id, item_id, **fields):
    data = {"rating": "4", "body": "茶香浓郁，回甘明显。", **fields}
    return client.post(review_url(order_id, item_id), data=data, content_type="multipart/form-data")


def assert_inert(html: str, where: str) -> None:
    """The payload is on the page as text: escaped, never as a tag."""
    assert ESCAPED in html, where
    assert "<script>alert" not in html, where
    assert "<img src=x" not in html and "onerror=alert(2)>" not in html, where


def hide_review(app, review_id: int, reason: str) -> None:
    """An admin hides the review (through the service; the queue has its own tests)."""
    with app.app_context():
        moderation.decide(
            db.session.get(Review, review_id),
            "hide",
            actor=make_user(is_admin=True),
            reason=reason,
            now=utcnow(),
        )
        db.session.commit()


def make_reader(app):
    with app.app_context():
        user = make_user()
        db.session.commit()
        return user


# --- writing -------------------------------------------------------------------------------


def test_buyer_reviews_with_a_photo_and_readers_see_it_with_the_histogram(app, user_client):
    s = setup_order(app)
    client = user_client(s["buyer"])
    order_page = text_of(client.get(f"/orders/{s['order_id']}"))
    assert review_url(s["order_id"], s["item_id"]) in order_page and "Write a review" in order_page
    form = client.get(review_url(s["order_id"], s["item_id"]))
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in text_of(form)

    done = post_review(client, s["order_id"], s["item_id"], photos=[photo()], anonymous="y")
    assert done.status_code == 302
    assert done.headers["Location"] == review_url(s["order_id"], s["item_id"])
    mine = text_of(client.get(done.headers["Location"]))
    assert "Thank you for your review!" in mine and "茶香浓郁" in mine and "published" in mine
    assert "Add follow-up" in mine  # the follow-up form replaces the review form
    assert "Add a follow-up" in text_of(client.get(f"/orders/{s['order_id']}"))
    with app.app_context():
        review = db.session.execute(select(Review)).scalar_one()
        assert (review.rating, review.status, review.is_anonymous) == (4, "published", True)
        assert review.author_id == s["buyer"].id and review.has_photos
        [row] = review.photos
        thumb = f"/media/{row.image.sha256}-t.webp"
        full = f"/media/{row.image.sha256}-d.webp"
    with client.get(thumb) as served:
        assert served.status_code == 200 and served.mimetype == "image/webp"

    reader = app.test_client()
    reader.set_cookie("lang", "en")
    for url in (f"/p/{s['product_id']}", f"/p/{s['product_id']}/reviews"):
        page = text_of(reader.get(url))
        assert "茶香浓郁，回甘明显。" in page, url
        assert "Anonymous buyer" in page and "李小姐" not in page, url
        assert f'src="{thumb}"' in page and f'href="{full}"' in page, url  # tap: full size
        assert 'class="rating-histogram"' in page and "<strong>4.0</strong>" in page, url
        # One review of four stars: the 4★ bar is full, the others empty.
        bars = re.findall(r"<dt>(\d)★</dt>\s*<dd>.*?rating-w(\d+).*?rating-count\">(\d+)<", page)
        assert bars == [
            ("5", "0", "0"), ("4", "100", "1"), ("3", "0", "0"), ("2", "0", "0"), ("1", "0", "0")
        ], url  # fmt: skip
    assert "See the review" in text_of(reader.get(f"/p/{s['product_id']}"))

    again = post_review(client, s["order_id"], s["item_id"], body="再来一次")  # another tab
    assert again.status_code == 422
    assert "You have already reviewed this item." in text_of(again)
    with app.app_context():
        assert count(Review) == 1


@pytest.mark.parametrize(
    ("fields", "message", "field_id"),
    [
        ({"rating": ""}, "Choose from 1 to 5 stars.", "rating"),
        ({"rating": "6"}, "Choose from 1 to 5 stars.", "rating"),
        ({"body": "好" * 501}, "At most 500 characters (you wrote 501).", "body"),
        ({"photos": [("p.png", png_bytes())] * 7}, "At most 6 photos.", "photos"),
        (
            {"photos": [("notes.png", b"just some text, not a picture")]},
            "Only JPEG, PNG or WebP images can be uploaded.",
            "photos",
        ),
    ],
    ids=["no-rating", "rating-6", "501-chars", "7-photos", "not-an-image"],
)
def test_bad_review_input_keeps_the_text_says_why_and_stores_nothing(
    app, user_client, fields, message, field_id
):
    s = setup_order(app)
    with app.app_context():
        images_before = count(Image)
    client = user_client(s["buyer"])
    body = fields.get("body", "写了很多字 <b>不要丢</b>")
    if "photos" in fields:  # fresh file objects for each run of the parameters
        fields = {**fields, "photos": [photo(name, data) for name, data in fields["photos"]]}
    response = post_review(client, s["order_id"], s["item_id"], **{"body": body, **fields})
    page = text_of(response)
    assert response.status_code == 422
    assert message in page
    # The text typed is kept in the textarea (escaped), so nothing has to be retyped.
    typed = body.replace("<", "&lt;").replace(">", "&gt;")
    assert re.search(rf'<textarea[^>]*name="body"[^>]*>\s*{re.escape(typed)}</textarea>', page)
    if field_id == "rating":
        assert 'class="field rating-field has-error"' in page
    if fields.get("photos") and field_id != "photos":
        assert "Please choose the photos again." in page
    with app.app_context():
        assert count(Review) == 0 and count(ReviewPhoto) == 0
        assert count(Image) == images_before


def test_bad_rating_with_photos_asks_for_the_photos_again(app, user_client):
    s = setup_order(app)
    client = user_client(s["buyer"])
    response = post_review(client, s["order_id"], s["item_id"], rating="", photos=[photo()])
    assert response.status_code == 422
    assert "Please choose the photos again." in text_of(response)
    with app.app_context():
        assert count(Review) == 0 and count(ReviewPhoto) == 0


def test_nobody_but_the_buyer_reviews_an_order(app, user_client):
    s = setup_order(app)
    with app.app_context():
        admin = make_user(is_admin=True)
        stranger = make_user()
        own_other = completed(s["buyer"])  # the buyer's other order, to mix ids
        db.session.commit()
        other_item = own_other.items[0].id
    urls = [
        review_url(s["order_id"], s["item_id"]),
        review_url(s["order_id"], s["item_id"] + 999),
    ]
    for user in (stranger, admin, s["merchant_user"]):
        client = user_client(user)
        for url in urls:
            assert client.get(url).status_code == 404, url
            assert post_review(client, s["order_id"], s["item_id"]).status_code == 404
    buyer = user_client(s["buyer"])
    # An item of the buyer's other order named under this order: still not found.
    assert buyer.get(review_url(s["order_id"], other_item)).status_code == 404
    assert post_review(buyer, s["order_id"], other_item).status_code == 404
    with app.app_context():
        assert count(Review) == 0


def test_an_order_not_yet_received_cannot_be_reviewed(app, user_client):
    with app.app_context():
        buyer = make_user()
        [order] = place(buyer, [(make_product().id, 1)], key="unreceived", at=utcnow())
        pay(order, at=utcnow())
        db.session.commit()
        order_id, item_id = order.id, order.items[0].id
    client = user_client(buyer)
    assert "Write a review" not in text_of(client.get(f"/orders/{order_id}"))
    page = text_of(client.get(review_url(order_id, item_id)))
    wait = "You can review this item once you have received it and confirmed receipt."
    assert wait in page and "Publish review" not in page
    refused = post_review(client, order_id, item_id)
    assert refused.status_code == 422
    assert "You can review an order once you have received it and confirmed receipt." in text_of(
        refused
    )
    with app.app_context():
        assert count(Review) == 0


def test_a_closed_window_says_when_it_ended(app, user_client):
    with app.app_context():
        order = completed(days_ago=31)
        db.session.commit()
        buyer, order_id, item_id = order.buyer, order.id, order.items[0].id
    client = user_client(buyer)
    assert "The time to review this item ended on" in text_of(
        client.get(review_url(order_id, item_id))
    )
    refused = post_review(client, order_id, item_id)
    assert "Reviews can be written up to 30 days after receipt." in text_of(refused)
    with app.app_context():
        assert count(Review) == 0


def test_follow_up_once_on_your_own_review(app, user_client):
    s = setup_order(app)
    client = user_client(s["buyer"])
    assert post_review(client, s["order_id"], s["item_id"]).status_code == 302
    with app.app_context():
        review_id = db.session.execute(select(Review.id)).scalar_one()
        stranger = make_user()
        db.session.commit()
    empty = client.post(f"/reviews/{review_id}/followup", data={"body": "  "})
    assert empty.status_code == 422 and "Write a few words about it." in text_of(empty)
    assert (
        user_client(stranger)
        .post(f"/reviews/{review_id}/followup", data={"body": "我也来"})
        .status_code
        == 404
    )
    done = client.post(f"/reviews/{review_id}/followup", data={"body": "喝了一个月，依然好。"})
    assert done.status_code == 302
    mine = text_of(client.get(done.headers["Location"]))
    assert "Follow-up added." in mine and "喝了一个月，依然好。" in mine
    assert "Add follow-up" not in mine
    twice = client.post(f"/reviews/{review_id}/followup", data={"body": "再追一次"})
    assert "You have already added a follow-up to this review." in text_of(twice)
    with app.app_context():
        followup = db.session.execute(
            select(Review).where(Review.kind == ReviewKind.FOLLOWUP)
        ).scalar_one()
        assert followup.parent_id == review_id and followup.body == "喝了一个月，依然好。"
        followup_id = followup.id
    assert client.post(f"/reviews/{followup_id}/followup", data={"body": "x"}).status_code == 404
    # The product page previews reviews; follow-ups and replies are on the reviews page.
    product_page = text_of(client.get(f"/p/{s['product_id']}/reviews"))
    assert "Follow-up after 0 days" in product_page and "喝了一个月，依然好。" in product_page
    assert "My review" in text_of(client.get(f"/orders/{s['order_id']}"))


# --- reading -------------------------------------------------------------------------------


def test_filters_and_pages_keep_each_other(app, client):
    with app.app_context():
        product = make_product(stock=100)
        for n in range(12):
            make_review(product, rating=1 + n % 2, body=f"低分评价{n:02d}")
        photo_review = make_review(product, rating=5, body="有图好评", photos=[png_bytes()])
        db.session.commit()
        product_id = product.id
        from shop.reviews import writing
        from shop.reviews.rules import Rules

        writing.write_followup(
            photo_review,
            actor=photo_review.author,
            body="追评内容",
            now=photo_review.created_at + timedelta(days=1),
            rules=Rules(),
        )
        db.session.commit()
    client.set_cookie("lang", "en")
    base = f"/p/{product_id}/reviews"
    first = text_of(client.get(base))
    for label in ("All (13)", "With photos (1)", "Follow-ups (1)", "Low ratings (12)"):
        assert label in first
    assert "Page 1 of 2" in first
    low = text_of(client.get(f"{base}?filter=low"))
    assert "有图好评" not in low and 'aria-current="page">Low ratings (12)' in low
    next_href = re.search(r'rel="next" href="([^"]+)"', low).group(1).replace("&amp;", "&")
    assert urlsplit(next_href).path == base
    assert parse_qs(urlsplit(next_href).query) == {"page": ["2"], "filter": ["low"]}
    second = text_of(client.get(next_href))
    assert "Page 2 of 2" in second and 'rel="prev"' in second
    prev_href = re.search(r'rel="prev" href="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(prev_href).query) == {"filter": ["low"]}
    shown = set(re.findall(r"低分评价\d\d", low)) | set(re.findall(r"低分评价\d\d", second))
    assert len(shown) == 12  # every review on exactly one of the two pages
    photos = text_of(client.get(f"{base}?filter=photos"))
    assert "有图好评" in photos and "低分评价" not in photos and "Page 1 of" not in photos
    followups = text_of(client.get(f"{base}?filter=followups"))
    assert "追评内容" in followups and "低分评价" not in followups
    for odd in ("?page=99", "?page=-1", "?filter=nonsense", "?filter=low&page=x"):
        assert client.get(base + odd).status_code == 200, odd
    assert client.get("/p/999999/reviews").status_code == 404


# --- reports -------------------------------------------------------------------------------


def test_reports_are_one_per_review_need_a_reason_and_are_rate_limited(app, user_client):
    with app.app_context():
        product = make_product(stock=100)
        targets = [make_review(product, body=f"评价{n}") for n in range(11)]
        reader = make_user()
        db.session.commit()
        ids, product_id = [r.id for r in targets], product.id
    client = user_client(reader)
    form = client.get(f"/reviews/{ids[0]}/report")
    assert form.status_code == 200 and "评价0" in text_of(form)
    no_reason = client.post(f"/reviews/{ids[0]}/report", data={"details": "x"})
    assert "Choose a reason." in text_of(no_reason)
    other = client.post(f"/reviews/{ids[0]}/report", data={"reason": "other", "details": ""})
    assert "Say what is wrong with it." in text_of(other)
    sent = client.post(f"/reviews/{ids[0]}/report", data={"reason": "spam"})
    assert sent.status_code == 302
    assert sent.headers["Location"] == f"/p/{product_id}/reviews"
    assert "Thank you. An administrator will look at it." in text_of(client.get(sent.location))
    client.post(f"/reviews/{ids[0]}/report", data={"reason": "abuse"})
    assert "You have already reported this review. Thank you." in text_of(
        client.get(f"/p/{product_id}/reviews")
    )
    for review_id in ids[1:10]:
        assert (
            client.post(f"/reviews/{review_id}/report", data={"reason": "fake"}).status_code == 302
        )
    flood = client.post(
        f"/reviews/{ids[10]}/report", data={"reason": "fake"}, follow_redirects=True
    )
    assert "You have sent many reports in the last hour. Please try again later." in text_of(flood)
    with app.app_context():
        assert count(ReviewReport) == 10
        assert count(ReviewReport, ReviewReport.review_id == ids[10]) == 0
        assert db.session.get(Review, ids[0]).open_reports == 1
    assert app.test_client().get(f"/reviews/{ids[0]}/report").status_code == 302  # sign in


def test_own_review_cannot_be_reported_and_hidden_ones_are_gone(app, user_client):
    with app.app_context():
        review = make_review()
        author = review.author
        db.session.commit()
        review_id, product_id = review.id, review.product_id
    client = user_client(author)
    page = text_of(client.get(f"/p/{product_id}/reviews"))
    assert f"/reviews/{review_id}/report" not in page  # no Report link on one's own review
    own = client.post(f"/reviews/{review_id}/report", data={"reason": "spam"})
    assert "This is your own review." in text_of(client.get(own.location))
    hide_review(app, review_id, "广告")
    reader = user_client(make_reader(app))
    assert reader.get(f"/reviews/{review_id}/report").status_code == 404
    assert reader.post(f"/reviews/{review_id}/report", data={"reason": "spam"}).status_code == 404
    with app.app_context():
        assert count(ReviewReport) == 0


# --- merchant replies ----------------------------------------------------------------------


def test_merchant_replies_once_and_other_merchants_cannot(app, user_client):
    with app.app_context():
        review = make_review(body="包装很好")
        other = make_merchant()
        db.session.commit()
        review_id, product_id = review.id, review.product_id
        owner, other_user = review.merchant.user, other.user
    client = user_client(owner)
    listed = text_of(client.get("/merchant/reviews"))
    assert "包装很好" in listed and f"/merchant/reviews/{review_id}/reply" in listed
    assert "包装很好" not in text_of(user_client(other_user).get("/merchant/reviews"))
    intruder = user_client(other_user).post(
        f"/merchant/reviews/{review_id}/reply", data={"body": "冒充回复"}
    )
    assert intruder.status_code == 404
    empty = client.post(f"/merchant/reviews/{review_id}/reply", data={"body": " "})
    assert "Write a few words about it." in text_of(client.get(empty.location))
    done = client.post(f"/merchant/reviews/{review_id}/reply", data={"body": "谢谢支持！"})
    assert done.status_code == 302 and done.location.endswith(f"#review-{review_id}")
    assert "Reply published." in text_of(client.get(done.location))
    again = client.post(f"/merchant/reviews/{review_id}/reply", data={"body": "再回一次"})
    assert "You have already replied to this review." in text_of(client.get(again.location))
    assert "谢谢支持！" in text_of(client.get(f"/p/{product_id}/reviews"))
    unreplied = text_of(client.get("/merchant/reviews?show=unreplied"))
    assert "包装很好" not in unreplied
    with app.app_context():
        [reply] = db.session.execute(select(ReviewReply)).scalars().all()
        assert reply.body == "谢谢支持！" and reply.author_id == owner.id


# --- the admins' queue ---------------------------------------------------------------------


def audit_actions(review_id: int) -> list[tuple[str, str | None]]:
    rows = db.session.execute(
        select(AuditEntry.action, AuditEntry.reason)
        .where(AuditEntry.object_type == "review", AuditEntry.object_id == review_id)
        .order_by(AuditEntry.id)
    ).all()
    return [tuple(row) for row in rows]


def decide(client, review_id, action, version, reason="", tab="held"):
    return client.post(
        f"/admin/reviews/{review_id}/decide?tab={tab}",
        data={"action": action, "version": str(version), "reason": reason},
    )


def test_admin_approves_hides_and_restores_each_audited(app, user_client):
    s = setup_order(app)
    with app.app_context():
        admin = make_user(is_admin=True, display_name="管理员")
        db.session.commit()
        admin_id = admin.id
    buyer = user_client(s["buyer"])
    post_review(buyer, s["order_id"], s["item_id"], body="加微信 13812345678 有优惠")
    with app.app_context():
        review = db.session.execute(select(Review)).scalar_one()
        assert review.status == ReviewStatus.HELD and review.hold_rules == ["phone"]
        review_id = review.id
    mine = text_of(buyer.get("/reviews/mine"))
    assert "waiting for moderation" in mine
    assert "Your review is waiting for a moderator" in mine
    assert "13812345678" not in text_of(buyer.get(f"/p/{s['product_id']}"))

    client = user_client(admin)
    held = text_of(client.get("/admin/reviews"))
    assert "Held (1)" in held and "13812345678" in held
    assert "Held: contains a phone number." in held
    assert "No reviews" not in held and "Nothing waiting here." not in held
    assert "Nothing waiting here." in text_of(client.get("/admin/reviews?tab=reported"))

    approved = decide(client, review_id, "approve", 1)
    assert approved.status_code == 302 and approved.location == "/admin/reviews?tab=held"
    assert "Decision saved and written to the audit log." in text_of(client.get(approved.location))
    assert "13812345678" in text_of(buyer.get(f"/p/{s['product_id']}"))

    no_reason = decide(client, review_id, "hide", 2, reason="   ")
    assert "Say why it is hidden; the author will see it." in text_of(
        client.get(no_reason.location)
    )
    stale = decide(client, review_id, "hide", 1, reason="旧页面")
    assert "Another administrator decided this review first." in text_of(client.get(stale.location))
    with app.app_context():
        review = db.session.get(Review, review_id)
        assert (review.status, review.version) == (ReviewStatus.PUBLISHED, 2)
        assert audit_actions(review_id) == [("review.approve", None)]

    assert (
        decide(client, review_id, "hide", 2, reason="含联系方式，违反社区规则").status_code == 302
    )
    hidden_tab = text_of(client.get("/admin/reviews?tab=hidden"))
    assert "Hidden (1)" in hidden_tab and "含联系方式，违反社区规则" in hidden_tab
    assert "13812345678" not in text_of(buyer.get(f"/p/{s['product_id']}"))
    assert "13812345678" not in text_of(buyer.get(f"/p/{s['product_id']}/reviews"))
    for url in ("/reviews/mine", review_url(s["order_id"], s["item_id"])):
        page = text_of(buyer.get(url))
        assert "Hidden by an administrator: 含联系方式，违反社区规则" in page, url
    assert "Add follow-up" not in text_of(buyer.get(review_url(s["order_id"], s["item_id"])))

    assert decide(client, review_id, "approve", 3).status_code == 302  # not allowed from hidden
    assert "already been decided" in text_of(client.get("/admin/reviews?tab=hidden"))
    assert decide(client, review_id, "restore", 3, tab="hidden").status_code == 302
    assert "13812345678" in text_of(buyer.get(f"/p/{s['product_id']}"))
    with app.app_context():
        review = db.session.get(Review, review_id)
        assert (review.status, review.version, review.hidden_reason) == ("published", 4, "")
        assert review.body == "加微信 13812345678 有优惠"  # admins never change the text
        assert audit_actions(review_id) == [
            ("review.approve", None),
            ("review.hide", "含联系方式，违反社区规则"),
            ("review.restore", None),
        ]
        actors = db.session.execute(
            select(AuditEntry.actor_id).where(AuditEntry.object_type == "review")
        ).scalars()
        assert set(actors) == {admin_id}
    assert client.post("/admin/reviews/999999/decide", data={}).status_code == 404
    assert decide(client, review_id, "delete", 4).status_code == 400


def test_reported_reviews_show_their_reports_and_approving_closes_them(app, user_client):
    with app.app_context():
        review = make_review(body="普通评价")
        reader, admin = make_user(display_name="读者"), make_user(is_admin=True)
        db.session.commit()
        review_id = review.id
    user_client(reader).post(
        f"/reviews/{review_id}/report", data={"reason": "other", "details": "像是刷单"}
    )
    client = user_client(admin)
    assert "Reviews reported" in text_of(client.get("/admin/"))
    reported = text_of(client.get("/admin/reviews?tab=reported"))
    assert "Reported (1)" in reported and "读者" in reported
    assert "Something else: 像是刷单" in reported  # the reason's label, not its key
    assert decide(client, review_id, "approve", 1, tab="reported").status_code == 302
    assert "Reported (0)" in text_of(client.get("/admin/reviews?tab=reported"))
    with app.app_context():
        assert db.session.get(Review, review_id).open_reports == 0
        assert db.session.execute(select(ReviewReport.resolved_at)).scalar_one() is not None
        assert audit_actions(review_id) == [("review.approve", None)]


def test_blocked_words_added_and_removed_with_audit(app, user_client):
    s = setup_order(app)
    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
    client = user_client(admin)
    added = client.post("/admin/reviews/words", data={"word": "  Fake GOODS "})
    assert added.status_code == 302
    page = text_of(client.get("/admin/reviews/words"))
    assert "Added. New reviews with it will be held." in page and "fake goods" in page
    twice = client.post("/admin/reviews/words", data={"word": "fake goods"})
    assert "That word is on the list already." in text_of(twice)
    empty = client.post("/admin/reviews/words", data={"word": " "})
    assert "Enter a word or phrase." in text_of(empty)
    post_review(user_client(s["buyer"]), s["order_id"], s["item_id"], body="这是 ＦＡＫＥ goods")
    with app.app_context():
        assert db.session.execute(select(Review.hold_rules)).scalar_one() == ["blocked_word"]
        word_id = db.session.execute(select(BlockedWord.id)).scalar_one()
    assert client.post(f"/admin/reviews/words/{word_id}/delete").status_code == 302
    assert "No blocked words yet." in text_of(client.get("/admin/reviews/words"))
    assert client.post(f"/admin/reviews/words/{word_id}/delete").status_code == 404
    with app.app_context():
        assert count(BlockedWord) == 0
        actions = db.session.execute(
            select(AuditEntry.action).where(AuditEntry.object_type == "blocked_word")
        ).scalars()
        assert list(actions) == ["blocked_word.add", "blocked_word.remove"]


def test_only_admins_reach_the_queue(app, user_client, client):
    with app.app_context():
        review = make_review()
        author, merchant_user = review.author, review.merchant.user
        db.session.commit()
        review_id = review.id
    for user in (author, merchant_user):
        someone = user_client(user)
        for url in ("/admin/reviews", "/admin/reviews?tab=hidden", "/admin/reviews/words"):
            assert someone.get(url).status_code == 403, url
        assert decide(someone, review_id, "hide", 1, reason="x").status_code == 403
        assert someone.post("/admin/reviews/words", data={"word": "x"}).status_code == 403
    assert client.get("/admin/reviews").status_code == 302  # anonymous: sign in first
    with app.app_context():
        assert db.session.get(Review, review_id).status == ReviewStatus.PUBLISHED
        assert count(BlockedWord) == 0 and count(AuditEntry) == 0


# --- merchant credit -----------------------------------------------------------------------


def test_merchant_page_shows_the_credit_and_its_rule(app, client):
    with app.app_context():
        merchant = make_merchant(name="山野茶舍")
        product = make_product(merchant=merchant)
        for rating in (5, 4, 1):
            make_review(product, rating=rating)
        make_review(make_product(merchant=merchant, price_cents=50), rating=5)  # under ¥1
        db.session.commit()
        merchant_id, product_id = merchant.id, product.id
    client.set_cookie("lang", "en")
    page = text_of(client.get(f"/m/{merchant_id}"))
    assert "山野茶舍" in page
    score = re.search(r"Credit score</dt><dd class=\"stat-value\">(-?\d+)<", page).group(1)
    assert score == "1"  # +1 +1 -1; the ¥0.50 order does not count
    assert "66%" in page and "2 positive, 0 neutral, 1 negative." in page
    assert "Orders under ¥1.00 do not count." in page
    assert "within 14 days count once" in page and "at most 3 points a month" in page
    assert "1 small orders" in page
    product_page = text_of(client.get(f"/p/{product_id}"))
    assert f'href="/m/{merchant_id}"' in product_page and "Credit 1 · 66% positive" in product_page
    assert client.get("/m/999999").status_code == 404


# --- sharers -------------------------------------------------------------------------------


def setup_sharer(app, *, quote_body="回购第三次了"):
    with app.app_context():
        product = make_product(title="岩茶")
        quoted = make_review(product, rating=5, body=quote_body)
        make_review(product, rating=4, body="不错")
        other = make_review(rating=5, body="别的商品")
        sharer = make_user(display_name="小王")
        shop = make_shop(user=sharer, slug="xiaowang")
        item = shops.add_item(shop, product, now=utcnow())
        link = links.get_or_create_link(shop, product, Channel.POSTER, now=utcnow())
        db.session.commit()
        return {
            "sharer": sharer,
            "item_id": item.id,
            "quoted_id": quoted.id,
            "other_id": other.id,
            "link_id": link.id,
            "product_id": product.id,
        }


def test_sharer_shows_rating_and_a_quote_until_it_is_hidden(app, user_client, client):
    s = setup_sharer(app)
    sharer = user_client(s["sharer"])
    url = f"/me/shop/items/{s['item_id']}/reviews"
    choose = text_of(sharer.get(url))
    assert "回购第三次了" in choose and "别的商品" not in choose
    assert "Rating 4.5 from 2 reviews" in choose
    refused = sharer.post(url, data={"show_rating": "y", "quote": str(s["other_id"])})
    assert "Choose a published review of this product." in text_of(refused)
    saved = sharer.post(url, data={"show_rating": "y", "quote": str(s["quoted_id"])})
    assert saved.status_code == 302
    assert f'value="{s["quoted_id"]}" checked' in text_of(sharer.get(url))

    client.set_cookie("lang", "en")
    shop_page = text_of(client.get("/s/xiaowang"))
    assert "★ 4.5 · 2 reviews" in shop_page
    assert "Buyer review: “回购第三次了”" in shop_page

    with sharer.get(f"/me/links/{s['link_id']}/poster.jpg") as poster:
        assert poster.status_code == 200 and poster.mimetype == "image/jpeg"
        assert poster.data[:2] == b"\xff\xd8"

    hide_review(app, s["quoted_id"], "涉及隐私")
    shop_page = text_of(client.get("/s/xiaowang"))
    assert "回购第三次了" not in shop_page and "Buyer review" not in shop_page
    assert "★ 4.0 · 1 review" in shop_page  # the rating counts published reviews only
    assert "回购第三次了" not in text_of(sharer.get(url))
    with sharer.get(f"/me/links/{s['link_id']}/poster.jpg") as poster:
        assert poster.status_code == 200

    sharer.post(url, data={"quote": ""})  # rating off, no quote
    shop_page = text_of(client.get("/s/xiaowang"))
    assert "reviews" not in shop_page.split("<main", 1)[1].split("</main>", 1)[0]


def test_another_sharers_item_is_not_found(app, user_client):
    s = setup_sharer(app)
    with app.app_context():
        intruder = make_user()
        make_shop(user=intruder)
        db.session.commit()
    client = user_client(intruder)
    url = f"/me/shop/items/{s['item_id']}/reviews"
    assert client.get(url).status_code == 404
    assert client.post(url, data={"quote": str(s["quoted_id"])}).status_code == 404


# --- script in text ------------------------------------------------------------------------


def test_script_in_reviews_replies_reports_and_quotes_is_shown_as_text(app, user_client):
    s = setup_order(app)
    with app.app_context():
        reader, admin = make_user(), make_user(is_admin=True)
        sharer = make_user(display_name="小王")
        shop = make_shop(user=sharer, slug="xss-shop")
        product = db.session.get(Product, s["product_id"])
        item = shops.add_item(shop, product, now=utcnow())
        link = links.get_or_create_link(shop, product, Channel.POSTER, now=utcnow())
        db.session.commit()
        item_id, link_id = item.id, link.id
    buyer = user_client(s["buyer"])
    assert post_review(buyer, s["order_id"], s["item_id"], body=PAYLOAD).status_code == 302
    with app.app_context():
        review_id = db.session.execute(select(Review.id)).scalar_one()
    followup = buyer.post(f"/reviews/{review_id}/followup", data={"body": "追评" + PAYLOAD})
    assert followup.status_code == 302
    merchant = user_client(s["merchant_user"])
    reply = merchant.post(f"/merchant/reviews/{review_id}/reply", data={"body": "回复" + PAYLOAD})
    assert reply.status_code == 302
    report = user_client(reader).post(
        f"/reviews/{review_id}/report", data={"reason": "other", "details": PAYLOAD}
    )
    assert report.status_code == 302
    sharer_client = user_client(sharer)
    quoted = sharer_client.post(
        f"/me/shop/items/{item_id}/reviews", data={"show_rating": "y", "quote": str(review_id)}
    )
    assert quoted.status_code == 302
    with app.app_context():
        stored = db.session.execute(select(Review.body, Review.status).order_by(Review.id)).all()
        assert stored == [(PAYLOAD, "published"), ("追评" + PAYLOAD, "published")]
        assert db.session.execute(select(ReviewReply.body)).scalar_one() == "回复" + PAYLOAD
        assert db.session.execute(select(ReviewReport.reason, ReviewReport.details)).one() == (
            "other",
            PAYLOAD,
        )

    anonymous = app.test_client()
    anonymous.set_cookie("lang", "en")
    pages = {
        "product": (anonymous, f"/p/{s['product_id']}"),
        "reviews": (anonymous, f"/p/{s['product_id']}/reviews"),
        "shop product": (anonymous, f"/s/xss-shop/p/{s['product_id']}"),
        "shop": (anonymous, "/s/xss-shop"),
        "mine": (buyer, "/reviews/mine"),
        "own review": (buyer, review_url(s["order_id"], s["item_id"])),
        "merchant": (merchant, "/merchant/reviews"),
        "admin reported": (user_client(admin), "/admin/reviews?tab=reported"),
        "report form": (user_client(admin), f"/reviews/{review_id}/report"),
        "sharer choice": (sharer_client, f"/me/shop/items/{item_id}/reviews"),
    }
    for where, (who, url) in pages.items():
        response = who.get(url)
        assert response.status_code == 200, where
        assert_inert(text_of(response), where)
    product_page = text_of(anonymous.get(f"/p/{s['product_id']}/reviews"))
    assert "追评" + ESCAPED in product_page and "回复" + ESCAPED in product_page
    admin_page = text_of(user_client(admin).get("/admin/reviews?tab=reported"))
    assert "Something else: " + ESCAPED in admin_page
    assert "Buyer review: “" + ESCAPED in text_of(anonymous.get("/s/xss-shop"))
    with sharer_client.get(f"/me/links/{link_id}/poster.jpg") as poster:
        assert poster.status_code == 200 and poster.mimetype == "image/jpeg"

    hide_review(app, review_id, PAYLOAD)
    for where, (who, url) in {
        "hidden mine": (buyer, "/reviews/mine"),
        "hidden own": (buyer, review_url(s["order_id"], s["item_id"])),
        "hidden queue": (user_client(admin), "/admin/reviews?tab=hidden"),
    }.items():
        assert_inert(text_of(who.get(url)), where)


def test_a_cached_product_page_drops_a_review_the_moment_it_is_hidden(database_url, tmp_path):
    """Product pages keep their review section for REVIEW_PREVIEW_SECONDS; a decision drops it
    at once (in every process of the host: tests/web/test_landing_stamps.py)."""
    from tests.conftest import build_app, sign_in
    from tests.factories import DEFAULT_PASSWORD

    app = build_app(database_url, tmp_path / "cached", REVIEW_PREVIEW_SECONDS=600)
    with app.app_context():
        review = make_review(body="口感顺滑，包装也好")
        admin = make_user(is_admin=True)
        db.session.commit()
        product_id, review_id, version = review.product_id, review.id, review.version
        admin_account = admin.phone
    reader = app.test_client()
    assert "口感顺滑" in text_of(reader.get(f"/p/{product_id}"))
    admin_client = sign_in(app.test_client(), admin_account, DEFAULT_PASSWORD)
    hidden = admin_client.post(
        f"/admin/reviews/{review_id}/decide",
        data={"action": "hide", "version": str(version), "reason": "与商品无关"},
    )
    assert hidden.status_code == 302
    page = text_of(reader.get(f"/p/{product_id}"))
    assert "口感顺滑" not in page and "还没有评价" in page
    with app.app_context():
        db.engine.dispose()


def test_too_long_a_hide_reason_or_blocked_word_gets_a_message_not_an_error(app, user_client):
    with app.app_context():
        review = make_review(body="一般")
        admin = make_user(is_admin=True)
        db.session.commit()
        review_id, version = review.id, review.version
    client = user_client(admin)
    response = client.post(
        f"/admin/reviews/{review_id}/decide?tab=published",
        data={"action": "hide", "version": str(version), "reason": "太长" * 101},
    )
    assert response.status_code == 302
    assert "At most 200 characters." in text_of(client.get(response.location))
    word = client.post("/admin/reviews/words", data={"word": "词" * 41})
    assert word.status_code == 200 and "At most 40 characters." in text_of(word)
    with app.app_context():
        assert db.session.get(Review, review_id).status == ReviewStatus.PUBLISHED
        assert count(BlockedWord) == 0


def test_a_crafted_non_ascii_digit_gets_the_rating_message_not_an_error(app, user_client):
    s = setup_order(app)
    response = post_review(user_client(s["buyer"]), s["order_id"], s["item_id"], rating="²")
    assert response.status_code == 422 and "Choose from 1 to 5 stars." in text_of(response)
