"""Coupons on a phone: the merchant makes one, the sharer puts it on the shop item, a buyer
lands through the link, sees 券后价, claims it in one tap and pays with the discount; every page
photographed at 390 px (and swept by axe-core)."""

import re
from functools import partial

import pytest
from sqlalchemy import select

from shop.orders.models import Order
from shop.platform.extensions import db
from tests.browser.conftest import buy_now
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_checkout_flow import WECHAT_UA, seed
from tests.browser.test_merchant_flow import sign_in

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="coupon-flow")


def test_merchant_makes_sharer_attaches_buyer_claims_and_pays_less(live_server, new_phone):
    product_id, code = seed(live_server.app)
    base = live_server.url

    seller = new_phone()
    sign_in(seller, base, "13700000002")
    seller.goto(f"{base}/merchant/coupons")
    seller.locator("#product_id").select_option(label="武夷山红茶")
    seller.locator("#off").fill("20")
    seller.locator("#threshold").fill("10")  # ¥20 off over ¥10: refused
    seller.locator("#total_count").fill("10")
    seller.get_by_role("button", name="创建优惠券").click()
    seller.get_by_text("减免金额须小于门槛金额").wait_for()
    assert seller.locator("#off").input_value() == "20"  # what was typed stays
    assert seller.locator("#total_count").input_value() == "10"
    snap(seller, "01-merchant-form-error")
    seller.locator("#threshold").fill("")
    seller.get_by_role("button", name="创建优惠券").click()
    seller.get_by_text("优惠券已创建").wait_for()
    assert "立减¥20.00" in seller.locator(".template-list").inner_text()
    snap(seller, "02-merchant-list")

    sharer = new_phone()
    sign_in(sharer, base, "13700000003")
    sharer.goto(f"{base}/me/shop")
    sharer.locator("details.more-menu summary").first.click()
    sharer.locator("a.action-link", has_text="优惠券").first.click()
    sharer.wait_for_url(re.compile(r"/me/shop/items/\d+/coupon"))
    assert "券后价 ¥108.00" in sharer.locator("main").inner_text()
    snap(sharer, "03-sharer-attach")
    sharer.locator("input[name=coupon]").nth(1).check()
    sharer.get_by_role("button", name="保存优惠券").click()
    sharer.get_by_text("已为这件商品挂上优惠券").wait_for()

    buyer = new_phone(user_agent=WECHAT_UA)
    sign_in(buyer, base, "13900001234")
    buyer.goto(f"{base}/r/{code}")
    buyer.wait_for_url(f"{base}/s/xiaowang/p/{product_id}?ref={code}")
    ticket = buyer.locator(".coupon-ticket")
    assert "券后价 ¥108.00" in ticket.inner_text() and "立减¥20.00" in ticket.inner_text()
    box = ticket.locator(".coupon-claim").bounding_box()
    assert box and box["height"] >= 44 and box["width"] >= 44
    snap(buyer, "04-landing-coupon")
    ticket.locator(".coupon-claim").click()  # one tap
    buyer.get_by_text("已领取：立减¥20.00").wait_for()
    assert buyer.locator(".coupon-held").inner_text() == "已领取"
    snap(buyer, "05-claimed")
    buy_now(buyer)
    buyer.wait_for_url(re.compile(r"/checkout/\d+"))
    assert buyer.locator(".coupon-discount").first.inner_text() == "−¥20.00"
    assert buyer.locator("#checkout-total").inner_text() == "¥114.00"  # 128 - 20 + 6
    snap(buyer, "06-checkout-coupon")
    buyer.locator(".coupon-choices label", has_text="不使用优惠券").click()
    assert buyer.locator("#checkout-total").inner_text() == "¥134.00"  # the script's sums
    assert buyer.locator(".part-subtotal").inner_text() == "¥134.00"
    buyer.locator(".coupon-choices label", has_text="立减¥20.00").click()
    assert buyer.locator("#checkout-total").inner_text() == "¥114.00"
    buyer.locator("#place-order").click()
    buyer.wait_for_url(re.compile(r"/pay/sandbox/\w+\?"))
    assert "¥114.00" in buyer.locator("main").inner_text()
    buyer.locator("main form button[type=submit]").click()
    buyer.wait_for_url(re.compile(r"/orders/\d+/paid$"))
    assert buyer.locator("#paid-amount").inner_text() == "¥114.00"
    snap(buyer, "07-paid")
    buyer.locator("#view-order").click()
    buyer.wait_for_url(re.compile(r"/orders/\d+$"))
    assert "−¥20.00" in buyer.locator(".coupon-discount").inner_text()
    snap(buyer, "08-order-detail")
    with live_server.app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert (order.discount_cents, order.total_cents) == (2000, 11400)
        assert order.items[0].rebate_cents == 1080  # 10% of the ¥108 paid for the tea
