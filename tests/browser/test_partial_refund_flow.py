"""部分退款 on phones: the buyer picks two of three units of one item, sees the amount, asks
for too much (kept, with the message), asks for less, and withdraws nothing; the merchant
reads what is asked and agrees; the buyer's order shows the refunded part."""

from functools import partial

import pytest

from shop.platform.extensions import db
from tests import invariants
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.services.test_partial_refunds import order_of_two

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="partial-refunds")


def test_buyer_refunds_part_and_the_merchant_agrees(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        order = order_of_two()
        order_id, buyer_phone = order.id, order.buyer.phone
        seller_phone = order.merchant.user.phone
        db.session.commit()
    base = live_server.url

    buyer = new_phone()
    sign_in(buyer, base, buyer_phone)
    buyer.goto(f"{base}/orders/{order_id}")
    buyer.locator("#refund-some").click()
    buyer.get_by_role("heading", name="部分退款").wait_for()
    selects = buyer.locator("select[data-values]")
    assert selects.count() == 2
    selects.first.select_option("2")
    assert buyer.locator("#refund-most").inner_text() == "66.66"  # 2 of 3 x ¥33.33
    box = selects.first.bounding_box()
    assert box["height"] >= 44
    assert buyer.locator("#amount").evaluate("e => getComputedStyle(e).fontSize") == "16px"
    buyer.locator("#amount").fill("70")
    buyer.locator("#reason").fill("两盒压坏了")
    buyer.get_by_role("button", name="提交退款申请").click()
    buyer.locator("#refund-error").wait_for()
    assert "最多可退 ¥66.66" in buyer.locator("#refund-error").inner_text()
    assert buyer.locator("#reason").input_value() == "两盒压坏了"  # nothing lost
    assert buyer.locator("#amount").input_value() == "70"
    snap(buyer, "buyer-too-much")
    buyer.locator("#amount").fill("50")
    buyer.get_by_role("button", name="提交退款申请").click()
    buyer.locator("#part-1").wait_for()
    assert "等待商家处理" in buyer.locator("#part-1").inner_text()
    # While a part is open, the whole-order refund is not offered (it would be refused).
    assert buyer.get_by_role("heading", name="整单退款").count() == 0
    snap(buyer, "buyer-order-requested")

    seller = new_phone()
    sign_in(seller, base, seller_phone)
    seller.goto(f"{base}/merchant/orders/{order_id}")
    seller.locator("#refunds a.btn").click()
    assert seller.locator("#asked").inner_text() == "¥50.00"
    snap(seller, "merchant-decision")
    seller.get_by_role("button", name="退款 ¥50.00").click()
    seller.wait_for_url(f"{base}/merchant/orders/{order_id}")
    snap(seller, "merchant-order-after")

    buyer.goto(f"{base}/orders/{order_id}")
    assert "−¥50.00" in buyer.locator("#refunded-total").inner_text()
    assert "退回剩余的 ¥83.98" in buyer.content()  # the whole-order refund takes the rest
    snap(buyer, "buyer-order-refunded-part")
    with app.app_context():
        invariants.check(db.session)
