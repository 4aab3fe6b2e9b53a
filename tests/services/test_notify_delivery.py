"""Webhooks and WeCom bots against local HTTPS fakes: the signature a receiver can check, 500s
and timeouts retried with backoff and logged, giving up after the retry time, the SSRF guard,
WeCom's protocol, and two workers on PostgreSQL never delivering one notice twice."""

import hashlib
import hmac
import json
import socket
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.notify import delivery, endpoints
from shop.notify.models import Attempt, Delivery
from shop.platform import netguard, outbox
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests.factories import make_user
from tests.notify_fakes import Receiver, make_certificate, wecom_answer, wecom_key_of
from tests.services.test_orders import NOW


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def receiver(certificate):
    made = []

    def make(answers=None):
        made.append(Receiver(*certificate, answers=answers))
        return made[-1]

    yield make
    for server in made:
        server.stop()


@pytest.fixture
def local(app, certificate):
    """The app allowed to call 127.0.0.1 and trusting the fakes' certificate."""
    app.config.update(
        NOTIFY_ALLOW_LOOPBACK=True,
        NOTIFY_CA_FILE=str(certificate[0]),
        NOTIFY_HTTP_TIMEOUT_SECONDS=0.5,
        NOTIFY_RETRY_BASE_SECONDS=30,
    )
    with app.app_context():
        yield app
        db.session.rollback()


def verify(secret: str, headers: dict, body: bytes, *, now: int, tolerance: int = 300) -> bool:
    """What a receiver does (the example in docs/notifications.md)."""
    timestamp = headers["X-Fenxiang-Timestamp"]
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return hmac.compare_digest("sha256=" + expected.hexdigest(), headers["X-Fenxiang-Signature"])


def webhook(url):
    user = make_user()
    endpoint = endpoints.add_webhook(user, url, allow_loopback=True, limit=5, now=NOW)
    db.session.commit()
    return endpoint


def at(moment):
    return lambda: moment


def test_a_notice_reaches_the_webhook_signed_so_the_receiver_can_check_it(local, receiver):
    fake = receiver()
    endpoint = webhook(fake.base + "/hooks?x=1")
    outbox.emit("notify", "rebate_settled", user_id=endpoint.user_id, now=NOW, payload={
        "order_no": "2611240001", "amount_cents": 1234,
    })  # fmt: skip
    db.session.commit()
    outbox.process_batch(now=NOW)
    assert delivery.deliver_due(now_fn=at(NOW)) == 1
    [request] = fake.requests
    assert request["path"] == "/hooks?x=1"
    headers, body = request["headers"], request["body"]
    now = int(headers["X-Fenxiang-Timestamp"])
    assert verify(endpoint.secret, headers, body, now=now)
    assert not verify(endpoint.secret, headers, body + b" ", now=now)  # a changed body fails
    assert not verify("whsec_other", headers, body, now=now)
    assert not verify(endpoint.secret, headers, body, now=now + 301)  # a replay, later
    event = json.loads(body)
    assert event["kind"] == "rebate_settled" and event["data"]["amount_cents"] == 1234
    assert "12.34" in event["text"] and headers["X-Fenxiang-Event"] == "rebate_settled"
    [row] = db.session.execute(select(Delivery)).scalars()
    assert (row.status, row.attempts) == ("delivered", 1)
    [logged] = db.session.execute(select(Attempt)).scalars()
    assert logged.ok and logged.status_code == 200 and logged.duration_ms >= 0


def test_a_500_is_retried_with_backoff_and_logged(local, receiver):
    fake = receiver([(500, b"oops", 0), (500, b"oops", 0), (200, b"ok", 0)])
    endpoint = webhook(fake.base + "/")
    endpoints.send_test(endpoint, now=NOW, hours=24)
    db.session.commit()
    assert delivery.deliver_due(now_fn=at(NOW)) == 1
    row = db.session.execute(select(Delivery)).scalar_one()
    assert row.status == "pending" and row.next_attempt_at == NOW + timedelta(seconds=30)
    assert delivery.deliver_due(now_fn=at(NOW + timedelta(seconds=29))) == 0  # not due yet
    assert delivery.deliver_due(now_fn=at(NOW + timedelta(seconds=30))) == 1
    db.session.refresh(row)
    assert row.next_attempt_at == NOW + timedelta(seconds=90)  # 30 s, then 60 s more
    assert delivery.deliver_due(now_fn=at(NOW + timedelta(seconds=90))) == 1
    db.session.refresh(row)
    assert (row.status, row.attempts) == ("delivered", 3)
    codes = [a.status_code for a, _d in endpoints.log(endpoint)]
    assert codes == [200, 500, 500]  # newest first
    assert len(fake.requests) == 3


