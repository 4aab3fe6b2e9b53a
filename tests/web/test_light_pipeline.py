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
