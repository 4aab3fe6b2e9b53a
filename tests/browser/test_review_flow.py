"""Reviews on a phone, each person in their own browser: a buyer reviews a received order
with a photo, a reader reports it, an admin hides it with a reason, the buyer sees the
reason and the product page no longer shows it. And script typed into reviews, follow-ups,
replies and report reasons never runs and never becomes an element."""

import re
from datetime import timedelta
from functools import partial

import pytest

from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.reviews import writing
from shop.reviews.rules import Rules
from shop.sharing import links, shops
from shop.sharing.models import Channel
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import (
    make_completed_order,
    make_merchant,
    make_product,
    make_review,
    make_shop,
    make_user,
    png_bytes,
)

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="review-flow")
PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"


def test_buyer_reviews_with_a_photo_an_admin_hides_it_and_the_buyer_sees_why(
    live_server, new_phone, tmp_path
):
    app = live_server.app
    with app.app_context():
        make_user(phone="13600000001", display_name="管理员", is_admin=True)
        merchant = make_merchant(
            user=make_user(phone="13600000002", display_name="陈老板"), name="山野茶舍"
        )
        product = make_product(
            merchant=merchant, title="武夷山大红袍 250g 礼盒装", price_cents=12800, stock=50
        )
        earlier = utcnow() - timedelta(days=5)
        for rating, body in (
            (5, "香气很足，第三泡还有岩韵。"),
            (4, "包装精美，送人合适。"),
            (2, "物流有点慢。"),
        ):
            make_review(product, rating=rating, body=body, at=earlier)
        buyer = make_user(phone="13600000003", display_name="李小姐")
        order = make_completed_order(buyer, product, at=utcnow() - timedelta(days=1))
        make_user(phone="13600000004", display_name="路人")
        db.session.commit()
        product_id, merchant_id, order_id = product.id, merchant.id, order.id
    picture = tmp_path / "tea.png"
    picture.write_bytes(png_bytes(size=(900, 700), color=(150, 60, 30)))
    base = live_server.url
    body = "茶汤红亮，回甘明显，会回购。"

    # The buyer finds the order and writes a review with a photo.
    buyer_page = new_phone()
    sign_in(buyer_page, base, "13600000003")
    buyer_page.goto(f"{base}/orders/{order_id}")
    buyer_page.locator(".order-items a[href$='/review']").click()
    buyer_page.wait_for_url(re.compile(rf"/orders/{order_id}/items/\d+/review$"))
    review_url = buyer_page.url
    buyer_page.locator("input[name=rating][value='5']").check()
    buyer_page.locator("#body").fill(body)
    buyer_page.locator("#photos").set_input_files(str(picture))
    snap(buyer_page, "01-review-form")
    buyer_page.get_by_role("button", name="发布评价").click()
    buyer_page.get_by_text("感谢你的评价！").wait_for()
    assert buyer_page.url == review_url
    own = buyer_page.locator("article.review").first
    assert body in own.inner_text()
    thumb = own.locator(".review-photos img")
    thumb.wait_for()
    assert buyer_page.evaluate("img => img.complete && img.naturalWidth", thumb.element_handle())

    # Everyone sees it on the product page, with the photo opening full size.
    buyer_page.goto(f"{base}/p/{product_id}")
    section = buyer_page.locator("#reviews")
    assert body in section.inner_text()
    assert "4.0" in section.locator(".rating-average").inner_text()  # (5 + 4 + 2 + 5) / 4
    full_href = section.locator(".review-photos a").first.get_attribute("href")
    assert full_href.endswith("-d.webp")
    snap(buyer_page, "02-product-page")
    snap(buyer_page, "02-product-review-section", locator=section)

    # A reader reports it.
    reader = new_phone()
    sign_in(reader, base, "13600000004")
    reader.goto(f"{base}/p/{product_id}/reviews")
    card = reader.locator("article.review", has_text=body)
    card.get_by_role("link", name="举报").click()
    reader.locator("input[name=reason][value=other]").check()
    reader.locator("#details").fill("评价里有别家店的广告")
    snap(reader, "03-report-form")
    reader.get_by_role("button", name="提交举报").click()
    reader.get_by_text("谢谢，管理员会尽快处理。").wait_for()

    # The admin hides it, with a reason the buyer will read.
    admin = new_phone()
    sign_in(admin, base, "13600000001")
    admin.goto(f"{base}/admin/reviews?tab=reported")
    item = admin.locator("section.moderation-item", has_text=body)
    assert "评价里有别家店的广告" in item.locator(".report-list").inner_text()
    snap(admin, "04-admin-queue")
    reason = "含有其他店铺的广告信息"
    item.locator("input[name=reason]").fill(reason)
    item.locator(".hide-form button[type=submit]").click()
    admin.get_by_text("处理结果已保存，并记入审计日志。").wait_for()
    assert admin.locator("section.moderation-item", has_text=body).count() == 0
    admin.goto(f"{base}/admin/reviews?tab=hidden")
    assert reason in admin.locator("section.moderation-item", has_text=body).inner_text()
    snap(admin, "05-admin-hidden")

    # The buyer sees the reason; the product page no longer shows the review.
    buyer_page.goto(f"{base}/reviews/mine")
    hidden = buyer_page.locator(".review-hidden-reason")
    assert reason in hidden.inner_text()
    snap(buyer_page, "06-my-reviews-hidden")
    buyer_page.goto(review_url)
    assert reason in buyer_page.locator(".review-hidden-reason").inner_text()
    buyer_page.goto(f"{base}/p/{product_id}")
    section = buyer_page.locator("#reviews")
    assert body not in section.inner_text() and "香气很足" in section.inner_text()
    assert buyer_page.locator(".review-photos").count() == 0

    # The merchant's public page: the credit and how it is computed.
    buyer_page.goto(f"{base}/m/{merchant_id}")
    buyer_page.locator(".credit-rule summary").click()
    assert buyer_page.locator(".credit-rule ol li").count() == 5
    snap(buyer_page, "07-merchant-page")