def test_a_timeout_is_retried_and_logged(local, receiver):
    fake = receiver([(200, b"late", 2)])
    endpoint = webhook(fake.base + "/slow")
    endpoints.send_test(endpoint, now=NOW, hours=24)
    db.session.commit()
    delivery.deliver_due(now_fn=at(NOW))
    [(attempt, row)] = endpoints.log(endpoint)
    assert attempt.status_code is None and not attempt.ok
    assert "timeout" in attempt.error.lower() or "timed out" in attempt.error.lower()
    assert attempt.duration_ms < 1500
    assert row.status == "pending" and endpoints.waiting(endpoint) == 1


def test_a_delivery_gives_up_after_the_retry_hours(local, receiver):
    fake = receiver([(503, b"", 0)])
    endpoint = webhook(fake.base + "/")
    endpoints.send_test(endpoint, now=NOW, hours=24)
    db.session.commit()
    moment = NOW
    for _ in range(40):
        if not delivery.deliver_due(now_fn=at(moment)):
            break
        moment += timedelta(hours=1)
    row = db.session.execute(select(Delivery)).scalar_one()
    assert row.status == "failed" and row.finished_at <= NOW + timedelta(hours=24)
    attempts = row.attempts
    assert 5 < attempts < 40
    assert delivery.deliver_due(now_fn=at(NOW + timedelta(days=3))) == 0


def test_wecom_bot_gets_text_by_its_protocol(local, receiver):
    refusal = wecom_answer(93000, "invalid webhook url")
    fake = receiver([(200, wecom_answer(), 0), (200, refusal, 0)])
    local.config["WECOM_WEBHOOK_BASE_URL"] = fake.base
    user = make_user(locale="zh_Hans_CN")
    url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0"
    bot = endpoints.add_wecom(user, url, limit=5, now=NOW)
    assert bot.target == "693a91f6-7xxx-4bc4-97a0"
    outbox.emit("notify", "order_paid", user_id=user.id, now=NOW, payload={
        "order_id": 1, "order_no": "2611240002", "product": "红茶", "total_cents": 12800,
    })  # fmt: skip
    endpoints.send_test(bot, now=NOW, hours=24)
    db.session.commit()
    outbox.process_batch(now=NOW)
    assert delivery.deliver_due(now_fn=at(NOW)) == 2
    assert [wecom_key_of(r) for r in fake.requests] == [bot.target] * 2
    sent = [json.loads(r["body"]) for r in fake.requests]
    assert all(s["msgtype"] == "text" for s in sent)
    assert any("2611240002" in s["text"]["content"] and "请及时发货" in s["text"]["content"]
               for s in sent)  # fmt: skip
    statuses = sorted((a.ok, a.error) for a in db.session.execute(select(Attempt)).scalars())
    assert statuses == [(False, "errcode 93000: invalid webhook url"), (True, "")]


@pytest.mark.parametrize(
    "value",
    ["http://qyapi.weixin.qq.com/cgi-bin/webhook/send", "https://evil.example/send?key=abcdefgh",
     "key with spaces", "short"],
)  # fmt: skip
def test_wecom_refuses_what_is_not_a_bot(value):
    with pytest.raises(ValidationError):
        endpoints.wecom_key(value)


# --- the SSRF guard --------------------------------------------------------------------------

REFUSED = [
    "https://10.0.0.1/hook",
    "https://192.168.1.20/hook",
    "https://172.16.5.4/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://100.64.0.1/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",
    "https://240.0.0.1/",
    "https://[fe80::1]/",
    "https://[fc00::1]/",
    "https://[::ffff:10.0.0.1]/",
    "https://[::ffff:169.254.169.254]/",
    "https://[2002:0a00:0001::1]/",  # 6to4 around 10.0.0.1
    "https://[::]/",
]
LOOPBACK = ["https://127.0.0.1/", "https://127.1.2.3/", "https://[::1]/", "https://localhost/",
            "https://2130706433/", "https://[::ffff:127.0.0.1]/"]  # fmt: skip


@pytest.mark.parametrize("url", REFUSED)
def test_private_link_local_and_reserved_addresses_are_refused(url):
    for allow in (False, True):
        with pytest.raises(netguard.Refused) as refused:
            netguard.check(url, allow_loopback=allow)
        assert refused.value.reason == netguard.NOT_PUBLIC


