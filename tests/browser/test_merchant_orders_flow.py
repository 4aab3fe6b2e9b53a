"""Shipping and after-sales on phones in WeChat, each person in their own browser: the merchant
finds the orders to ship (订单管理: tabs, the 待发货 badge, search), ships one with a carrier and
number; the buyer sees 查看物流 with the carrier, the number, a copy button and the carrier's
tracking page; asks for 退货退款, sees the return address and enters the return tracking
number; the merchant sees it under 售后 (处理售后); the buyer withdraws the request. Every page
goes through axe-core (the ``new_phone`` fixture), and the main ones are photographed."""

import re
from datetime import timedelta
from functools import partial

import pytest

from shop.orders import checkout
from shop.orders.models import Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.browser.conftest import WECHAT_UA, seed_tea_merchant
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_product, make_user
from tests.services import test_orders as svc

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="merchant-orders-flow")
RETURN_ADDRESS = "陈老板 13700000002 福建省 南平市 武夷山市 星村镇 茶场路 8 号"


def centred(locator):
    """``locator`` scrolled to the middle of the screen, clear of the fixed header and tab bar,
    for a screenshot of it alone."""
    locator.evaluate("e => e.scrollIntoView({block: 'center'})")
    return locator


def seed(app) -> dict:
    """山野茶舍 with two products; 李小姐 paid for three orders and has one unpaid."""
    with app.app_context():
        tea = seed_tea_merchant()
        cups = make_product(merchant=tea.merchant, title="白瓷茶杯", price_cents=3900,
                            original_price_cents=None, stock=30)  # fmt: skip
        buyer = make_user(phone="13900001234", display_name="李小姐")
        other = make_user(phone="13900005678", display_name="张先生")
        numbers = {}
        for key, who, product, quantity, minutes, paid in (
            ("tea", buyer, tea, 2, 30, True),
            ("cups", other, cups, 4, 20, True),
            ("tea2", other, tea, 1, 10, True),
            ("unpaid", buyer, cups, 1, 5, False),
        ):
            at = utcnow() - timedelta(minutes=minutes)
            phone = "13900001234" if who is buyer else "13900005678"
            address = checkout.ShippingAddress(
                who.display_name, phone, "浙江省 杭州市 西湖区", "文三路 100 号 2 单元 301"
            )
            [order] = checkout.place_order(
                who, [(product.id, quantity)], address, checkout_key=f"k-{key}",
                provider="sandbox", visitor_id=None, now=at, window=timedelta(days=15),
                allow_self_purchase=True, pay_within=timedelta(minutes=30),
                note="麻烦包装结实一点" if key == "tea" else "",
            )  # fmt: skip
            if paid:
                svc.pay(order, at)
            numbers[key] = (order.id, order.number)
        db.session.commit()
        return numbers


