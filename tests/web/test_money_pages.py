"""The money pages: the merchant's orders, the sharer's earnings and payouts, the admin's
payout queue and refund overrides. Each is checked for what it shows, what it refuses and
whose objects it lets a user name by id."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.money import ledger, payouts
from shop.money.models import EntryKind, LedgerEntry, Payout, PayoutAccount, PayoutStatus
from shop.orders import states
from shop.orders.models import Order, OrderStatus
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.web.common import now as real_now
from tests import invariants
from tests.factories import make_product, make_user
from tests.services import test_orders as svc

S = OrderStatus


@pytest.fixture
def user_client(user_client):
    """Signed-in clients reading English, so the messages below read as written."""

    def make(user):
        client = user_client(user)
        client.set_cookie("lang", "en")
        return client

    return make


def ids(*objects):
    return [o.id for o in objects]


def text_of(response) -> str:
    return response.get_data(as_text=True)


def at_ago(**delta):
    return real_now() - timedelta(**delta)


def earning_order(*, paid=True, provider="sandbox", price=10000, rebate_bps=1000):
    """An order through a sharer's link, placed a minute ago (and paid)."""
    placed = at_ago(minutes=1)
    product = make_product(price_cents=price, original_price_cents=None, rebate_bps=rebate_bps)
    sharer = svc.shared_click(product, at=placed - timedelta(hours=1))
    [order] = svc.place(
        make_user(), [(product.id, 1)], visitor="v" * 32, at=placed, key=f"k{product.id}",
        provider=provider,
    )  # fmt: skip
    if paid:
        svc.pay(order, placed)
    return order, sharer


def merchant_user(order):
    return order.merchant.user


# --- merchant ------------------------------------------------------------------------------


def test_merchant_sees_orders_by_status_with_rebate_cost_and_not_others(app, user_client):
    with app.app_context():
        mine, _sharer = earning_order()
        other, _ = earning_order()
        owner = merchant_user(mine)
        db.session.commit()
        mine_id, mine_number, other_id, other_number = mine.id, mine.number, other.id, other.number
    client = user_client(owner)
    page = text_of(client.get("/merchant/orders"))
    assert mine_number in page and other_number not in page
    assert "¥10.00" in page  # 10% of ¥100: the rebate this order costs
    assert mine_number in text_of(client.get("/merchant/orders?status=paid"))
    for page in ("99999999999999999999", "-3", "x"):  # any page number shows a page
        listed = client.get(f"/merchant/orders?page={page}")
        assert listed.status_code == 200 and mine_number in text_of(listed)
    assert mine_number not in text_of(client.get("/merchant/orders?status=shipped"))
    assert client.get(f"/merchant/orders/{other_id}").status_code == 404
    assert client.post(f"/merchant/orders/{other_id}/ship", data={}).status_code == 404
    detail = text_of(client.get(f"/merchant/orders/{mine_id}"))
    assert "王小二" in detail and "10%" in detail


def test_merchant_ships_with_a_checked_tracking_number(app, user_client):
    with app.app_context():
        order, _ = earning_order()
        owner = merchant_user(order)
        db.session.commit()
        order_id = order.id
    client = user_client(owner)
    bad = client.post(f"/merchant/orders/{order_id}/ship", data={"carrier": "SF", "tracking": "12"})
    assert bad.status_code == 422
    assert "Enter the tracking number: 10 to 20 letters or digits." in text_of(bad)
    assert '<option selected value="SF">' in text_of(bad)  # what was chosen is kept
    assert 'value="12"' in text_of(bad)
    unknown = client.post(
        f"/merchant/orders/{order_id}/ship", data={"carrier": "carrier pigeon", "tracking": "X1"}
    )
    assert unknown.status_code == 422 and "Choose the carrier from the list." in text_of(unknown)
    good = client.post(
        f"/merchant/orders/{order_id}/ship",
        data={"carrier": "SF", "tracking": "sf 1234 5678 90"},
    )
    assert good.status_code == 303
    again = client.post(
        f"/merchant/orders/{order_id}/ship",
        data={"carrier": "顺丰速运", "tracking": "SF1234567890"},
    )
    assert again.status_code == 422 and "cannot become" in text_of(again)
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == S.SHIPPED and order.tracking_number == "SF1234567890"
        assert order.carrier == "SF"
        assert [e.to_status for e in order.events] == ["placed", "paid", "shipped"]


