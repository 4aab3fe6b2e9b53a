"""Database engine set-up that the ORM alone does not do.

SQLite: foreign keys on, WAL, a busy timeout, and write transactions that start with
``BEGIN IMMEDIATE``. Python's sqlite3 would otherwise open a transaction only at the first
write, so a request that reads a balance and then writes would fail at once with
SQLITE_BUSY instead of waiting its turn (see RELIABILITY.md, rule 7). Read-only requests keep
plain deferred transactions so they never queue behind writers (WAL lets them read alongside).
"""

from contextlib import contextmanager
from contextvars import ContextVar

from sqlalchemy import event
from sqlalchemy.engine import Engine

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


def configure_engine(engine: Engine, *, busy_timeout_ms: int) -> None:
    if engine.dialect.name != "sqlite":
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
