"""Paying through WeChat Pay and Alipay end to end, against local fakes of both gateways: the
pay step, callbacks (forged, wrong amount, unknown order, replayed), the return path, the sweep,
a payment after cancellation, and refunds that fail at the gateway."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.orders import states
from shop.orders.gateways import flow, providers
from shop.orders.models import GatewayPayment, GatewayRefund, Order, OrderStatus, PaymentEvent
from shop.platform import outbox
from shop.platform.audit import AuditEntry
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.fakes import serving
from tests.fakes.alipay import FakeAlipay
from tests.fakes.wechatpay import FakeWeChatPay
from tests.services.test_gateway_adapters import APIV3_KEY, key_pairs  # noqa: F401 (fixture)
from tests.services.test_orders import place

PHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148"
WECHAT = PHONE + " MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"
DESKTOP = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36"
S = OrderStatus


@pytest.fixture
def gateways(app, key_pairs):  # noqa: F811
    wechat = FakeWeChatPay(
        mchid="1900000109",
        appid="wx8888888888888888",
        merchant_public_pem=key_pairs["merchant"][1],
        merchant_serial="SERIAL1",
        platform_private_pem=key_pairs["platform"][0],
        platform_key_id="PUB_KEY_ID_1",
        apiv3_key=APIV3_KEY,
    )
    alipay = FakeAlipay(
        app_id="2021000000000001",
        app_public_pem=key_pairs["app"][1],
        alipay_private_pem=key_pairs["alipay"][0],
    )
    with serving(wechat) as wechat_url, serving(alipay) as alipay_url:
        alipay.base_url = alipay_url
        app.config.update(
            PUBLIC_BASE_URL="https://shop.example.cn",
            WECHATPAY_MCHID="1900000109",
            WECHATPAY_APPID="wx8888888888888888",
            WECHATPAY_SERIAL_NO="SERIAL1",
            WECHATPAY_PRIVATE_KEY=key_pairs["merchant"][0],
            WECHATPAY_APIV3_KEY=APIV3_KEY,
            WECHATPAY_PUBLIC_KEY=key_pairs["platform"][1],
            WECHATPAY_PUBLIC_KEY_ID="PUB_KEY_ID_1",
            WECHATPAY_BASE_URL=wechat_url,
            ALIPAY_APP_ID="2021000000000001",
            ALIPAY_PRIVATE_KEY=key_pairs["app"][0],
            ALIPAY_PUBLIC_KEY=key_pairs["alipay"][1],
            ALIPAY_GATEWAY_URL=alipay_url + "/gateway.do",
            GATEWAY_TIMEOUT_SECONDS=5,
        )
        yield wechat, alipay


def new_order(app, provider: str, *, price=5900, quantity=1):
    with app.app_context():
        buyer = make_user(display_name="买家")
        product = make_product(price_cents=price, stock=5)
        [order] = place(buyer, [(product.id, quantity)], provider=provider, at=utcnow())
        db.session.commit()
        return buyer, order.id, order.number


def status_of(app, order_id):
    with app.app_context():
        return db.session.get(Order, order_id).status


def paid_events(app, order_id):
    with app.app_context():
        return db.session.scalar(
            select(func.count())
            .select_from(PaymentEvent)
            .where(PaymentEvent.order_id == order_id, PaymentEvent.outcome == "paid")
        )


def work(app) -> int:
    """What ``flask worker`` does with the callbacks recorded: its outbox loop's own code."""
    done = 0
    with app.app_context():
        while taken := outbox.process_batch():
            done += taken
        db.session.remove()
    return done


def notify_wechat(client, headers, body):
    return client.post(
        "/payments/wechatpay/notify",
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )


def test_gateways_are_offered_only_once_configured(app, user_client):
    buyer, order_id, _number = new_order(app, "sandbox")
    client = user_client(buyer)
    with app.app_context():
        product_id = db.session.get(Order, order_id).items[0].product_id
    page = client.get(f"/checkout/{product_id}").get_data(as_text=True)
    assert 'value="sandbox"' in page and 'value="wechatpay"' not in page
    assert client.post("/payments/wechatpay/notify", data=b"{}").status_code == 404
    assert client.post("/payments/alipay/notify", data={}).status_code == 404