def test_merchant_confirms_a_manual_transfer_once(app, user_client):
    with app.app_context():
        order, sharer = earning_order(paid=False, provider="manual")
        sandbox_order, _ = earning_order(paid=False)
        sandbox_order.merchant_id = order.merchant_id
        owner = merchant_user(order)
        db.session.commit()
        order_id, sandbox_id, sharer_id = order.id, sandbox_order.id, sharer.id
    client = user_client(owner)
    assert "Transfer received" in text_of(client.get(f"/merchant/orders/{order_id}"))
    assert client.post(f"/merchant/orders/{order_id}/paid").status_code == 303
    assert client.post(f"/merchant/orders/{order_id}/paid").status_code == 303  # replay
    refused = client.post(f"/merchant/orders/{sandbox_id}/paid")
    assert refused.status_code == 409 and "gateway" in text_of(refused)
    with app.app_context():
        assert db.session.get(Order, order_id).status == S.PAID
        assert db.session.get(Order, sandbox_id).status == S.PLACED
        assert ledger.balances(sharer_id).estimated_cents == 1000
        invariants.check(db.session)


def test_merchant_refund_decisions(app, user_client):
    with app.app_context():
        approve, sharer = earning_order(paid=False)
        reject, _ = earning_order(paid=False)
        reject.merchant_id = approve.merchant_id  # before paying: the split names the merchant
        for order in (approve, reject):
            svc.pay(order, at_ago(minutes=1))
            states.request_refund(order, "不想要了", actor=order.buyer, now=at_ago(seconds=30))
        owner = merchant_user(approve)
        db.session.commit()
        approve_id, reject_id, sharer_id = approve.id, reject.id, sharer.id
    client = user_client(owner)
    assert "不想要了" in text_of(client.get(f"/merchant/orders/{approve_id}"))
    no_reason = client.post(f"/merchant/orders/{reject_id}/refund", data={"decision": "reject"})
    assert no_reason.status_code == 422 and "why" in text_of(no_reason)
    bad = client.post(f"/merchant/orders/{reject_id}/refund", data={"decision": "maybe"})
    assert bad.status_code == 422
    ok = client.post(
        f"/merchant/orders/{reject_id}/refund", data={"decision": "reject", "note": "已发货"}
    )
    assert ok.status_code == 303
    assert (
        client.post(
            f"/merchant/orders/{approve_id}/refund", data={"decision": "approve"}
        ).status_code
        == 303
    )
    with app.app_context():
        assert db.session.get(Order, approve_id).status == S.REFUNDED
        assert db.session.get(Order, reject_id).status == S.REFUND_REJECTED
        assert ledger.balances(sharer_id).estimated_cents == 0  # voided
        invariants.check(db.session)


# --- sharer --------------------------------------------------------------------------------


def test_earnings_list_every_order_with_its_reason(app, user_client):
    with app.app_context():
        earned, sharer = earning_order()
        product = make_product(price_cents=5000, original_price_cents=None, rebate_bps=500)
        placed = at_ago(minutes=1)
        visitor = "w" * 32  # clicks one sharer's link, then another's: the later one wins
        first = svc.shared_click(product, visitor=visitor, at=placed - timedelta(hours=4))
        later = svc.shared_click(product, visitor=visitor, at=placed - timedelta(hours=3))
        [lost] = svc.place(make_user(), [(product.id, 1)], visitor=visitor, at=placed, key="x")
        svc.pay(lost, placed)
        db.session.commit()
        earned_number, lost_number = earned.number, lost.number
        assert lost.sharer_id == later.id
    page = text_of(user_client(sharer).get("/me/earnings"))
    assert earned_number in page and lost_number not in page
    far = user_client(sharer).get("/me/earnings?page=99999999999999999999")
    assert far.status_code == 200 and earned_number in text_of(far)
    assert "Yours: the buyer&#39;s last click was on your link." in page
    assert 'id="balance-estimated">¥10.00' in page
    overwritten = text_of(user_client(first).get("/me/earnings"))
    assert lost_number in overwritten and earned_number not in overwritten
    assert "clicked another sharer&#39;s link later" in overwritten
    assert 'id="balance-estimated">¥0.00' in overwritten
    assert lost_number in text_of(user_client(later).get("/me/earnings"))
    buyer_page = user_client(make_buyer(app, earned_number)).get("/orders")
    assert "Rebate" not in text_of(buyer_page) and "10.00" not in text_of(buyer_page)


