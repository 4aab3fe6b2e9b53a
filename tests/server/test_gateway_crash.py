"""Processes killed in the middle of a WeChat Pay payment. The web worker dies after writing
the callback's outbox row, before the commit: nothing remains, and the gateway's retry records
it. Then ``flask worker`` dies applying it (order marked paid, rebates estimated, not
committed): nothing of the paid transition remains, and the worker started again pays the
order once."""

import http.client
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop import PROJECT_ROOT
from shop.orders.gateways import providers
from shop.orders.models import Order, OrderStatus, PaymentEvent
from shop.platform import faults, outbox
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, make_user
from tests.fakes import serving
from tests.fakes.wechatpay import FakeWeChatPay
from tests.server.live import Browser, count, server_env
from tests.services.test_gateway_adapters import APIV3_KEY, key_pairs  # noqa: F401 (fixture)
from tests.services.test_orders import place


def flask_worker(env: dict, log) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        cwd=PROJECT_ROOT,
        env={**env, "FLASK_APP": "wsgi.py", "SHOP_NOTIFY_WORKER_POLL_SECONDS": "0.1"},
        stdout=log,
        stderr=subprocess.STDOUT,
    )


def test_a_worker_dying_mid_callback_leaves_nothing_and_the_retry_pays_once(
    app,
    start_server,
    database_url,
    tmp_path,
    key_pairs,  # noqa: F811
):
    fake = FakeWeChatPay(
        mchid="1900000109",
        appid="wx8888888888888888",
        merchant_public_pem=key_pairs["merchant"][1],
        merchant_serial="SERIAL1",
        platform_private_pem=key_pairs["platform"][0],
        platform_key_id="PUB_KEY_ID_1",
        apiv3_key=APIV3_KEY,
    )
    with serving(fake) as url:
        settings = {
            "PUBLIC_BASE_URL": "https://shop.example.cn",
            "WECHATPAY_MCHID": "1900000109",
            "WECHATPAY_APPID": "wx8888888888888888",
            "WECHATPAY_SERIAL_NO": "SERIAL1",
            "WECHATPAY_PRIVATE_KEY": key_pairs["merchant"][0],
            "WECHATPAY_APIV3_KEY": APIV3_KEY,
            "WECHATPAY_PUBLIC_KEY": key_pairs["platform"][1],
            "WECHATPAY_PUBLIC_KEY_ID": "PUB_KEY_ID_1",
            "WECHATPAY_BASE_URL": url,
        }
        crashing = start_server(workers=1, threads=2, FAULT="callback.after_record", **settings)
        with app.app_context():
            product = make_product(price_cents=5900, stock=3)
            [order] = place(make_user(), [(product.id, 1)], provider="wechatpay", at=utcnow())
            db.session.commit()
            order_id, number = order.id, order.number
            app.config.update(settings)
            providers.build(app.config)["wechatpay"].create(
                order_number=number,
                amount_cents=5900,
                description="茶",
                expires_at=utcnow() + timedelta(minutes=30),
                channel="native",
            )
        headers, body = fake.pay(number)
        sent = {**headers, "Content-Type": "application/json"}
        crashing.wait_ready()
        with pytest.raises((ConnectionError, http.client.HTTPException)):
            Browser(crashing).request("POST", "/payments/wechatpay/notify", body, sent)
        assert crashing.wait_for_log(f"exited with code {faults.EXIT_CODE}"), crashing.log()
        crashing.stop()
        server = start_server(workers=1, **settings)
        with app.app_context():
            assert db.session.get(Order, order_id).status == OrderStatus.PLACED
            assert count(outbox.OutboxRow) == 0 and count(PaymentEvent) == 0
            invariants.check(db.session)
            db.session.rollback()
        # WeChat Pay retries the same callback (it got no answer): recorded, answered.
        server.wait_ready()
        answer = Browser(server).request("POST", "/payments/wechatpay/notify", body, sent)
        assert answer.status == 204, server.log()
        again = Browser(server).request("POST", "/payments/wechatpay/notify", body, sent)
        assert again.status == 204
        with app.app_context():
            assert db.session.get(Order, order_id).status == OrderStatus.PLACED
            assert count(outbox.OutboxRow, outbox.OutboxRow.topic == "payment") == 2
            db.session.rollback()

        # flask worker dies in the paid transition, before its commit.
        env = server_env(database_url, tmp_path / "instance", **settings)
        log_path = tmp_path / "worker.log"
        with log_path.open("ab") as log:
            dying = flask_worker({**env, "SHOP_FAULT": "pay.after_ledger"}, log)
            try:
                assert dying.wait(60) == faults.EXIT_CODE, log_path.read_text()
            finally:
                if dying.poll() is None:
                    dying.kill()
        with app.app_context():
            assert db.session.get(Order, order_id).status == OrderStatus.PLACED
            assert count(PaymentEvent) == 0
            assert count(outbox.OutboxRow, outbox.OutboxRow.done_at.is_not(None)) == 0
            invariants.check(db.session)
            db.session.rollback()

        # Started again, it pays the order once (the duplicate is a replay).
        with log_path.open("ab") as log:
            worker = flask_worker(env, log)
            try:
                deadline = time.monotonic() + 60
                with app.app_context():
                    while count(outbox.OutboxRow, outbox.OutboxRow.done_at.is_(None)):
                        assert time.monotonic() < deadline, log_path.read_text()
                        db.session.rollback()
                        time.sleep(0.1)
                    db.session.rollback()
            finally:
                worker.terminate()
                worker.wait(30)
        with app.app_context():
            assert db.session.get(Order, order_id).status == OrderStatus.PAID
            assert [e.outcome for e in db.session.execute(select(PaymentEvent)).scalars()] == [
                "paid"
            ]
            rows = db.session.execute(select(outbox.OutboxRow)).scalars().all()
            assert {(row.done_at is not None, row.last_error) for row in rows} == {(True, "")}
            invariants.check(db.session)
