"""The WeChat Pay and Alipay adapters against local fakes of their documented protocols."""

import json
import urllib.request
from datetime import date, datetime

import pytest

from shop.orders.gateways.alipay import Alipay, BadNotice
from shop.orders.gateways.base import GatewayError, fen_to_yuan, yuan_to_fen
from shop.orders.gateways.wechatpay import BadCallback, WeChatPay
from tests.fakes import rsa_pair, serving
from tests.fakes.alipay import FakeAlipay
from tests.fakes.wechatpay import FakeWeChatPay

APIV3_KEY = "0123456789abcdef0123456789ABCDEF"


@pytest.fixture(scope="session")
def key_pairs():
    return {name: rsa_pair() for name in ("merchant", "platform", "app", "alipay", "other")}


@pytest.fixture
def wechat(key_pairs):
    fake = FakeWeChatPay(
        mchid="1900000109",
        appid="wxd678efh567hg6787",
        merchant_public_pem=key_pairs["merchant"][1],
        merchant_serial="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
        platform_private_pem=key_pairs["platform"][0],
        platform_key_id="PUB_KEY_ID_0114232134912410000000000000",
        apiv3_key=APIV3_KEY,
    )
    with serving(fake) as url:
        adapter = WeChatPay(
            mchid="1900000109",
            appid="wxd678efh567hg6787",
            serial_no="5157F09EFDC096DE15EBE81A47057A7232F1B8E1",
            private_key=key_pairs["merchant"][0],
            apiv3_key=APIV3_KEY,
            platform_key=key_pairs["platform"][1],
            platform_key_id="PUB_KEY_ID_0114232134912410000000000000",
            notify_url="https://shop.example.com/payments/wechatpay/notify",
            base_url=url,
            timeout=5,
        )
        yield fake, adapter


@pytest.fixture
def alipay(key_pairs):
    fake = FakeAlipay(
        app_id="2021000000000001",
        app_public_pem=key_pairs["app"][1],
        alipay_private_pem=key_pairs["alipay"][0],
    )
    with serving(fake) as url:
        fake.base_url = url
        adapter = Alipay(
            app_id="2021000000000001",
            private_key=key_pairs["app"][0],
            alipay_public_key=key_pairs["alipay"][1],
            notify_url="https://shop.example.com/payments/alipay/notify",
            gateway_url=url + "/gateway.do",
            timeout=5,
        )
        yield fake, adapter


LATER = datetime(2026, 12, 6, 12, 30)


def visit(charge) -> str:
    """What the buyer's browser does with a charge: open the gateway's page."""
    with urllib.request.urlopen(charge.redirect_url, timeout=5) as page:  # noqa: S310
        return page.read().decode()


def test_amounts_are_exact():
    assert yuan_to_fen("12.3") == 1230
    assert yuan_to_fen("0.01") == 1
    assert yuan_to_fen("100") == 10000
    assert fen_to_yuan(1) == "0.01"
    assert fen_to_yuan(123456) == "1234.56"
    for bad in ("1.234", "-1.00", "1e3", "", "0x10", "01.00", " . "):
        with pytest.raises(ValueError):
            yuan_to_fen(bad)


# --- WeChat Pay ------------------------------------------------------------------------------


def test_wechat_native_payment_callback_and_query(wechat):
    fake, adapter = wechat
    charge = adapter.create(
        order_number="FX1001",
        amount_cents=5900,
        description="山茶花 乌龙茶",
        expires_at=LATER,
        channel="native",
    )
    assert charge.qr_text.startswith("weixin://wxpay/bizpayurl")
    trade = fake.trades["FX1001"]
    assert trade["amount"] == {"total": 5900, "currency": "CNY"}
    assert trade["time_expire"] == "2026-12-06T20:30:00+08:00"  # UTC 12:30 in China time
    assert trade["notify_url"].endswith("/payments/wechatpay/notify")
    assert adapter.query("FX1001").state == "unpaid"

    headers, body = fake.pay("FX1001")
    state = adapter.parse_callback(headers, body)
    assert (state.order_number, state.state, state.amount_cents) == ("FX1001", "paid", 5900)
    assert state.trade_id.startswith("4200")
    queried = adapter.query("FX1001")
    assert (queried.state, queried.trade_id, queried.amount_cents) == ("paid", state.trade_id, 5900)
    assert adapter.query("FX-NOPE").state == "unknown"


