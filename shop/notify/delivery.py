"""Delivering notices to webhooks and WeCom group bots, with retries.

A worker thread claims one due delivery at a time: a short transaction that pushes its
``next_attempt_at`` one lease ahead (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two workers
never take the same one; a worker that dies mid-try leaves it due again when the lease ends).
The request is made outside any transaction; then the attempt (status code, time taken, error)
is logged and the delivery is marked delivered, or due again after an exponential backoff, or
failed once NOTIFY_RETRY_HOURS have passed since it was made.

Webhook bodies are JSON, signed: ``X-Fenxiang-Signature: sha256=HEX``, where HEX is
HMAC-SHA256 with the webhook's secret over ``"<X-Fenxiang-Timestamp>." + body``
(docs/notifications.md shows how a receiver checks it). WeCom bots get
``{"msgtype": "text", "text": {"content": ...}}`` POSTed to
``<WECOM_WEBHOOK_BASE_URL>/cgi-bin/webhook/send?key=KEY`` and answer
``{"errcode": 0, "errmsg": "ok"}``.
"""

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import SimpleNamespace
from urllib.parse import quote

from flask import current_app
from flask_babel import force_locale
from sqlalchemy import select, update

from shop.accounts import sms
from shop.accounts.models import User
from shop.notify import kinds
from shop.notify.models import Attempt, Channel, Delivery, Endpoint
from shop.platform import db as dbsetup
from shop.platform import netguard
from shop.platform.base import utcnow
from shop.platform.extensions import db

#: How long a claimed delivery is held by the worker trying it.
LEASE = timedelta(minutes=2)
USER_AGENT = "Fenxiang-Webhook/1"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def backoff(attempts: int, config) -> timedelta:
    """Wait after the ``attempts``-th failed try: base, 2 x base, 4 x base, ... capped."""
    base = config["NOTIFY_RETRY_BASE_SECONDS"]
    return timedelta(seconds=min(config["NOTIFY_RETRY_MAX_SECONDS"], base * 2 ** (attempts - 1)))


def claim(*, now: datetime) -> int | None:
    """Take one due delivery (committed); its id, or None when none is due."""
    query = (
        select(Delivery.id)
        .where(Delivery.status == "pending", Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(1)
    )
    due = db.session.execute(query).first()  # a plain read: idle threads take no write lock
    db.session.rollback()
    if due is None:
        return None
    with dbsetup.writing():
        if db.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        delivery_id = db.session.execute(query).scalar()
        if delivery_id is None:
            db.session.rollback()
            return None
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id)
            .values(next_attempt_at=now + LEASE, attempts=Delivery.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return delivery_id


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    seconds: float
    error: str = ""


def _locale(user: User) -> str:
    return user.locale or current_app.config["BABEL_DEFAULT_LOCALE"]


def webhook_body(delivery: Delivery, user: User) -> bytes:
    with force_locale(_locale(user)):
        text = kinds.text(delivery.kind, delivery.data)
    event = {
        "id": f"evt_{delivery.outbox_id}" if delivery.outbox_id else f"test_{delivery.id}",
        "kind": delivery.kind,
        "created_at": delivery.created_at.isoformat() + "Z",
        "text": text,
        "data": delivery.data,
    }
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")).encode()


def _post(url: str, body: bytes, headers: dict, config, *, wecom: bool = False) -> Outcome:
    started = time.perf_counter()
    try:
        answer = netguard.post(
            url,
            body,
            headers,
            timeout=config["NOTIFY_HTTP_TIMEOUT_SECONDS"],
            allow_loopback=config["NOTIFY_ALLOW_LOOPBACK"],
            ca_file=config["NOTIFY_CA_FILE"],
        )
    except netguard.Refused as refused:
        return Outcome(False, None, time.perf_counter() - started, f"refused: {refused}")
    except OSError as error:  # timeouts, refused connections, TLS failures
        name = "timeout" if isinstance(error, TimeoutError) else type(error).__name__
        return Outcome(False, None, time.perf_counter() - started, f"{name}: {error}"[:200])
    ok = 200 <= answer.status < 300
    error = "" if ok else answer.body[:200].decode("utf-8", "replace")
    if ok and wecom:
        try:
            reply = json.loads(answer.body)
            ok = reply.get("errcode") == 0
            error = "" if ok else f"errcode {reply.get('errcode')}: {reply.get('errmsg', '')}"
        except (ValueError, AttributeError):
            ok, error = False, "WeCom answered something that is not JSON"
    return Outcome(ok, answer.status, answer.seconds, error[:200])


def send_sms(delivery: Delivery, user: User, config) -> Outcome:
    """The shipping notice as a text message to the account's phone now, through the SMS
    provider of sign-in codes (its own template: ALIYUN_/TENCENT_SMS_TEMPLATE_SHIPPED)."""
    begin = time.monotonic()
    provider = sms.provider_for(config) if sms.notices_on(config) else None
    if provider is None or not user.phone:
        return Outcome(False, None, 0.0, "text messages are not set up")
    data = delivery.data or {}
    values = {
        "order": str(data.get("order_no", "")),
        "carrier": str(data.get("carrier", ""))[:20],
        "number": str(data.get("tracking", ""))[:30],
    }
    try:
        provider.send_notice(user.phone, "shipped", values)
    except sms.SmsError as error:
        return Outcome(False, None, time.monotonic() - begin, str(error)[:200])
    return Outcome(True, 200, time.monotonic() - begin)


def send(delivery: Delivery, endpoint: Endpoint, user: User, config) -> Outcome:
    if endpoint.channel == Channel.SMS:
        return send_sms(delivery, user, config)
    if endpoint.channel == Channel.WECOM:
        with force_locale(_locale(user)):
            content = kinds.text(delivery.kind, delivery.data)
        body = json.dumps(
            {"msgtype": "text", "text": {"content": content[:600]}}, ensure_ascii=False
        ).encode()
        base = config["WECOM_WEBHOOK_BASE_URL"].rstrip("/")
        url = f"{base}/cgi-bin/webhook/send?key={quote(endpoint.target, safe='')}"
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        return _post(url, body, headers, config, wecom=True)
    body = webhook_body(delivery, user)
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Fenxiang-Event": delivery.kind,
        "X-Fenxiang-Delivery": str(delivery.id),
        "X-Fenxiang-Timestamp": timestamp,
        "X-Fenxiang-Signature": sign(endpoint.secret, timestamp, body),
    }
    return _post(endpoint.target, body, headers, config)


