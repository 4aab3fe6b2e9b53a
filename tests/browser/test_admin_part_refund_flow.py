"""An administrator refunds some items of an order on a phone: from /admin/refunds, finds
the order by number (a wrong number is said so, kept), picks one of three units, sees the
most that can be refunded change, forgets the reason and reads why (the choice kept), then
refunds it at once."""

from functools import partial

import pytest
from sqlalchemy import select

from shop.money.models import RefundRequest, RefundStatus
from shop.platform.extensions import db
from tests.browser.conftest import snap as phone_snap
from tests.browser.conftest import sweep_accessibility
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_user
from tests.services.test_partial_refunds import order_of_two

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="admin-part-refund")


def test_admin_refunds_one_unit_of_an_order(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        order = order_of_two()
        make_user(phone="13700000001", display_name="管理员", is_admin=True)
        db.session.commit()
        order_id, number, tea = order.id, order.number, order.items[0].id
    base = live_server.url
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(base + "/admin/refunds")
    admin.get_by_label("订单号").fill("000")
    admin.get_by_role("button", name="打开订单").click()
    admin.get_by_text("没有订单号为 000 的订单").wait_for()
    assert admin.get_by_label("订单号").input_value() == "000"
    snap(admin, "lookup-missing")
    admin.get_by_label("订单号").fill(number)
    admin.get_by_role("button", name="打开订单").click()
    admin.wait_for_url(f"{base}/admin/orders/{order_id}/refund-part")
    admin.locator(f"#qty-{tea}").select_option("1")
    assert admin.locator("#refund-most").inner_text() == "33.33"
    snap(admin, "form")
    admin.get_by_role("button", name="立即退款").click()
    admin.get_by_text("请说明原因").first.wait_for()
    assert admin.locator(f"#qty-{tea}").input_value() == "1"
    snap(admin, "no-reason")
    admin.get_by_label("理由（买家可见，并记入审计日志）").fill("商家超时未处理")
    admin.get_by_role("button", name="立即退款").click()
    admin.wait_for_url(f"{base}/admin/refunds")
    admin.get_by_text("已退款 ¥33.33").wait_for()
    snap(admin, "refunded")
    problems = sweep_accessibility(
        admin.context,
        [
            base + "/admin/refunds",
            base + f"/admin/orders/{order_id}/refund-part",
            base + "/admin/refund-part?number=000",
        ],
    )
    assert not problems, problems
    with app.app_context():
        refund = db.session.execute(select(RefundRequest)).scalar_one()
        assert (refund.status, refund.amount_cents) == (RefundStatus.REFUNDED, 3333)