def test_wechat_jsapi_needs_openid_and_signs_the_pay_sheet(wechat, key_pairs):
    fake, adapter = wechat
    with pytest.raises(GatewayError) as error:
        adapter.create(
            order_number="FX1002",
            amount_cents=100,
            description="x",
            expires_at=LATER,
            channel="jsapi",
        )
    assert error.value.code == "openid"
    charge = adapter.create(
        order_number="FX1002",
        amount_cents=100,
        description="x",
        expires_at=LATER,
        channel="jsapi",
        openid="oUpF8uMuAJO_M2pxb1Q9zNjWeS6o",
    )
    params = charge.jsapi
    assert params["package"].startswith("prepay_id=wx")
    assert params["signType"] == "RSA"
    from shop.orders.gateways import keys

    message = (
        f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    )
    assert keys.verify(
        keys.public_key(key_pairs["merchant"][1]), message.encode(), params["paySign"]
    )


def test_wechat_h5_gives_the_cashier_url(wechat):
    _fake, adapter = wechat
    charge = adapter.create(
        order_number="FX1003",
        amount_cents=100,
        description="x",
        expires_at=LATER,
        channel="h5",
        client_ip="203.0.113.9",
    )
    assert charge.redirect_url.startswith("https://wx.tenpay.com/h5pay")


def test_wechat_refuses_forged_stale_and_foreign_callbacks(wechat, key_pairs):
    fake, adapter = wechat
    adapter.create(
        order_number="FX1004", amount_cents=100, description="x", expires_at=LATER, channel="native"
    )
    headers, body = fake.pay("FX1004")
    # The body changed after signing (a forged amount).
    forged = body.replace(b'"event_type"', b'"event_type" ')
    with pytest.raises(BadCallback) as error:
        adapter.parse_callback(headers, forged)
    assert error.value.code == "bad_signature"
    # Signed by someone else's key.
    fake_other = FakeWeChatPay(
        mchid="1900000109",
        appid="wxd678efh567hg6787",
        merchant_public_pem=key_pairs["merchant"][1],
        merchant_serial="x",
        platform_private_pem=key_pairs["other"][0],
        platform_key_id="PUB_KEY_ID_0114232134912410000000000000",
        apiv3_key=APIV3_KEY,
    )
    fake_other.trades = fake.trades
    other_headers, other_body = fake_other.pay("FX1004")
    with pytest.raises(BadCallback):
        adapter.parse_callback(other_headers, other_body)
    # A replay of a genuine callback an hour later.
    old_headers, old_body = fake.callback(
        "TRANSACTION.SUCCESS", fake._trade_view(fake.trades["FX1004"]), timestamp=1_700_000_000
    )
    with pytest.raises(BadCallback) as error:
        adapter.parse_callback(old_headers, old_body)
    assert error.value.code == "stale"
    # A valid signature over a resource that the APIv3 key did not encrypt.
    event = json.loads(body)
    event["resource"]["ciphertext"] = event["resource"]["ciphertext"][:-8] + "AAAAAAA="
    tampered = json.dumps(event).encode()
    with pytest.raises(BadCallback) as error:
        adapter.parse_callback(fake.signed_headers(tampered), tampered)
    assert error.value.code == "decrypt"
    # Unsigned.
    with pytest.raises(BadCallback):
        adapter.parse_callback({}, body)


def test_wechat_requests_are_signed_by_the_merchant(wechat, key_pairs):
    fake, adapter = wechat
    adapter.private_key = __import__(
        "shop.orders.gateways.keys", fromlist=["private_key"]
    ).private_key(key_pairs["other"][0])
    with pytest.raises(GatewayError) as error:
        adapter.query("FX1")
    assert (error.value.status, error.value.code) == (401, "SIGN_ERROR")


