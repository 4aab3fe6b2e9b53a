"""The transactional outbox: work that must happen because of a change, written as a row in
the same transaction as the change, and done later by ``flask worker``.

A domain calls :func:`emit` next to its guarded update; the row commits or rolls back with
it, so a notification of something that did not happen (or a change without its notification)
cannot exist. The worker claims due rows in batches (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
so several workers never take the same row; SQLite's write lock does the same for its one
worker), hands each batch to the handler registered for its topic, and marks the rows done in
the same transaction as the handler's writes. A failing batch is retried row by row, each row
with exponential backoff, so one bad row never stops the others.

A topic whose rows are heavy (``payment``: each one a paid transition) is registered with a
``chunk``: its rows are claimed and done at most ``chunk`` per transaction, before the other
topics, and on SQLite the worker then leaves the write lock free as long as it held it, and
longer (up to MAX_PAUSE) while requests keep writing, so a request's insert (a payment
callback's own row) waits at most about one chunk, and the worker yields the lock and the CPU
to a burst of requests (:func:`next_pause`).
"""

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, bindparam, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Mapped, mapped_column

from shop.platform import db as dbsetup
from shop.platform.base import utcnow
from shop.platform.extensions import db

#: On SQLite, the longest pause between two chunks (see process_batch), and how many chunks
#: follow without a pause after one during which no other connection wrote.
MAX_PAUSE = 0.1
UNPAUSED_CHUNKS = 3
#: How long one process_batch works through chunked topics before the other topics get
#: their turn (a long run of payment rows must not hold up notifications for minutes).
CHUNKED_SECONDS = 2.0
#: A row failing this many times is given up (kept, with its last error, for a person to see).
MAX_ATTEMPTS = 8