def test_wechat_h5_pay_callback_once_replay_and_forgery(app, gateways, user_client):
    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    client = user_client(buyer)
    with app.app_context():
        product_id = db.session.get(Order, order_id).items[0].product_id
    page = client.get(f"/checkout/{product_id}").get_data(as_text=True)
    assert 'value="wechatpay"' in page and 'value="alipay"' in page

    step = client.get(f"/orders/{order_id}/pay", headers={"User-Agent": PHONE})
    assert step.headers["Location"].endswith(f"/orders/{order_id}/pay/gateway")
    sent = client.get(step.headers["Location"], headers={"User-Agent": PHONE})
    assert sent.status_code == 302
    assert sent.headers["Location"].startswith("https://wx.tenpay.com/h5pay?prepay_id=")
    assert (
        "redirect_url=https%3A%2F%2Fshop.example.cn%2Fpayments%2Fwechatpay%2Freturn"
        in (sent.headers["Location"])
    )
    trade = wechat.trades[number]
    assert trade["amount"]["total"] == 5900 and trade["trade_type"] == "H5"
    assert trade["notify_url"] == "https://shop.example.cn/payments/wechatpay/notify"

    headers, body = wechat.pay(number)
    forged = body.replace(b'"TRANSACTION.SUCCESS"', b'"TRANSACTION.SUCCESS" ')
    refused = notify_wechat(app.test_client(), headers, forged)
    assert refused.status_code == 401 and refused.get_json()["code"] == "FAIL"
    assert status_of(app, order_id) == S.PLACED

    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    assert notify_wechat(app.test_client(), headers, body).status_code == 204  # replayed
    assert status_of(app, order_id) == S.PLACED  # answered once recorded: the worker pays it
    work(app)
    assert status_of(app, order_id) == S.PAID
    assert paid_events(app, order_id) == 1
    with app.app_context():
        assert db.session.get(GatewayPayment, order_id).settled_at is not None


def test_wechat_wrong_amount_and_unknown_order_change_nothing(app, gateways, user_client):
    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    client = user_client(buyer)
    client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    headers, body = wechat.pay(number, amount=1)  # the gateway reports 0.01 yuan paid
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)
    assert status_of(app, order_id) == S.PLACED
    with app.app_context():
        event = db.session.execute(select(PaymentEvent)).scalar_one()
        assert (event.outcome, event.amount_cents) == ("amount_mismatch", 1)

    wechat.trades["FX-NOT-OURS"] = {**wechat.trades[number], "out_trade_no": "FX-NOT-OURS"}
    headers, body = wechat.pay("FX-NOT-OURS")
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(PaymentEvent)) == 1


def test_wechat_native_qr_on_desktop_and_the_return_path_asks_the_gateway(
    app, gateways, user_client
):
    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    client = user_client(buyer)
    page = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'src="data:image/png;base64,' in html
    # Coming back without a payment: nothing changes, the page says so.
    back = client.get(f"/payments/wechatpay/return?order={number}")
    assert back.status_code == 302 and status_of(app, order_id) == S.PLACED
    wechat.pay(number)  # paid; the callback never arrives
    client.get(f"/payments/wechatpay/return?order={number}")
    assert status_of(app, order_id) == S.PAID
    # Someone else's order number is not theirs to look up.
    stranger = user_client(make_user_in(app))
    assert stranger.get(f"/payments/wechatpay/return?order={number}").status_code == 404


def make_user_in(app):
    with app.app_context():
        user = make_user()
        db.session.commit()
        return user


def test_inside_wechat_without_a_linked_account_the_page_explains(app, gateways, user_client):
    buyer, order_id, _number = new_order(app, "wechatpay")
    client = user_client(buyer)
    client.set_cookie("lang", "en")
    page = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": WECHAT})
    assert "needs your WeChat account linked" in page.get_data(as_text=True)
    buyer2, order2, _n = new_order(app, "alipay")
    other = user_client(buyer2)
    other.set_cookie("lang", "en")
    page = other.get(f"/orders/{order2}/pay/gateway", headers={"User-Agent": WECHAT})
    assert "cannot be opened inside WeChat" in page.get_data(as_text=True)


