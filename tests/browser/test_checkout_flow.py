"""A returning buyer with a saved address buys on a phone in WeChat: product page -> checkout
on one screen -> 提交订单 -> the sandbox gateway -> the paid page, counting taps; and the
address book, its picker, 我的订单 and the merchant's shipping templates, photographed at 390 px."""

import re
from functools import partial

import pytest

from shop.catalog.models import ShippingBasis, ShippingKind, ShippingTemplate
from shop.orders import addresses
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import links, shops
from shop.sharing.models import Channel
from tests.browser.conftest import pick_region, seed_tea_merchant
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_shop, make_user

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="checkout-flow")
#: The user agent of WeChat's browser on an iPhone (issue 21's test).
WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI "
    "Language/zh_CN"
)


def seed(app):
    with app.app_context():
        product = seed_tea_merchant()
        template = ShippingTemplate(
            merchant_id=product.merchant_id,
            name="江浙沪外加收",
            kind=ShippingKind.REGIONAL,
            basis=ShippingBasis.PIECE,
            first_fee_cents=600,
            extra_fee_cents=200,
            free_over_cents=0,
            region_fees={"650000": [2000, 1000]},
            unreachable=["540000"],
        )
        db.session.add(template)
        db.session.flush()
        product.shipping_template_id = template.id
        sharer = make_user(phone="13700000003", display_name="小王")
        shop = make_shop(user=sharer, slug="xiaowang", name="小王的茶铺")
        shops.add_item(shop, product, recommendation="每天一杯", now=utcnow())
        code = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=utcnow()).code
        buyer = make_user(phone="13900001234", display_name="李小姐")
        for region, detail in ((("330000", "330100", "330106"), "文三路 100 号 2 单元 301"),
                               (("310000", "310100", "310104"), "漕溪北路 88 号")):  # fmt: skip
            address = addresses.check_address("李小姐", "13900001234", *region, detail)
            addresses.save_address(buyer, address, now=utcnow())
        db.session.commit()
        return product.id, code


class Taps:
    """Counts the buyer's taps on the shop's own pages."""

    def __init__(self):
        self.count = 0

    def tap(self, locator):
        self.count += 1
        locator.click()


def test_returning_buyer_buys_in_two_taps_and_lands_on_the_paid_page(live_server, new_phone):
    product_id, code = seed(live_server.app)
    base = live_server.url
    buyer = new_phone(user_agent=WECHAT_UA)
    sign_in(buyer, base, "13900001234")
    taps = Taps()

    buyer.goto(f"{base}/r/{code}")
    buyer.wait_for_url(f"{base}/s/xiaowang/p/{product_id}?ref={code}")
    assert buyer.locator("#shipping-hint").inner_text() == "运费 ¥6.00（至浙江省）"
    snap(buyer, "01-product")
    taps.tap(buyer.locator(".buybar .buy-now"))  # 立即购买 (one SKU: no spec sheet to confirm)

    buyer.wait_for_url(re.compile(r"/checkout/\d+"))
    card = buyer.locator("#address-card")
    assert "文三路 100 号" in card.inner_text() and "西湖区" in card.inner_text()
    assert "暂无可用优惠券" in buyer.locator(".coupon-row").inner_text()
    assert buyer.locator(".shipping-fee").inner_text() == "¥6.00"
    submit = buyer.locator("#place-order")
    box = submit.bounding_box()
    assert box and box["y"] + box["height"] <= 844  # 提交订单 on the first screen
    assert buyer.locator("#checkout-total").inner_text() == "¥134.00"
    buyer.screenshot(path="test-artifacts/checkout-flow/02-checkout-first-screen.png")
    snap(buyer, "02-checkout")
    taps.tap(submit)  # 提交订单

    buyer.wait_for_url(re.compile(r"/pay/sandbox/\w+\?"))
    assert "¥134.00" in buyer.locator("main").inner_text()
    buyer.locator("main form button[type=submit]").click()  # the gateway's own tap, apart

    buyer.wait_for_url(re.compile(r"/orders/\d+/paid$"))
    assert buyer.locator("h1").inner_text() == "支付成功"
    assert buyer.locator("#paid-amount").inner_text() == "¥134.00"
    assert buyer.locator("#keep-shopping").get_attribute("href") == "/s/xiaowang"
    assert buyer.locator("form[action$='/refund']").count() == 0
    snap(buyer, "03-paid")
    assert taps.count == 2  # the target: at most 3 (with the spec sheet's 确定)

    taps.tap(buyer.locator("#view-order"))
    buyer.wait_for_url(re.compile(r"/orders/\d+$"))
    assert buyer.locator(".order-status").inner_text() == "已付款，待发货"
    buyer.goto(f"{base}/orders")
    assert "待发货 1" in buyer.locator(".order-tabs").inner_text().replace("\n", " ")
    snap(buyer, "04-orders")


