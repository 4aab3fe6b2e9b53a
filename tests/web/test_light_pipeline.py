"""What every request pays: a visitor who is not signed in gets no user lookup (not for the
page, the language, the security headers or the request log), and the language still follows
the browser; a signed-in user is still loaded and shown."""

import pytest

from shop.platform.extensions import db, login_manager
from tests.factories import make_user


@pytest.fixture
def loads(app):
    """Each time Flask-Login works out who the request's user is (session, cookie, loader)."""
    calls = []
    real = login_manager._load_user

    def counting():
        calls.append(1)
        return real()

    login_manager._load_user = counting
    yield calls
    del login_manager._load_user


def test_an_anonymous_visitor_is_never_looked_up(app, client, loads):
    for path in ("/catalog", "/no-such-page"):
        client.get(path, headers={"Accept-Language": "en"})
    english = client.get("/", headers={"Accept-Language": "en"})
    assert english.status_code == 200 and 'lang="en"' in english.text
    assert loads == []


def test_a_signed_in_user_is_still_loaded_and_shown(app, user_client, loads):
    with app.app_context():
        user = make_user(display_name="小李")
        db.session.commit()
    client = user_client(user)
    loads.clear()
    page = client.get("/")
    assert page.status_code == 200 and "小李" in page.text
    assert len(loads) == 1
    assert page.headers["Cache-Control"] == "private, no-store"


def test_no_query_runs_before_a_post_takes_the_write_lock(app, user_client):
    """The hooks before _writes_take_the_lock load nothing: a query there would start SQLite's
    read transaction, which the POST's first write could not upgrade ("database is locked"
    under load; found by bench/bench_load.py)."""
    from flask import request

    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    hooks = app.before_request_funcs[None]
    lock = next(i for i, hook in enumerate(hooks) if hook.__name__ == "_writes_take_the_lock")
    seen = []

    def no_transaction_yet():
        if request.method == "POST":
            seen.append(db.session.registry.has() and db.session().in_transaction())

    hooks.insert(lock, no_transaction_yet)
    try:
        client.post("/cart/add", data={"product_id": 1})
    finally:
        hooks.remove(no_transaction_yet)
    assert seen == [False]