def test_gateway_down_says_so_and_charges_nothing(app, gateways, user_client):
    buyer, order_id, _number = new_order(app, "wechatpay")
    app.config["WECHATPAY_BASE_URL"] = "http://127.0.0.1:9"
    app.extensions.pop("fenxiang.gateways", None)
    client = user_client(buyer)
    client.set_cookie("lang", "en")
    page = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": PHONE})
    assert page.status_code == 503
    assert "did not answer" in page.get_data(as_text=True)
    assert status_of(app, order_id) == S.PLACED


def test_alipay_wap_notice_return_and_forgery(app, gateways, user_client):
    _wechat, alipay = gateways
    buyer, order_id, number = new_order(app, "alipay", price=1990, quantity=3)
    client = user_client(buyer)
    sent = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": PHONE})
    target = sent.headers["Location"]
    assert target.startswith(alipay.base_url + "/gateway.do?")
    import urllib.request

    urllib.request.urlopen(target, timeout=5).read()  # noqa: S310 - the buyer's browser
    assert alipay.trades[number]["total"] == 5970

    notice = alipay.pay(number)
    forged = {**notice, "total_amount": "0.01"}
    answer = app.test_client().post("/payments/alipay/notify", data=forged)
    assert answer.status_code == 400 and answer.get_data() == b"failure"
    assert status_of(app, order_id) == S.PLACED
    answer = app.test_client().post("/payments/alipay/notify", data=notice)
    assert answer.get_data() == b"success"
    assert app.test_client().post("/payments/alipay/notify", data=notice).get_data() == b"success"
    assert status_of(app, order_id) == S.PLACED
    work(app)
    assert status_of(app, order_id) == S.PAID and paid_events(app, order_id) == 1
    # The browser's return (Alipay adds out_trade_no) after the notice: nothing more happens.
    back = client.get(f"/payments/alipay/return?out_trade_no={number}&total_amount=59.70")
    assert back.status_code == 302 and paid_events(app, order_id) == 1


def test_sweep_pays_what_no_callback_told_and_a_late_payment_is_refunded(
    app, gateways, user_client
):
    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    buyer2, order2, number2 = new_order(app, "wechatpay")
    user_client(buyer).get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    user_client(buyer2).get(f"/orders/{order2}/pay/gateway", headers={"User-Agent": DESKTOP})
    wechat.pay(number)  # paid, callback lost
    later = utcnow() + timedelta(minutes=5)
    with app.app_context():
        counts = flow.sync(providers.for_app(app), now=later)
        assert counts["paid"] == 1
        assert flow.sync(providers.for_app(app), now=later)["paid"] == 0  # again: nothing more
    assert status_of(app, order_id) == S.PAID and paid_events(app, order_id) == 1

    # Order 2: the sweep cancels it at its deadline; then the buyer's payment arrives.
    expired = utcnow() + timedelta(minutes=31)
    with app.app_context():
        assert states.cancel_unpaid(now=expired) == 1
        db.session.commit()
    headers, body = wechat.pay(number2)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)
    assert status_of(app, order2) == S.CANCELLED
    with app.app_context():
        refund = db.session.execute(select(GatewayRefund)).scalar_one()
        assert (refund.kind, refund.amount_cents, refund.state) == ("late_payment", 5900, "pending")
        counts = flow.sync(providers.for_app(app), now=expired)
        assert counts["refunds_done"] == 1
        assert flow.sync(providers.for_app(app), now=expired)["refunds_done"] == 0
    assert list(wechat.refunds) == [f"{number2}-L"]
    assert wechat.refunds[f"{number2}-L"]["amount"]["refund"] == 5900


