# ruff: noqa: F811  (the partner fixture is imported, and named by the tests)
"""Profit-sharing returns (分账回退) in WeChat Pay's partner mode, against the local fake: a
refund after the sharing first takes the platform's part back, once; a refund before it lowers
or voids the sharing; the admin page of failed sharings."""

from datetime import timedelta

from sqlalchemy import select

from shop.money import profit_returns, refunds
from shop.money.models import ProfitReturn, ProfitShare
from shop.orders import states
from shop.orders.gateways import flow, providers
from shop.orders.models import GatewayRefund, Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_merchant, make_product, make_user
from tests.services.test_gateway_adapters import key_pairs  # noqa: F401 (fixture)
from tests.services.test_orders import place
from tests.web.test_wechatpay_partner import (
    SP_MCHID,
    SUB,
    new_order,
    partner,  # noqa: F401 (fixture)
    pay,
    run,
    settle,
)


def paid(app, partner, user_client, **kwargs):
    buyer, order_id, number = new_order(app, **kwargs)
    pay(app, user_client(buyer), partner, order_id, number)
    return order_id, number


def shared(app, partner, user_client, **kwargs):
    """A paid, settled order whose sharing sent the platform ¥3.00 and finished."""
    order_id, number = paid(app, partner, user_client, **kwargs)
    settle(app, order_id)
    run(app)
    run(app)  # asked: finished
    with app.app_context():
        assert db.session.get(ProfitShare, order_id).state == "done"
    return order_id, number


def refund_whole(app, order_id):
    with app.app_context():
        order = db.session.get(Order, order_id)
        at = utcnow()
        states.request_refund(order, "不想要了", actor=order.buyer, now=at)
        states.decide_refund(order, True, actor=order.merchant.user, source="merchant", now=at,
                             note="同意")  # fmt: skip
        db.session.commit()


def refund_part(app, order_id, amount, key="p1"):
    with app.app_context():
        order = db.session.get(Order, order_id)
        [item] = order.items
        part = refunds.request(
            order, {item.id: 1}, reason="少发了配件", kind=states.REFUND_ONLY, key=key,
            actor=order.buyer, now=utcnow(), amount_cents=amount, with_shipping=False,
        )  # fmt: skip
        refunds.decide(part, True, actor=order.merchant.user, source="merchant", now=utcnow())
        db.session.commit()


def sweep(app, *, minutes=0):
    with app.app_context():
        return flow.sync(providers.build(app.config), now=utcnow() + timedelta(minutes=minutes))


def posts(partner, prefix):
    return [(p, b) for p, b in partner.bodies if p.startswith(prefix)]


def calls(partner):
    """The return and refund POSTs, in order."""
    wanted = ("/v3/profitsharing/return-orders", "/v3/refund/domestic/refunds")
    return [(p, b) for p, b in partner.bodies if p in wanted]


def test_whole_refund_after_sharing_returns_the_platforms_part_first_once(
    app,
    partner,
    user_client,
):
    order_id, number = shared(app, partner, user_client)
    refund_whole(app, order_id)
    assert sweep(app)["refunds_done"] == 1
    [(first, returned), (second, refunded)] = calls(partner)
    assert first == "/v3/profitsharing/return-orders" and second.endswith("/refunds")
    assert returned == {"sub_mchid": SUB, "out_order_no": f"PS{number}",
                        "out_return_no": f"PR{number}-R", "return_mchid": SP_MCHID,
                        "amount": 300, "description": profit_returns.DESCRIPTION}  # fmt: skip
    assert refunded["amount"]["refund"] == 10000
    # Again, by the sweep or by hand: nothing more goes out.
    assert sweep(app, minutes=30)["refunds_done"] == 0
    with app.app_context():
        refund = db.session.execute(select(GatewayRefund)).scalar_one()
        assert (
            flow.send(refund.id, providers.build(app.config)["wechatpay"], now=utcnow()) == "done"
        )
        ret = db.session.execute(select(ProfitReturn)).scalar_one()
        assert (ret.state, ret.amount_cents, ret.refund_id) == ("done", 300, refund.id)
        assert ret.gateway_return_id == partner.returns[f"PR{number}-R"]["return_id"]
        invariants.check(db.session)
    assert len(calls(partner)) == 2
    assert run(app) == {"planned": 0, "done": 0, "waiting": 0, "failed": 0}


def test_partial_then_whole_refund_return_their_parts_never_more_than_shared(
    app,
    partner,
    user_client,
):
    order_id, number = shared(app, partner, user_client)
    refund_part(app, order_id, 4000)
    assert sweep(app)["refunds_done"] == 1
    [(_p, returned), (_q, refunded)] = calls(partner)
    # Fee 3% of ¥100 = 300; the ¥40 refund's part of it is 300 * 4000 // 10000 = 120.
    assert (returned["out_return_no"], returned["amount"]) == (f"PR{number}-P1", 120)
    assert refunded["amount"]["refund"] == 4000
    refund_whole(app, order_id)  # what is left: ¥60, and the platform's ¥1.80
    assert sweep(app)["refunds_done"] == 1
    amounts = [(p.rsplit("/", 1)[1], b.get("amount")) for p, b in calls(partner)]
    assert amounts[2] == ("return-orders", 180) and calls(partner)[3][1]["amount"]["refund"] == 6000
    with app.app_context():
        total = sum(r.amount_cents for r in db.session.execute(select(ProfitReturn)).scalars())
        assert total == db.session.get(ProfitShare, order_id).amount_cents == 300
        invariants.check(db.session)