def test_wechat_close_refund_and_refund_callback(wechat):
    fake, adapter = wechat
    adapter.create(
        order_number="FX1005",
        amount_cents=3000,
        description="x",
        expires_at=LATER,
        channel="native",
    )
    adapter.close("FX1005")
    assert fake.trades["FX1005"]["trade_state"] == "CLOSED"
    adapter.create(
        order_number="FX1006",
        amount_cents=3000,
        description="x",
        expires_at=LATER,
        channel="native",
    )
    fake.pay("FX1006")
    with pytest.raises(GatewayError) as error:
        adapter.close("FX1006")
    assert error.value.code == "ORDERPAID"

    fake.refund_status = "PROCESSING"
    refund = adapter.refund(
        order_number="FX1006",
        refund_number="RF1",
        amount_cents=1000,
        total_cents=3000,
        reason="尺码不合适",
    )
    assert (refund.state, refund.amount_cents) == ("pending", 1000)
    # Asking again with the same refund number is the same refund, not a second one.
    again = adapter.refund(
        order_number="FX1006", refund_number="RF1", amount_cents=1000, total_cents=3000, reason="x"
    )
    assert again.refund_id == refund.refund_id
    headers, body = fake.finish_refund("RF1")
    done = adapter.parse_callback(headers, body)
    assert (done.refund_number, done.state, done.amount_cents) == ("RF1", "done", 1000)
    assert adapter.query_refund("RF1").state == "done"
    with pytest.raises(GatewayError) as error:
        adapter.refund(
            order_number="FX1006",
            refund_number="RF2",
            amount_cents=2001,
            total_cents=3000,
            reason="x",
        )
    assert error.value.code == "NOT_ENOUGH"


def test_wechat_unreachable_is_a_gateway_error(key_pairs):
    adapter = WeChatPay(
        mchid="1",
        appid="wx1",
        serial_no="s",
        private_key=key_pairs["merchant"][0],
        apiv3_key=APIV3_KEY,
        platform_key=key_pairs["platform"][1],
        platform_key_id="p",
        notify_url="https://x/notify",
        base_url="http://127.0.0.1:9",  # discard port: nothing listens
        timeout=2,
    )
    with pytest.raises(GatewayError) as error:
        adapter.query("FX1")
    assert error.value.code == "unreachable"


def test_wechat_bill_is_read_in_fen_and_hash_checked(wechat):
    fake, adapter = wechat
    fake.bill_text = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
        "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
        "费率备注\n"
        "`2026-12-05 10:00:00,`wx1,`1900000109,`0,`,`4200001,`FX2001,`o1,`NATIVE,`SUCCESS,`CFT,"
        "`CNY,`59.00,`0.00,`0,`0,`0.00,`0.00,`,`,`茶,`,`0.35000,`0.60%,`59.00,`0.00,`\n"
        "`2026-12-05 11:00:00,`wx1,`1900000109,`0,`,`4200001,`FX2001,`o1,`NATIVE,`REFUND,`CFT,"
        "`CNY,`0.00,`0.00,`5030001,`RF9,`19.90,`0.00,`ORIGINAL,`SUCCESS,`茶,`,`-0.12000,`0.60%,"
        "`0.00,`19.90,`\n"
        "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\n"
        "`2,`59.00,`19.90,`0.00,`0.23000,`59.00,`19.90\n"
    )
    lines = adapter.bill(date(2026, 12, 5))
    assert [(b.kind, b.order_number, b.amount_cents, b.refund_number) for b in lines] == [
        ("payment", "FX2001", 5900, ""),
        ("refund", "FX2001", 1990, "RF9"),
    ]


# --- Alipay ----------------------------------------------------------------------------------


def test_alipay_wap_payment_notice_and_query(alipay):
    fake, adapter = alipay
    charge = adapter.create(
        order_number="FX3001",
        amount_cents=5990,
        description="山茶花 乌龙茶",
        expires_at=LATER,
        channel="wap",
        return_url="https://shop.example.com/payments/alipay/return",
    )
    assert charge.redirect_url.startswith(fake.base_url + "/gateway.do?")
    # The buyer's browser opens the signed page; the fake checks the signature.
    assert "收银台" in visit(charge)
    trade = fake.trades["FX3001"]
    assert (trade["total"], trade["product_code"]) == (5990, "QUICK_WAP_WAY")
    assert adapter.query("FX3001").state == "unpaid"

    notice = fake.pay("FX3001")
    state = adapter.parse_notice(notice)
    assert (state.order_number, state.state, state.amount_cents) == ("FX3001", "paid", 5990)
    assert state.paid_at is not None
    assert adapter.query("FX3001").state == "paid"
    assert adapter.query("FX-NOPE").state == "unknown"


