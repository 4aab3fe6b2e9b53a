"""PostgreSQL's pooled connections: checked only after a rest (shop.platform.db), so a busy
worker makes no extra round trip per request, and a connection the server dropped while it
rested is replaced without an error reaching the request."""

import psycopg
import pytest
from sqlalchemy import text

from shop.platform import db as dbsetup
from shop.platform.extensions import db


@pytest.fixture
def pg_app(app):
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            pytest.skip("a file database has no server to drop the connection")
    return app


def _backend_pid() -> int:
    return db.session.execute(text("select pg_backend_pid()")).scalar_one()


def _rest(seconds: float) -> None:
    """Make every pooled connection look as if it had rested ``seconds``."""
    pool = db.engine.pool
    for record in list(pool._pool.queue):  # QueuePool's idle connection records
        record.info["rests_since"] -= seconds


def test_a_connection_used_a_moment_ago_is_not_pinged(pg_app, monkeypatch):
    pings = []
    monkeypatch.setattr(dbsetup, "ping", lambda connection: pings.append(connection))
    with pg_app.app_context():
        _backend_pid()
        db.session.remove()  # back to the pool
        for _ in range(3):
            _backend_pid()
            db.session.remove()
    assert pings == []


def test_a_rested_connection_the_server_dropped_is_replaced(pg_app):
    with pg_app.app_context():
        first = _backend_pid()
        db.session.remove()
        _rest(dbsetup.PING_AFTER_IDLE_SECONDS + 1)
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(url, autocommit=True) as other:  # the server ends the pooled one
            other.execute("select pg_terminate_backend(%s)", (first,))
        second = _backend_pid()  # no error: pinged, found gone, replaced
        assert second != first
        db.session.remove()
