"""The merchant's money page (statement by month, CSV, balances, withdrawals) and the admin's
withdrawal queue and fee form: what they show, what they refuse, whose objects they let a
user name by id."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.money import ledger, payouts
from shop.money import merchant_payouts as mp
from shop.money.models import MerchantWithdrawal, WithdrawalStatus
from shop.orders import states
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.web.common import now as real_now
from tests import invariants
from tests.factories import make_merchant, make_product, make_user
from tests.services import test_orders as svc


@pytest.fixture
def client_for(english_client):
    return english_client


def text_of(response) -> str:
    return response.get_data(as_text=True)


def settled_order(merchant, price=30000):
    """A paid order of ``merchant``'s product through a sharer, settled (10% rebate, 5% fee)."""
    at = real_now() - timedelta(days=20)
    product = make_product(
        price_cents=price, original_price_cents=None, rebate_bps=1000, merchant=merchant
    )
    svc.shared_click(product, at=at - timedelta(hours=1))
    [order] = svc.place(make_user(), [(product.id, 1)], visitor="v" * 32, at=at,
                        key=f"k{product.id}")  # fmt: skip
    svc.pay(order, at)
    states.ship(order, "顺丰速运", "SF1234567890", actor=merchant.user, now=at)
    states.confirm_receipt(order, actor=order.buyer, now=at + timedelta(days=1))
    ledger.settle_order(order.id, now=real_now(), return_window=timedelta(days=7))
    return order


def test_statement_csv_and_withdrawal(app, client_for):
    with app.app_context():
        merchant = make_merchant()
        merchant.fee_bps = 500
        order = settled_order(merchant)
        payouts.save_account(merchant.user, "alipay", "张老板", "13800000009", "", now=real_now())
        db.session.commit()
        user, share = merchant.user, 30000 + order.shipping_cents - 3000 - 1500
        month = (order.paid_at + timedelta(hours=8)).strftime("%Y-%m")
    client = client_for(user)
    page = text_of(client.get(f"/merchant/money?month={month}"))
    assert "¥300.00" in page and "¥30.00" in page and "¥15.00" in page
    assert f'id="st-net">¥{share / 100:.2f}' in page
    assert f'id="bal-available">¥{share / 100:.2f}' in page
    csv = client.get(f"/merchant/money/statement.csv?month={month}")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    body = text_of(csv)
    assert body.startswith("\ufeffTime,Order,Event") and order.number in body
    assert "Paid,300.00,30.00,15.00" in body
    settled = text_of(client.get("/merchant/money/statement.csv"))  # settled this month
    assert "Settled,0.00,0.00,0.00,0.00" in settled
    key = re.search(r'name="idempotency_key"[^>]*value="([^"]+)"', page).group(1)
    for amount, message in (("", "Enter an amount."), ("5", "smallest withdrawal is ¥100.00")):
        bad = client.post("/merchant/money/withdraw", data={"amount": amount,
                                                            "idempotency_key": key})  # fmt: skip
        assert bad.status_code == 422 and message in text_of(bad), amount
        assert f'value="{amount}"' in text_of(bad)
    first = client.post("/merchant/money/withdraw", data={"amount": "100", "idempotency_key": key})
    again = client.post("/merchant/money/withdraw", data={"amount": "100", "idempotency_key": key})
    assert first.status_code == again.status_code == 303
    assert "waiting for approval" in text_of(client.get("/merchant/money"))
    # Someone who is not a merchant has no money page.
    assert client_for(make_user_committed(app)).get("/merchant/money").status_code == 302
    with app.app_context():
        assert len(db.session.execute(select(MerchantWithdrawal)).scalars().all()) == 1
        invariants.check(db.session)


def make_user_committed(app, **fields):
    with app.app_context():
        user = make_user(**fields)
        db.session.commit()
        return user


def test_admin_pays_or_rejects_withdrawals_and_sets_fees_with_audit(app, client_for):
    with app.app_context():
        merchant = make_merchant()
        settled_order(merchant)
        payouts.save_account(merchant.user, "bank", "阿杰", "6222021234567890", "工商银行",
                             now=real_now())  # fmt: skip
        w = mp.request_withdrawal(merchant.user, 20000, idempotency_key="k" * 20,
                                  minimum_cents=10000, now=real_now())  # fmt: skip
        db.session.commit()
        w_id, merchant_id, owner = w.id, merchant.id, merchant.user
    admin = make_user_committed(app, is_admin=True)
    assert client_for(owner).get("/admin/withdrawals").status_code == 403
    assert client_for(owner).post(f"/admin/merchants/{merchant_id}/fee").status_code == 403
    client = client_for(admin)
    queue = text_of(client.get("/admin/withdrawals"))
    assert "6222021234567890" in queue and "¥200.00" in queue
    asked = client.post(f"/admin/withdrawals/{w_id}/decide",
                        data={"decision": "pay", "reference": "BANK-1"})  # fmt: skip
    assert asked.status_code == 200 and 'name="confirmed" value="1"' in text_of(asked)
    form = {"decision": "pay", "reference": "BANK-1", "confirmed": "1"}
    paid = client.post(f"/admin/withdrawals/{w_id}/decide", data=form)
    assert paid.status_code == 303
    twice = client.post(f"/admin/withdrawals/{w_id}/decide",
                        data={"decision": "reject", "reason": "x"})  # fmt: skip
    assert twice.status_code == 422 and "decided already" in text_of(twice)
    assert client.post("/admin/withdrawals/999999/decide", data={}).status_code == 404
    bad = client.post(f"/admin/merchants/{merchant_id}/fee", data={"fee": "120", "reason": "r"})
    assert (
        bad.status_code == 422 and "from 0 to 100" in text_of(bad) and 'value="120"' in text_of(bad)
    )
    ok = client.post(f"/admin/merchants/{merchant_id}/fee", data={"fee": "2.5", "reason": "签约"})
    assert ok.status_code == 303
    assert "2.5%" in text_of(client.get(f"/admin/merchants/{merchant_id}"))
    assert client.get("/admin/merchants/999999/fee").status_code == 404
    with app.app_context():
        assert db.session.get(MerchantWithdrawal, w_id).status == WithdrawalStatus.PAID
        actions = db.session.execute(select(AuditEntry.action)).scalars().all()
        assert actions == ["withdrawal.pay", "merchant.fee"]
        invariants.check(db.session)
