"""WeChat Pay partner mode (服务商) and profit sharing (分账), end to end against the local
fake of the partner API: the payment is made through the partner endpoint for the merchant's
sub_mchid with profit sharing, the partner-shaped callback pays the order, refunds name the
sub-merchant, and after settlement `flask profit-sharing` sends the stored split to the
platform (adding it as a receiver), asks about it until finished and never sends it twice;
with nothing to send it only unfreezes; a failure is retried; off unless configured."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.catalog.models import Merchant
from shop.money import ledger, merchant_ledger, profit_sharing
from shop.money.models import ProfitShare
from shop.orders import states
from shop.orders.gateways import providers
from shop.orders.gateways.wechatpay_partner import WeChatPayPartner
from shop.orders.models import Order, OrderStatus
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests import invariants
from tests.factories import make_merchant, make_product, make_user
from tests.fakes import serving
from tests.fakes.wechatpay_partner import FakeWeChatPayPartner
from tests.services.test_gateway_adapters import APIV3_KEY, key_pairs  # noqa: F401 (fixture)
from tests.services.test_orders import place
from tests.web.test_gateway_payments import DESKTOP, notify_wechat, work

SP_MCHID, SP_APPID, SUB = "1900000100", "wx8888888888888888", "1900000201"
WINDOW = timedelta(days=7)


@pytest.fixture
def partner(app, key_pairs):  # noqa: F811
    fake = FakeWeChatPayPartner(
        sub_mchids={SUB},
        mchid=SP_MCHID,
        appid=SP_APPID,
        merchant_public_pem=key_pairs["merchant"][1],
        merchant_serial="SERIAL1",
        platform_private_pem=key_pairs["platform"][0],
        platform_key_id="PUB_KEY_ID_1",
        apiv3_key=APIV3_KEY,
    )
    with serving(fake) as url:
        app.config.update(
            PUBLIC_BASE_URL="https://shop.example.cn",
            WECHATPAY_SP_MCHID=SP_MCHID,
            WECHATPAY_SP_APPID=SP_APPID,
            WECHATPAY_SP_NAME="分享小店科技有限公司",
            WECHATPAY_SERIAL_NO="SERIAL1",
            WECHATPAY_PRIVATE_KEY=key_pairs["merchant"][0],
            WECHATPAY_APIV3_KEY=APIV3_KEY,
            WECHATPAY_PUBLIC_KEY=key_pairs["platform"][1],
            WECHATPAY_PUBLIC_KEY_ID="PUB_KEY_ID_1",
            WECHATPAY_BASE_URL=url,
            GATEWAY_TIMEOUT_SECONDS=5,
        )
        yield fake


def new_order(app, *, sub_mchid=SUB, fee_bps=300, price=10000):
    with app.app_context():
        merchant = make_merchant(wechatpay_sub_mchid=sub_mchid, fee_bps=fee_bps)
        product = make_product(price_cents=price, stock=5, merchant=merchant)
        buyer = make_user()
        [order] = place(buyer, [(product.id, 1)], provider="wechatpay", at=utcnow())
        db.session.commit()
        return buyer, order.id, order.number


def pay(app, client, partner, order_id, number):
    made = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    assert made.status_code == 200, made.get_data(as_text=True)[:500]
    headers, body = partner.pay(number)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)  # flask worker applies the callback


def settle(app, order_id):
    with app.app_context():
        order = db.session.get(Order, order_id)
        at = utcnow()
        states.ship(order, "顺丰速运", "SF1234567890", actor=order.merchant.user, now=at)
        states.confirm_receipt(order, actor=order.buyer, now=at)
        ledger.settle_order(order_id, now=at + WINDOW, return_window=WINDOW)
        db.session.commit()


def run(app):
    with app.app_context():
        return profit_sharing.run(providers.build(app.config)["wechatpay"], now=utcnow())


def test_partner_payment_callback_and_profit_sharing_once(app, partner, user_client):
    with app.app_context():
        assert isinstance(providers.build(app.config)["wechatpay"], WeChatPayPartner)
    buyer, order_id, number = new_order(app)
    client = user_client(buyer)
    pay(app, client, partner, order_id, number)
    path, body = partner.bodies[0]
    assert path == "/v3/pay/partner/transactions/native"
    assert (body["sp_mchid"], body["sp_appid"], body["sub_mchid"]) == (SP_MCHID, SP_APPID, SUB)
    assert body["settle_info"] == {"profit_sharing": True} and "mchid" not in body
    assert body["amount"]["total"] == partner.trades[number]["amount"]["total"]
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == OrderStatus.PAID
        split = merchant_ledger.split_of(order_id)
        platform_part = split.paid_cents - split.merchant_cents
        assert split.fee_cents == 300 and platform_part == 300
    assert run(app) == {"planned": 0, "done": 0, "waiting": 0, "failed": 0}  # not settled yet
    settle(app, order_id)
    assert run(app) == {"planned": 1, "done": 0, "waiting": 1, "failed": 0}
    sent = [(p, b) for p, b in partner.bodies if p.startswith("/v3/profitsharing")]
    assert [p for p, _b in sent] == ["/v3/profitsharing/receivers/add", "/v3/profitsharing/orders"]
    receiver = partner.receivers[SUB][SP_MCHID]
    assert receiver["relation_type"] == "SERVICE_PROVIDER"
    assert receiver["name"] == "分享小店科技有限公司"  # sent encrypted, decrypted by the fake
    request = sent[1][1]
    assert request["out_order_no"] == f"PS{number}" and request["unfreeze_unsplit"] is True
    assert request["receivers"] == [{"type": "MERCHANT_ID", "account": SP_MCHID, "amount": 300,
                                     "description": profit_sharing.DESCRIPTION}]  # fmt: skip
    assert request["transaction_id"] == partner.trades[number]["transaction_id"]
    assert run(app) == {"planned": 0, "done": 1, "waiting": 0, "failed": 0}  # asked: finished
    assert run(app) == {"planned": 0, "done": 0, "waiting": 0, "failed": 0}
    assert len([p for p, _b in partner.bodies if p == "/v3/profitsharing/orders"]) == 1
    with app.app_context():
        share = db.session.get(ProfitShare, order_id)
        assert (share.state, share.amount_cents, share.sub_mchid) == ("done", 300, SUB)
        invariants.check(db.session)


def test_nothing_to_share_only_unfreezes_and_failures_are_retried(app, partner, user_client):
    buyer, free_id, free_number = new_order(app, fee_bps=0)
    pay(app, user_client(buyer), partner, free_id, free_number)
    buyer, order_id, number = new_order(app)
    pay(app, user_client(buyer), partner, order_id, number)
    settle(app, free_id)
    settle(app, order_id)
    partner.sharing_failure = (500, "SYSTEM_ERROR")
    assert run(app) == {"planned": 2, "done": 0, "waiting": 1, "failed": 1}
    unfreeze = [b for p, b in partner.bodies if p == "/v3/profitsharing/orders/unfreeze"]
    assert unfreeze == [{"sub_mchid": SUB, "transaction_id": partner.trades[free_number][
        "transaction_id"], "out_order_no": f"PS{free_number}",
        "description": profit_sharing.DESCRIPTION}]  # fmt: skip
    with app.app_context():
        failed = db.session.get(ProfitShare, order_id)
        assert (failed.state, failed.attempts, failed.last_error) == ("failed", 1, "SYSTEM_ERROR")
    partner.sharing_failure = None
    assert run(app) == {"planned": 0, "done": 1, "waiting": 1, "failed": 0}
    assert run(app) == {"planned": 0, "done": 1, "waiting": 0, "failed": 0}
    assert partner.sharings[f"PS{number}"]["receivers"][0]["amount"] == 300


def test_a_merchant_without_a_sub_mchid_cannot_take_wechat_pay(app, partner, user_client):
    buyer, order_id, _number = new_order(app, sub_mchid="")
    answer = user_client(buyer).get(f"/orders/{order_id}/pay/gateway",
                                    headers={"User-Agent": DESKTOP})  # fmt: skip
    assert answer.status_code == 503
    assert not [p for p, _b in partner.bodies if p.startswith("/v3/pay/partner")]


def test_partner_refund_names_the_sub_merchant_and_the_sub_mchid_command_is_audited(
    app, partner, user_client
):
    buyer, order_id, number = new_order(app)
    pay(app, user_client(buyer), partner, order_id, number)
    with app.app_context():
        adapter = providers.build(app.config)["wechatpay"]
        state = adapter.refund(order_number=number, refund_number=f"{number}-R",
                               amount_cents=10000, total_cents=10000, reason="退款")  # fmt: skip
        assert state.state == "done" and adapter.query(number).state == "refunded"
        merchant_id = db.session.get(Order, order_id).merchant_id
    path, body = [(p, b) for p, b in partner.bodies if "refund" in p][0]
    assert body["sub_mchid"] == SUB
    runner = app.test_cli_runner()
    with app.app_context():  # as `flask` runs a command
        bad = runner.invoke(args=["wechatpay-sub-mchid", str(merchant_id), "12a", "--reason", "x"])
        assert bad.exit_code != 0
        done = runner.invoke(args=["wechatpay-sub-mchid", str(merchant_id), "1900000202",
                                   "--reason", "进件完成"])  # fmt: skip
        assert done.exit_code == 0, done.output
        db.session.rollback()
        assert db.session.get(Merchant, merchant_id).wechatpay_sub_mchid == "1900000202"
        entry = db.session.execute(select(AuditEntry)).scalars().all()[-1]
        assert (entry.action, entry.after) == (
            "merchant.wechatpay_sub_mchid", {"wechatpay_sub_mchid": "1900000202"},
        )  # fmt: skip


def test_partner_mode_is_off_unless_configured(app):
    with app.app_context():
        assert "wechatpay" not in providers.build(app.config)
        assert profit_sharing.run(None, now=utcnow())["planned"] == 0
        result = app.test_cli_runner().invoke(args=["profit-sharing"])
        assert "not configured" in result.output


def test_admin_sets_a_merchants_sub_mchid_on_its_page_audited(app, english_client):
    with app.app_context():
        merchant = make_merchant()
        admin, outsider = make_user(is_admin=True), make_user()
        db.session.commit()
        merchant_id, owner, admin_id = merchant.id, merchant.user, admin.id
    url = f"/admin/merchants/{merchant_id}/wechatpay"
    for user in (outsider, owner):
        assert english_client(user).get(url).status_code == 403
        posted = english_client(user).post(url, data={"sub_mchid": "1900000999", "reason": "x"})
        assert posted.status_code == 403
    client = english_client(admin)
    page = client.get(url).get_data(as_text=True)
    assert "Partner mode is not configured" in page
    assert "Orders already paid keep the number they were paid under" in page
    bad = client.post(url, data={"sub_mchid": "19000-02", "reason": "进件完成"})
    text = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "6 to 32 digits" in text and 'value="19000-02"' in text
    ok = client.post(url, data={"sub_mchid": " 1900000202 ", "reason": "进件完成"})
    assert ok.status_code == 303
    assert "1900000202" in client.get(f"/admin/merchants/{merchant_id}").get_data(as_text=True)
    assert client.get("/admin/merchants/999999/wechatpay").status_code == 404
    with app.app_context():
        assert db.session.get(Merchant, merchant_id).wechatpay_sub_mchid == "1900000202"
        entry = db.session.execute(select(AuditEntry)).scalar_one()
        assert (entry.action, entry.reason, entry.actor_id) == (
            "merchant.wechatpay_sub_mchid", "进件完成", admin_id,
        )  # fmt: skip


def test_after_a_partial_refund_only_what_the_platform_still_holds_is_shared(
    app, partner, user_client
):
    """A partial refund gave back part of the fee with its share: the sharing sends what the
    payment still holds beyond the merchant's live share (paid - refunded - share)."""
    from shop.money import refunds

    buyer, order_id, number = new_order(app)
    pay(app, user_client(buyer), partner, order_id, number)
    with app.app_context():
        order = db.session.get(Order, order_id)
        [item] = order.items
        part = refunds.request(
            order, {item.id: 1}, reason="少发了配件", kind=states.REFUND_ONLY, key="p1",
            actor=order.buyer, now=utcnow(), amount_cents=4000, with_shipping=False,
        )  # fmt: skip
        refunds.decide(part, True, actor=order.merchant.user, source="merchant", now=utcnow())
        db.session.commit()
    settle(app, order_id)
    assert run(app)["planned"] == 1
    [request] = [b for p, b in partner.bodies if p == "/v3/profitsharing/orders"]
    # Fee 3% of ¥100 = 300; the ¥40 refund took 300 * 4000 // 10000 = 120 of it back.
    assert request["receivers"][0]["amount"] == 180
    with app.app_context():
        assert db.session.get(ProfitShare, order_id).amount_cents == 180
        invariants.check(db.session)


def test_checkout_offers_wechat_pay_only_for_merchants_with_a_sub_mchid(app, partner, user_client):
    """Partner mode takes money only into a sub-merchant's account: a shop without its number
    is not offered WeChat Pay at checkout (buy now or the cart), so nobody meets a dead end."""
    with app.app_context():
        ready = make_product(merchant=make_merchant(wechatpay_sub_mchid=SUB), stock=5)
        waiting = make_product(merchant=make_merchant(wechatpay_sub_mchid=""), stock=5)
        buyer = make_user()
        db.session.commit()
        ready_id, waiting_id = ready.id, waiting.id
    client = user_client(buyer)
    offered = client.get(f"/checkout/{ready_id}").get_data(as_text=True)
    assert 'value="wechatpay"' in offered and 'value="alipay"' not in offered  # not configured
    refused = client.get(f"/checkout/{waiting_id}").get_data(as_text=True)
    assert 'value="wechatpay"' not in refused and 'value="sandbox"' in refused
