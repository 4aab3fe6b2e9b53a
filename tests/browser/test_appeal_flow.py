"""Appeals on a phone, over the demo data plus one order 小美 lost to 王老师's later click:
小美's earnings add up on screen, the stats page shows refunds, she asks why the order is not
hers, sends it on, an admin reads the evidence and upholds it, and she reads the decision.
Screenshots go to test-artifacts/numbers/ for a person to look at."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.demo import seed as demo
from shop.platform import db as dbsetup
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Channel, Shop
from tests.browser.conftest import snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_user
from tests.services import test_orders as svc
from tests.services.test_links_and_clicks import facts

pytestmark = pytest.mark.browser

XIAOMEI, WANG, ADMIN = "13800000003", "13800000022", "13800000001"


def yuan(page, selector) -> int:
    text = page.locator(selector).inner_text()
    return int(re.sub(r"[^\d-]", "", text))


def lost_order(now):
    """A buyer clicks 小美's link, then 王老师's; 王老师's later click wins the paid order."""

    def shop_of(phone):
        user = db.session.execute(select(User).where(User.phone == phone)).scalar_one()
        return db.session.execute(select(Shop).where(Shop.user_id == user.id)).scalar_one()

    xiaomei, wang = shop_of(XIAOMEI), shop_of(WANG)
    product = xiaomei.items[0].product
    visitor = "b" * 32
    mine = links.get_or_create_link(xiaomei, product, Channel.MOMENTS, now=now)
    for shop, before in ((xiaomei, timedelta(hours=3)), (wang, timedelta(hours=1))):
        link = links.get_or_create_link(shop, product, Channel.MOMENTS, now=now - before)
        clicks.record_click(link, facts(), visitor_id=visitor, ip_secret="s", flooded=False,
                            now=now - before)  # fmt: skip
    [order] = svc.place(make_user(), [(product.id, 1)], visitor=visitor, at=now, key="lost")
    svc.pay(order, now)
    return order.number, mine.id


def test_a_sharer_asks_sends_on_and_reads_the_decision(live_server, new_phone):
    app = live_server.app
    now = utcnow()
    with app.app_context(), dbsetup.writing():
        demo.seed_demo(now=now - timedelta(minutes=30))
        number, link_id = lost_order(now - timedelta(minutes=5))
        db.session.commit()
    base = live_server.url

    sharer = new_phone()
    sign_in(sharer, base, XIAOMEI, demo.demo_password(XIAOMEI))
    sharer.goto(base + "/me/earnings")
    # The two sums add up on screen, in fen.
    estimated, voided = yuan(sharer, "#sum-estimated"), yuan(sharer, "#sum-voided")
    settled_out, awaiting = yuan(sharer, "#sum-settled-out"), yuan(sharer, "#balance-estimated")
    assert estimated - voided - settled_out == awaiting and voided > 0
    settled, clawed = yuan(sharer, "#balance-settled"), yuan(sharer, "#sum-clawback")
    adjusted, paid = yuan(sharer, "#sum-adjustment"), yuan(sharer, "#balance-paid")
    held, available = yuan(sharer, "#sum-held"), yuan(sharer, "#balance-available")
    assert settled + adjusted - clawed - paid - held == available and clawed > 0
    snap(sharer, "01-earnings", folder="numbers")
    snap(sharer, "01b-earnings-sums", folder="numbers", locator=sharer.locator("#available-sum"))

    sharer.goto(base + "/me/stats?period=30d")
    assert sharer.locator("#step-refunded").count() == 1
    assert "不会超过 100%" in sharer.locator("#conversion-note").inner_text()
    snap(sharer, "02-stats-30d", folder="numbers")

    # From the order row on the earnings page: ask, read the answer, send it on.
    sharer.goto(base + "/me/earnings")
    sharer.locator(f"a[href='/me/appeals?number={number}']").click()
    assert sharer.get_by_label("订单号").input_value() == number
    snap(sharer, "03-appeal-ask", folder="numbers")
    sharer.get_by_role("button", name="查询", exact=True).click()
    answer = sharer.locator("#appeal-answer").inner_text()
    assert "这笔订单归属于另一位分享者：买家下单前最后点击的是别人的链接" in answer
    assert "王老师" not in sharer.locator("main").inner_text()
    sharer.get_by_label("为什么这笔订单应该归你？").fill("买家说是先在我的朋友圈看到的。")
    sharer.get_by_role("button", name="提交给管理员").click()
    assert "已提交给管理员" in sharer.locator("main").inner_text()
    snap(sharer, "04-appeal-sent", folder="numbers")

    # A click in a link's audit can be asked about too.
    sharer.goto(base + "/me/appeals")
    snap(sharer, "05-appeal-list", folder="numbers")

    admin = new_phone()
    sign_in(admin, base, ADMIN, demo.demo_password(ADMIN))
    admin.goto(base + "/admin/appeals")
    admin.get_by_role("link", name=re.compile(number)).click()
    evidence = admin.locator("#appeal-clicks").inner_text()
    assert "申诉人" in evidence and "另一位分享者（1）" in evidence
    assert admin.get_by_label("调整金额（元）").input_value() != ""
    snap(admin, "06-admin-appeal", folder="numbers")
    admin.get_by_label("理由（分享者可见）").fill("点击记录属实，按订单返利补发。")
    admin.get_by_role("button", name="支持申诉并记入调整").click()
    assert "已支持申诉" in admin.locator("body").inner_text()

    sharer.goto(base + "/me/appeals")
    sharer.locator(".appeal-row a").first.click()
    assert "管理员已支持你的申诉" in sharer.locator("#appeal-decision").inner_text()
    snap(sharer, "07-appeal-decided", folder="numbers")

    sharer.goto(base + f"/me/links/{link_id}/clicks")
    ask = sharer.get_by_role("link", name="这次点击带来订单了吗？查询").first
    ask.click()
    assert sharer.locator("#picked-click").count() == 1
    snap(sharer, "08-appeal-from-a-click", folder="numbers")