def test_without_the_return_the_sub_merchant_account_cannot_pay_the_refund(
    app,
    partner,
    user_client,
):
    """The fake refuses a refund the sub-merchant's account cannot cover: the return is what
    makes the refund possible, not decoration."""
    order_id, number = shared(app, partner, user_client)
    with app.app_context():
        adapter = providers.build(app.config)["wechatpay"]
        try:
            adapter.refund(order_number=number, refund_number=f"{number}-X", amount_cents=10000,
                           total_cents=10000, reason="退款")  # fmt: skip
        except Exception as error:  # noqa: BLE001
            assert getattr(error, "code", "") == "NOT_ENOUGH"
        else:
            raise AssertionError("the fake paid a refund the account could not cover")


def test_a_failed_return_holds_the_refund_and_the_sweep_retries_it(
    app,
    partner,
    user_client,
):
    order_id, number = shared(app, partner, user_client)
    refund_whole(app, order_id)
    partner.return_failure = (500, "SYSTEM_ERROR")
    assert sweep(app)["errors"] == 1
    assert not posts(partner, "/v3/refund/")  # no refund went without its return
    with app.app_context():
        refund = db.session.execute(select(GatewayRefund)).scalar_one()
        assert (refund.state, refund.attempts) == ("failed", 1)
        assert refund.last_error == "return SYSTEM_ERROR"
        ret = db.session.execute(select(ProfitReturn)).scalar_one()
        assert (ret.state, ret.attempts, ret.last_error) == ("failed", 1, "SYSTEM_ERROR")
    partner.return_failure = None
    partner.return_result = "FAILED"  # accepted, then failed at WeChat Pay: a new number next
    assert sweep(app, minutes=5)["errors"] == 1
    partner.return_result = "PROCESSING"
    assert sweep(app, minutes=15)["errors"] == 0  # accepted: the refund waits for it
    with app.app_context():
        refund = db.session.execute(select(GatewayRefund)).scalar_one()
        assert refund.state == "failed" and refund.last_error == profit_returns.RETURNING
        ret = db.session.execute(select(ProfitReturn)).scalar_one()
        assert (ret.state, ret.seq, ret.out_return_no) == ("sent", 1, f"PR{number}-R_1")
    assert sweep(app, minutes=20)["refunds_done"] == 1  # asked: succeeded; then the refund
    numbers = [b["out_return_no"] for _p, b in posts(partner, "/v3/profitsharing/return-orders")]
    # The 500 created nothing at WeChat Pay: the same number went again, and was FAILED.
    assert numbers == [f"PR{number}-R", f"PR{number}-R", f"PR{number}-R_1"]
    assert partner.returns[f"PR{number}-R"]["result"] == "FAILED"
    assert partner.returns[f"PR{number}-R_1"]["result"] == "SUCCESS"
    assert len(posts(partner, "/v3/refund/")) == 1
    with app.app_context():
        assert db.session.execute(select(ProfitReturn)).scalar_one().state == "done"
        invariants.check(db.session)


def test_a_refund_before_the_sharing_lowers_it_voids_it_or_waits_for_it(
    app, partner, user_client, english_client
):
    # Not settled yet: no sharing, nothing to return; the refunded order is never shared.
    early_id, _early = paid(app, partner, user_client)
    refund_whole(app, early_id)
    assert sweep(app)["refunds_done"] == 1
    assert not posts(partner, "/v3/profitsharing/return-orders")
    # Planned but refused so far: the refund goes from the frozen money; the sharing shrinks.
    lower_id, lower = paid(app, partner, user_client)
    settle(app, lower_id)
    partner.sharing_failure = (500, "SYSTEM_ERROR")
    run(app)
    refund_part(app, lower_id, 4000)
    assert sweep(app)["refunds_done"] == 1
    # Planned, then refunded in full: nothing is left to share or unfreeze.
    void_id, _void = paid(app, partner, user_client)
    settle(app, void_id)
    run(app)
    refund_whole(app, void_id)
    assert sweep(app)["refunds_done"] == 1
    partner.sharing_failure = None
    run(app)
    run(app)
    assert partner.sharings[f"PS{lower}"]["receivers"][0]["amount"] == 180
    assert not posts(partner, "/v3/profitsharing/return-orders")
    with app.app_context():
        assert db.session.get(ProfitShare, early_id) is None
        assert db.session.get(ProfitShare, void_id).state == "void"
        assert db.session.get(ProfitShare, lower_id).amount_cents == 180
        invariants.check(db.session)
    # Accepted and processing at WeChat Pay: the refund waits for it to finish, then returns.
    busy_id, busy = paid(app, partner, user_client)
    settle(app, busy_id)
    run(app)  # sent: PROCESSING
    refund_whole(app, busy_id)
    sweep(app)
    with app.app_context():
        refund = db.session.execute(
            select(GatewayRefund).where(GatewayRefund.order_id == busy_id)
        ).scalar_one()
        assert refund.state == "pending" and refund.last_error == profit_returns.IN_PROGRESS
    assert not [b for _p, b in posts(partner, "/v3/refund/") if b["out_trade_no"] == busy]
    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
    page = english_client(admin).get("/admin/gateway-refunds").get_data(as_text=True)
    assert "Waiting for the profit-sharing return first (sharing_in_progress)" in page
    run(app)  # finished
    assert sweep(app, minutes=5)["refunds_done"] == 1
    [(_p, returned)] = posts(partner, "/v3/profitsharing/return-orders")
    assert (returned["out_return_no"], returned["amount"]) == (f"PR{busy}-R", 300)


