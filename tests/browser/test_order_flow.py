"""The whole money road on a phone, each person in their own browser: a buyer follows a
sharer's link and pays in the sandbox, the merchant ships, the buyer confirms, the rebate
settles after the return window, the sharer asks for it and an admin pays it out."""

import re
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import select, update

from shop.accounts.models import User
from shop.money.models import LedgerEntry
from shop.orders.models import Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import links, shops
from shop.sharing.models import Channel
from tests import invariants
from tests.browser.conftest import (
    WECHAT_UA,
    buy_now,
    fill_address,
    fill_sign_up,
    seed_tea_merchant,
    ship,
)
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import DEFAULT_PASSWORD, make_shop, make_user

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="order-flow")


def test_buyer_pays_through_a_link_and_the_sharer_is_paid_the_settled_rebate(
    live_server, new_phone
):
    app = live_server.app
    with app.app_context():
        product = seed_tea_merchant()
        sharer_user = make_user(phone="13700000003", display_name="小王")
        shop = make_shop(user=sharer_user, slug="xiaowang", name="小王的茶铺")
        shops.add_item(shop, product, recommendation="每天一杯", now=utcnow())
        code = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=utcnow()).code
        db.session.commit()
        product_id, sharer_id = product.id, sharer_user.id
    base = live_server.url

    # The buyer taps the link in WeChat, buys, and signs up on the way.
    buyer = new_phone(user_agent=WECHAT_UA)
    buyer.goto(f"{base}/r/{code}")
    buyer.wait_for_url(f"{base}/s/xiaowang/p/{product_id}?ref={code}")
    buy_now(buyer)
    buyer.wait_for_url(re.compile(r"/auth/signin\?next="))
    buyer.locator(".form-alt a[href*='/auth/signup']").click()
    buyer.wait_for_url(re.compile(r"/auth/signup\?next="))
    fill_sign_up(buyer, "13900001234", "李小姐", "oolong-lover-57")
    buyer.locator("main form button[type=submit]").click()
    buyer.wait_for_url(re.compile(rf"{base}/checkout/{product_id}\?.*ref={code}"))
    buyer.get_by_text("欢迎你，李小姐！账号已创建。").wait_for()
    fill_address(buyer)
    assert buyer.locator("input[name=provider][value=sandbox]").is_checked()
    snap(buyer, "01-checkout")
    buyer.locator("main form button[type=submit]").click()

    buyer.wait_for_url(re.compile(r"/pay/sandbox/\w+\?"))
    assert "¥128.00" in buyer.locator("main").inner_text()
    snap(buyer, "02-sandbox-gateway")
    buyer.locator("main form button[type=submit]").click()
    buyer.wait_for_url(re.compile(r"/orders/\d+/paid$"))
    assert buyer.locator("h1").inner_text() == "支付成功"
    assert buyer.locator("#keep-shopping").get_attribute("href") == "/s/xiaowang"
    buyer.locator("#view-order").click()
    buyer.wait_for_url(re.compile(r"/orders/\d+$"))
    order_url = buyer.url
    assert buyer.locator(".order-status").inner_text() == "已付款，待发货"
    snap(buyer, "03-order-paid")
    with app.app_context():
        order_id = int(order_url.rsplit("/", 1)[1])
        number = db.session.get(Order, order_id).number

    # The merchant ships it.
    seller = new_phone()
    sign_in(seller, base, "13700000002")
    seller.goto(f"{base}/merchant/orders")
    seller.locator(f"li.order-row[data-order='{number}'] a.order-card-body").click()
    seller.wait_for_url(f"{base}/merchant/orders/{order_id}")
    ship(seller, base, order_id)
    assert seller.locator("main .badge-shipped").first.inner_text() == "已发货"
    snap(seller, "04-merchant-shipped")

    # The buyer finds the order in their list and confirms receipt.
    buyer.goto(f"{base}/orders")
    buyer.locator(f".order-list a[href='/orders/{order_id}']").first.click()
    buyer.get_by_text("顺丰速运").wait_for()
    buyer.locator("form[action$='/confirm'] button[type=submit]").click()
    buyer.locator("dialog[open] [data-answer=yes]").click()  # it asks first
    buyer.get_by_text("谢谢！订单已完成。").wait_for()
    assert buyer.locator(".order-status").inner_text() == "已完成"

    # The return window passes (completion moved back; the ledger itself is never edited).
    with app.app_context():
        completed_at = db.session.get(Order, order_id).completed_at
        db.session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(completed_at=completed_at - timedelta(days=8))
        )
        db.session.commit()
    # `flask` pushes an app context for every command; the test runner leaves that to us.
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["settle-rebates"])
    assert result.exit_code == 0, result.output
    assert "Orders due: 1; rebate entries settled: 1" in result.output

    # The sharer sees the settled rebate, says where to send it and asks for it.
    sharer = new_phone()
    sign_in(sharer, base, "13700000003")
    sharer.goto(f"{base}/me/earnings")
    assert sharer.locator("#balance-available").inner_text() == "¥12.80"
    assert sharer.locator("#balance-settled").inner_text() == "¥12.80"
    assert sharer.locator("#balance-estimated").inner_text() == "¥0.00"
    row = sharer.locator(f"li.earning-row[data-order='{number}']")
    assert row.locator(".earning-reason").inner_text() == "归属于你：买家最后一次点击的是你的链接。"
    assert row.locator(".earn").inner_text() == "¥12.80"
    assert row.locator(".badge-settled").inner_text() == "已结算"
    sharer.locator("#payout a[href$='/me/earnings/account']").click()
    sharer.locator("input[name=method][value=alipay]").check()
    sharer.locator("#account_name").fill("王小明")
    sharer.locator("#account_number").fill("wang@example.com")
    sharer.locator("#password").fill(DEFAULT_PASSWORD)
    snap(sharer, "05-payout-account")
    sharer.locator("main form button[type=submit]").click()
    sharer.get_by_text("收款账户已保存。").wait_for()
    payout_button = sharer.locator("form[action$='/earnings/payout'] button[type=submit]")
    assert payout_button.is_enabled()
    sharer.locator("#amount").fill("12.80")
    payout_button.click()
    sharer.get_by_text("已申请提现 ¥12.80，管理员审核后打款。").wait_for()
    assert "正在等待审核" in sharer.locator("#payout .notice").inner_text()
    assert sharer.locator("#balance-available").inner_text() == "¥0.00"
    snap(sharer, "06-sharer-earnings")

    # An admin transfers it and records the reference.
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(f"{base}/admin/payouts")
    request_card = admin.locator("li.payout-request")
    assert "¥12.80 · 小王" in request_card.locator("h2").inner_text()
    snap(admin, "07-admin-payouts")
    request_card.locator("[name=reference]").fill("ALI2024061800012")
    request_card.locator("button[name=decision][value=pay]").click()
    admin.locator("dialog[open]").get_by_text("确认已向 小王 打款 ¥12.80？").wait_for()
    admin.locator("dialog[open] [data-answer=yes]").click()  # it asks first
    admin.get_by_text("已向 小王 打款 ¥12.80。").wait_for()
    assert admin.locator("li.payout-request").count() == 0

    sharer.goto(f"{base}/me/earnings")
    payout_row = sharer.locator("li.payout-row")
    assert payout_row.locator(".badge-paid").inner_text() == "已打款"
    assert "转账流水号：ALI2024061800012" in payout_row.inner_text()
    assert sharer.locator("#balance-paid").inner_text() == "¥12.80"
    assert sharer.locator("#balance-available").inner_text() == "¥0.00"
    assert payout_button.is_disabled()  # nothing left to take out
    snap(sharer, "08-sharer-paid")

    with app.app_context():
        invariants.check(db.session)
        kinds = db.session.execute(
            select(LedgerEntry.kind)
            .where(LedgerEntry.sharer_id == sharer_id)
            .order_by(LedgerEntry.id)
        ).scalars()
        assert [str(kind) for kind in kinds] == ["estimated", "settled", "payout"]
        order = db.session.get(Order, order_id)
        assert order.sharer_id == sharer_id and order.attribution_reason == "attributed"
        assert db.session.get(User, order.buyer_id).phone == "13900001234"