class OutboxRow(db.Model):
    """One piece of work caused by a committed change (a notice to one user, for now)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "done_at", "available_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: Which handler does the work ("notify").
    topic: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    #: The user the work is for (None for work about no one in particular).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: Not before this time (pushed back after a failure).
    available_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    #: When the work was done (or given up, with last_error set); None while it is due.
    done_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(String(200), default="")


def emit(topic: str, kind: str, *, user_id: int | None, payload: dict, now: datetime) -> None:
    """Add one row to the caller's transaction (written now, never committed here): one Core
    INSERT, no ORM unit of work (a paid order's notices are part of the worker's hot path)."""
    insert(topic, kind, user_id=user_id, payload=payload, now=now)


def emit_many(topic: str, rows: list[tuple[str, int, dict]], *, now: datetime) -> None:
    """:func:`emit` of each (kind, user_id, payload) of ``rows``, as one executemany INSERT."""
    if rows:
        values = [_values(topic, kind, user_id, payload, now) for kind, user_id, payload in rows]
        db.session.execute(_INSERT, values)


_INSERT = OutboxRow.__table__.insert()  # built once: its compiled form is cached


def insert(topic: str, kind: str, *, user_id: int | None, payload: dict, now: datetime) -> None:
    """One row as one INSERT statement run now (no ORM unit of work): also for a request
    whose only write is its row, answered as soon as it commits (a payment callback)."""
    db.session.execute(_INSERT, _values(topic, kind, user_id, payload, now))


def _values(topic: str, kind: str, user_id: int | None, payload: dict, now: datetime) -> dict:
    """The column values of one new row, due ``now``: what :func:`insert` (and so
    :func:`emit`), :func:`emit_many` and :func:`direct_insert` write."""
    return {
        "topic": topic,
        "kind": kind,
        "user_id": user_id,
        "payload": payload,
        "created_at": now,
        "available_at": now,
        "attempts": 0,
        "last_error": "",
    }


_COLUMNS = tuple(_values("", "", None, {}, None))  # the columns a new row is given
#: A DB-API INSERT of one row: run(cursor, topic, kind, payload, now).
DirectInsert = Callable[[Any, str, str, dict, datetime], None]


def direct_insert(engine: Engine) -> DirectInsert:
    """:func:`insert` without SQLAlchemy's session or execution machinery: the row's INSERT
    compiled once for ``engine``'s dialect, its values converted by the column types' own
    bind processors (JSON, SQLite's datetimes), run on a DB-API cursor the caller owns, in a
    transaction the caller begins and commits. For the payment callback's thin path, whose
    only write is this row (bench/README.md: the Core statement through a session cost as
    much CPU as the signature check, decryption and WSGI together)."""
    dialect = engine.dialect
    table = OutboxRow.__table__
    compiled = table.insert().inline().compile(dialect=dialect, column_keys=list(_COLUMNS))
    names = list(compiled.positiontup) if compiled.positional else list(_COLUMNS)
    processors = [
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in names
    ]
    sql, positional = compiled.string, compiled.positional

    def run(cursor, topic: str, kind: str, payload: dict, now: datetime) -> None:
        values = _values(topic, kind, None, payload, now)
        converted = [
            (name, values[name] if process is None else process(values[name]))
            for name, process in processors
        ]
        cursor.execute(sql, [v for _n, v in converted] if positional else dict(converted))

    return run


#: topic -> handler(rows, now): ``rows`` are result rows (id, topic, kind, user_id,
#: created_at), claimed and locked. A handler writes in the session and never commits.
Handler = Callable[[list, datetime], None]
HANDLERS: dict[str, Handler] = {}
#: topic -> at most this many rows per transaction (topics not named here: the whole batch).
CHUNKS: dict[str, int] = {}


def handler(topic: str, *, chunk: int | None = None) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[topic] = function
        if chunk:
            CHUNKS[topic] = chunk
        return function

    return register


def backoff(attempts: int, *, base: float = 5, cap: float = 3600) -> timedelta:
    """Wait before try ``attempts + 1``: base, 2 x base, 4 x base, ... at most ``cap``."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


def _claim(
    limit: int, now: datetime, ids: list[int] | None = None, *, topic: str | None = None
) -> list:
    """Due rows, locked: id, topic, kind, user_id and created_at as plain result rows (no
    ORM objects, no payloads: the worker moves thousands a second, and a handler that needs
    a payload reads it in SQL)."""
    dialect = db.session.get_bind().dialect.name
    others = tuple(CHUNKS) if topic is None and ids is None else ()
    query = _claim_query(limit, ids is not None, topic, others, dialect)
    params = {"now": now} if ids is None else {"now": now, "ids": ids}
    return list(db.session.execute(query, params))


@cache
def _claim_query(limit: int, by_id: bool, topic: str | None, others: tuple, dialect: str):
    """:func:`_claim`'s SELECT, built once per shape. A chunked topic's rows (one heavy row
    per transaction, a payment) come with their payloads: one statement fewer per row."""
    table = OutboxRow.__table__
    columns = [table.c.id, table.c.topic, table.c.kind, table.c.user_id, table.c.created_at]
    if topic is not None and topic in CHUNKS:
        columns.append(table.c.payload)
    query = (
        select(*columns)
        .where(table.c.done_at.is_(None), table.c.available_at <= bindparam("now"))
        .order_by(table.c.id)
        .limit(limit)
    )
    if by_id:
        query = query.where(table.c.id.in_(bindparam("ids", expanding=True)))
    if topic is not None:
        query = query.where(table.c.topic == topic)
    elif others:
        query = query.where(table.c.topic.not_in(list(others)))
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return query


def _any_due(now: datetime, topic: str | None = None) -> bool:
    table = OutboxRow.__table__
    query = select(table.c.id).where(table.c.done_at.is_(None), table.c.available_at <= now)
    if topic is not None:
        query = query.where(table.c.topic == topic)
    found = db.session.execute(query.limit(1)).first()
    db.session.rollback()
    return found is not None


def _run(rows: list, now: datetime) -> None:
    by_topic: dict[str, list] = {}
    for row in rows:
        by_topic.setdefault(row.topic, []).append(row)
    for topic, batch in by_topic.items():
        work = HANDLERS.get(topic)
        if work is None:
            raise LookupError(f"no outbox handler for topic {topic!r}")
        work(batch, now)
    db.session.execute(_DONE, {"ids": [row.id for row in rows], "now": now})


_DONE = (
    OutboxRow.__table__.update()
    .where(OutboxRow.__table__.c.id.in_(bindparam("ids", expanding=True)))
    .values(done_at=bindparam("now"), attempts=OutboxRow.__table__.c.attempts + 1, last_error="")
)


def process_batch(*, limit: int = 500, now: datetime | None = None) -> int:
    """Do up to ``limit`` due rows: those of chunked topics a chunk per transaction, then the
    others in one transaction, each committed here. Returns how many rows were done or
    pushed back."""
    now = now or utcnow()
    if not _any_due(now):  # a plain read first: an idle worker never takes the write lock
        return 0
    done = 0
    sqlite = db.session.get_bind().dialect.name == "sqlite"
    until = time.monotonic() + CHUNKED_SECONDS
    for topic, chunk in CHUNKS.items():
        unpaused, pause = 0, 0.0
        while done < limit and time.monotonic() < until and _any_due(now, topic):
            began = time.monotonic()
            with dbsetup.writer_turn(db.engine):  # the callbacks' inserts queue behind it
                taken = _batch(min(chunk, limit - done), now, topic=topic)
            done += taken
            if not taken:
                break
            if sqlite and not unpaused:
                # SQLite has one writer, and its busy handler retries a waiting writer after
                # 1, 2, 5 … up to 100 ms: a worker that took the lock again at once would
                # starve the requests waiting for it. So the worker yields to the requests:
                pause = next_pause(pause, time.monotonic() - began)
                if _others_wrote_during(pause):
                    continue  # they are still writing: the next pause is longer
                unpaused, pause = UNPAUSED_CHUNKS, 0.0
            elif unpaused:
                unpaused -= 1
    if done < limit:
        done += _batch(limit - done, now)
    return done


def process_topic(topic: str, *, now: datetime | None = None, limit: int = 10_000) -> int:
    """Do up to ``limit`` due rows of ``topic`` only, in its chunks: for a command that needs
    one topic's work done before its own (``flask sweep-orders`` pays the callbacks recorded
    before it cancels anything unpaid), whether or not ``flask worker`` runs."""
    now = now or utcnow()
    done = 0
    while done < limit:
        taken = _batch(min(CHUNKS.get(topic, 500), limit - done), now, topic=topic)
        if not taken:
            break
        done += taken
    return done


def next_pause(previous: float, held: float) -> float:
    """The pause after a chunk that held the write lock ``held`` seconds, on SQLite: as long
    as the chunk held it the first time, then twice the previous pause for as long as other
    connections keep writing during the pauses, at most MAX_PAUSE. Under a steady stream of
    requests that write (a burst of payment callbacks), the worker so takes a small share of
    the lock and of the CPU, and catches up at full speed when the stream ends (the buyer
    who comes back from paying does not wait for it: the return path pays the order itself)."""
    return min(max(held, 2 * previous), MAX_PAUSE)


def _others_wrote_during(pause: float) -> bool:
    """Sleep ``pause`` seconds holding no lock; whether another connection committed meanwhile
    (SQLite's ``PRAGMA data_version``, read twice on one connection)."""
    with db.engine.connect() as connection:
        before = connection.exec_driver_sql("PRAGMA data_version").scalar()
        connection.rollback()
        time.sleep(pause)
        after = connection.exec_driver_sql("PRAGMA data_version").scalar()
        connection.rollback()
    return before != after


def _batch(limit: int, now: datetime, *, topic: str | None = None) -> int:
    """Claim up to ``limit`` due rows (of ``topic``, or of every topic without a chunk), do
    their work and mark them done in one transaction."""
    with dbsetup.writing():
        rows = _claim(limit, now, topic=topic)
        if not rows:
            db.session.rollback()
            return 0
        ids = [row.id for row in rows]
        try:
            _run(rows, now)
            db.session.commit()
            return len(ids)
        except Exception:
            db.session.rollback()
    # Something in the batch failed: do the rows one by one, so only the bad ones wait.
    for row_id in ids:
        _one(row_id, now)
    return len(ids)


def _one(row_id: int, now: datetime) -> None:
    with dbsetup.writing():
        rows = _claim(1, now, [row_id])
        if not rows:
            db.session.rollback()
            return
        try:
            _run(rows, now)
            db.session.commit()
            return
        except Exception as error:  # any failure of the handler: retried later, logged
            db.session.rollback()
            message = f"{type(error).__name__}: {error}"[:200]
    with dbsetup.writing():
        row = db.session.get(OutboxRow, row_id)
        attempts = row.attempts + 1
        row.attempts = attempts
        row.last_error = message
        if attempts >= MAX_ATTEMPTS:
            row.done_at = now
        else:
            row.available_at = now + backoff(attempts)
        db.session.commit()


def purge_done(*, before: datetime) -> int:
    """Delete rows done (without an error) before ``before``; the worker keeps a week."""
    with dbsetup.writing():
        result = db.session.execute(
            OutboxRow.__table__.delete().where(
                OutboxRow.done_at.is_not(None),
                OutboxRow.done_at < before,
                OutboxRow.last_error == "",
            )
        )
        db.session.commit()
    return result.rowcount or 0
