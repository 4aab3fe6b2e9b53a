"""Merchant settlement on phones: a merchant whose order settled reads the month's statement,
downloads its CSV and asks for a withdrawal; the admin pays it with a reference and sets the
merchant's platform fee; the merchant sees the withdrawal paid."""

from datetime import timedelta
from functools import partial

import pytest

from shop.money import ledger, payouts
from shop.orders import states
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests import invariants
from tests.browser.conftest import seed_tea_merchant
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_user
from tests.services import test_orders as svc

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="merchant-money")


def test_statement_withdrawal_and_admin_payment(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        product = seed_tea_merchant()
        merchant = product.merchant
        merchant.fee_bps = 300
        at = utcnow() - timedelta(days=12)
        for n in range(3):
            svc.shared_click(product, visitor=f"{n}" * 32, at=at - timedelta(hours=1))
            [order] = svc.place(make_user(), [(product.id, 1)], visitor=f"{n}" * 32, at=at,
                                key=f"browser-{n}")  # fmt: skip
            svc.pay(order, at)
            states.ship(order, "顺丰速运", f"SF100000000{n}", actor=merchant.user, now=at)
            states.confirm_receipt(order, actor=order.buyer, now=at + timedelta(days=1))
            ledger.settle_order(order.id, now=utcnow(), return_window=timedelta(days=7))
        month = (at + timedelta(hours=8)).strftime("%Y-%m")
        payouts.save_account(merchant.user, "alipay", "陈老板", "13700000002", "", now=utcnow())
        db.session.commit()
    base = live_server.url

    seller = new_phone()
    sign_in(seller, base, "13700000002")
    seller.goto(base + "/merchant/orders")
    seller.get_by_role("link", name="资金").click()
    seller.get_by_role("heading", name="对账单与提现").wait_for()
    if seller.get_by_role("heading", name=f"{month} 对账单").count() == 0:
        seller.get_by_role("link", name=f"‹ {month}").click()  # paid last month
    seller.get_by_role("heading", name=f"{month} 对账单").wait_for()
    net = seller.locator("#st-net").inner_text()
    assert seller.locator("#st-rebates").inner_text() == "¥38.40"  # 3 x 10% of ¥128
    assert seller.locator("#st-fee").inner_text() == "¥11.52"  # 3 x 3%
    assert net == seller.locator("#bal-available").inner_text()
    snap(seller, "statement")
    with seller.expect_download() as download:
        seller.get_by_role("link", name="下载 CSV").click()
    assert download.value.suggested_filename.startswith("fenxiang-statement-")
    seller.get_by_label("金额（元）").fill("50")
    seller.get_by_role("button", name="申请提现").click()
    seller.get_by_text("最低提现金额为 ¥100.00。").wait_for()
    assert seller.get_by_label("金额（元）").input_value() == "50"
    snap(seller, "withdraw-error")
    seller.get_by_label("金额（元）").fill("200")
    seller.get_by_role("button", name="申请提现").click()
    seller.get_by_text("已申请提现 ¥200.00").wait_for()
    snap(seller, "withdraw-requested")

    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(base + "/admin/withdrawals")
    admin.get_by_role("heading", name="¥200.00 · 山野茶舍").wait_for()
    snap(admin, "admin-queue")
    admin.get_by_label("转账流水号").fill("ALI20261206001")
    admin.get_by_role("button", name="标记为已打款").first.click()
    admin.get_by_role("dialog").get_by_role("button", name="标记为已打款").click()
    admin.get_by_text("已向 山野茶舍 打款 ¥200.00").wait_for()

    seller.goto(base + "/merchant/money")
    seller.get_by_text("转账流水号：ALI20261206001").wait_for()
    snap(seller, "withdraw-paid")
    with app.app_context():
        invariants.check(db.session)
