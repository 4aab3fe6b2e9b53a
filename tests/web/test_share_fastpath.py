"""The thin WSGI path for /r/<code> (shop.web.storefront.fastpath): it answers what the Flask view
answers, with the same headers, cookie, click row and log line; it hands every other case to
Flask with the limits counted once."""

import json
import logging

import pytest

from shop.platform import ops
from shop.platform.extensions import db
from shop.sharing.models import Click
from tests.factories import make_user
from tests.web.test_sharing import PHONE_UA, make_link

#: Headers whose value differs per request by design.
PER_REQUEST = {"set-cookie", "x-request-id", "content-length"}


def _link(app):
    with app.app_context():
        link = make_link()
        db.session.commit()
        return link.code


def _reasons(app):
    with app.app_context():
        query = db.select(Click.uncounted_reason).order_by(Click.id)
        return list(db.session.execute(query).scalars())


@pytest.fixture
def flask_view_fails(app):
    """Makes the Flask view raise: a request it answers was not served by the thin path."""
    real = app.view_functions["storefront.follow_link"]

    def refuse(**kwargs):
        raise AssertionError("served by the Flask view")

    app.view_functions["storefront.follow_link"] = refuse
    yield
    app.view_functions["storefront.follow_link"] = real


def test_the_thin_path_answers_as_the_flask_view_does(app):
    code = _link(app)
    fast = app.test_client().get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    # A query string sends the request through Flask (the view ignores it).
    slow = app.test_client().get(f"/r/{code}?from=timeline", headers={"User-Agent": PHONE_UA})
    assert fast.status_code == slow.status_code == 303
    assert fast.headers["Location"] == slow.headers["Location"]

    def comparable(response):
        return sorted(
            (name.lower(), value)
            for name, value in response.headers.items()
            if name.lower() not in PER_REQUEST
        )

    assert comparable(fast) == comparable(slow)
    for response in (fast, slow):
        cookie = response.headers["Set-Cookie"]
        assert cookie.startswith("fx_v=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert "Max-Age=63072000" in cookie
        assert len(response.headers["X-Request-ID"]) == 32
    assert _reasons(app) == [None, None]


def test_a_returning_visitor_and_a_bot_through_the_thin_path(app, flask_view_fails):
    code = _link(app)
    client = app.test_client()
    assert client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA}).status_code == 303
    again = client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    assert again.status_code == 303 and "Set-Cookie" not in again.headers  # cookie kept
    bot = app.test_client().get(f"/r/{code}", headers={"User-Agent": "WhatsApp/2.23"})
    head = app.test_client().head(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    assert bot.status_code == head.status_code == 303
    assert _reasons(app) == [None, "duplicate", "bot", "head"]


def test_limits_are_counted_once_when_flask_answers(app):
    """404s handed to Flask count once against the hard limit: the 4th request is refused."""
    app.config["CLICK_HARD_LIMIT"] = "3 per minute"
    client = app.test_client()
    statuses = [client.get("/r/ABCDEFGH").status_code for _ in range(4)]
    assert statuses == [404, 404, 404, 429]
    refused = client.get("/r/ABCDEFGH")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


def test_a_signed_in_visitor_is_served_by_flask(app, user_client):
    code = _link(app)
    with app.app_context():
        buyer = make_user()
        db.session.commit()
    signed_in = user_client(buyer)
    calls = []
    real = app.view_functions["storefront.follow_link"]

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    app.view_functions["storefront.follow_link"] = counting
    try:
        assert signed_in.get(f"/r/{code}").status_code == 303
    finally:
        app.view_functions["storefront.follow_link"] = real
    assert len(calls) == 1


def test_clicks_queued_by_the_thin_path_reach_the_database(app, flask_view_fails):
    from shop.sharing import clicks

    app.config["CLICK_BATCH_SECONDS"] = 60  # written by flush below, not by the timer
    code = _link(app)
    for _ in range(3):
        assert app.test_client().get(f"/r/{code}").status_code == 303
    with app.app_context():
        writer = clicks.writer_for_app()
        assert writer.flush() == 3
        writer.close()
    assert _reasons(app) == [None, None, None]


def test_the_thin_path_writes_the_request_log_line(database_url, tmp_path):
    from tests.conftest import build_app

    class Keep(logging.Handler):
        def __init__(self):
            super().__init__()
            self.lines = []

        def emit(self, record):
            self.lines.append(json.loads(record.getMessage()))

    app = build_app(database_url, tmp_path / "instance", REQUEST_LOG=True)
    keep = Keep()
    ops.request_log.addHandler(keep)
    try:
        code = _link(app)
        response = app.test_client().get(f"/r/{code}", headers={"X-Request-ID": "req-12345678"})
        assert response.status_code == 303
        assert len(keep.lines) == 1
        line = keep.lines[0]
        assert line["path"] == f"/r/{code}" and line["status"] == 303
        assert line["request_id"] == "req-12345678" and line["user_id"] is None
        assert line["method"] == "GET" and line["duration_ms"] >= 0
        assert response.headers["X-Request-ID"] == "req-12345678"
    finally:
        ops.request_log.removeHandler(keep)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_an_untrusted_host_is_refused_by_flask(database_url, tmp_path):
    from tests.conftest import build_app

    app = build_app(database_url, tmp_path / "instance", TRUSTED_HOSTS=["shop.example"])
    try:
        code = _link(app)
        client = app.test_client()
        assert client.get(f"/r/{code}", base_url="http://evil.example").status_code == 400
        assert client.get(f"/r/{code}", base_url="http://shop.example").status_code == 303
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