def make_buyer(app, number):
    with app.app_context():
        return db.session.execute(select(Order).where(Order.number == number)).scalar_one().buyer


def settled_sharer(amount_yuan=50):
    order, sharer = earning_order(price=amount_yuan * 1000)
    moment = at_ago(days=20)
    db.session.execute(
        Order.__table__.update()
        .where(Order.id == order.id)
        .values(status=S.COMPLETED, completed_at=moment)
    )
    db.session.refresh(order)
    ledger.settle_order(order.id, now=real_now(), return_window=timedelta(days=7))
    return sharer


def account_form(**fields):
    return {
        "method": "alipay",
        "account_name": "小美",
        "account_number": "xiaomei@example.com",
        "bank_name": "",
        "password": "wrong-password",
        **fields,
    }


def test_payout_account_needs_the_password_again(app, user_client):
    from tests.factories import DEFAULT_PASSWORD

    with app.app_context():
        sharer = settled_sharer()
        db.session.commit()
    client = user_client(sharer)
    wrong = client.post("/me/earnings/account", data=account_form())
    assert wrong.status_code == 200 and "The password is wrong." in text_of(wrong)
    assert "xiaomei@example.com" in text_of(wrong)  # nothing typed is lost but the password
    bad_card = client.post(
        "/me/earnings/account",
        data=account_form(method="bank", account_number="12", password=DEFAULT_PASSWORD),
    )
    assert "12 to 19 digits" in text_of(bad_card)
    with app.app_context():
        assert db.session.execute(select(func.count(PayoutAccount.id))).scalar_one() == 0
    ok = client.post("/me/earnings/account", data=account_form(password=DEFAULT_PASSWORD))
    assert ok.status_code == 303
    page = text_of(client.get("/me/earnings"))
    assert "x•••@example.com" in page and "xiaomei@example.com" not in page


def test_payout_request_rules_and_replay(app, user_client):
    with app.app_context():
        sharer = settled_sharer(50)  # ¥50 available
        payouts.save_account(sharer, "alipay", "小美", "13800000003", "", now=real_now())
        db.session.commit()
        sharer_id = sharer.id
    client = user_client(sharer)
    page = text_of(client.get("/me/earnings"))
    key = re.search(r'name="idempotency_key"[^>]*value="([^"]+)"', page).group(1)
    for amount, message in (
        ("", "Enter an amount."),
        ("abc", "at most two decimals"),
        ("5", "The smallest payout is ¥10.00."),
        ("50.01", "at most ¥50.00"),
    ):
        response = client.post(
            "/me/earnings/payout", data={"amount": amount, "idempotency_key": key}
        )
        assert response.status_code == 422 and message in text_of(response), amount
        assert f'value="{amount}"' in text_of(response)
    first = client.post("/me/earnings/payout", data={"amount": "30", "idempotency_key": key})
    replay = client.post("/me/earnings/payout", data={"amount": "30", "idempotency_key": key})
    assert first.status_code == replay.status_code == 303
    second = client.post(
        "/me/earnings/payout", data={"amount": "10", "idempotency_key": "another-key-123456"}
    )
    assert second.status_code == 422 and "waiting for approval" in text_of(second)
    with app.app_context():
        assert db.session.execute(select(Payout.amount_cents)).scalars().all() == [3000]
        assert ledger.balances(sharer_id).available_cents == 2000
        invariants.check(db.session)
    assert "waiting for approval" in text_of(client.get("/me/earnings"))


# --- admin ---------------------------------------------------------------------------------


