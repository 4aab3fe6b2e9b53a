"""WeChat Pay partner mode: a refund callback or refund query answer naming another
sub-merchant than the one the order's payment was recorded under (``gateway_payments.sub_mchid``)
neither finishes nor fails the refund. The refund stays in progress (asked again later, naming
the order's sub-merchant), is listed at once with the reconciliation differences (后台 → 对账,
``wrong_account``, subject refund) and logged. A payment without a recorded number is not
compared. The local fake signs these callbacks and answers with the platform key."""

import logging
from datetime import timedelta

from sqlalchemy import select, update

from shop.orders.gateways import flow, providers
from shop.orders.gateways.base import RefundState
from shop.orders.models import GatewayPayment, GatewayRefund, Order, ReconciliationItem
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.rollup import china_day
from tests import invariants
from tests.factories import make_user
from tests.services.test_gateway_adapters import key_pairs  # noqa: F401 (fixture)
from tests.web.test_gateway_payments import notify_wechat
from tests.web.test_wechatpay_partner import SUB, new_order, partner, pay  # noqa: F401 (fixture)

SUB2 = "1900000202"


def refund_in_progress(app, client, partner):  # noqa: F811
    """A paid partner order whose refund WeChat Pay accepted and is still processing."""
    partner.sub_mchids.add(SUB2)
    buyer, order_id, number = new_order(app)
    pay(app, client(buyer), partner, order_id, number)
    partner.refund_status = "PROCESSING"
    with app.app_context():
        flow.refund_order(db.session.get(Order, order_id), reason="退货", now=utcnow())
        db.session.commit()
        flow.sync(providers.for_app(app), now=utcnow())
        refund = db.session.execute(
            select(GatewayRefund).where(GatewayRefund.order_id == order_id)
        ).scalar_one()
        assert (refund.state, refund.last_error) == ("pending", "")
        return order_id, number, refund.refund_number


def refund_of(order_id):
    return db.session.execute(
        select(GatewayRefund).where(GatewayRefund.order_id == order_id)
    ).scalar_one()


def flagged():
    return db.session.execute(select(ReconciliationItem)).scalars().all()


def test_a_refund_callback_from_another_sub_merchant_neither_finishes_nor_fails_it(
    app,
    partner,  # noqa: F811
    user_client,
    english_client,
    caplog,
):
    order_id, number, refund_number = refund_in_progress(app, user_client, partner)
    partner.refunded_from[refund_number] = SUB2
    caplog.set_level(logging.WARNING, logger="shop.orders.gateways.flow")
    for status in ("SUCCESS", "ABNORMAL", "SUCCESS"):  # repeated: still one difference
        headers, body = partner.finish_refund(refund_number, status)
        assert notify_wechat(app.test_client(), headers, body).status_code == 204
        with app.app_context():
            refund = refund_of(order_id)
            assert (refund.state, refund.done_at, refund.last_error) == (
                "pending", None, "wrong_account",
            )  # fmt: skip
            assert refund.gateway_refund_id  # the next try asks about it, naming SUB
    assert any(SUB2 in r.getMessage() and refund_number in r.getMessage() for r in caplog.records)
    with app.app_context():
        [item] = flagged()
        amount = refund_of(order_id).amount_cents
        assert (item.kind, item.subject, item.reference, item.order_number, item.account) == (
            "wrong_account", "refund", refund_number, number, SUB2,
        )  # fmt: skip
        assert (item.ours_cents, item.theirs_cents, item.resolved_at) == (amount, amount, None)
        assert item.day == china_day(utcnow())
        invariants.check(db.session)
        item_id = item.id
        admin = make_user(is_admin=True)
        db.session.commit()
    page = english_client(admin).get("/admin/reconciliation").get_data(as_text=True)
    assert f'id="item-{item_id}"' in page and refund_number in page
    assert "Refunded from another sub-merchant's account" in page
    assert 'id="wrong-account-refund-note"' in page
    assert f"The bill says sub-merchant {SUB2}; the order was paid under {SUB}." in page
    page = english_client(admin).get("/admin/gateway-refunds").get_data(as_text=True)
    assert "WeChat Pay reported this refund from another sub-merchant's account" in page
    assert refund_number in page
    # WeChat Pay, asked later about the refund under the order's sub-merchant, says it is done.
    del partner.refunded_from[refund_number]
    with app.app_context():
        flow.sync(providers.for_app(app), now=utcnow() + timedelta(hours=2))
        refund = refund_of(order_id)
        assert (refund.state, refund.last_error) == ("done", "")
    asked = [r["path"] for r in partner.requests if r["method"] == "GET"]
    assert asked == [f"/v3/refund/domestic/refunds/{refund_number}?sub_mchid={SUB}"]
    # A late report of the same refund as closed changes a finished refund no more.
    headers, body = partner.finish_refund(refund_number, "CLOSED")
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    with app.app_context():
        refund = refund_of(order_id)
        assert (refund.state, refund.last_error, refund.attempts) == ("done", "", 0)
        assert refund.gateway_refund_id


