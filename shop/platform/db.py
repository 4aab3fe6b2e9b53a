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

PostgreSQL also opens a transaction only when a statement needs one (``begin_when_needed``):
the driver runs in autocommit, and BEGIN goes out just before the first statement that is not
a plain read (a write, DDL, a SAVEPOINT, ``SELECT ... FOR UPDATE/SHARE``, an advisory lock, a
server-side cursor). A request that only read then costs no BEGIN and no ROLLBACK (two of
its round trips; psycopg sends neither COMMIT nor ROLLBACK outside a transaction). At READ
COMMITTED, PostgreSQL's default and ours, every statement of a transaction reads its own fresh
snapshot anyway, so plain reads run before the BEGIN see what they would have seen inside it;
at any stricter level the BEGIN goes out before the first statement, as before.
"""

import re
import threading
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
    return insert_of(session.get_bind().dialect.name, model)


def insert_of(dialect: str, target):
    """:func:`insert_for` by dialect name: for a statement built once per dialect and run
    with bind parameters (building one costs more CPU than running it)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return (postgresql if dialect == "postgresql" else sqlite).insert(target)


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


#: A statement that may run outside a transaction on PostgreSQL at READ COMMITTED: a SELECT
#: that takes no row lock, no advisory lock and draws from no sequence.
_PLAIN_READ = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_NEEDS_TRANSACTION = re.compile(
    r"\bFOR\s+(UPDATE|SHARE|NO\s+KEY\s+UPDATE|KEY\s+SHARE)\b|advisory|nextval|setval",
    re.IGNORECASE,
)


#: needs_transaction's answers by statement text. SQLAlchemy hands the same few statement
#: strings over and over (its compiled cache), and the search above walks a whole statement
#: at about 65 ns a character: 0.1 ms for a long SELECT, on every plain read. Bounded: cleared
#: when full (statements with expanded IN lists differ by their length).
_needs_transaction: dict[str, bool] = {}
_NEEDS_TRANSACTION_KEPT = 1024


def needs_transaction(statement: str) -> bool:
    """Whether ``statement`` must run inside a transaction (anything but a plain read)."""
    known = _needs_transaction.get(statement)
    if known is None:
        known = not _PLAIN_READ.match(statement) or bool(_NEEDS_TRANSACTION.search(statement))
        if len(_needs_transaction) >= _NEEDS_TRANSACTION_KEPT:
            _needs_transaction.clear()
        _needs_transaction[statement] = known
    return known


def begin_when_needed(engine: Engine) -> None:
    """PostgreSQL (psycopg 3): transactions that start at their first statement that is not a
    plain read (see the module's docstring)."""
    from psycopg import ServerCursor
    from psycopg.pq import TransactionStatus

    @event.listens_for(engine, "connect")
    def _autocommit(dbapi_connection, _record):
        dbapi_connection.autocommit = True

    idle = TransactionStatus.IDLE

    @event.listens_for(engine, "before_cursor_execute")
    def _begin(connection, cursor, statement, _parameters, _context, _executemany):
        if not (
            needs_transaction(statement)
            or isinstance(cursor, ServerCursor)
            or connection.dialect.default_isolation_level != "READ COMMITTED"
        ):
            return  # a plain read: never a BEGIN for it
        raw = cursor.connection
        if not raw.autocommit or raw.pgconn.transaction_status != idle:
            return  # in a transaction already, or autocommit asked for (isolation_level)
        if connection.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
            return
        raw.execute("BEGIN", prepare=False)


def configure_engine(engine: Engine, *, busy_timeout_ms: int) -> None:
    if engine.dialect.name != "sqlite":
        ping_idle_connections(engine)
        if engine.dialect.driver == "psycopg":
            begin_when_needed(engine)
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


# --- SQLite: writers that queue instead of polling -------------------------------------------

#: (process id, lock file) -> its open file, one per process (a lock taken through a file
#: inherited across a fork would be the parent's lock too).
_turn_files: dict[tuple[int, str], object] = {}
_turn_files_lock = threading.Lock()


@contextmanager
def writer_turn(engine: Engine):
    """On an SQLite file database, wait for the write lock in the kernel rather than in
    SQLite's busy handler, around a short write transaction (begin it inside).

    A writer that finds the database locked sleeps in SQLite's busy handler, in steps of 1, 2,
    5, 10, 15, 20, 25, 25, 25, 50, 50 and then 100 ms, and is not woken when the lock is let go
    (measured: a lock held 60 ms let the waiter in 20 ms after its release). One that keeps
    missing the lock's free moments (the worker's payment chunks, the other web workers) waits
    in 50 and 100 ms steps: the callback bench's 200 ms p99. Writers that take this turn first
    (an exclusive ``flock`` on ``<database>.writers``) queue on it and one of them runs as soon
    as the previous one lets go. It is only a queue: SQLite's lock still guards the data, and
    writers that do not take the turn (the ordinary requests) go on as before. Elsewhere (an
    in-memory database, PostgreSQL) a no-op."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    if not path or path == ":memory:" or path.startswith("file:"):
        yield
        return
    import fcntl
    import os

    key = (os.getpid(), path)
    handle = _turn_files.get(key)
    if handle is None:
        with _turn_files_lock:  # threads opening it at once: one file, none left to the GC
            handle = _turn_files.get(key)
            if handle is None:
                handle = _turn_files[key] = open(f"{path}.writers", "a+b")  # noqa: SIM115
    fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
    try:
        yield
    finally:
        fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
