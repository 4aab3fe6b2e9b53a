"""The outbox's "notify" work (one notice to one user becomes an inbox message and a delivery
to each of the user's webhooks and WeCom bots, as the user's preferences say), the inbox
itself, and the preferences.

The fan-out writes with plain INSERTs of whole batches, in the worker's transaction that also
marks the outbox rows done: a row is fanned out once, or (rolled back) not at all.
"""

from datetime import datetime, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, func, literal, select, update

from shop.accounts.models import User
from shop.notify.kinds import KINDS
from shop.notify.models import Channel, Delivery, Endpoint, Notification, Preference
from shop.platform import db as dbsetup
from shop.platform import outbox
from shop.platform.extensions import db

CHANNELS = ("inbox", Channel.WEBHOOK, Channel.WECOM)
#: The one kind that may go by text message (to the buyer's phone, when turned on).
SMS_KIND = "order_shipped"
EVERYWHERE = {channel: True for channel in CHANNELS}


def preferences_of(user_ids) -> dict[tuple[int, str], dict[str, bool]]:
    """{(user id, kind): {channel: on}} for the rows that exist (no row: everywhere)."""
    if not user_ids:
        return {}
    rows = db.session.execute(
        select(Preference).where(Preference.user_id.in_(list(user_ids)))
    ).scalars()
    return {
        (row.user_id, row.kind): {"inbox": row.inbox, "webhook": row.webhook, "wecom": row.wecom}
        for row in rows
    }


@outbox.handler("notify")
def fan_out(rows: list, now: datetime) -> None:
    """Inbox messages and deliveries for a batch of claimed outbox rows, each written by one
    INSERT ... SELECT from the outbox (the payload is copied in SQL, never decoded here):
    a message where the user's preference for the kind does not turn the inbox off, and a
    delivery to each of the user's endpoints whose channel is not turned off."""
    ids = [row.id for row in rows if row.kind in KINDS and row.user_id is not None]
    if not ids:
        return
    box = outbox.OutboxRow.__table__
    pref = Preference.__table__
    mine = (pref.c.user_id == box.c.user_id) & (pref.c.kind == box.c.kind)
    inbox_off = select(pref.c.user_id).where(mine, pref.c.inbox == False)  # noqa: E712
    messages = select(box.c.user_id, box.c.kind, box.c.payload, box.c.created_at, box.c.id).where(
        box.c.id.in_(ids), ~inbox_off.exists()
    )
    db.session.execute(
        dbsetup.insert_for(db.session, Notification.__table__)
        .from_select(["user_id", "kind", "data", "created_at", "outbox_id"], messages)
        .on_conflict_do_nothing()
    )
    endpoint = Endpoint.__table__
    # A text message goes only with the buyer's "shipped" notice (its own opt-in: the SMS
    # endpoint exists); webhooks and WeCom bots follow the preferences.
    sms = endpoint.c.channel == Channel.SMS
    wanted = (sms & (box.c.kind == SMS_KIND)) | (
        ~sms
        & (
            (pref.c.user_id.is_(None))
            | ((endpoint.c.channel == Channel.WEBHOOK) & (pref.c.webhook == True))  # noqa: E712
            | ((endpoint.c.channel == Channel.WECOM) & (pref.c.wecom == True))  # noqa: E712
        )
    )
    hours = current_app.config["NOTIFY_RETRY_HOURS"]
    deliveries = (
        select(
            endpoint.c.id,
            box.c.id,
            box.c.kind,
            box.c.payload,
            literal("pending"),
            literal(0),
            literal(now),
            literal(now),
            literal(now + timedelta(hours=hours)),
        )
        .select_from(box)
        .join(endpoint, endpoint.c.user_id == box.c.user_id)
        .outerjoin(pref, mine)
        .where(box.c.id.in_(ids), wanted)
    )
    db.session.execute(
        dbsetup.insert_for(db.session, Delivery.__table__)
        .from_select(
            [
                "endpoint_id",
                "outbox_id",
                "kind",
                "data",
                "status",
                "attempts",
                "created_at",
                "next_attempt_at",
                "expires_at",
            ],
            deliveries,
        )  # fmt: skip
        .on_conflict_do_nothing()
    )


# --- the inbox -------------------------------------------------------------------------------

PER_PAGE = 30


@cache
def _unread():
    """unread_count's statement (every signed-in page runs it), built once at its first use
    (an entity in a statement needs every model mapped)."""
    return (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == bindparam("user_id"), Notification.read_at.is_(None))
    )


@cache
def unread_with_user() -> tuple:
    """unread_count as a column of a statement about ``users`` (correlated to its id): the
    signed-in user's load reads it in the same statement (shop.web.common), so a signed-in page
    makes one round trip for the user and the badge. Made once (its statement is kept by it)."""
    users = User.__table__
    count = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == users.c.id, Notification.read_at.is_(None))
        .scalar_subquery()
    )
    return (count.label("unread"),)


def unread_count(user_id: int) -> int:
    """One count on ix_notifications_unread (the header's badge)."""
    return db.session.execute(_unread(), {"user_id": user_id}).scalar_one()


def messages(user_id: int, *, before_id: int | None = None) -> list[Notification]:
    """The newest PER_PAGE messages (older than ``before_id`` when given)."""
    query = select(Notification).where(Notification.user_id == user_id)
    if before_id:
        query = query.where(Notification.id < before_id)
    return list(
        db.session.execute(query.order_by(Notification.id.desc()).limit(PER_PAGE)).scalars()
    )


def mark_read(user_id: int, *, now: datetime, message_id: int | None = None) -> int:
    """Mark one of the user's messages (or all of them) read; another user's id changes
    nothing. Returns how many changed."""
    query = update(Notification).where(
        Notification.user_id == user_id, Notification.read_at.is_(None)
    )
    if message_id is not None:
        query = query.where(Notification.id == message_id)
    result = db.session.execute(
        query.values(read_at=now).execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def preferences_for(user_id: int) -> dict[str, dict[str, bool]]:
    """{kind: {channel: on}} for every kind (defaults filled in)."""
    found = preferences_of({user_id})
    return {kind: dict(found.get((user_id, kind), EVERYWHERE)) for kind in KINDS}


def save_preferences(user_id: int, chosen: set[tuple[str, str]]) -> None:
    """``chosen``: the (kind, channel) pairs that are on; every other pair is off."""
    existing = {
        row.kind: row
        for row in db.session.execute(
            select(Preference).where(Preference.user_id == user_id)
        ).scalars()
    }
    for kind in KINDS:
        row = existing.get(kind)
        if row is None:
            row = Preference(user_id=user_id, kind=kind)
            db.session.add(row)
        row.inbox = (kind, "inbox") in chosen
        row.webhook = (kind, Channel.WEBHOOK) in chosen
        row.wecom = (kind, Channel.WECOM) in chosen
    db.session.flush()
