"""How the click writer stores a batch: every value as it was queued (on PostgreSQL the rows
travel as one JSON parameter), one statement per table whatever the batch's size, and each
link's sharer, product and channel read once per writer, not once per batch."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import event, select

from shop.platform.extensions import db
from shop.sharing import clicks, links, rollup
from shop.sharing.models import Channel, Click, ClickDay, SharerVisitor
from tests.factories import make_product, make_shop

AT = datetime(2026, 11, 24, 10, 0, 0)


@pytest.fixture
def two(ctx):
    shop = make_shop()
    product = make_product()
    made = [
        links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=AT),
        links.get_or_create_link(shop, product, Channel.POSTER, now=AT),
    ]
    db.session.commit()  # the writer writes on a connection of its own
    return [links.resolve(link.code) for link in made]  # plain values: no ORM loads later


def row(link, n: int, **changes) -> dict:
    """A row as record_click queues it."""
    return {
        "link_id": link.id,
        "clicked_at": AT + timedelta(seconds=n, microseconds=n * 1001),
        "visitor_id": f"{n:032x}",
        "ip_hash": f"{n:032d}",
        "ua_family": "wechat",
        "referrer_host": "",
        "is_scan": link.channel == Channel.POSTER,
        "uncounted_reason": None,
        **changes,
    }


def statements_of(engine):
    seen: list[tuple[str, bool]] = []

    def note(_conn, _cursor, statement, _parameters, _context, many):
        seen.append((" ".join(statement.split()), many))

    event.listen(engine, "before_cursor_execute", note)
    return seen, lambda: event.remove(engine, "before_cursor_execute", note)


def test_every_value_is_stored_as_it_was_queued(two):
    group, poster = two
    queued = [
        row(group, 0, referrer_host='a"b\\c{d},e'),  # JSON's and arrays' special characters
        row(group, 1, referrer_host="例子.中国", ua_family="ios"),
        row(poster, 2, clicked_at=AT, uncounted_reason="bot", ua_family="bot"),  # no microseconds
        row(poster, 3, uncounted_reason="duplicate", visitor_id="0" * 32),
        row(group, 4, referrer_host="x" * 100, clicked_at=AT + timedelta(microseconds=1)),
    ]
    writer = clicks.ClickWriter(db.engine, interval=3600)
    try:
        for queued_row in queued:
            writer.submit(dict(queued_row))
        assert writer.flush() == len(queued)
    finally:
        writer.close()
    db.session.rollback()
    stored = [
        {name: getattr(click, name) for name in queued[0]}
        for click in db.session.execute(select(Click).order_by(Click.id)).scalars()
    ]
    assert stored == queued
    days = {
        (d.link_id, d.channel, d.clicks, d.counted, d.scans, d.bots, d.repeats)
        for d in db.session.execute(select(ClickDay)).scalars()
    }
    assert days == {(group.id, "wechat_group", 3, 3, 0, 0, 0), (poster.id, "poster", 2, 0, 0, 1, 1)}
    visitors = db.session.execute(
        select(SharerVisitor.visitor_id, SharerVisitor.first_seen_at, SharerVisitor.clicks)
    ).all()
    assert sorted(visitors) == sorted(
        (r["visitor_id"], r["clicked_at"], 1) for r in queued if r["uncounted_reason"] is None
    )


def test_a_batch_is_one_statement_per_table_and_links_are_read_once(two):
    group, poster = two
    writer = clicks.ClickWriter(db.engine, interval=3600)
    seen, stop = statements_of(db.engine)
    try:
        for n in range(50):
            writer.submit(row((group, poster)[n % 2], n))
        writer.flush()
        first = list(seen)
        seen.clear()
        for n in range(50, 120):
            writer.submit(row((group, poster)[n % 2], n))
        writer.flush()
        second = list(seen)
    finally:
        stop()
        writer.close()
    writes = [s for s, _many in first if not s.startswith(("BEGIN", "SELECT"))]
    assert [s.split(" (")[0] for s in writes] == [
        "INSERT INTO clicks",
        "INSERT INTO click_days",
        "INSERT INTO sharer_visitors",
    ]
    assert sum("FROM share_links" in s for s, _many in first) == 1
    assert not any("FROM share_links" in s for s, _many in second)  # kept from the first
    if db.engine.dialect.name == "postgresql":
        assert not any(many for _s, many in first + second)  # no executemany at all
    db.session.rollback()
    assert len(db.session.execute(select(Click.id)).all()) == 120


def test_a_link_new_to_the_writer_is_read_with_its_batch(two):
    group, _poster = two
    writer = clicks.ClickWriter(db.engine, interval=3600)
    try:
        writer.submit(row(group, 0))
        writer.flush()
        db.session.rollback()  # (SQLite: a snapshot from before the writer's commit)
        made = links.get_or_create_link(make_shop(), make_product(), Channel.MOMENTS, now=AT)
        db.session.commit()
        other = links.resolve(made.code)
        writer.submit(row(other, 1))
        writer.flush()
    finally:
        writer.close()
    db.session.rollback()
    assert db.session.execute(
        select(ClickDay.sharer_id, ClickDay.channel).where(ClickDay.link_id == other.id)
    ).one() == (other.sharer_id, "moments")


def test_the_kept_link_facts_are_bounded(two, monkeypatch):
    group, poster = two
    monkeypatch.setattr(clicks, "LINKS_KEPT", 1)
    writer = clicks.ClickWriter(db.engine, interval=3600)
    try:
        for n in range(3):
            writer.submit(row(group, 2 * n))
            writer.submit(row(poster, 2 * n + 1))
            writer.flush()
            assert len(writer._links) <= 2  # emptied once past LINKS_KEPT, then refilled
    finally:
        writer.close()
    db.session.rollback()
    assert db.session.execute(
        select(ClickDay.clicks).order_by(ClickDay.link_id)
    ).scalars().all() == [
        3,
        3,
    ]


def test_link_facts_reads_only_what_it_does_not_keep(two):
    group, poster = two
    kept = {group.id: (1, 2, "kept")}
    with db.engine.connect() as connection:
        found = rollup.link_facts(connection, [group.id, poster.id, 10**9], kept=kept)
    assert found is kept
    assert found[group.id] == (1, 2, "kept")  # not read again
    assert found[poster.id] == (poster.sharer_id, poster.product_id, "poster")
    assert 10**9 not in found  # no such link
