"""The signed-in user of a request: loaded from the session token in one statement (every
signed-in request runs it), with the session's last-seen time kept. Split from
shop.accounts.accounts, which names these functions too.

The statement is Core, not an ORM query: the user is made from its row as the ORM would have
loaded it (persistent in the session, every column loaded, no history), without the ORM's
per-query loading machinery, which was most of what loading a user cost a request. A caller
may read more columns in the same statement (``also``: the web layer's unread badge), so a
signed-in page makes one round trip for both.
"""

import hashlib
from datetime import datetime, timedelta
from functools import cache

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import make_transient_to_detached

from shop.accounts.models import User, UserSession
from shop.platform import db as dbsetup
from shop.platform.extensions import db


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@cache
def _user_columns() -> tuple[tuple, tuple[str, ...], int]:
    """The users table's columns, the attribute each loads, and the place of the id."""
    columns = tuple(User.__table__.c)
    mapper = User.__mapper__
    keys = tuple(mapper.get_property_by_column(column).key for column in columns)
    return columns, keys, keys.index("id")


#: load_session_user's statements by the ``also`` they read (its id; the value keeps it alive).
_STATEMENTS: dict[int, tuple] = {}


def _statement(also: tuple | None):
    """load_session_user's statement, built once per ``also`` at its first use: building a
    statement costs more Python than running it."""
    found = _STATEMENTS.get(id(also))
    if found is None:
        sessions = UserSession.__table__
        users = User.__table__
        statement = (
            select(*_user_columns()[0], sessions.c.id, sessions.c.last_seen_at, *(also or ()))
            .select_from(users.join(sessions, sessions.c.user_id == users.c.id))
            .where(
                sessions.c.token_hash == bindparam("token_hash"), sessions.c.revoked_at.is_(None)
            )
        )
        found = _STATEMENTS[id(also)] = (also, statement)
    return found[1]


def _as_loaded(values) -> User:
    """The session's User of the row ``values`` (the users columns, in order): the one the
    session holds already if any (as an ORM query returns it), else one made from the row,
    persistent in the session as if the ORM had loaded it."""
    _columns, keys, id_at = _user_columns()
    session = db.session()
    mapper = User.__mapper__
    known = session.identity_map.get(mapper.identity_key_from_primary_key((values[id_at],)))
    if known is not None:
        return known
    user = mapper.class_manager.new_instance()
    user.__dict__.update(zip(keys, values, strict=True))
    make_transient_to_detached(user)  # every column loaded, no changes; relationships lazy
    session.add(user)
    return user


def load_session_user(
    token: str, *, now: datetime | None = None, seen_minutes: int = 0, also: tuple | None = None
):
    """The user of a live session token, or None when it is unknown or ended.

    With ``now``, the session's ``last_seen_at`` is moved to ``now`` when it is older than
    ``seen_minutes`` (one guarded UPDATE at most once per that many minutes per session;
    ``touch_session``). ``also``: columns of the caller's read in the same statement
    (correlated to ``users.id``; the same tuple object each time, as its statement is kept
    by it), their values in ``user.loaded_also``."""
    if not token:
        return None
    # Core on the session's transaction: no ORM work around a statement of plain columns. No
    # flush first, unlike Session.execute: a request loads its user before it changes anything,
    # and every revocation of a session is an immediate UPDATE, not a pending change.
    connection = db.session.connection()
    found = connection.execute(_statement(also), {"token_hash": token_hash(token)}).one_or_none()
    if found is None:
        return None
    width = len(_user_columns()[1])
    user = _as_loaded(found[:width])
    session_id, last_seen = found[width], found[width + 1]
    user.session_token = token
    user.session_id = session_id
    user.loaded_also = tuple(found[width + 2 :])
    if now is not None and (last_seen is None or last_seen < now - timedelta(minutes=seen_minutes)):
        touch_session(session_id, now=now, seen_minutes=seen_minutes)
    return user


def touch_session(session_id: int, *, now: datetime, seen_minutes: int) -> None:
    """Move a session's last-seen time to ``now`` unless another request did within
    ``seen_minutes``. A request that writes anyway does it in its own transaction; a read
    request in a short one of its own on another connection, so the page's read transaction
    never turns into a write (SQLite); if the write lock stays taken past the busy timeout, the
    update is skipped and the page still answers."""
    statement = (
        update(UserSession)
        .where(
            UserSession.id == session_id,
            (UserSession.last_seen_at.is_(None))
            | (UserSession.last_seen_at < now - timedelta(minutes=seen_minutes)),
        )
        .values(last_seen_at=now)
    )
    if dbsetup.writes_intended():
        db.session.execute(statement)
        return
    try:
        with dbsetup.writing(), db.engine.begin() as connection:
            connection.execute(statement)
    except OperationalError:
        pass  # "database is locked": last seen waits for the next request
