"""A signed-in user's session cookie (permanent, 30 days) is signed again at most once per
``SESSION_REFRESH_MINUTES``, not on every response; a changed session is sent back at once."""

import time

from shop.platform.extensions import db
from shop.web import hooks
from tests.factories import make_product, make_user


def _sets_session(response) -> bool:
    return any(h.startswith("session=") for h in response.headers.getlist("Set-Cookie"))


def test_an_unchanged_session_is_signed_again_once_an_hour(app, user_client, monkeypatch):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    client.get("/me/earnings")  # the first page adds the CSRF token: a change, sent at once
    assert not _sets_session(client.get("/me/earnings"))  # signed a moment ago: nothing to send
    later = time.time() + 61 * 60
    monkeypatch.setattr(hooks.time, "time", lambda: later)
    renewed = client.get("/me/earnings")
    assert renewed.status_code == 200 and _sets_session(renewed)


def test_every_response_signs_it_with_no_interval(app, user_client):
    app.config["SESSION_REFRESH_MINUTES"] = 0
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    assert _sets_session(client.get("/me/earnings"))
    assert _sets_session(client.get("/me/earnings"))


def test_a_changed_session_is_sent_at_once_and_still_signs_in(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    client.set_cookie("lang", "en")
    changed = client.post("/auth/signout")
    assert _sets_session(changed)  # emptied: the cookie is cleared now, not in an hour
    assert client.get("/me/earnings").status_code in (302, 303)


def test_a_new_secret_key_signs_with_the_new_key(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    assert client.get("/me/earnings").status_code == 200
    old = app.secret_key
    app.secret_key = "another secret key for this test"
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    assert client.get("/me/earnings").status_code == 200  # a fallback key still verifies it
    app.config["SECRET_KEY_FALLBACKS"] = []
    assert client.get("/me/earnings").status_code in (302, 303)  # the old key no longer does


def test_a_change_is_sent_at_once_and_keeps_the_user_signed_in(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    client.get("/cart")
    assert not _sets_session(client.get("/cart"))
    with app.app_context():
        product_id = make_product(stock=5).id
        db.session.commit()
    assert _sets_session(client.post("/cart/add", data={"product_id": product_id}))
    assert "tab-badge" in client.get("/cart").get_data(as_text=True)  # still signed in, kept


def test_a_visitor_s_session_is_sent_only_when_it_changes(app, client):
    client.get("/auth/signin")  # the sign-in form's CSRF token, when CSRF is on: stored
    assert not _sets_session(client.get("/auth/signin"))
    with client.session_transaction() as session:
        assert not session.permanent