@pytest.mark.parametrize("url", LOOPBACK)
def test_loopback_is_refused_unless_the_test_setting_allows_it(url):
    with pytest.raises(netguard.Refused) as refused:
        netguard.check(url, allow_loopback=False)
    assert refused.value.reason == netguard.NOT_PUBLIC
    netguard.check(url, allow_loopback=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://example.com/hook", netguard.NOT_HTTPS), ("ftp://example.com/", netguard.NOT_A_URL),
     ("example.com/hook", netguard.NOT_A_URL), ("not a url", netguard.NOT_A_URL),
     ("https://user:pw@example.com/", netguard.NOT_A_URL), ("https:///nohost", netguard.NOT_A_URL),
     ("https://example.com:99999/", netguard.NOT_A_URL), ("", netguard.NOT_A_URL)],
)  # fmt: skip
def test_plain_http_and_what_is_not_a_url_are_refused(url, reason):
    with pytest.raises(netguard.Refused) as refused:
        netguard.parse(url)
    assert refused.value.reason == reason


def fake_dns(monkeypatch, answers: dict[str, list[list[str]]]):
    """getaddrinfo answering from ``answers`` (one list of addresses per call, in turn)."""
    real = socket.getaddrinfo
    calls = []

    def getaddrinfo(host, port, *args, **kwargs):
        if host not in answers:
            return real(host, port, *args, **kwargs)
        calls.append(host)
        turn = answers[host][min(len(calls), len(answers[host])) - 1]
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (ip, port)) for ip in turn]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return calls


def test_a_name_that_resolves_to_a_private_address_is_refused(monkeypatch):
    fake_dns(monkeypatch, {"hooks.example.com": [["93.184.216.34", "10.1.2.3"]]})
    with pytest.raises(netguard.Refused) as refused:
        netguard.check("https://hooks.example.com/x", allow_loopback=True)
    assert refused.value.reason == netguard.NOT_PUBLIC


def test_the_connection_goes_to_the_address_that_was_checked(monkeypatch, receiver, certificate):
    """A rebinding name (loopback, allowed here, then a private address) is looked up once: the
    request goes to the checked address, never to a second answer."""
    fake = receiver()
    calls = fake_dns(monkeypatch, {"localhost": [["127.0.0.1"], ["10.9.9.9"]]})
    answer = netguard.post(
        f"https://localhost:{fake.port}/pinned", b"{}", {"Content-Type": "application/json"},
        timeout=2, allow_loopback=True, ca_file=str(certificate[0]),
    )  # fmt: skip
    assert answer.status == 200 and len(fake.requests) == 1 and calls == ["localhost"]
    assert fake.requests[0]["headers"]["Host"] == f"localhost:{fake.port}"


def test_the_form_refuses_a_private_address_with_the_field_named(local):
    user = make_user()
    with pytest.raises(ValidationError) as error:
        endpoints.add_webhook(user, "https://192.168.0.10/x", allow_loopback=True, limit=5, now=NOW)
    assert error.value.field == "url"


# --- several workers ---------------------------------------------------------------------------


def test_two_workers_never_deliver_one_notice_twice(local, receiver):
    """Two threads, each a worker with its own session, claim outbox rows and deliveries at once
    (FOR UPDATE SKIP LOCKED on PostgreSQL; SQLite's write lock serialises them)."""
    fake = receiver()
    endpoint = webhook(fake.base + "/")
    for n in range(300):
        outbox.emit("notify", "rebate_settled", user_id=endpoint.user_id, now=NOW, payload={
            "order_no": f"N{n}", "amount_cents": n + 1,
        })  # fmt: skip
    db.session.commit()
    done: dict[str, list[int]] = {"outbox": [], "deliveries": []}
    barrier = threading.Barrier(2)

    def work():
        with local.app_context():
            barrier.wait()
            while n := outbox.process_batch(limit=20, now=NOW):
                done["outbox"].append(n)
            barrier.wait()
            done["deliveries"].append(delivery.deliver_due(now_fn=at(NOW), limit=1000))
            db.session.remove()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sum(done["outbox"]) == 300  # each row claimed by exactly one worker
    assert sum(done["deliveries"]) == 300
    numbers = [json.loads(r["body"])["data"]["order_no"] for r in fake.requests]
    assert len(numbers) == 300 and len(set(numbers)) == 300
    db.session.rollback()
    count = db.session.execute(select(func.count()).select_from(Attempt)).scalar_one()
    assert count == 300