def test_a_refund_refused_by_the_gateway_is_retried_and_shown_to_admins(app, gateways, user_client):
    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    user_client(buyer).get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    headers, body = wechat.pay(number)
    notify_wechat(app.test_client(), headers, body)
    work(app)
    at = utcnow()
    with app.app_context():
        order = db.session.get(Order, order_id)
        states.request_refund(order, "不想要了", actor=order.buyer, now=at)
        states.decide_refund(
            order, True, actor=order.merchant.user, source="merchant", now=at, note="同意"
        )
        db.session.commit()
    buyer_page = user_client(buyer)
    buyer_page.set_cookie("lang", "en")
    shown = buyer_page.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "Refund of ¥59.00 on its way back to your WeChat Pay account." in shown
    wechat.refund_failure = (500, "SYSTEM_ERROR")
    with app.app_context():
        assert flow.sync(providers.for_app(app), now=at)["errors"] == 1
        refund = db.session.execute(select(GatewayRefund)).scalar_one()
        assert (refund.state, refund.attempts, refund.last_error) == ("failed", 1, "SYSTEM_ERROR")
        assert refund.next_try_at > at
        # Not due yet: the sweep leaves it alone.
        assert flow.sync(providers.for_app(app), now=at)["errors"] == 0
        admin = make_user(is_admin=True)
        db.session.commit()
    admin_client = user_client(admin)
    admin_client.set_cookie("lang", "en")
    page = admin_client.get("/admin/gateway-refunds").get_data(as_text=True)
    assert number in page and "SYSTEM_ERROR" in page

    wechat.refund_failure = None
    with app.app_context():
        refund_id = db.session.execute(select(GatewayRefund.id)).scalar_one()
    retried = admin_client.post(f"/admin/gateway-refunds/{refund_id}/retry")
    assert retried.status_code == 303
    with app.app_context():
        refund = db.session.get(GatewayRefund, refund_id)
        assert refund.state == "done" and refund.amount_cents == 5900
        assert db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "gateway_refund.retry")
        ).scalar_one()
    assert "Every refund has gone through" in admin_client.get("/admin/gateway-refunds").get_data(
        as_text=True
    )


def test_a_hundred_duplicate_callbacks_the_return_path_and_the_sweep_pay_once(
    app, gateways, user_client
):
    import threading

    from shop.orders.models import OrderEvent

    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    client = user_client(buyer)
    client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    headers, body = wechat.pay(number)
    barrier = threading.Barrier(103)
    answers = []
    stop = threading.Event()

    def callback():
        barrier.wait()
        answers.append(notify_wechat(app.test_client(), headers, body).status_code)

    def return_path():
        barrier.wait()
        answers.append(client.get(f"/payments/wechatpay/return?order={number}").status_code)

    def sweep():
        with app.app_context():
            barrier.wait()
            flow.sync(providers.for_app(app), now=utcnow() + timedelta(minutes=5))
            db.session.remove()

    def worker():  # the worker's outbox loop, applying callbacks while more arrive
        barrier.wait()
        while not stop.is_set():
            work(app) or stop.wait(0.01)

    threads = [threading.Thread(target=callback) for _ in range(100)]
    threads += [threading.Thread(target=return_path), threading.Thread(target=sweep)]
    running = threading.Thread(target=worker)
    running.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    stop.set()
    running.join(60)
    work(app)  # what the worker had not got to yet
    assert sorted(set(answers)) == [204, 302] and len(answers) == 101
    with app.app_context():
        rows = db.session.execute(
            select(outbox.OutboxRow).where(outbox.OutboxRow.topic == "payment")
        ).scalars()
        assert sorted((r.last_error, r.done_at is not None) for r in rows) == [("", True)] * 100
    assert status_of(app, order_id) == S.PAID
    assert paid_events(app, order_id) == 1
    with app.app_context():
        assert (
            db.session.scalar(
                select(func.count())
                .select_from(OrderEvent)
                .where(OrderEvent.order_id == order_id, OrderEvent.to_status == "paid")
            )
            == 1
        )


def test_inside_wechat_a_linked_buyer_gets_the_jsapi_pay_sheet(app, gateways, user_client):
    from shop.accounts.signin_models import WeChatIdentity

    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    with app.app_context():
        buyer_id = db.session.execute(
            select(Order.buyer_id).where(Order.id == order_id)
        ).scalar_one()
        db.session.add(
            WeChatIdentity(
                user_id=buyer_id, app_id="wx8888888888888888", openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
            )
        )
        db.session.commit()
    client = user_client(buyer)
    page = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": WECHAT})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="wxpay"' in html and "js/wxpay" in html
    assert "prepay_id=wx" in html and "paySign" in html
    trade = wechat.trades[number]
    assert (trade["trade_type"], trade["openid"]) == ("JSAPI", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")
