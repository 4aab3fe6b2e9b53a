"""A partner-mode refund held as ``wrong_account`` (WeChat Pay reported it from another
sub-merchant's account) on an admin's phone: the gateway refunds page says so and points to
the reconciliation page, which lists the refund's difference."""

from datetime import date, timedelta
from functools import partial

import pytest

from shop.orders.models import GatewayRefund, ReconciliationItem
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.browser.conftest import snap as phone_snap
from tests.browser.conftest import sweep_accessibility
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_user
from tests.services.test_partial_refunds import order_of_two

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="refund-wrong-account")


def test_admin_sees_a_refund_reported_from_another_sub_merchant(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        order = order_of_two()
        order.merchant.wechatpay_sub_mchid = "1900000202"
        make_user(phone="13700000001", display_name="管理员", is_admin=True)
        number = f"{order.number}-R"
        refund = GatewayRefund(
            order_id=order.id, provider="wechatpay", refund_number=number, kind="refund",
            amount_cents=order.total_cents, reason="退货", state="pending", attempts=0,
            last_error="wrong_account", next_try_at=utcnow() + timedelta(hours=1),
            gateway_refund_id="50300000000000000001", created_at=utcnow(),
        )  # fmt: skip
        item = ReconciliationItem(
            provider="wechatpay", day=date(2026, 12, 5), kind="wrong_account", subject="refund",
            reference=number, order_number=order.number, ours_cents=order.total_cents,
            theirs_cents=order.total_cents, account="1900000999", found_at=utcnow(),
            resolution="",
        )  # fmt: skip
        db.session.add_all([refund, item])
        db.session.commit()
        refund_id, item_id = refund.id, item.id
    base = live_server.url
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(base + "/admin/gateway-refunds")
    card = admin.locator(f"#refund-{refund_id}")
    assert "出自其他子商户的账户" in card.inner_text()
    assert "已列入对账" in card.inner_text()
    snap(admin, "gateway-refunds")
    admin.goto(base + "/admin/reconciliation")
    listed = admin.locator(f"#item-{item_id}").inner_text()
    assert number in listed and "1900000999" in listed
    assert "退款出自其他子商户的账户" in listed
    assert (
        "出自其他子商户账户的退款也会列在这里"
        in admin.locator("#wrong-account-refund-note").inner_text()
    )
    snap(admin, "reconciliation")
    urls = [base + "/admin/gateway-refunds", base + "/admin/reconciliation"]
    problems = sweep_accessibility(admin.context, urls)
    assert not problems, problems
