"""Profit sharing (分账) on a phone: an admin opens the page of sharings that failed or were
given up (order, sub-merchant, amount, attempts, last error; the returns not done below),
sends a given-up one again with the page's own form, and reads that WeChat Pay accepted it;
the retry is audited. Partner mode runs against the local fake on a loopback port."""

from functools import partial

import pytest
from sqlalchemy import select

from shop.money.models import ProfitReturn, ProfitShare
from shop.orders.gateways import flow
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.browser.conftest import seed_tea_merchant, sweep_accessibility
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_user
from tests.fakes import serving
from tests.fakes.wechatpay_partner import FakeWeChatPayPartner
from tests.services.test_gateway_adapters import APIV3_KEY, key_pairs  # noqa: F401 (fixture)
from tests.services.test_orders import place

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="profit-sharing")
SP_MCHID, SP_APPID, SUB = "1900000100", "wx8888888888888888", "1900000201"


def seed(app, fake):
    """Two paid WeChat Pay orders of 山野茶舍: one whose sharing was given up, one whose
    refund waits for a return that failed."""
    with app.app_context():
        product = seed_tea_merchant()
        product.merchant.wechatpay_sub_mchid = SUB
        buyer = make_user(display_name="买家")
        [order] = place(buyer, [(product.id, 1)], provider="wechatpay", at=utcnow())
        [other] = place(buyer, [(product.id, 1)], key="k2", provider="wechatpay", at=utcnow())
        for one, trade_id in ((order, "4200000001"), (other, "4200000002")):
            one.paid_at = utcnow()
            fake.trades[one.number] = {
                "out_trade_no": one.number, "transaction_id": trade_id, "sub_mchid": SUB,
                "trade_state": "SUCCESS", "profit_sharing": True, "shared": 0,
                "amount": {"total": one.total_cents},
            }  # fmt: skip
        db.session.add(ProfitShare(
            order_id=order.id, out_order_no=f"PS{order.number}", sub_mchid=SUB,
            transaction_id="4200000001", amount_cents=1280, state="given_up", attempts=8,
            last_error="NO_AUTH", gateway_order_id="", created_at=utcnow(),
        ))  # fmt: skip
        refund = flow.refund_order(other, reason="不想要了", now=utcnow())
        refund.last_error = "return_processing"  # its return is being processed
        db.session.flush()
        db.session.add(ProfitReturn(
            refund_id=refund.id, order_id=other.id, out_return_no=f"PR{other.number}-R",
            seq=0, sub_mchid=SUB, out_order_no=f"PS{other.number}", amount_cents=1280,
            state="failed", attempts=2, last_error="SYSTEM_ERROR", gateway_return_id="",
            created_at=utcnow(),
        ))  # fmt: skip
        db.session.commit()
        return order.id, order.number


def test_admin_sends_a_given_up_profit_sharing_again(live_server, new_phone, key_pairs):  # noqa: F811
    app = live_server.app
    fake = FakeWeChatPayPartner(
        sub_mchids={SUB}, mchid=SP_MCHID, appid=SP_APPID,
        merchant_public_pem=key_pairs["merchant"][1], merchant_serial="SERIAL1",
        platform_private_pem=key_pairs["platform"][0], platform_key_id="PUB_KEY_ID_1",
        apiv3_key=APIV3_KEY,
    )  # fmt: skip
    with serving(fake) as url:
        app.config.update(
            PUBLIC_BASE_URL="https://shop.example.cn", WECHATPAY_SP_MCHID=SP_MCHID,
            WECHATPAY_SP_APPID=SP_APPID, WECHATPAY_SERIAL_NO="SERIAL1",
            WECHATPAY_PRIVATE_KEY=key_pairs["merchant"][0], WECHATPAY_APIV3_KEY=APIV3_KEY,
            WECHATPAY_PUBLIC_KEY=key_pairs["platform"][1], WECHATPAY_PUBLIC_KEY_ID="PUB_KEY_ID_1",
            WECHATPAY_BASE_URL=url, GATEWAY_TIMEOUT_SECONDS=5,
        )  # fmt: skip
        app.extensions.pop("fenxiang.gateways", None)
        order_id, number = seed(app, fake)
        base = live_server.url
        admin = new_phone()
        sign_in(admin, base, "13700000001")
        admin.goto(base + "/admin/profit-sharing")
        admin.get_by_role("heading", name="分账 (1)").wait_for()
        card = admin.locator(f"#share-{order_id}")
        text = card.inner_text()
        assert number in text and SUB in text and "¥12.80" in text and "NO_AUTH" in text
        assert "已暂停重试" in text and "8" in text
        assert "SYSTEM_ERROR" in admin.locator("#open-returns").inner_text()
        snap(admin, "given-up")
        card.get_by_role("button", name="立即重新发起").click()
        admin.get_by_text("微信支付已受理分账，稍后完成。").wait_for()
        admin.locator("#no-failed-sharings").wait_for()
        snap(admin, "sent-again")
        admin.goto(base + "/admin/gateway-refunds")
        admin.get_by_text("先等待分账回退（return_processing）").wait_for()
        snap(admin, "gateway-refund-waits")
        admin.context.add_cookies([{"name": "lang", "value": "en", "url": base}])
        admin.goto(base + "/admin/profit-sharing")
        admin.get_by_role("heading", name="Profit sharing (0)").wait_for()
        admin.get_by_text("Return amount").wait_for()
        snap(admin, "english")
        problems = sweep_accessibility(
            admin.context, [base + "/admin/profit-sharing", base + "/admin/gateway-refunds"]
        )
        assert not problems, problems
    assert fake.sharings[f"PS{number}"]["receivers"][0]["amount"] == 1280
    with app.app_context():
        assert db.session.get(ProfitShare, order_id).state == "sent"
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "profit_share.retry")
        ).scalar_one()
        assert entry.before == {"state": "given_up", "attempts": 8}