def test_ship_track_return_and_withdraw_on_phones(live_server, new_phone):
    orders = seed(live_server.app)
    base = live_server.url
    tea_id, tea_number = orders["tea"]

    # The merchant sets the return address, then opens 订单管理.
    seller = new_phone(user_agent=WECHAT_UA)
    sign_in(seller, base, "13700000002")
    seller.goto(f"{base}/merchant/return-address")
    seller.locator("textarea").fill(RETURN_ADDRESS)
    seller.locator("main form button[type=submit]").click()
    seller.get_by_text("退货地址已保存").wait_for()
    seller.get_by_role("link", name="订单").first.click()
    seller.wait_for_url(f"{base}/merchant/orders")
    assert seller.locator("#to-ship-count").inner_text().split()[-1] == "3"
    tabs = seller.locator(".order-tabs").inner_text().replace("\n", " ")
    assert "待发货 3" in tabs and "待付款 1" in tabs
    seller.locator(".order-tab[data-tab=unshipped]").click()
    seller.wait_for_url(f"{base}/merchant/orders?tab=unshipped")
    assert seller.locator("li.order-row").count() == 3
    row = seller.locator(f"li.order-row[data-order='{tea_number}']")
    assert "李小姐 13900001234" in row.inner_text() and "× 2" in row.inner_text()
    snap(seller, "01-merchant-orders-to-ship")
    # The buyer's phone tail finds her order only.
    seller.get_by_label("订单号或收货人手机号").fill("1234")
    seller.get_by_role("button", name="搜索").click()
    seller.wait_for_url(re.compile(r"/merchant/orders\?tab=unshipped&q=1234"))
    assert seller.locator("li.order-row").count() == 1
    # A wrong date gets its message on the same screen, with the text kept.
    seller.locator("summary", has_text="按下单时间和商品筛选").click()
    seller.locator("#start").fill("2026-12-06")
    seller.locator("#end").fill("2026-12-01")
    seller.get_by_role("button", name="筛选", exact=True).click()
    seller.get_by_text("结束日期早于开始日期。").wait_for()
    assert seller.get_by_label("订单号或收货人手机号").input_value() == "1234"
    snap(seller, "02-merchant-orders-bad-date")

    # 发货 on the row: the carrier from the list and the number.
    seller.goto(f"{base}/merchant/orders?tab=unshipped&q=1234")
    seller.locator(f"li.order-row[data-order='{tea_number}'] a.order-next").click()
    seller.wait_for_url(f"{base}/merchant/orders/{tea_id}")
    seller.locator("#carrier").select_option("ZTO")
    seller.locator("#tracking").fill("75312345678901")
    seller.locator("form[action$='/ship'] button[type=submit]").click()
    seller.get_by_text("已发货，买家可以查看物流。").wait_for()
    assert seller.locator("#to-ship-count").inner_text().split()[-1] == "2"

    # The buyer: 待收货 -> 查看物流: carrier, number with a copy button, the carrier's page.
    buyer = new_phone(user_agent=WECHAT_UA)
    buyer.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(buyer, base, "13900001234")
    buyer.goto(f"{base}/orders?tab=shipped")
    buyer.locator(f"li[data-order='{tea_number}']").get_by_role("link", name="查看物流").click()
    buyer.wait_for_url(f"{base}/orders/{tea_id}#tracking")
    tracking = buyer.locator("#tracking")
    assert "中通快递" in tracking.inner_text()
    assert buyer.locator("#tracking-number").input_value() == "75312345678901"
    tracking.get_by_role("button", name="复制").click()
    tracking.get_by_role("button", name="已复制").wait_for()
    assert buyer.evaluate("navigator.clipboard.readText()") == "75312345678901"
    link = tracking.get_by_role("link", name="去快递官网查物流")
    assert "75312345678901" in link.get_attribute("href")
    snap(buyer, "03-buyer-order-tracking", locator=centred(tracking.locator("xpath=..")))

    # 退货退款: the return address, then the return parcel's number.
    buyer.locator("input[name=kind][value=return]").check()
    buyer.locator("#reason").fill("茶叶受潮了")
    buyer.get_by_role("button", name="申请退款").click()
    after_sales = buyer.locator("#after-sales")
    after_sales.wait_for()
    assert "退货退款" in after_sales.inner_text()
    assert buyer.locator("#return-address").input_value() == RETURN_ADDRESS
    buyer.locator("#return-carrier").select_option("SF")
    buyer.locator("#return-number").fill("SF1098765432109")
    buyer.get_by_role("button", name="提交退货单号").click()
    buyer.locator("#return-tracking").wait_for()
    assert "SF1098765432109" in buyer.locator("#return-tracking").inner_text()
    snap(buyer, "04-buyer-after-sales", locator=centred(after_sales))

    # The merchant finds it under 售后 with 处理售后, and sees the return parcel.
    seller.goto(f"{base}/merchant/orders")
    assert "售后 1" in seller.locator(".order-tabs").inner_text().replace("\n", " ")
    seller.locator(".order-tab[data-tab=aftersale]").click()
    seller.wait_for_url(f"{base}/merchant/orders?tab=aftersale")
    row = seller.locator(f"li.order-row[data-order='{tea_number}']")
    assert "退货退款 · 退货：顺丰速运 SF1098765432109 · 茶叶受潮了" in row.inner_text()
    snap(seller, "05-merchant-orders-after-sales")
    row.get_by_role("link", name="处理售后").click()
    seller.wait_for_url(f"{base}/merchant/orders/{tea_id}")
    assert "SF1098765432109" in seller.locator("#return-tracking").inner_text()

    # The buyer withdraws: the order is back to 待收货, and leaves the merchant's 售后 tab.
    buyer.get_by_role("button", name="撤销退款申请").click()
    buyer.locator("#after-sales").wait_for(state="detached")
    assert buyer.locator(".order-status").inner_text() == "已发货"
    with live_server.app.app_context():
        assert db.session.get(Order, tea_id).status == "shipped"
    seller.goto(f"{base}/merchant/orders?tab=aftersale")
    assert seller.locator("li.order-row").count() == 0

    # The same list in English fits the phone too.
    seller.context.add_cookies([{"name": "lang", "value": "en", "url": base}])
    seller.goto(f"{base}/merchant/orders?tab=unshipped")
    assert "To ship" in seller.locator(".order-tabs").inner_text()
    snap(seller, "06-merchant-orders-english")
