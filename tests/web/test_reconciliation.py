"""`flask reconcile`: a gateway's daily bill against what the shop recorded, differences kept
once, resolved by admins with an audited note."""

from sqlalchemy import func, select

from shop.orders.gateways import flow, providers
from shop.orders.gateways.reconcile import reconcile
from shop.orders.models import GatewayRefund, Order, ReconciliationItem
from shop.platform.audit import AuditEntry
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.rollup import china_day
from tests.factories import make_user
from tests.web.test_gateway_payments import (  # noqa: F401 (fixtures)
    DESKTOP,
    gateways,
    key_pairs,
    new_order,
    notify_wechat,
    work,
)


def paid_through_callback(app, wechat, user_client):
    buyer, order_id, number = new_order(app, "wechatpay")
    user_client(buyer).get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    headers, body = wechat.pay(number)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)  # flask worker applies the callback
    return order_id, number


def test_reconcile_finds_each_kind_of_difference_once(app, gateways, user_client):  # noqa: F811
    wechat, _alipay = gateways
    _fine, fine = paid_through_callback(app, wechat, user_client)
    _theirs, only_ours = paid_through_callback(app, wechat, user_client)
    _bad, mismatch = paid_through_callback(app, wechat, user_client)
    buyer, lost_id, lost = new_order(app, "wechatpay")
    user_client(buyer).get(f"/orders/{lost_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    wechat.pay(lost)  # paid at the gateway; we never heard of it
    # A refund the gateway made that we still think is on its way.
    refunded_id, refunded = paid_through_callback(app, wechat, user_client)
    with app.app_context():
        order = db.session.get(Order, refunded_id)
        flow.refund_order(order, reason="退货", now=utcnow())
        db.session.commit()
        refund = db.session.execute(select(GatewayRefund)).scalar_one()
        refund_number = refund.refund_number
    wechat.refund_status = "PROCESSING"
    with app.app_context():
        flow.sync(providers.for_app(app), now=utcnow())
    wechat.refunds[refund_number]["status"] = "SUCCESS"

    wechat.write_bill(
        payments=[(fine, None), (mismatch, 1), (lost, None), (refunded, None)],
        refunds=[refund_number],
    )
    day = china_day(utcnow())
    with app.app_context():
        [report] = reconcile({"wechatpay": providers.for_app(app)["wechatpay"]}, day, now=utcnow())
        assert report.new == 4
        found = {
            (i.kind, i.subject, i.order_number, i.ours_cents, i.theirs_cents)
            for i in db.session.execute(select(ReconciliationItem)).scalars()
        }
        assert found == {
            ("missing_theirs", "payment", only_ours, 5900, None),
            ("amount_mismatch", "payment", mismatch, 5900, 1),
            ("missing_ours", "payment", lost, None, 5900),
            ("missing_ours", "refund", refunded, 5900, 5900),
        }
        # Again: the same differences, nothing new.
        [again] = reconcile({"wechatpay": providers.for_app(app)["wechatpay"]}, day, now=utcnow())
        assert again.new == 0 and len(again.found) == 4
        assert db.session.scalar(select(func.count()).select_from(ReconciliationItem)) == 4
        admin = make_user(is_admin=True)
        db.session.commit()
        admin_id = admin.id
        item_id = db.session.execute(
            select(ReconciliationItem.id).where(ReconciliationItem.kind == "missing_ours",
                                                ReconciliationItem.subject == "payment")
        ).scalar_one()  # fmt: skip

    client = user_client(admin)
    client.set_cookie("lang", "en")
    page = client.get("/admin/reconciliation").get_data(as_text=True)
    assert "not recorded here" in page and lost in page, page[page.find("<main") :][:1500]
    empty = client.post(f"/admin/reconciliation/{item_id}/resolve", data={"note": "  "})
    assert empty.status_code == 400 and "Say how it was resolved" in empty.get_data(as_text=True)
    done = client.post(
        f"/admin/reconciliation/{item_id}/resolve", data={"note": "已人工补单，订单已发货"}
    )
    assert done.status_code == 303
    with app.app_context():
        item = db.session.get(ReconciliationItem, item_id)
        assert item.resolution == "已人工补单，订单已发货" and item.resolved_by_id == admin_id
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "reconciliation.resolve")
        ).scalar_one()
        assert entry.reason == "已人工补单，订单已发货"
        # A later run keeps the resolution.
        reconcile({"wechatpay": providers.for_app(app)["wechatpay"]}, day, now=utcnow())
        assert db.session.get(ReconciliationItem, item_id).resolved_at is not None