def test_a_held_refund_stays_held_when_asked_under_the_order_s_sub_merchant(
    app,
    partner,  # noqa: F811
    user_client,
    english_client,
):
    """WeChat Pay's refund query answer names no sub-merchant; asked under the order's own,
    a refund made from another is not found there. The hold stays: not failed, no attempt
    counted, asked again in an hour; a report on a later day lists nothing more."""
    order_id, number, refund_number = refund_in_progress(app, user_client, partner)
    partner.refunded_from[refund_number] = SUB2
    headers, body = partner.finish_refund(refund_number)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    later = utcnow() + timedelta(hours=2)
    with app.app_context():
        flow.sync(providers.for_app(app), now=later)
        refund = refund_of(order_id)
        assert (refund.state, refund.last_error, refund.attempts) == (
            "pending", "wrong_account", 0,
        )  # fmt: skip
        assert refund.next_try_at > later + timedelta(minutes=30)  # not asked every run
        answer = RefundState(refund_number, number, "done", refund.amount_cents, account=SUB2)
        flow.refund_callback(answer, now=later + timedelta(days=2))  # redelivered days later
        db.session.commit()
        [item] = flagged()
        assert (item.subject, item.reference, item.account) == ("refund", refund_number, SUB2)
        assert refund_of(order_id).state == "pending"
        invariants.check(db.session)
        refund_id = refund_of(order_id).id
        admin = make_user(is_admin=True)
        db.session.commit()
    asked = [r["path"] for r in partner.requests if r["method"] == "GET"]
    assert asked == [f"/v3/refund/domestic/refunds/{refund_number}?sub_mchid={SUB}"]
    # An admin's "send again now" asks once more and says why it is still not done.
    admin_client = english_client(admin)
    retried = admin_client.post(f"/admin/gateway-refunds/{refund_id}/retry")
    assert retried.status_code == 303
    page = admin_client.get("/admin/gateway-refunds").get_data(as_text=True)
    assert "still names another sub-merchant&#39;s account for this refund" in page
    with app.app_context():
        assert (refund_of(order_id).state, refund_of(order_id).attempts) == ("pending", 0)
    page = admin_client.get("/admin/reconciliation").get_data(as_text=True)
    assert 'id="wrong-account-refund-note"' in page
    assert 'id="wrong-account-note"' not in page  # that note is about payments


def test_a_refund_without_a_recorded_number_is_not_compared(app, partner, user_client):  # noqa: F811
    order_id, number, refund_number = refund_in_progress(app, user_client, partner)
    with app.app_context():  # paid before numbers were recorded
        db.session.execute(
            update(GatewayPayment).where(GatewayPayment.order_id == order_id).values(sub_mchid="")
        )
        db.session.commit()
    partner.refunded_from[refund_number] = SUB2
    headers, body = partner.finish_refund(refund_number)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    with app.app_context():
        assert refund_of(order_id).state == "done"
        assert flagged() == []
        invariants.check(db.session)
