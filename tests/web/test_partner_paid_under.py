"""WeChat Pay partner mode: every call about an order names the sub-merchant its payment was
made under (recorded on the gateway payment when it is created), not the merchant's number now.
An admin changing a merchant's sub_mchid after an order was paid must not send that order's
refund, refund query, query, closing, profit sharing or reconciliation to the new account.
The local fake of the partner API refuses a call naming another sub-merchant than the trade's
(PARAM_ERROR), as WeChat Pay does."""

from datetime import timedelta

from flask_migrate import downgrade, upgrade
from sqlalchemy import select, text

from shop.catalog import merchants
from shop.money.models import ProfitShare
from shop.orders import states
from shop.orders.gateways import flow, providers
from shop.orders.gateways.reconcile import reconcile
from shop.orders.models import GatewayPayment, GatewayRefund, Order, OrderStatus
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.rollup import china_day
from tests.factories import make_merchant
from tests.services.test_gateway_adapters import key_pairs  # noqa: F401 (fixture)
from tests.web.test_gateway_payments import DESKTOP
from tests.web.test_wechatpay_partner import (  # noqa: F401 (fixture)
    SUB,
    new_order,
    partner,
    pay,
    run,
    settle,
)

SUB2 = "1900000202"


def change_number(app, order_id, value=SUB2):
    """An admin gives the order's merchant another sub-merchant number (audited)."""
    with app.app_context():
        merchant = db.session.get(Order, order_id).merchant
        merchants.set_wechatpay_sub_mchid(
            merchant, value, actor=None, reason="换了特约商户号", now=utcnow()
        )
        db.session.commit()
        assert merchant.wechatpay_sub_mchid == value


def test_a_refund_after_the_number_changed_goes_to_the_sub_merchant_paid_under(
    app,
    partner,  # noqa: F811
    user_client,
):
    partner.sub_mchids.add(SUB2)
    buyer, order_id, number = new_order(app)
    pay(app, user_client(buyer), partner, order_id, number)
    with app.app_context():
        assert db.session.get(GatewayPayment, order_id).sub_mchid == SUB
    change_number(app, order_id)
    partner.refund_status = "PROCESSING"  # accepted, then asked about (the refund query)
    with app.app_context():
        adapter = providers.for_app(app)["wechatpay"]
        assert providers.sub_mchid_of_order(number) == SUB
        assert adapter.query(number).state == "paid"  # the fake refuses another sub_mchid
        flow.refund_order(db.session.get(Order, order_id), reason="退货", now=utcnow())
        db.session.commit()
        flow.sync(providers.for_app(app), now=utcnow())
        refund = db.session.execute(
            select(GatewayRefund).where(GatewayRefund.order_id == order_id)
        ).scalar_one()
        assert (refund.state, refund.last_error) == ("pending", "")
        partner.finish_refund(refund.refund_number)
        flow.sync(providers.for_app(app), now=utcnow() + timedelta(minutes=5))
        db.session.refresh(refund)
        assert (refund.state, refund.last_error) == ("done", "")
    [body] = [b for p, b in partner.bodies if p == "/v3/refund/domestic/refunds"]
    assert body["sub_mchid"] == SUB and body["out_trade_no"] == number


def test_reopening_and_closing_name_the_first_sub_merchant(app, partner, user_client):  # noqa: F811
    """A buyer who opens the payment again after the number changed pays the same payment
    (the first sub-merchant's); cancelling closes it there."""
    partner.sub_mchids.add(SUB2)
    buyer, order_id, number = new_order(app)
    client = user_client(buyer)
    for changed in (False, True):
        if changed:
            change_number(app, order_id)
        made = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
        assert made.status_code == 200
    creates = [b for p, b in partner.bodies if p.startswith("/v3/pay/partner/transactions/")]
    assert [b["sub_mchid"] for b in creates] == [SUB, SUB]
    with app.app_context():
        order = db.session.get(Order, order_id)
        states.cancel_by_buyer(order, actor=order.buyer, now=utcnow())
        db.session.commit()
        counts = flow.sync(providers.for_app(app), now=utcnow() + timedelta(minutes=3))
        assert (counts["closed"], counts["errors"]) == (1, 0)
        assert db.session.get(GatewayPayment, order_id).settled_at is not None
    assert partner.trades[number]["trade_state"] == "CLOSED"
    [close] = [b for p, b in partner.bodies if p.endswith("/close")]
    assert close["sub_mchid"] == SUB


def test_profit_sharing_and_reconciliation_use_the_sub_merchant_paid_under(
    app,
    partner,  # noqa: F811
    user_client,
):
    partner.sub_mchids.add(SUB2)
    buyer, order_id, number = new_order(app)
    pay(app, user_client(buyer), partner, order_id, number)
    change_number(app, order_id)
    # The bill line names the sub-merchant the money went through: the first one.
    day = china_day(utcnow())
    partner.write_bill(payments=[(number, None)], day=day)
    with app.app_context():
        [report] = reconcile(providers.for_app(app), day, now=utcnow())
        assert (report.found, report.others) == ([], 0)  # no wrong_account difference
    settle(app, order_id)
    assert run(app)["planned"] == 1
    [sharing] = [b for p, b in partner.bodies if p == "/v3/profitsharing/orders"]
    assert sharing["sub_mchid"] == SUB
    with app.app_context():
        assert db.session.get(ProfitShare, order_id).sub_mchid == SUB
        assert db.session.get(Order, order_id).status == OrderStatus.COMPLETED


def test_orders_without_a_recorded_number_fall_back_to_the_merchants_now(app):
    with app.app_context():
        merchant_id = make_merchant(wechatpay_sub_mchid=SUB).id
        db.session.commit()
    _buyer, order_id, number = new_order(app, sub_mchid=SUB)
    with app.app_context():
        assert providers.sub_mchid_of_order(number) == SUB  # never opened
        order = db.session.get(Order, order_id)
        flow.opened(order, provider="wechatpay", channel="native", now=utcnow())  # none known
        db.session.commit()
        assert providers.sub_mchid_of_order(number) == SUB
        assert providers.sub_mchid_of_order("NO-SUCH-ORDER") == ""
        # Opened again with a number: it is recorded, and kept from then on.
        flow.opened(order, provider="wechatpay", channel="native", now=utcnow(), sub_mchid=SUB)
        flow.opened(order, provider="wechatpay", channel="h5", now=utcnow(), sub_mchid=SUB2)
        db.session.commit()
        assert db.session.get(GatewayPayment, order_id).sub_mchid == SUB
    change_number(app, order_id)
    with app.app_context():
        assert providers.sub_mchid_of_order(number) == SUB
        assert merchant_id


def test_the_migration_fills_existing_payments_from_the_merchants_number(app):
    _buyer, wechat_id, _n = new_order(app, sub_mchid=SUB)
    _buyer, alipay_id, _n = new_order(app, sub_mchid=SUB)
    with app.app_context():
        for order_id, provider in ((wechat_id, "wechatpay"), (alipay_id, "alipay")):
            order = db.session.get(Order, order_id)
            flow.opened(order, provider=provider, channel="native", now=utcnow())
        db.session.commit()
        db.session.remove()
        downgrade(revision="9b3f6d2a7c15")
        upgrade()
        rows = dict(
            db.session.execute(text("SELECT order_id, sub_mchid FROM gateway_payments")).all()
        )
        assert rows == {wechat_id: SUB, alipay_id: ""}
