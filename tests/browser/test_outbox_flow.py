"""Background work (/admin/outbox) on a phone: the admin home counts the work given up; the
page lists a payment callback row given up (order linked, amount in yuan, trade id, error,
attempts, age) and a notification row retrying; the admin tries the payment row again with
the page's own form; the worker's code then pays the order, which its admin page shows."""

from functools import partial

import pytest
from sqlalchemy import select, update

from shop.orders.gateways import received
from shop.orders.gateways.base import TradeState
from shop.platform import outbox
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.browser.conftest import seed_tea_merchant, sweep_accessibility
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_user
from tests.services.test_orders import place

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="outbox")
TRADE = "4200000000202612060099"


def seed(app):
    with app.app_context():
        product = seed_tea_merchant()
        buyer = make_user(display_name="买家")
        [order] = place(buyer, [(product.id, 1)], provider="wechatpay", at=utcnow())
        at = utcnow()
        state = TradeState(order.number, "paid", order.total_cents, trade_id=TRADE)
        received.record("wechatpay", state, now=at)
        outbox.emit("notify", "order_shipped", user_id=buyer.id, now=at,
                    payload={"order_number": order.number, "title": "武夷山红茶"})  # fmt: skip
        db.session.commit()
        rows = outbox.OutboxRow
        ids = dict(db.session.execute(select(rows.topic, rows.id)).all())
        db.session.execute(
            update(rows).where(rows.id == ids["payment"]).values(
                done_at=at, attempts=outbox.MAX_ATTEMPTS,
                last_error="OperationalError: database is locked",
            )
        )  # fmt: skip
        db.session.execute(
            update(rows).where(rows.id == ids["notify"]).values(
                attempts=3, last_error="URLError: timed out", available_at=at.replace(year=2099)
            )
        )  # fmt: skip
        db.session.commit()
        return ids, order.id, order.number


def test_admin_tries_given_up_background_work_again(live_server, new_phone):
    app = live_server.app
    ids, order_id, number = seed(app)
    base = live_server.url
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(base + "/admin/")
    count = admin.locator("#outbox-given-up-count")
    assert count.inner_text() == "1"
    snap(admin, "home", locator=admin.locator(".stat-grid").first)
    count.click()
    admin.get_by_role("heading", name="已暂停重试 (1)").wait_for()
    card = admin.locator(f"#outbox-{ids['payment']}")
    text = card.inner_text()
    assert number in text and "¥128.00" in text and TRADE in text and "database is locked" in text
    assert "8 / 8" in text
    retrying = admin.locator(f"#outbox-{ids['notify']}").inner_text()
    assert "URLError: timed out" in retrying and "title: 武夷山红茶" in retrying
    snap(admin, "given-up")
    card.get_by_role("button", name="立即重试").click()
    admin.get_by_text("任务已重新排队，后台进程稍后会再试。").wait_for()
    admin.locator("#no-given-up").wait_for()
    snap(admin, "retried")
    with app.app_context():
        assert outbox.process_batch() >= 1  # what flask worker does next (and its notices)
        db.session.remove()
    admin.goto(f"{base}/admin/orders/{order_id}")
    assert "已付款" in admin.locator("#order-facts").inner_text()
    snap(admin, "order")
    admin.context.add_cookies([{"name": "lang", "value": "en", "url": base}])
    admin.goto(base + "/admin/outbox")
    admin.get_by_role("heading", name="Retrying (1)").wait_for()
    snap(admin, "english")
    problems = sweep_accessibility(
        admin.context,
        [base + "/admin/", base + "/admin/outbox", f"{base}/admin/orders/{order_id}"],
    )
    assert not problems, problems
    with app.app_context():
        entry = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "outbox.retry")
        ).scalar_one()
        assert entry.object_id == ids["payment"] and entry.before["state"] == "given_up"