def test_a_partial_refund_left_out_of_the_sharing_returns_nothing(
    app,
    partner,
    user_client,
):
    """Decided before the sharing was planned, its gateway refund still waiting: the sharing
    already left its part out, so nothing is returned for it."""
    order_id, number = paid(app, partner, user_client)
    partner.refund_failure = (500, "SYSTEM_ERROR")
    refund_part(app, order_id, 4000)
    sweep(app)
    partner.refund_failure = None
    settle(app, order_id)
    run(app)
    run(app)
    assert partner.sharings[f"PS{number}"]["receivers"][0]["amount"] == 180
    assert sweep(app, minutes=10)["refunds_done"] == 1
    assert not posts(partner, "/v3/profitsharing/return-orders")


def test_sweeps_and_an_admin_retry_at_once_return_once_and_refund_once(
    app, partner, user_client, english_client
):
    """Two sweeps and an admin's "send again" race for the same refund of a shared order (and
    a second partial refund of it): one return each, within what was shared, one refund each."""
    import threading

    with app.app_context():
        merchant = make_merchant(wechatpay_sub_mchid=SUB, fee_bps=300)
        product = make_product(price_cents=5000, stock=5, merchant=merchant)
        buyer = make_user()
        [order] = place(buyer, [(product.id, 2)], provider="wechatpay", at=utcnow())
        db.session.commit()
        order_id, number = order.id, order.number
    pay(app, user_client(buyer), partner, order_id, number)
    settle(app, order_id)
    run(app)
    run(app)
    refund_part(app, order_id, 4000, key="p1")
    refund_part(app, order_id, 3000, key="p2")
    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
        first = db.session.execute(
            select(GatewayRefund.id).where(GatewayRefund.refund_number == f"{number}-P1")
        ).scalar_one()
    client = english_client(admin)
    barrier = threading.Barrier(3)
    errors = []

    def sweep_now():
        try:
            with app.app_context():
                barrier.wait()
                flow.sync(providers.for_app(app), now=utcnow())
                db.session.remove()
        except Exception as error:  # noqa: BLE001 (reported below)
            errors.append(error)

    def retry():
        barrier.wait()
        client.post(f"/admin/gateway-refunds/{first}/retry")

    threads = [threading.Thread(target=sweep_now) for _ in range(2)]
    threads.append(threading.Thread(target=retry))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    sweep(app, minutes=30)  # whatever a lost race left for later
    assert sorted(partner.returns) == [f"PR{number}-P1", f"PR{number}-P2"]
    assert [r["amount"] for _n, r in sorted(partner.returns.items())] == [120, 90]
    refunded = sorted(r["out_refund_no"] for r in partner.refunds.values())
    assert refunded == [f"{number}-P1", f"{number}-P2"]
    with app.app_context():
        rows = db.session.execute(select(ProfitReturn)).scalars().all()
        assert sorted((r.out_return_no, r.amount_cents, r.state) for r in rows) == [
            (f"PR{number}-P1", 120, "done"),
            (f"PR{number}-P2", 90, "done"),
        ]
        invariants.check(db.session)


def test_a_sharing_accepted_though_its_answer_was_lost_is_returned_from_not_lowered(
    app, partner, user_client
):
    """The send failed on our side but WeChat Pay took it: the refund asks first, finds the
    sharing, and returns the platform's part instead of lowering a sharing already made."""
    order_id, number = paid(app, partner, user_client)
    settle(app, order_id)
    partner.lose_sharing_answers = True
    assert run(app)["failed"] == 1
    partner.lose_sharing_answers = False
    with app.app_context():
        assert db.session.get(ProfitShare, order_id).state == "failed"
    refund_part(app, order_id, 4000)
    assert sweep(app)["refunds_done"] == 1
    [(_p, returned), (_q, refunded)] = calls(partner)
    assert (returned["out_return_no"], returned["amount"]) == (f"PR{number}-P1", 120)
    assert refunded["amount"]["refund"] == 4000
    with app.app_context():
        share = db.session.get(ProfitShare, order_id)
        assert (share.state, share.amount_cents) == ("done", 300)
        invariants.check(db.session)
    assert run(app) == {"planned": 0, "done": 0, "waiting": 0, "failed": 0}
    assert len(posts(partner, "/v3/profitsharing/orders")) == 1
