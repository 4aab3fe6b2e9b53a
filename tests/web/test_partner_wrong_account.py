"""WeChat Pay partner mode: a payment the gateway reports as paid into another sub-merchant's
account than the one the order's payment was created under (``gateway_payments.sub_mchid``)
never pays the order silently. Whether it comes by callback (through the worker), the buyer's
return path or `flask payments-sync`, the payment event is recorded as ``wrong_account``, the
order stays unpaid, nothing is refunded automatically, and the payment is listed at once with
the reconciliation differences (后台 → 对账), under the key the day's reconciliation gives it,
so `flask reconcile` adds nothing more. A payment without a recorded number pays as before.

The local fake signs these answers and callbacks with the platform key, as WeChat Pay would:
nobody else could forge them."""

from datetime import timedelta

from sqlalchemy import func, select, update

from shop.orders import states
from shop.orders.gateways import flow, providers
from shop.orders.gateways.reconcile import reconcile
from shop.orders.models import (
    GatewayPayment,
    GatewayRefund,
    Order,
    OrderStatus,
    PaymentEvent,
    ReconciliationItem,
)
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.rollup import china_day
from tests import invariants
from tests.factories import make_user
from tests.services.test_gateway_adapters import key_pairs  # noqa: F401 (fixture)
from tests.web.test_gateway_payments import DESKTOP, notify_wechat, work
from tests.web.test_wechatpay_partner import SUB, new_order, partner  # noqa: F401 (fixture)

SUB2 = "1900000202"


def opened(app, client, order_id):
    made = client.get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    assert made.status_code == 200, made.get_data(as_text=True)[:500]
    with app.app_context():
        assert db.session.get(GatewayPayment, order_id).sub_mchid == SUB


def outcomes(order_id):
    return (
        db.session.execute(select(PaymentEvent.outcome).where(PaymentEvent.order_id == order_id))
        .scalars()
        .all()
    )


def flagged():
    return db.session.execute(select(ReconciliationItem)).scalars().all()


def test_a_callback_paid_into_another_sub_merchant_pays_nothing_and_is_shown(
    app,
    partner,  # noqa: F811
    english_client,
):
    partner.sub_mchids.add(SUB2)
    buyer, order_id, number = new_order(app)
    opened(app, english_client(buyer), order_id)
    partner.paid_into[number] = SUB2
    headers, body = partner.pay(number)
    trade_id = partner.trades[number]["transaction_id"]
    for _ in range(2):  # the gateway repeats it: the second is a replay
        assert notify_wechat(app.test_client(), headers, body).status_code == 204
        assert work(app) == 1
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert (order.status, order.paid_at) == (OrderStatus.PLACED, None)
        assert outcomes(order_id) == ["wrong_account"]
        assert db.session.get(GatewayPayment, order_id).settled_at  # for admins, not the sweep
        assert db.session.scalar(select(func.count()).select_from(GatewayRefund)) == 0
        [item] = flagged()
        paid = order.total_cents
        assert (item.kind, item.subject, item.reference, item.order_number, item.account) == (
            "wrong_account", "payment", trade_id, number, SUB2,
        )  # fmt: skip
        assert (item.ours_cents, item.theirs_cents, item.resolved_at) == (paid, paid, None)
        assert item.day == china_day(utcnow())
        invariants.check(db.session)
        # The day's reconciliation finds the same difference in the partner's bill: nothing new.
        partner.write_bill(payments=[(number, None, SUB2)], day=item.day)
        [report] = reconcile(providers.for_app(app), item.day, now=utcnow())
        assert report.new == 0
        assert ("wrong_account", "payment", trade_id) in report.found
        assert len(flagged()) == 1
        admin = make_user(is_admin=True)
        db.session.commit()
    page = english_client(admin).get("/admin/reconciliation").get_data(as_text=True)
    assert 'id="wrong-account-note"' in page
    assert "Paid through another sub-merchant's account" in page
    assert f"The bill says sub-merchant {SUB2}; the order was paid under {SUB}." in page


def test_the_return_path_and_the_sweep_do_not_pay_it_either(app, partner, user_client):  # noqa: F811
    partner.sub_mchids.add(SUB2)
    orders = []
    for _ in range(2):
        buyer, order_id, number = new_order(app)
        client = user_client(buyer)
        opened(app, client, order_id)
        partner.paid_into[number] = SUB2
        partner.pay(number)  # its callback never reaches us
        orders.append((client, order_id, number))
    (client, returned_id, returned), (_client, swept_id, swept) = orders
    back = client.get(f"/payments/wechatpay/return?order={returned}", follow_redirects=True)
    assert "这笔订单还没有收到付款。" in back.get_data(as_text=True)  # no payment yet
    with app.app_context():
        counts = flow.sync(providers.for_app(app), now=utcnow() + timedelta(minutes=3))
        assert (counts["paid"], counts["errors"]) == (0, 0)
        asked = [r["path"] for r in partner.requests if "/out-trade-no/" in r["path"]]
        assert sum(swept in path for path in asked) == 1  # the sweep asked about it once
        assert sum(returned in path for path in asked) == 1  # the return path's; settled since
        for order_id in (returned_id, swept_id):
            assert db.session.get(Order, order_id).status == OrderStatus.PLACED
            assert outcomes(order_id) == ["wrong_account"]
            assert db.session.get(GatewayPayment, order_id).settled_at is not None
        assert sorted((x.order_number, x.account) for x in flagged()) == sorted(
            [(returned, SUB2), (swept, SUB2)]
        )
        assert flow.sync(providers.for_app(app), now=utcnow() + timedelta(minutes=6))["paid"] == 0
        invariants.check(db.session)


def test_paid_into_another_account_after_cancelling_is_not_refunded_automatically(
    app,
    partner,  # noqa: F811
    user_client,
):
    """A late payment is refunded automatically, but not one in another sub-merchant's
    account: the refund would name the order's sub-merchant, not the one holding the money."""
    partner.sub_mchids.add(SUB2)
    buyer, order_id, number = new_order(app)
    opened(app, user_client(buyer), order_id)
    with app.app_context():
        order = db.session.get(Order, order_id)
        states.cancel_by_buyer(order, actor=order.buyer, now=utcnow())
        db.session.commit()
    partner.paid_into[number] = SUB2
    headers, body = partner.pay(number)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)
    with app.app_context():
        assert db.session.get(Order, order_id).status == OrderStatus.CANCELLED
        assert outcomes(order_id) == ["wrong_account"]
        assert db.session.scalar(select(func.count()).select_from(GatewayRefund)) == 0
        assert [x.kind for x in flagged()] == ["wrong_account"]


def test_a_payment_without_a_recorded_number_pays_as_before(app, partner, user_client):  # noqa: F811
    partner.sub_mchids.add(SUB2)
    buyer, order_id, number = new_order(app)
    opened(app, user_client(buyer), order_id)
    with app.app_context():  # opened before numbers were recorded
        db.session.execute(
            update(GatewayPayment).where(GatewayPayment.order_id == order_id).values(sub_mchid="")
        )
        db.session.commit()
    partner.paid_into[number] = SUB2
    headers, body = partner.pay(number)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)
    with app.app_context():
        assert db.session.get(Order, order_id).status == OrderStatus.PAID
        assert outcomes(order_id) == ["paid"]
        assert flagged() == []
        invariants.check(db.session)
