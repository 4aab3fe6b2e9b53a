"""Partial refunds through the real gateways' adapters, against the local fakes of WeChat Pay
and Alipay: each agreed partial refund is its own gateway refund (``<order>-P<n>``) of its
amount in fen; a refused one stays failed, is retried by the sweep and shown to admins; the
whole-order refund afterwards sends only what the parts left."""

import urllib.request

import pytest
from sqlalchemy import select

from shop.money import refunds
from shop.orders import states
from shop.orders.gateways import flow, providers
from shop.orders.models import GatewayRefund, Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_user
from tests.services.test_gateway_adapters import key_pairs  # noqa: F401 (fixture)
from tests.web.test_gateway_payments import (  # noqa: F401 (fixture)
    DESKTOP,
    PHONE,
    gateways,
    new_order,
    notify_wechat,
    work,
)


def paid_order(app, user_client, wechat, alipay, provider):
    buyer, order_id, number = new_order(app, provider, price=1990, quantity=3)
    client = user_client(buyer)
    if provider == "wechatpay":
        client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
        headers, body = wechat.pay(number)
        assert notify_wechat(app.test_client(), headers, body).status_code in (200, 204)
    else:
        sent = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": PHONE})
        urllib.request.urlopen(sent.headers["Location"], timeout=5).read()  # noqa: S310
        notice = alipay.pay(number)
        assert app.test_client().post("/payments/alipay/notify", data=notice).data == b"success"
    work(app)  # flask worker applies the callback
    return buyer, order_id, number


def agree_part(app, order_id, units, key, amount=None):
    at = utcnow()
    with app.app_context():
        order = db.session.get(Order, order_id)
        refund = refunds.request(
            order, {order.items[0].id: units}, reason="少发了", kind=states.REFUND_ONLY,
            key=key, actor=order.buyer, now=at, amount_cents=amount,
        )  # fmt: skip
        refunds.decide(refund, True, actor=order.merchant.user, source="merchant", now=at)
        db.session.commit()
        return refund.seq


def refunded_at_gateway(wechat, alipay, provider, number):
    if provider == "wechatpay":
        return {n: r["amount"]["refund"] for n, r in wechat.refunds.items() if n.startswith(number)}
    return {n: r["amount"] for n, r in alipay.refunds.items() if r["trade"] == number}


@pytest.mark.parametrize("provider", ["wechatpay", "alipay"])
def test_partial_refunds_go_back_through_the_gateway_each_with_its_own_number(
    app,
    gateways,  # noqa: F811
    user_client,
    provider,
):
    wechat, alipay = gateways
    buyer, order_id, number = paid_order(app, user_client, wechat, alipay, provider)
    agree_part(app, order_id, 1, "p1")  # one of three units: ¥19.90
    agree_part(app, order_id, 1, "p2", amount=500)  # ¥5 for another
    at = utcnow()
    with app.app_context():
        counts = flow.sync(providers.for_app(app), now=at)
        assert counts["refunds_done"] == 2 and counts["errors"] == 0
    assert refunded_at_gateway(wechat, alipay, provider, number) == {
        f"{number}-P1": 1990,
        f"{number}-P2": 500,
    }
    # The rest of the order refunded whole: only what the parts left goes back.
    with app.app_context():
        order = db.session.get(Order, order_id)
        states.request_refund(order, "都不要了", actor=order.buyer, now=at)
        states.decide_refund(order, True, actor=order.merchant.user, source="merchant", now=at)
        db.session.commit()
        flow.sync(providers.for_app(app), now=at)
        rows = db.session.execute(select(GatewayRefund).order_by(GatewayRefund.id)).scalars()
        assert [(r.refund_number, r.amount_cents, r.state) for r in rows] == [
            (f"{number}-P1", 1990, "done"),
            (f"{number}-P2", 500, "done"),
            (f"{number}-R", 5970 - 1990 - 500, "done"),
        ]
        invariants.check(db.session)
    assert sum(refunded_at_gateway(wechat, alipay, provider, number).values()) == 5970


def test_a_partial_refund_the_gateway_refuses_is_retried_and_shown_to_admins(
    app,
    gateways,  # noqa: F811
    user_client,
):
    wechat, alipay = gateways
    buyer, order_id, number = paid_order(app, user_client, wechat, alipay, "wechatpay")
    agree_part(app, order_id, 2, "p1")
    wechat.refund_failure = (500, "SYSTEM_ERROR")
    at = utcnow()
    with app.app_context():
        assert flow.sync(providers.for_app(app), now=at)["errors"] == 1
        refund = db.session.execute(select(GatewayRefund)).scalar_one()
        assert (refund.refund_number, refund.state, refund.amount_cents) == (
            f"{number}-P1", "failed", 3980,
        )  # fmt: skip
        admin = make_user(is_admin=True)
        db.session.commit()
        refund_id = refund.id
    admin_client = user_client(admin)
    admin_client.set_cookie("lang", "en")
    page = admin_client.get("/admin/gateway-refunds").get_data(as_text=True)
    assert f"{number}-P1" in page and "SYSTEM_ERROR" in page
    wechat.refund_failure = None
    assert admin_client.post(f"/admin/gateway-refunds/{refund_id}/retry").status_code == 303
    with app.app_context():
        assert db.session.get(GatewayRefund, refund_id).state == "done"
        assert db.session.get(Order, order_id).status == "paid"  # the order goes on
    assert refunded_at_gateway(wechat, alipay, "wechatpay", number) == {f"{number}-P1": 3980}
