"""The buy-now checkout on a phone in WeChat: − / + and typing a quantity update the goods,
shipping and 合计 at once, and the order is placed at the amount shown; without JavaScript the
"重新计算" button gets the same numbers from the server."""

import re
from functools import partial

import pytest

from tests.browser.conftest import snap as phone_snap
from tests.browser.test_checkout_flow import WECHAT_UA, seed
from tests.browser.test_merchant_flow import sign_in

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="checkout-live-total")


def amounts(page) -> tuple[str, str, str, str]:
    return (
        page.locator(".part-goods").inner_text(),
        page.locator(".shipping-fee").inner_text(),
        page.locator(".part-subtotal").inner_text(),
        page.locator("#checkout-total").inner_text(),
    )


def test_quantity_updates_the_totals_live_and_the_server_agrees(live_server, new_phone):
    product_id, _code = seed(live_server.app)  # ¥128, 运费 ¥6 + ¥2 a piece more to 浙江
    base = live_server.url
    buyer = new_phone(user_agent=WECHAT_UA)
    sign_in(buyer, base, "13900001234")
    buyer.goto(f"{base}/checkout/{product_id}")
    assert amounts(buyer) == ("¥128.00", "¥6.00", "¥134.00", "¥134.00")
    assert buyer.locator("button[name=recalc]").count() == 0  # the script does it
    plus = buyer.get_by_role("button", name="增加一件")
    plus.click()
    plus.click()
    assert buyer.locator("#quantity").input_value() == "3"
    assert amounts(buyer) == ("¥384.00", "¥10.00", "¥394.00", "¥394.00")
    buyer.get_by_role("button", name="减少一件").click()
    assert amounts(buyer)[3] == "¥264.00"
    buyer.locator("#quantity").fill("5")
    assert amounts(buyer) == ("¥640.00", "¥14.00", "¥654.00", "¥654.00")
    snap(buyer, "01-checkout-quantity-5")
    buyer.locator("#quantity").fill("500")  # above the limit: the amounts wait, then clamp
    buyer.locator("#quantity").blur()
    assert buyer.locator("#quantity").input_value() == "20"  # the stock
    buyer.locator("#quantity").fill("5")
    buyer.locator("#place-order").click()
    buyer.wait_for_url(re.compile(r"/pay/sandbox/\w+\?"))
    assert "¥654.00" in buyer.locator("main").inner_text()  # what the page said


def test_without_javascript_recalculate_asks_the_server(live_server, playwright_browser):
    product_id, _code = seed(live_server.app)
    base = live_server.url
    playwright, browser = playwright_browser
    device = dict(playwright.devices["iPhone 13"])
    device.pop("default_browser_type", None)
    device["viewport"] = {"width": 390, "height": 844}
    device["user_agent"] = WECHAT_UA
    context = browser.new_context(**device, locale="zh-CN", java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, base, "13900001234")
        page.goto(f"{base}/checkout/{product_id}")
        assert page.get_by_role("button", name="增加一件").count() == 0  # hidden without script
        page.locator("#quantity").fill("2")
        page.get_by_role("button", name="重新计算").click()
        page.wait_for_load_state()
        assert amounts(page) == ("¥256.00", "¥8.00", "¥264.00", "¥264.00")
        assert page.locator("#quantity").input_value() == "2"
        snap(page, "02-checkout-no-script-recalculated")
    finally:
        context.close()