def test_address_book_and_picker_on_a_phone(live_server, new_phone):
    product_id, _code = seed(live_server.app)
    base = live_server.url
    buyer = new_phone(user_agent=WECHAT_UA)
    sign_in(buyer, base, "13900001234")
    buyer.goto(f"{base}/account/addresses")
    assert buyer.locator(".address-item").count() == 2
    snap(buyer, "05-address-book")
    buyer.locator("a.btn", has_text="新增收货地址").click()
    buyer.wait_for_url(re.compile(r"/account/addresses/new"))
    assert buyer.locator("#phone").input_value() == "13900001234"
    assert buyer.locator("[data-pick-next]").count() == 0  # the script took over
    buyer.locator("#name").fill("李先生")
    pick_region(buyer, "广东省", "深圳市", "南山区")
    buyer.locator("#detail").fill("科技园南区 1 栋")
    snap(buyer, "06-picker")
    buyer.locator("#is_default").check()
    buyer.get_by_role("button", name="保存地址").click()
    buyer.wait_for_url(f"{base}/account/addresses")
    first = buyer.locator(".address-item").first
    assert "广东省 深圳市 南山区" in first.inner_text() and "默认" in first.inner_text()
    # The checkout's card leads to the book, and a tap there brings the address back.
    buyer.goto(f"{base}/checkout/{product_id}")
    assert "南山区" in buyer.locator("#address-card").inner_text()
    buyer.locator("#address-card").click()
    buyer.locator(".address-choose", has_text="漕溪北路").click()
    buyer.wait_for_url(re.compile(r"/checkout/\d+\?address=\d+"))
    assert "徐汇区" in buyer.locator("#address-card").inner_text()
    # Tibet is not delivered to: say so before the buyer taps.
    buyer.goto(f"{base}/account/addresses/new")
    buyer.locator("#name").fill("李先生")
    pick_region(buyer, "西藏自治区", "拉萨市", "城关区")
    buyer.locator("#detail").fill("北京中路 1 号")
    buyer.get_by_role("button", name="保存地址").click()
    buyer.wait_for_url(f"{base}/account/addresses")
    lhasa = buyer.locator(".address-item", has_text="城关区").get_attribute("data-address")
    buyer.goto(f"{base}/checkout/{product_id}?address={lhasa}")
    assert "不配送到西藏自治区" in buyer.locator(".shipping-problem").inner_text()
    snap(buyer, "07-checkout-unreachable")


def test_merchant_manages_shipping_templates(live_server, new_phone):
    seed(live_server.app)
    base = live_server.url
    seller = new_phone()
    sign_in(seller, base, "13700000002")
    seller.goto(f"{base}/merchant/shipping")
    seller.locator("a.btn", has_text="新建模板").click()
    seller.locator("#name").fill("满99包邮")
    seller.locator("input[name=kind][value=free_over]").check()
    seller.locator("#first_fee").fill("8")
    seller.locator("#free_over").fill("99")
    seller.locator("summary", has_text="不配送的省份").click()
    seller.locator("input[name=unreachable][value='540000']").check()
    snap(seller, "08-template-form")
    seller.locator("main form button[type=submit]").last.click()
    seller.wait_for_url(f"{base}/merchant/shipping")
    assert "满99包邮" in seller.locator(".template-list").inner_text()
    snap(seller, "09-templates")
