"""Reconciliation differences on a phone: an admin reads a partner-mode difference (a payment
of one of our orders that went through another sub-merchant's account, with both numbers),
and marks it resolved with a note."""

from datetime import date
from functools import partial

import pytest

from shop.orders.models import ReconciliationItem
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.browser.conftest import snap as phone_snap
from tests.browser.conftest import sweep_accessibility
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_user
from tests.services.test_partial_refunds import order_of_two

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="reconciliation")


def test_admin_reads_a_wrong_account_difference_and_resolves_it(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        order = order_of_two()
        order.merchant.wechatpay_sub_mchid = "1900000202"
        make_user(phone="13700000001", display_name="管理员", is_admin=True)
        item = ReconciliationItem(
            provider="wechatpay", day=date(2026, 12, 5), kind="wrong_account", subject="payment",
            reference="4200000000202612051234", order_number=order.number,
            ours_cents=order.total_cents, theirs_cents=order.total_cents, account="1900000999",
            found_at=utcnow(), resolution="",
        )  # fmt: skip
        db.session.add(item)
        db.session.commit()
        item_id = item.id
    base = live_server.url
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(base + "/admin/reconciliation")
    card = admin.locator(f"#item-{item_id}")
    assert "款项进入了其他子商户的账户" in card.inner_text()
    assert "账单显示子商户号 1900000999；该订单支付时的子商户号为 1900000202。" in card.inner_text()
    snap(admin, "wrong-account")
    problems = sweep_accessibility(admin.context, [base + "/admin/reconciliation"])
    assert not problems, problems
    admin.context.add_cookies(
        [{"name": "lang", "value": "zh_Hans_CN", "url": base + "/admin/reconciliation"}]
    )
    admin.goto(base + "/admin/reconciliation")
    card.get_by_label("处理说明").fill("已联系服务商，款项已转回商家子商户")
    card.get_by_role("button", name="标记为已处理").click()
    admin.get_by_text("已联系服务商，款项已转回商家子商户").wait_for()
    snap(admin, "resolved")
    with app.app_context():
        assert db.session.get(ReconciliationItem, item_id).resolved_at is not None
