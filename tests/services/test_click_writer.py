"""The batch writer behind /r/<code>: rows reach the database within the interval, duplicates
are seen while still queued, a database failure keeps the rows, and a normal exit writes
what is left."""

import subprocess
import sys
import textwrap
import time

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.exc import OperationalError

from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Channel, Click
from tests.factories import make_product, make_shop
from tests.services.test_links_and_clicks import NOW, facts

PROJECT_ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def counted() -> int:
    db.session.rollback()  # see what other connections committed
    return db.session.execute(select(func.count(Click.id))).scalar_one()


@pytest.fixture
def link(ctx):
    shop, product = make_shop(), make_product()
    made = links.get_or_create_link(shop, product, Channel.MOMENTS, now=NOW)
    db.session.commit()  # the writer inserts on a connection of its own
    return links.resolve(made.code)


def follow(link, writer, visitor="a" * 32, *, new=False):
    return clicks.record_click(
        link,
        facts(),
        visitor_id=visitor,
        ip_secret="s",
        flooded=False,
        now=NOW,
        new_visitor=new,
        writer=writer,
    )


def test_queued_rows_count_as_seen_and_flush_writes_them(link):
    writer = clicks.ClickWriter(db.engine, interval=3600)
    try:
        assert follow(link, writer, new=True) is None
        assert follow(link, writer) == "duplicate"  # still queued, yet seen
        assert follow(link, writer, visitor="b" * 32) is None
        assert writer.has_pending("a" * 32, link.id)
        assert counted() == 0
        assert writer.flush() == 3
        assert not writer.has_pending("a" * 32, link.id)
        db.session.rollback()
        rows = db.session.execute(select(Click).order_by(Click.id)).scalars().all()
        assert [r.uncounted_reason for r in rows] == [None, "duplicate", None]
        assert follow(link, writer) == "duplicate"  # now seen in the database
    finally:
        writer.close()


def test_the_thread_writes_within_the_interval(link):
    writer = clicks.ClickWriter(db.engine, interval=0.05)
    try:
        for n in range(5):
            follow(link, writer, visitor=f"{n:032x}", new=True)
        deadline = time.monotonic() + 5
        while counted() < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert counted() == 5
    finally:
        writer.close()


def test_a_database_failure_keeps_the_rows(link, tmp_path):
    working = db.engine
    writer = clicks.ClickWriter(
        create_engine(f"sqlite:///{tmp_path}/no/such/dir.db"), interval=3600
    )
    try:
        follow(link, writer, new=True)
        with pytest.raises(OperationalError):
            writer.flush()
        assert writer.has_pending("a" * 32, link.id) and counted() == 0
        writer.engine = working  # the database is back
        assert writer.flush() == 1 and counted() == 1
    finally:
        writer.close()


def test_close_writes_what_is_left(link):
    writer = clicks.ClickWriter(db.engine, interval=3600)
    follow(link, writer, new=True)
    writer.close()
    assert counted() == 1


def test_a_normal_exit_loses_no_queued_click(app, link, database_url):
    """A separate process queues clicks with a writer that would wait an hour, then exits the
    way a gunicorn worker does on SIGTERM (sys.exit): the clicks are in the database."""
    script = textwrap.dedent(
        f"""
        import sys
        from shop import create_app
        from shop.sharing import clicks, links
        from tests.services.test_links_and_clicks import NOW, facts

        app = create_app({{"SQLALCHEMY_DATABASE_URI": {database_url!r},
                          "SECRET_KEY": "x", "CLICK_BATCH_SECONDS": 3600,
                          "INSTANCE_PATH": {str(app.instance_path)!r}}})
        with app.test_request_context():
            writer = clicks.writer_for_app()
            target = links.resolve({link.code!r})
            for n in range(7):
                clicks.record_click(target, facts(), visitor_id=f"{{n:032x}}", ip_secret="s",
                                    flooded=False, now=NOW, new_visitor=True, writer=writer)
        sys.exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert counted() == 7
