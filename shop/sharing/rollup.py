"""Daily click rollups and the per-sharer visitor table, kept as clicks are written.

``add_clicks`` runs in the same transaction as the click insert (the click writer's batch, or
the request's transaction when clicks are written synchronously), so a click and its rollup
rows commit together or not at all. Each rollup row changes by ``INSERT ... ON CONFLICT DO
UPDATE SET n = n + excluded.n``: an increment, so concurrent writers add up instead of
overwriting each other. ``recount`` rebuilds days from the raw clicks (``flask rollup``): for
a backfill or a repair, and re-runnable; the tests hold both to the same numbers.
"""

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from functools import cache

from sqlalchemy import (
    JSON,
    Date,
    Text,
    bindparam,
    case,
    cast,
    delete,
    func,
    insert,
    literal_column,
    select,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite

from shop.platform.extensions import db
from shop.sharing.models import Click, ClickDay, ShareLink, SharerVisitor

#: Days are China days: sharers read "today" in Beijing time (no daylight saving there).
CHINA = timedelta(hours=8)
BOT_REASONS = ("bot", "head", "prefetch")
#: Clicks reach the rollups within CLICK_BATCH_SECONDS of happening (and a payment that began
#: before midnight commits a moment after it): pages that keep the sums of ended China days
#: take a day as final only once this long has passed since it ended.
CLOSED_AFTER = timedelta(minutes=5)


def ended_days_final(now: datetime) -> bool:
    """Whether the China days before ``now``'s are final: CLOSED_AFTER has passed since
    midnight. Until then a page that keeps ended days' sums reads every day afresh."""
    return now >= day_start(china_day(now)) + CLOSED_AFTER


REPEAT_REASONS = ("duplicate", "flood")


def china_day(moment: datetime) -> date:
    return (moment + CHINA).date()


def day_start(day: date) -> datetime:
    """The UTC moment a China day begins."""
    return datetime(day.year, day.month, day.day) - CHINA


def china_date_sql(column):
    """SQL for the China day of a naive-UTC timestamp column, computed by the database.
    Read results with :func:`as_date` (SQLite's date() gives text)."""
    return _china_date(db.session.get_bind().dialect.name, column)


def as_date(value) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def _china_date(dialect: str, column):
    """:func:`china_date_sql` for a known dialect (the upserts are built outside a request)."""
    if dialect == "sqlite":
        return func.date(column, "+8 hours")
    return cast(column + CHINA, Date)


DAY_COLUMNS = (
    "day", "link_id", "sharer_id", "product_id", "channel",
    "clicks", "counted", "scans", "bots", "repeats",
)  # fmt: skip
VISITOR_COLUMNS = (
    "sharer_id", "visitor_id", "first_seen_at", "last_seen_at", "prior_seen_at", "clicks"
)  # fmt: skip


def rows_insert(dialect: str, model, columns: tuple[str, ...]):
    """An INSERT of ``model``'s ``columns`` for many rows at once, in ``dialect``.

    On PostgreSQL one statement and one parameter whatever the number of rows: ``INSERT ...
    SELECT ... FROM json_populate_recordset(NULL::<table>, <the rows as a JSON array>)``
    (:func:`parameters`, :func:`json_rows`). psycopg would send the rows of an executemany
    one statement each, and the driver's and SQLAlchemy's work per row cost more than the
    database's; one array parameter per column costs psycopg's array dumper (Python, a
    regular expression per text element) about as much. The JSON is made by the standard
    library's C encoder and read by PostgreSQL with the table's own column types. On SQLite
    the plain INSERT, which the driver's executemany repeats in C."""
    if dialect != "postgresql":
        return sqlite.insert(model)
    table = model.__table__
    rows = func.json_populate_recordset(
        literal_column(f"NULL::{table.name}"), cast(bindparam("rows", type_=Text), JSON)
    ).table_valued(*columns)
    return postgresql.insert(model).from_select(
        list(columns), select(*(rows.c[name] for name in columns))
    )


def json_rows(rows: list[dict]) -> dict[str, str]:
    """:func:`rows_insert`'s parameters on PostgreSQL for rows given as dicts (their keys
    the columns; dates and moments as ISO text, which PostgreSQL reads exactly)."""
    return {"rows": json.dumps(rows, default=str, separators=(",", ":"))}


def parameters(dialect: str, columns: tuple[str, ...], rows: list[tuple]):
    """The parameters of :func:`rows_insert`'s statement for ``rows`` (tuples in ``columns``'
    order): one JSON array on PostgreSQL, a dict per row elsewhere."""
    as_dicts = [dict(zip(columns, row, strict=True)) for row in rows]
    return json_rows(as_dicts) if dialect == "postgresql" else as_dicts


@cache
def _upserts(dialect: str):
    """The two increment statements for ``dialect``, built once (this runs with every click
    batch; building them each time cost more than executing them)."""
    least, greatest = (func.min, func.max) if dialect == "sqlite" else (func.least, func.greatest)
    days = rows_insert(dialect, ClickDay, DAY_COLUMNS)
    days = days.on_conflict_do_update(
        index_elements=["day", "link_id"],
        set_={
            name: getattr(ClickDay, name) + getattr(days.excluded, name)
            for name in ("clicks", "counted", "scans", "bots", "repeats")
        },
    )
    visitors = rows_insert(dialect, SharerVisitor, VISITOR_COLUMNS)
    excluded = visitors.excluded
    old_last, new_last = SharerVisitor.last_seen_at, excluded.last_seen_at
    old_prior, new_prior = SharerVisitor.prior_seen_at, excluded.prior_seen_at

    def later(a, b):  # the later of two moments, either of which may be NULL
        return greatest(func.coalesce(a, b), func.coalesce(b, a))

    old_day, new_day = _china_date(dialect, old_last), _china_date(dialect, new_last)
    visitors = visitors.on_conflict_do_update(
        index_elements=["sharer_id", "visitor_id"],
        set_={
            "first_seen_at": least(SharerVisitor.first_seen_at, excluded.first_seen_at),
            "last_seen_at": greatest(old_last, new_last),
            # The last click on a day before the (new) last click's day.
            "prior_seen_at": case(
                (new_day > old_day, later(old_last, new_prior)),
                (new_day < old_day, later(old_prior, new_last)),
                else_=later(old_prior, new_prior),
            ),
            "clicks": SharerVisitor.clicks + excluded.clicks,
        },
    )
    return days, visitors


_LINK_FACTS = select(
    ShareLink.id, ShareLink.sharer_id, ShareLink.product_id, ShareLink.channel
).where(ShareLink.id.in_(bindparam("ids", expanding=True)))


def link_facts(
    connection, link_ids, *, kept: dict[int, tuple[int, int | None, str]] | None = None
) -> dict[int, tuple[int, int | None, str]]:
    """Each link's (sharer id, product id, channel), for the links of ``link_ids`` that exist.
    ``kept``: the answers of earlier calls, added to here; only the links not in it are read
    (a link's sharer, product and channel never change once it is made)."""
    if kept is None:
        kept = {}
    missing = [link_id for link_id in link_ids if link_id not in kept]
    if missing:
        for link_id, sharer_id, product_id, channel in connection.execute(
            _LINK_FACTS, {"ids": missing}
        ):
            kept[link_id] = (sharer_id, product_id, str(channel))
    return kept


def add_clicks(
    connection,
    rows: list[dict],
    *,
    visitors: bool = True,
    links: dict[int, tuple[int, int | None, str]] | None = None,
) -> None:
    """Add freshly inserted click rows (dicts with link_id, clicked_at, visitor_id, is_scan,
    uncounted_reason) to the rollups, on ``connection``'s transaction (``visitors=False``:
    the day counts only). ``links``: each link's (sharer id, product id, channel) when the
    caller has them at hand (a single click knows its link); read otherwise."""
    if not rows:
        return
    if links is None:
        links = link_facts(connection, {row["link_id"] for row in rows})
    days: dict[tuple[date, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
    #: (sharer, visitor) -> [first, last, clicks, prior, the China day of last]
    seen_by: dict[tuple[int, str], list] = {}
    for row in rows:
        link = links.get(row["link_id"])
        if link is None:  # the link was deleted in between: its clicks went with it
            continue
        at = row["clicked_at"]
        day = china_day(at)
        counts = days[(day, row["link_id"])]
        reason = row["uncounted_reason"]
        counts[0] += 1
        if reason is None:
            counts[1] += 1
            counts[2] += 1 if row["is_scan"] else 0
            key = (link[0], row["visitor_id"])
            seen = seen_by.get(key)
            if seen is None:
                seen_by[key] = [at, at, 1, None, day]
                continue
            seen[0], seen[2] = min(seen[0], at), seen[2] + 1
            if day > seen[4]:  # a later day: the last click so far becomes the prior one
                seen[3], seen[1], seen[4] = seen[1], at, day
            elif day == seen[4]:
                seen[1] = max(seen[1], at)
            else:  # an earlier day (rows out of order): a candidate for the prior click
                seen[3] = at if seen[3] is None else max(seen[3], at)
        elif reason in BOT_REASONS:
            counts[3] += 1
        else:
            counts[4] += 1
    dialect = connection.dialect.name
    day_upsert, visitor_upsert = _upserts(dialect)
    if days:
        day_rows = [
            (day, link_id, *links[link_id], *counts)
            for (day, link_id), counts in sorted(days.items())  # one lock order for all writers
        ]
        connection.execute(day_upsert, parameters(dialect, DAY_COLUMNS, day_rows))
    if visitors and seen_by:
        visitor_rows = [
            (sharer_id, visitor_id, seen[0], seen[1], seen[3], seen[2])
            for (sharer_id, visitor_id), seen in sorted(seen_by.items())
        ]
        connection.execute(visitor_upsert, parameters(dialect, VISITOR_COLUMNS, visitor_rows))


def recount(connection, *, since: date | None = None) -> dict[str, int]:
    """Rebuild the rollups from the raw clicks: the days from ``since`` (every day when None),
    and the whole visitor table. Idempotent; on PostgreSQL the rollup tables are locked
    against the click writers meanwhile (SQLite runs one writer at a time anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE click_days, sharer_visitors IN EXCLUSIVE MODE"))
    day_filter = Click.clicked_at >= day_start(since) if since else True
    connection.execute(delete(ClickDay).where(ClickDay.day >= since if since else True))
    rows = connection.execute(
        select(
            Click.link_id,
            Click.clicked_at,
            Click.visitor_id,
            Click.is_scan,
            Click.uncounted_reason,
        )
        .where(day_filter)
        .order_by(Click.id)
        .execution_options(yield_per=20_000)
    )
    batch: list[dict] = []
    clicks = 0
    # Visitors are rebuilt whole below, so only the days are added here.
    for row in rows:
        batch.append(dict(row._mapping))
        if len(batch) >= 20_000:
            clicks += len(batch)
            add_clicks(connection, batch, visitors=False)
            batch = []
    clicks += len(batch)
    add_clicks(connection, batch, visitors=False)
    connection.execute(delete(SharerVisitor))
    visitor_rows = connection.execute(
        insert(SharerVisitor).from_select(
            ["sharer_id", "visitor_id", "first_seen_at", "last_seen_at", "prior_seen_at", "clicks"],
            _visitors_from_clicks(connection.dialect.name),
        ),
        execution_options={"preserve_rowcount": True},  # psycopg reports -1 otherwise
    ).rowcount
    return {"clicks": clicks, "visitors": max(visitor_rows, 0)}


def _visitors_from_clicks(dialect: str):
    """Each (sharer, visitor)'s row of ``sharer_visitors`` from the counted clicks: first and
    last click, how many, and the last click on a day before the last click's China day."""
    counted = (
        select(
            ShareLink.sharer_id.label("sharer_id"),
            Click.visitor_id.label("visitor_id"),
            Click.clicked_at.label("at"),
            func.max(Click.clicked_at)
            .over(partition_by=(ShareLink.sharer_id, Click.visitor_id))
            .label("last"),
        )
        .join(ShareLink, ShareLink.id == Click.link_id)
        .where(Click.uncounted_reason.is_(None))
        .subquery()
    )
    earlier_day = _china_date(dialect, counted.c.at) < _china_date(dialect, counted.c.last)
    return select(
        counted.c.sharer_id,
        counted.c.visitor_id,
        func.min(counted.c.at),
        func.max(counted.c.at),
        func.max(case((earlier_day, counted.c.at))),
        func.count(),
    ).group_by(counted.c.sharer_id, counted.c.visitor_id)