def test_alipay_refuses_forged_notices(alipay, key_pairs):
    fake, adapter = alipay
    visit(adapter.create(
        order_number="FX3002", amount_cents=100, description="x", expires_at=LATER,
        channel="page", return_url="https://x/r",
    ))  # fmt: skip
    notice = fake.pay("FX3002")
    forged = {**notice, "total_amount": "0.01"}
    with pytest.raises(BadNotice):
        adapter.parse_notice(forged)
    foreign = FakeAlipay(
        app_id="2021000000000001",
        app_public_pem=key_pairs["app"][1],
        alipay_private_pem=key_pairs["other"][0],
    )
    foreign.trades = fake.trades
    with pytest.raises(BadNotice):
        adapter.parse_notice(foreign.notice("FX3002"))
    with pytest.raises(BadNotice):
        adapter.parse_notice({k: v for k, v in notice.items() if k != "sign"})


def test_alipay_answers_are_verified(alipay, key_pairs):
    fake, adapter = alipay
    adapter.alipay_key = __import__(
        "shop.orders.gateways.keys", fromlist=["public_key"]
    ).public_key(key_pairs["other"][1])
    visit(adapter.create(
        order_number="FX3003", amount_cents=100, description="x", expires_at=LATER,
        channel="wap", return_url="https://x/r",
    ))  # fmt: skip
    with pytest.raises(BadNotice):
        adapter.query("FX3003")


def test_alipay_close_refund_and_bill(alipay):
    fake, adapter = alipay
    fake._open({}, {"out_trade_no": "FX3004", "total_amount": "30.00", "subject": "x"})
    adapter.close("FX3004")
    assert fake.trades["FX3004"]["status"] == "TRADE_CLOSED"
    adapter.close("FX-NEVER-OPENED")  # nothing to close: not an error

    fake._open({}, {"out_trade_no": "FX3005", "total_amount": "30.00", "subject": "x"})
    fake.pay("FX3005")
    refund = adapter.refund(
        order_number="FX3005", refund_number="RF31", amount_cents=1000, total_cents=3000, reason="x"
    )
    assert (refund.state, refund.amount_cents) == ("done", 1000)
    again = adapter.refund(
        order_number="FX3005", refund_number="RF31", amount_cents=1000, total_cents=3000, reason="x"
    )
    assert (again.state, again.amount_cents) == ("done", 1000)
    assert len(fake.refunds) == 1
    fake.refund_failure = "ACQ.SYSTEM_ERROR"
    with pytest.raises(GatewayError) as error:
        adapter.refund(
            order_number="FX3005",
            refund_number="RF32",
            amount_cents=1,
            total_cents=3000,
            reason="x",
        )
    assert error.value.code == "ACQ.SYSTEM_ERROR"

    fake.bill_rows = [
        ["2026120522001", "FX3005", "交易", "茶", "2026-12-05 10:00:00", "2026-12-05 10:00:05",
         "", "", "", "", "buyer@example.com", "30.00", "30.00"],
        ["2026120522001", "FX3005", "退款", "茶", "2026-12-05 11:00:00", "2026-12-05 11:00:01",
         "", "", "", "", "buyer@example.com", "-10.00", "-10.00", "", "", "", "", "", "", "",
         "", "RF31"],
    ]  # fmt: skip
    lines = adapter.bill(date(2026, 12, 5))
    assert [(b.kind, b.order_number, b.amount_cents, b.refund_number) for b in lines] == [
        ("payment", "FX3005", 3000, ""),
        ("refund", "FX3005", 1000, "RF31"),
    ]


def test_alipay_signed_request_carries_beijing_time(alipay):
    _fake, adapter = alipay
    params = adapter.signed("alipay.trade.query", {"out_trade_no": "X"}, now=datetime(2026, 1, 1))
    assert params["timestamp"] == "2026-01-01 08:00:00"
    assert params["sign_type"] == "RSA2"
    assert json.loads(params["biz_content"]) == {"out_trade_no": "X"}
