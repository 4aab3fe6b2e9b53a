"""A verified payment callback is answered once its outbox row is committed, before any paid
transition; ``flask worker``'s outbox loop applies it (``shop.orders.gateways.received``), in
small transactions, once per order however many duplicates, and a bad row waits alone."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.orders.gateways import received
from shop.orders.models import OrderEvent, PaymentEvent
from shop.platform import outbox
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.web import test_gateway_payments as paying
from tests.web.test_gateway_payments import (
    DESKTOP,
    S,
    key_pairs,  # noqa: F401 (fixture)
    new_order,
    notify_wechat,
    paid_events,
    status_of,
    work,
)

gateways = paying.gateways  # the fixture: both fake gateways, served


def payment_rows(app):
    with app.app_context():
        table = outbox.OutboxRow
        return [
            (row.kind, row.payload, row.done_at is not None, row.attempts, row.last_error)
            for row in db.session.execute(
                select(table).where(table.topic == "payment").order_by(table.id)
            ).scalars()
        ]


def paid_order(app, gateways, user_client):
    wechat, _alipay = gateways
    buyer, order_id, number = new_order(app, "wechatpay")
    user_client(buyer).get(f"/orders/{order_id}/pay/gateway", headers={"User-Agent": DESKTOP})
    headers, body = wechat.pay(number)
    return order_id, number, headers, body


def test_the_callback_records_the_trade_and_answers_before_paying(app, gateways, user_client):
    order_id, number, headers, body = paid_order(app, gateways, user_client)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    [(kind, payload, done, attempts, error)] = payment_rows(app)
    assert (kind, done, attempts, error) == ("wechatpay", False, 0, "")
    assert payload["order_number"] == number and payload["amount_cents"] == 5900
    assert payload["state"] == "paid" and payload["trade_id"] and payload["paid_at"]
    # Nothing of the paid transition has happened yet.
    assert status_of(app, order_id) == S.PLACED and paid_events(app, order_id) == 0
    with app.app_context():
        paid = select(func.count()).select_from(OrderEvent).where(OrderEvent.to_status == "paid")
        assert db.session.scalar(paid) == 0

    work(app)  # the worker's outbox loop
    assert status_of(app, order_id) == S.PAID and paid_events(app, order_id) == 1
    [(_kind, _payload, done, attempts, error)] = payment_rows(app)
    assert (done, attempts, error) == (True, 1, "")
    with app.app_context():
        event = db.session.execute(select(PaymentEvent)).scalar_one()
        created = db.session.execute(select(outbox.OutboxRow.created_at)).scalars().first()
        assert event.received_at == created  # when the gateway told us, not when applied


def test_duplicates_pay_once_in_chunks_and_the_notices_follow(
    app, gateways, user_client, monkeypatch
):
    order_id, _number, headers, body = paid_order(app, gateways, user_client)
    other_id, _other, other_headers, other_body = paid_order(app, gateways, user_client)
    for _ in range(39):
        assert notify_wechat(app.test_client(), headers, body).status_code == 204
    assert notify_wechat(app.test_client(), other_headers, other_body).status_code == 204
    chunks = []
    apply_rows = outbox.HANDLERS["payment"]

    def counted(rows, now):
        chunks.append(len(rows))
        apply_rows(rows, now)

    monkeypatch.setitem(outbox.HANDLERS, "payment", counted)
    with app.app_context():
        done = outbox.process_batch(limit=500)
    full, rest = divmod(40, received.CHUNK)
    assert chunks == [received.CHUNK] * full + ([rest] if rest else [])
    assert done == 40 + 2  # the payment rows, then the two orders' paid notices
    assert status_of(app, order_id) == S.PAID and paid_events(app, order_id) == 1
    assert status_of(app, other_id) == S.PAID and paid_events(app, other_id) == 1
    assert all(done for _k, _p, done, _a, _e in payment_rows(app))
    with app.app_context():
        outcomes = db.session.execute(select(PaymentEvent.outcome)).scalars().all()
        assert sorted(outcomes) == ["paid", "paid"]  # the duplicates are replays of the first
        assert db.session.scalar(
            select(func.count()).select_from(OrderEvent).where(OrderEvent.to_status == "paid")
        ) == 2  # fmt: skip


def test_the_batch_limit_bounds_the_chunks_too(app, gateways, user_client):
    _order_id, _number, headers, body = paid_order(app, gateways, user_client)
    for _ in range(5):
        notify_wechat(app.test_client(), headers, body)
    with app.app_context():
        assert outbox.process_batch(limit=3) == 3
    assert [done for _k, _p, done, _a, _e in payment_rows(app)] == [True] * 3 + [False] * 2


def test_a_bad_row_waits_alone_and_is_given_up_with_its_error(app, gateways, user_client):
    order_id, _number, headers, body = paid_order(app, gateways, user_client)
    start = utcnow()
    with app.app_context():
        # A row no code can apply (say, written by a release that stored other fields).
        outbox.emit("payment", "wechatpay", user_id=None, payload={"order": "?"}, now=start)
        db.session.commit()
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    work(app)
    assert status_of(app, order_id) == S.PAID and paid_events(app, order_id) == 1
    bad, good = payment_rows(app)
    assert good[2:] == (True, 1, "")
    assert bad[2:4] == (False, 1) and bad[4].startswith("KeyError")
    with app.app_context():
        # Retried with the outbox's backoff, then given up and kept with its error.
        at = start
        for _attempt in range(2, outbox.MAX_ATTEMPTS + 1):
            at += timedelta(hours=2)
            assert outbox.process_batch(now=at) == 1
        assert outbox.process_batch(now=at + timedelta(days=1)) == 0
    bad = payment_rows(app)[0]
    assert bad[2:4] == (True, outbox.MAX_ATTEMPTS) and bad[4].startswith("KeyError")


def test_an_unpaid_state_writes_no_row(app):
    from shop.orders.gateways.base import TradeState

    with app.app_context():
        state = TradeState(order_number="FX1", state="closed", amount_cents=100, trade_id="t")
        assert received.record("wechatpay", state, now=utcnow()) is False
        db.session.commit()
    assert payment_rows(app) == []


def test_the_thin_path_answers_like_flask_and_hands_over_the_rest(app, gateways, user_client):
    order_id, number, headers, body = paid_order(app, gateways, user_client)
    rid = "0123456789abcdef0123456789abcdef"
    answer = notify_wechat(app.test_client(), {**headers, "X-Request-ID": rid}, body)
    assert answer.status_code == 204 and answer.get_data() == b""
    assert answer.headers["X-Request-ID"] == rid
    assert "object-src 'none'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Frame-Options"] == "DENY"
    # Forged: Flask answers (it reads the body the thin path read), and nothing is recorded.
    forged = notify_wechat(app.test_client(), headers, body.replace(b"SUCCESS", b"SUCCESS "))
    assert forged.status_code == 401 and forged.get_json()["code"] == "FAIL"
    # A GET: Flask answers.
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    other = app.test_client().get("/payments/wechatpay/notify")
    assert other.status_code == 405
    assert [p["order_number"] for _k, p, _d, _a, _e in payment_rows(app)] == [number] * 2
    work(app)
    assert status_of(app, order_id) == S.PAID and paid_events(app, order_id) == 1


def test_on_sqlite_the_worker_sees_whether_others_wrote_during_its_pause(app, database_url):
    import threading

    if not database_url.startswith("sqlite"):
        pytest.skip("the pause between chunks is SQLite's (one writer)")
    with app.app_context():
        assert outbox._others_wrote_during(0.05) is False

        def write():
            with app.app_context():
                outbox.emit("notify", "x", user_id=None, payload={}, now=utcnow())
                db.session.commit()
                db.session.remove()

        writer = threading.Timer(0.05, write)
        writer.start()
        assert outbox._others_wrote_during(0.5) is True
        writer.join()


def test_the_order_sweep_pays_recorded_callbacks_before_cancelling(app, gateways, user_client):
    """The worker was down when the callback came, and the order's deadline passed: `flask
    sweep-orders` applies the recorded payment first, so the order is paid, never cancelled
    (and then refunded as a payment after cancellation)."""
    order_id, _number, headers, body = paid_order(app, gateways, user_client)
    assert notify_wechat(app.test_client(), headers, body).status_code == 204
    with app.app_context():
        from shop.orders.models import Order

        db.session.get(Order, order_id).pay_deadline = utcnow() - timedelta(minutes=1)
        db.session.commit()
    with app.app_context():  # as `flask` runs a command
        result = app.test_cli_runner().invoke(args=["sweep-orders"])
        db.session.remove()
    assert result.exit_code == 0, result.output
    assert "Cancelled unpaid: 0" in result.output
    assert status_of(app, order_id) == S.PAID and paid_events(app, order_id) == 1
    assert [done for _kind, _payload, done, _attempts, _error in payment_rows(app)] == [True]
    work(app)  # the worker then delivers the paid notices, and pays nothing again
    assert paid_events(app, order_id) == 1


def test_on_sqlite_the_worker_pauses_longer_while_requests_keep_writing():
    """The pause after a chunk: as long as the chunk held the lock, then doubling while other
    connections write during the pauses, never past MAX_PAUSE (process_batch starts again
    from the chunk's own time once a pause passes with no other writer)."""
    held = 0.004
    pauses = [outbox.next_pause(0.0, held)]
    for _ in range(8):
        pauses.append(outbox.next_pause(pauses[-1], held))
    assert pauses[:4] == [0.004, 0.008, 0.016, 0.032]
    assert pauses[-1] == outbox.MAX_PAUSE and max(pauses) == outbox.MAX_PAUSE
    assert outbox.next_pause(0.0, 0.5) == outbox.MAX_PAUSE  # a long chunk: the longest pause


def test_one_batch_leaves_the_chunked_topics_after_its_time(app, monkeypatch):
    """A long run of payment rows does not hold up the other topics: process_batch stops
    taking chunks after CHUNKED_SECONDS and does the other topics' due rows."""
    with app.app_context():
        for n in range(3):
            outbox.emit("payment", "wechat", user_id=None, payload={"n": n}, now=utcnow())
        outbox.emit("notify", "x", user_id=None, payload={}, now=utcnow())
        db.session.commit()
        done_topics = []
        monkeypatch.setitem(
            outbox.HANDLERS, "payment", lambda rows, now: done_topics.append("payment")
        )
        monkeypatch.setitem(
            outbox.HANDLERS, "notify", lambda rows, now: done_topics.append("notify")
        )
        monkeypatch.setattr(outbox, "CHUNKED_SECONDS", 0.0)
        outbox.process_batch(limit=100)
        db.session.remove()
    assert done_topics == ["notify"]