def _snapshot(obj) -> SimpleNamespace:
    return SimpleNamespace(**{c.key: getattr(obj, c.key) for c in obj.__mapper__.column_attrs})


def attempt(delivery_id: int, *, now_fn=utcnow) -> Outcome | None:
    """Try one claimed delivery and record the outcome (committed)."""
    config = current_app.config
    row = db.session.execute(
        select(Delivery, Endpoint, User)
        .join(Endpoint, Endpoint.id == Delivery.endpoint_id)
        .join(User, User.id == Endpoint.user_id)
        .where(Delivery.id == delivery_id)
    ).first()
    if row is None:
        db.session.rollback()
        return None  # its endpoint was removed meanwhile
    # Plain copies: no transaction (and no ORM object of this session) is held while the
    # receiver is called.
    delivery, endpoint, user = (_snapshot(obj) for obj in row)
    db.session.rollback()
    outcome = send(delivery, endpoint, user, config)
    now = now_fn()
    with dbsetup.writing():
        db.session.add(
            Attempt(
                delivery_id=delivery.id,
                endpoint_id=endpoint.id,
                at=now,
                status_code=outcome.status_code,
                duration_ms=int(outcome.seconds * 1000),
                ok=outcome.ok,
                error=outcome.error,
            )
        )
        if outcome.ok:
            values = {"status": "delivered", "finished_at": now}
        else:
            again = now + backoff(delivery.attempts, config)
            if again > delivery.expires_at:
                values = {"status": "failed", "finished_at": now}
            else:
                values = {"next_attempt_at": again}
        db.session.execute(
            update(Delivery)
            .where(Delivery.id == delivery.id, Delivery.status == "pending")
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
    return outcome


def deliver_due(*, now_fn=utcnow, limit: int = 100) -> int:
    """Claim and try due deliveries one by one until none is due (or ``limit``)."""
    done = 0
    while done < limit:
        delivery_id = claim(now=now_fn())
        if delivery_id is None:
            break
        attempt(delivery_id, now_fn=now_fn)
        done += 1
    return done