def test_script_in_reviews_replies_and_reports_never_runs(live_server, new_phone):
    app = live_server.app
    now = utcnow()
    with app.app_context():
        make_user(phone="13600000011", display_name="管理员", is_admin=True)
        product = make_product(title="桂花乌龙", stock=50)
        review = make_review(product, rating=1, body=PAYLOAD, at=now - timedelta(days=2))
        rules = Rules()
        writing.write_followup(
            review, actor=review.author, body="追评" + PAYLOAD, now=now - timedelta(days=1)
        )
        writing.write_reply(
            review,
            merchant=product.merchant,
            actor=product.merchant.user,
            body="回复" + PAYLOAD,
            now=now,
            rules=rules,
        )
        writing.report_review(
            review, reporter=make_user(), reason="other", details=PAYLOAD, now=now, rules=rules
        )
        shop = make_shop(user=make_user(display_name="小王"), slug="xiaowang")
        item = shops.add_item(shop, product, now=now)
        shops.set_review_display(item, show_rating=True, quote=review)
        links.get_or_create_link(shop, product, Channel.POSTER, now=now)
        db.session.commit()
        product_id = product.id
    base = live_server.url

    page = new_phone()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, base, "13600000011")  # an admin: sees the queue too
    for name, path in (
        ("product", f"/p/{product_id}"),
        ("reviews", f"/p/{product_id}/reviews"),
        ("shop", "/s/xiaowang"),
        ("shop-product", f"/s/xiaowang/p/{product_id}"),
        ("admin-queue", "/admin/reviews?tab=reported"),
    ):
        page.goto(base + path)
        page.wait_for_load_state("load")
        text = page.locator("main").inner_text()
        assert "<script>alert(1)</script>" in text, name  # shown as the text it is
        assert page.locator("img[src=x]").count() == 0, name
        assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0, name
        assert (
            page.evaluate(
                "[...document.scripts].filter(s => s.textContent.includes('alert')).length"
            )
            == 0
        ), name
        if name == "reviews":  # the product page previews reviews without follow-ups
            assert "追评" + PAYLOAD in text and "回复" + PAYLOAD in text, name
        if name == "admin-queue":
            assert "其他: " + PAYLOAD in text
            snap(page, "08-admin-queue-with-script-text")
    assert dialogs == []
