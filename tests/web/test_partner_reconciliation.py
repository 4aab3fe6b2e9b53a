"""`flask reconcile` in WeChat Pay partner mode (服务商), against the local fake of the partner
API: the bill is the partner's, of all its sub-merchants, each line naming its sub-merchant
(特约商户号). Lines of the partner's other business (neither our merchants' sub-merchants nor
our orders) are left out instead of being reported as missing here; a payment of one of our
orders that went through another sub-merchant's account is a ``wrong_account`` difference
with the number the bill says, shown on the admin page; a day without a bill (WeChat Pay's
NO_STATEMENT_EXIST) is an empty bill, not a failure; running it again adds nothing."""

from datetime import date, timedelta

from sqlalchemy import func, select

from shop.orders.gateways import flow, providers
from shop.orders.gateways.base import GatewayError
from shop.orders.gateways.reconcile import reconcile
from shop.orders.models import GatewayRefund, Order, ReconciliationItem
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.rollup import china_day
from tests.factories import make_user
from tests.services.test_gateway_adapters import key_pairs  # noqa: F401 (fixture)
from tests.web.test_gateway_payments import DESKTOP
from tests.web.test_wechatpay_partner import SUB, new_order, partner, pay  # noqa: F401

SUB2, STRANGER = "1900000202", "1900000999"


def refunded_in_full(app, order_id):
    with app.app_context():
        flow.refund_order(db.session.get(Order, order_id), reason="退货", now=utcnow())
        db.session.commit()
        flow.sync(providers.for_app(app), now=utcnow())
        refund = db.session.execute(
            select(GatewayRefund).where(GatewayRefund.order_id == order_id)
        ).scalar_one()
        assert refund.state == "done"
        return refund.refund_number


def test_partner_bill_is_reconciled_per_sub_merchant(app, partner, english_client):  # noqa: F811
    partner.sub_mchids |= {SUB2, STRANGER}
    buyer_a, fine_id, fine = new_order(app, sub_mchid=SUB)
    pay(app, english_client(buyer_a), partner, fine_id, fine)
    buyer_b, astray_id, astray = new_order(app, sub_mchid=SUB2)
    pay(app, english_client(buyer_b), partner, astray_id, astray)
    buyer_c, back_id, back = new_order(app, sub_mchid=SUB2)
    pay(app, english_client(buyer_c), partner, back_id, back)
    refund_number = refunded_in_full(app, back_id)
    # The partner's other business: a sub-merchant and an order that are not ours.
    partner.trades["ZZ-OTHER-1"] = {
        "transaction_id": "4200009999", "trade_type": "NATIVE", "sub_mchid": STRANGER,
        "amount": {"total": 3300},
    }  # fmt: skip
    day = china_day(utcnow())
    partner.write_bill(
        payments=[(fine, None), (astray, None, STRANGER), (back, None), ("ZZ-OTHER-1", None)],
        refunds=[refund_number],
        day=day,
    )  # no bill the day before: WeChat Pay answers NO_STATEMENT_EXIST
    with app.app_context():
        paid = db.session.get(Order, astray_id).total_cents
        adapter = providers.for_app(app)["wechatpay"]
        assert [x.account for x in adapter.bill(day)] == [SUB, STRANGER, SUB2, STRANGER, SUB2]
        assert adapter.bill(day - timedelta(days=1)) == []
        [report] = reconcile({"wechatpay": adapter}, day, now=utcnow())
        assert (report.bill_lines, report.others, report.new) == (5, 1, 1)
        item = db.session.execute(select(ReconciliationItem)).scalar_one()
        assert (item.kind, item.subject, item.order_number, item.account) == (
            "wrong_account", "payment", astray, STRANGER,
        )  # fmt: skip
        assert (item.ours_cents, item.theirs_cents) == (paid, paid)
        [again] = reconcile({"wechatpay": adapter}, day, now=utcnow())
        assert again.new == 0 and again.found == report.found
        said = app.test_cli_runner().invoke(args=["reconcile", "--date", day.isoformat()])
        assert said.exit_code == 0, said.output
        assert "wechatpay" in said.output and "differences: 1 (0 new): wrong_account" in said.output
        assert "lines of the partner's other sub-merchants: 1" in said.output
        assert db.session.scalar(select(func.count()).select_from(ReconciliationItem)) == 1
        # The partner's whole bill, one request a day: no sub_mchid (小微 merchants are only
        # in the whole bill).
        assert all("sub_mchid" not in ask for ask in partner.bill_asks)
        admin = make_user(is_admin=True)
        db.session.commit()
    page = english_client(admin).get("/admin/reconciliation").get_data(as_text=True)
    assert "Paid through another sub-merchant's account" in page
    assert f"The bill says sub-merchant {STRANGER}; the order was paid under {SUB2}." in page
    assert f"Here: ¥{paid // 100}.00 · Gateway: ¥{paid // 100}.00" in page


def test_without_the_partner_filter_an_unknown_line_is_missing_here(app, partner, english_client):  # noqa: F811
    """The same line of another sub-merchant, for an order number that is ours, is kept: a
    payment of one of our orders we never heard of is reported wherever it went."""
    buyer, order_id, number = new_order(app, sub_mchid=SUB)
    english_client(buyer).get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    partner.pay(number)  # paid at the gateway; no callback reached us
    partner.write_bill(payments=[(number, None, STRANGER)])
    with app.app_context():
        [report] = reconcile(providers.for_app(app), china_day(utcnow()), now=utcnow())
        kinds = sorted(kind for kind, _subject, _reference in report.found)
        assert kinds == ["missing_ours", "wrong_account"] and report.others == 0


def test_a_bill_still_being_made_is_an_error_to_retry(app, partner):  # noqa: F811
    partner.write_bill(payments=[])

    def creating(request):
        return partner._error(400, "STATEMENT_CREATING", "账单生成中")

    original = partner.route
    partner.route = lambda request: (
        creating(request) if request.path == "/v3/bill/tradebill" else original(request)
    )
    with app.app_context():
        adapter = providers.for_app(app)["wechatpay"]
        try:
            adapter.bill(date(2026, 12, 5))
        except GatewayError as error:
            assert error.code == "STATEMENT_CREATING"
        else:
            raise AssertionError("a bill being made is not an empty bill")
