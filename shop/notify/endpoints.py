"""Setting up where notices go besides the inbox: webhooks (HTTPS, signed) and WeCom group
bots. The checks here refuse a bad address on the form; the worker checks again before every
connection (``shop.platform.netguard``), since a name can resolve differently later."""

import re
import secrets
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.notify.kinds import TEST
from shop.notify.models import Attempt, Channel, Delivery, Endpoint
from shop.platform import netguard
from shop.platform.errors import Conflict, ValidationError
from shop.platform.extensions import db

REFUSALS = {
    netguard.NOT_A_URL: _l("Enter a full web address, like https://example.com/hooks/fenxiang."),
    netguard.NOT_HTTPS: _l(
        "The address must start with https:// (plain http is not allowed: it is not private)."
    ),
    netguard.NOT_PUBLIC: _l(
        "This address leads to a private, local or reserved network. "
        "Use an address that is reachable on the internet."
    ),
    netguard.UNRESOLVABLE: _l("This host name could not be found. Check the spelling."),
}
WECOM_KEY = re.compile(r"[A-Za-z0-9-]{8,64}")


def endpoints_of(user: User) -> list[Endpoint]:
    """The user's webhooks and WeCom bots (not the shipping text message, set apart)."""
    return list(
        db.session.execute(
            select(Endpoint)
            .where(Endpoint.user_id == user.id, Endpoint.channel != Channel.SMS)
            .order_by(Endpoint.id)
        ).scalars()
    )


def _room(user: User, limit: int) -> None:
    count = db.session.execute(
        select(func.count())
        .select_from(Endpoint)
        .where(Endpoint.user_id == user.id, Endpoint.channel != Channel.SMS)
    ).scalar_one()
    if count >= limit:
        raise Conflict(_l("You can have at most %(n)d of these; remove one first.", n=limit))


def add_webhook(
    user: User, url: str, *, allow_loopback: bool, limit: int, now: datetime
) -> Endpoint:
    """A webhook with a new secret (the caller shows it once). Raises ValidationError on
    "url" for an address that is not a public https:// URL."""
    url = (url or "").strip()
    try:
        netguard.check(url, allow_loopback=allow_loopback)
    except netguard.Refused as refused:
        raise ValidationError(REFUSALS[refused.reason], "url") from None
    _room(user, limit)
    endpoint = Endpoint(
        user_id=user.id,
        channel=Channel.WEBHOOK,
        target=url,
        secret="whsec_" + secrets.token_urlsafe(32),
        created_at=now,
    )
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def sms_endpoint(user: User) -> Endpoint | None:
    return db.session.execute(
        select(Endpoint).where(Endpoint.user_id == user.id, Endpoint.channel == Channel.SMS)
    ).scalar_one_or_none()


def set_sms(user: User, on: bool, *, now: datetime) -> None:
    """Turn the shipping text message on (to the account's phone at sending time) or off. It
    does not count against the webhook limit: it is the user's own phone."""
    found = sms_endpoint(user)
    if on and found is None and user.phone:
        db.session.add(
            Endpoint(user_id=user.id, channel=Channel.SMS, target="", secret="", created_at=now)
        )
    elif not on and found is not None:
        db.session.delete(found)
    db.session.flush()


def wecom_key(value: str) -> str:
    """The key of a WeCom bot from its whole webhook address or the key alone."""
    value = (value or "").strip()
    if value.lower().startswith(("https://", "http://")):
        parts = urlsplit(value)
        keys = parse_qs(parts.query).get("key", [])
        if parts.hostname != "qyapi.weixin.qq.com" or len(keys) != 1:
            raise ValidationError(
                _l(
                    "Paste the bot's webhook address from WeCom "
                    "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…) or its key."
                ),
                "key",
            )
        value = keys[0]
    if not WECOM_KEY.fullmatch(value):
        raise ValidationError(_l("A WeCom bot key has 8 to 64 letters, digits and hyphens."), "key")
    return value


def add_wecom(user: User, value: str, *, limit: int, now: datetime) -> Endpoint:
    key = wecom_key(value)
    _room(user, limit)
    endpoint = Endpoint(user_id=user.id, channel=Channel.WECOM, target=key, created_at=now)
    db.session.add(endpoint)
    db.session.flush()
    return endpoint


def masked(endpoint: Endpoint) -> str:
    """What the settings page shows: the URL, or the first characters of a WeCom key."""
    if endpoint.channel == Channel.SMS:
        return ""
    if endpoint.channel == Channel.WECOM:
        return endpoint.target[:6] + "…"
    return endpoint.target


def remove(endpoint: Endpoint) -> None:
    db.session.delete(endpoint)
    db.session.flush()


def send_test(endpoint: Endpoint, *, now: datetime, hours: int) -> Delivery:
    """A test notice for the worker to deliver (the page never waits for the receiver)."""
    delivery = Delivery(
        endpoint_id=endpoint.id,
        outbox_id=None,
        kind=TEST,
        data={},
        created_at=now,
        next_attempt_at=now,
        expires_at=now + timedelta(hours=hours),
    )
    db.session.add(delivery)
    db.session.flush()
    return delivery


def log(endpoint: Endpoint, *, limit: int = 30) -> list[tuple[Attempt, Delivery]]:
    """The endpoint's latest attempts, newest first, with their deliveries."""
    return list(
        db.session.execute(
            select(Attempt, Delivery)
            .join(Delivery, Delivery.id == Attempt.delivery_id)
            .where(Attempt.endpoint_id == endpoint.id)
            .order_by(Attempt.id.desc())
            .limit(limit)
        ).all()
    )


def waiting(endpoint: Endpoint) -> int:
    """Deliveries still to be tried (shown beside the log)."""
    return db.session.execute(
        select(func.count())
        .select_from(Delivery)
        .where(Delivery.endpoint_id == endpoint.id, Delivery.status == "pending")
    ).scalar_one()