def test_admin_pays_or_rejects_payouts_with_audit(app, user_client):
    with app.app_context():
        first = settled_sharer(50)
        second = settled_sharer(20)
        for sharer, amount, key in ((first, 4000, "k" * 20), (second, 2000, "j" * 20)):
            payouts.save_account(sharer, "bank", "阿杰", "6222021234567890", "工商银行",
                                 now=real_now())  # fmt: skip
            payouts.request_payout(
                sharer, amount, idempotency_key=key, minimum_cents=1000, now=real_now()
            )
        admin = make_user(is_admin=True)
        db.session.commit()
        first_payout, second_payout = (
            db.session.execute(select(Payout.id).order_by(Payout.id)).scalars().all()
        )
        second_id = second.id
    assert user_client(first).get("/admin/payouts").status_code == 403
    client = user_client(admin)
    queue = text_of(client.get("/admin/payouts"))
    assert "6222021234567890" in queue and "工商银行" in queue and "¥40.00" in queue
    # Paying asks first (the page posts the same form again with confirmed=1).
    asked = client.post(
        f"/admin/payouts/{first_payout}/decide",
        data={"decision": "pay", "reference": "BANK-20261124-001"},
    )
    assert asked.status_code == 200 and 'name="confirmed" value="1"' in asked.get_data(as_text=True)
    no_ref = client.post(
        f"/admin/payouts/{first_payout}/decide", data={"decision": "pay", "confirmed": "1"}
    )
    assert no_ref.status_code == 422 and "reference" in text_of(no_ref)
    paid = client.post(
        f"/admin/payouts/{first_payout}/decide",
        data={"decision": "pay", "reference": "BANK-20261124-001", "confirmed": "1"},
    )
    assert paid.status_code == 303
    no_reason = client.post(f"/admin/payouts/{second_payout}/decide", data={"decision": "x"})
    assert no_reason.status_code == 422 and "reason" in text_of(no_reason)
    rejected = client.post(
        f"/admin/payouts/{second_payout}/decide",
        data={"decision": "reject", "reason": "账户名与实名不符"},
    )
    assert rejected.status_code == 303
    twice = client.post(
        f"/admin/payouts/{first_payout}/decide",
        data={"decision": "pay", "reference": "again", "confirmed": "1"},
    )
    assert twice.status_code == 422 and "decided already" in text_of(twice)
    assert client.post("/admin/payouts/999999/decide", data={}).status_code == 404
    with app.app_context():
        statuses = db.session.execute(select(Payout.status).order_by(Payout.id)).scalars().all()
        assert statuses == [PayoutStatus.PAID, PayoutStatus.REJECTED]
        actions = db.session.execute(select(AuditEntry.action)).scalars().all()
        assert sorted(actions) == ["payout.pay", "payout.reject"]
        assert ledger.balances(second_id).available_cents == 2000  # returned
        invariants.check(db.session)
    history = text_of(user_client(second).get("/me/earnings"))
    assert "账户名与实名不符" in history


def test_admin_refunds_over_a_rejected_refund(app, user_client):
    with app.app_context():
        order, sharer = earning_order()
        states.request_refund(order, "坏了", actor=order.buyer, now=at_ago(seconds=40))
        states.decide_refund(
            order, False, actor=merchant_user(order), source="merchant", now=at_ago(seconds=20)
        )
        admin = make_user(is_admin=True)
        db.session.commit()
        order_id, number, sharer_id = order.id, order.number, sharer.id
    client = user_client(admin)
    assert number in text_of(client.get("/admin/refunds"))
    no_reason = client.post(f"/admin/orders/{order_id}/refund", data={"reason": ""})
    assert no_reason.status_code == 303
    with app.app_context():
        assert db.session.get(Order, order_id).status == S.REFUND_REJECTED
    done = client.post(f"/admin/orders/{order_id}/refund", data={"reason": "商品确有质量问题"})
    assert done.status_code == 303
    with app.app_context():
        assert db.session.get(Order, order_id).status == S.REFUNDED
        kinds = db.session.execute(
            select(LedgerEntry.kind).where(LedgerEntry.sharer_id == sharer_id)
        ).scalars()
        assert sorted(kinds) == [EntryKind.ESTIMATED, EntryKind.VOIDED]
        entry = db.session.execute(select(AuditEntry)).scalar_one()
        assert entry.action == "order.refund" and entry.reason == "商品确有质量问题"
        invariants.check(db.session)
    assert (
        user_client(make_user_in(app)).post(f"/admin/orders/{order_id}/refund").status_code == 403
    )


def make_user_in(app):
    with app.app_context():
        user = make_user()
        db.session.commit()
        return user


def test_pages_print_stored_times_in_china_time(app):
    """Times are stored in UTC; 16:30 UTC is half past midnight the next day in Beijing."""
    from datetime import datetime

    show = app.jinja_env.filters["china_time"]
    assert show(datetime(2026, 11, 20, 16, 30)) == "2026-11-21 00:30"
    assert show(datetime(2026, 11, 20, 16, 30), "%Y-%m-%d") == "2026-11-21"
    assert show(None) == ""
