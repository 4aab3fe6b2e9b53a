"""Database engine set-up that the ORM alone does not do.

SQLite: foreign keys on, WAL, a busy timeout, and write transactions that start with
``BEGIN IMMEDIATE``. Python's sqlite3 would otherwise open a transaction only at the first
write, so a request that reads a balance and then writes would fail at once with
SQLITE_BUSY instead of waiting its turn (see RELIABILITY.md, rule 7). Read-only requests keep
plain deferred transactions so they never queue behind writers (WAL lets them read alongside).

Other databases (PostgreSQL): a pooled connection idle for PING_AFTER_IDLE_SECONDS is checked
before use and replaced when the server dropped it (a restart, a failover, an idle timeout);
one used more recently is handed out as it is. SQLAlchemy's ``pool_pre_ping`` pings on every
checkout: a round trip per request, 5 % of a worker's time in a share burst on PostgreSQL
(bench/README.md).
"""

import time
from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

#: Seconds a pooled connection may rest before it is checked again on checkout.
PING_AFTER_IDLE_SECONDS = 5.0

_immediate: ContextVar[bool] = ContextVar("sqlite_begin_immediate", default=False)


def begin_writes() -> None:
    """Make the next transaction on this thread (or request) take the write lock at BEGIN.

    Call it before the first query of a unit of work that will write. A no-op on PostgreSQL,
    where guarded updates and row locks do the same job.
    """
    _immediate.set(True)


def writes_intended() -> bool:
    """Whether this thread's transactions take the write lock at BEGIN (``begin_writes``)."""
    return _immediate.get()


def end_writes() -> None:
    _immediate.set(False)


@contextmanager
def writing():
    token = _immediate.set(True)
    try:
        yield
    finally:
        _immediate.reset(token)


def insert_for(session, model):
    """An INSERT for ``model`` in the session's dialect, so ``.on_conflict_do_nothing()`` is
    available on SQLite and PostgreSQL alike (idempotent postings and notices)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = session.get_bind().dialect.name
    return (postgresql if dialect == "postgresql" else sqlite).insert(model)


def ping(dbapi_connection) -> None:
    """One round trip; raises what the driver raises when the connection is gone."""
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SELECT 1")
    finally:
        cursor.close()
    dbapi_connection.rollback()  # end the transaction the driver opened for it


def ping_idle_connections(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _note_rest(_dbapi_connection, record):
        record.info["rests_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check_after_rest(dbapi_connection, record, _proxy):
        since = record.info.pop("rests_since", None)
        if since is None or time.monotonic() - since < PING_AFTER_IDLE_SECONDS:
            return  # new, or used a moment ago
        try:
            ping(dbapi_connection)
        except Exception as error:
            # The pool drops this connection and checks out another (or a new one).
            raise exc.DisconnectionError(f"pooled connection gone: {error}") from error


def configure_engine(engine: Engine, *, busy_timeout_ms: int) -> None:
    if engine.dialect.name != "sqlite":
        ping_idle_connections(engine)
        return
    is_file = engine.url.database not in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy emit BEGIN itself (the documented pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        if is_file:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE" if _immediate.get() else "BEGIN")
