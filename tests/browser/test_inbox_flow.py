"""The inbox and the webhook settings on a phone, with the worker running beside the server: a
sharer sees the badge and the new order through her link, opens it, adds a webhook (bad
addresses explained, the input kept), sees the secret once, sends a test to a local HTTPS fake
and finds it delivered in the log, and turns a kind off in her preferences."""

import threading
import time
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import select

from shop.notify import worker as notify_worker
from shop.notify.models import Preference
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.browser.conftest import seed_tea_merchant, serving
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.notify_fakes import Receiver, make_certificate
from tests.services.test_orders import pay, place, shared_click

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="inbox")


@pytest.fixture
def notify_server(sqlite_template, tmp_path):
    cert, key = make_certificate(tmp_path)
    fake = Receiver(cert, key)
    settings = {
        "NOTIFY_ALLOW_LOOPBACK": True,
        "NOTIFY_CA_FILE": str(cert),
        "NOTIFY_WORKER_POLL_SECONDS": 0.2,
        "NOTIFY_DELIVERY_THREADS": 1,
    }
    with serving(sqlite_template, tmp_path, **settings) as server:
        stop = threading.Event()
        threads = notify_worker.start(server.app, stop)
        try:
            yield server, fake
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
            fake.stop()


def test_a_sharer_reads_her_inbox_and_sets_up_a_webhook(notify_server, phone):
    server, fake = notify_server
    app, base = server.app, server.url
    with app.app_context():
        product = seed_tea_merchant()
        now = utcnow()
        sharer = shared_click(product, at=now - timedelta(hours=1))
        sharer.phone, sharer.display_name = "13700000011", "小美"
        [order] = place(sharer_buyer := _buyer(), [(product.id, 1)], visitor="v" * 32, at=now)
        pay(order, now)
        db.session.commit()
        order_no, sharer_id = order.number, sharer.id
        assert sharer_buyer.id != sharer_id

    sign_in(phone, base, "13700000011")
    badge = phone.locator(".inbox-link .badge")
    badge.wait_for(timeout=5000)  # the worker put the message there
    assert badge.inner_text() == "1"
    snap(phone, "01-home-badge", locator=phone.locator(".topbar"))

    phone.locator(".inbox-link").click()
    phone.wait_for_url(f"{base}/inbox/")
    text = phone.locator(".inbox-item").first.inner_text()
    assert order_no in text and "预估返利 ¥12.80" in text and "买家" not in text
    snap(phone, "02-inbox")
    phone.get_by_role("button", name="查看").click()
    phone.wait_for_url(f"{base}/me/earnings")
    assert phone.locator(".inbox-link .badge").count() == 0

    # Webhooks: plain http and a private address are explained, and what was typed stays.
    phone.goto(f"{base}/inbox/webhooks")
    field = phone.get_by_label("Webhook 地址")
    field.fill("http://example.com/hook")
    phone.get_by_role("button", name="添加 Webhook").click()
    phone.get_by_text("地址必须以 https:// 开头").wait_for()
    assert field.input_value() == "http://example.com/hook"
    field.fill("https://10.1.2.3/hook")
    phone.get_by_role("button", name="添加 Webhook").click()
    phone.get_by_text("这个地址指向内网、本机或保留网段").wait_for()
    assert phone.get_by_label("Webhook 地址").input_value() == "https://10.1.2.3/hook"
    snap(phone, "03-webhook-refused")

    phone.get_by_label("Webhook 地址").fill(fake.base + "/hooks/fenxiang")
    phone.get_by_role("button", name="添加 Webhook").click()
    secret = phone.locator("#secret-field").input_value()
    assert secret.startswith("whsec_")
    snap(phone, "04-webhook-secret")
    phone.get_by_role("link", name="发送测试并查看记录").click()
    phone.get_by_role("button", name="发送测试").click()
    phone.get_by_text("测试通知已在发送中").wait_for()
    deadline = time.monotonic() + 10
    while not fake.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    assert fake.requests and fake.requests[-1]["path"] == "/hooks/fenxiang"
    for _ in range(20):
        phone.reload()
        if phone.locator(".attempt").count():
            break
        time.sleep(0.3)
    assert "已送达" in phone.locator(".attempt").first.inner_text()
    assert "HTTP 200" in phone.locator(".attempt").first.inner_text()
    snap(phone, "05-delivery-log")

    # Preferences: no new-order notices by webhook.
    phone.goto(f"{base}/inbox/preferences")
    phone.locator("input[value='order_attributed:webhook']").uncheck()
    phone.get_by_role("button", name="保存").click()
    phone.get_by_text("已保存").first.wait_for()
    snap(phone, "06-preferences")
    with app.app_context():
        row = db.session.execute(
            select(Preference).where(
                Preference.user_id == sharer_id, Preference.kind == "order_attributed"
            )
        ).scalar_one()
        assert (row.inbox, row.webhook, row.wecom) == (True, False, True)


def _buyer():
    from tests.factories import make_user

    return make_user(phone="13700000021", display_name="李同学")
