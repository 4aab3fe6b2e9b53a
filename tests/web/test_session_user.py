"""The signed-in user of a request, made from one Core statement's row (shop.accounts.
session_users), and the layout's unread badge read in that statement on a GET: the user is
the session's own persistent object (changes saved, relationships load, the same object when
the session holds it already), a revoked session signs nobody in, and the badge follows a new
message and a read one at once, on the next page, whatever the layout keeps."""

from datetime import timedelta

import pytest
from flask import g, request
from sqlalchemy import inspect, select

from shop.accounts import accounts
from shop.accounts.models import User
from shop.notify import inbox
from shop.notify.models import Notification
from shop.platform import outbox
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.web.common import unread_badge
from tests.factories import make_user


def _message(user_id: int) -> None:
    """A message to ``user_id``, as the notify worker writes it (outbox, then its batch)."""
    now = utcnow()
    outbox.emit("notify", "rebate_settled", user_id=user_id, now=now, payload={"amount_cents": 1})
    db.session.commit()
    outbox.process_batch(now=now + timedelta(seconds=1))


def test_the_user_made_from_the_row_is_the_sessions_own(app):
    with app.app_context():
        user = make_user(display_name="小王")
        token = accounts.start_session(user, now=utcnow())
        user_id = user.id
        db.session.commit()
    with app.test_request_context("/"):
        loaded = accounts.load_session_user(token, now=utcnow(), seen_minutes=5)
        state = inspect(loaded)
        assert state.persistent and not state.modified and loaded in db.session
        assert (loaded.id, loaded.display_name, loaded.get_id()) == (user_id, "小王", token)
        assert loaded.session_id == loaded.sessions[0].id  # a relationship loads lazily
        assert loaded.created_at is not None and loaded.has_password
        # Asked again in the same session: the same object, as an ORM query returns it.
        assert accounts.load_session_user(token) is loaded
        loaded.display_name = "小王2"
        assert loaded in db.session.dirty
        db.session.commit()
        assert loaded.display_name == "小王2"  # expired by the commit, loaded again
    with app.app_context():
        assert db.session.get(User, user_id).display_name == "小王2"
        accounts.end_session(token, now=utcnow())
        db.session.commit()
    with app.test_request_context("/"):
        assert accounts.load_session_user(token) is None


def test_a_user_already_in_the_session_is_returned_with_its_changes(app):
    with app.app_context():
        user = make_user(display_name="旧名")
        token = accounts.start_session(user, now=utcnow())
        user_id = user.id
        db.session.commit()
    with app.test_request_context("/"):
        held = db.session.get(User, user_id)
        held.display_name = "未存"
        assert accounts.load_session_user(token) is held
        assert held.display_name == "未存"
        db.session.rollback()


def test_the_badge_follows_a_new_message_and_a_read_one_at_once(app, user_client):
    app.jinja_env.kept_fragments.on = True  # as served: the header kept under its key
    try:
        with app.app_context():
            reader = make_user(display_name="读者")
            db.session.commit()
            reader_id = reader.id
        client = user_client(reader)
        assert "条未读" not in client.get("/").get_data(as_text=True)
        with app.app_context():
            _message(reader_id)
        assert "1 条未读" in client.get("/").get_data(as_text=True)
        with app.app_context():
            _message(reader_id)
            first = (
                db.session.execute(select(Notification.id).where(Notification.user_id == reader_id))
                .scalars()
                .first()
            )
        assert "2 条未读" in client.get("/catalog").get_data(as_text=True)
        assert client.post(f"/inbox/{first}/read").status_code == 302
        assert "1 条未读" in client.get("/").get_data(as_text=True)
        assert client.post("/inbox/read-all").status_code == 302
        assert "条未读" not in client.get("/").get_data(as_text=True)
    finally:
        app.jinja_env.kept_fragments.clear()
        app.jinja_env.kept_fragments.on = False


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_the_badge_read_with_the_user_is_used_only_by_a_get_of_that_user(app, method):
    """A POST's page counts after what the POST changed; another user's value is never used."""
    with app.app_context():
        reader, other = make_user(), make_user()
        db.session.commit()
        _message(reader.id)
        ids = reader.id, other.id
    with app.test_request_context("/", method=method):
        g.unread_with_user = (ids[0], 7)
        assert unread_badge(ids[0]) == (7 if method == "GET" else 1)
        assert unread_badge(ids[1]) == 0
        assert inbox.unread_count(ids[0]) == 1


def _kept_cookies(app) -> dict:
    return app.session_interface._signing_for(app)[2]


def test_a_kept_session_cookie_is_refused_once_past_its_lifetime(app, user_client, monkeypatch):
    import time

    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    assert client.get("/auth/account").status_code == 200  # its form's token: a new cookie
    value = client.get_cookie("session").value
    assert client.get("/auth/account").status_code == 200
    assert client.get_cookie("session").value == value
    assert value in _kept_cookies(app)  # verified once, kept
    assert client.get("/auth/account").status_code == 200  # from the kept one
    lifetime = int(app.permanent_session_lifetime.total_seconds())
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + lifetime + 5)
    answer = client.get("/auth/account")
    assert answer.status_code == 302 and "/auth/signin" in answer.location
    assert value not in _kept_cookies(app)


def test_a_kept_session_cookie_is_refused_after_the_key_changes(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    client.get("/auth/account")
    assert client.get("/auth/account").status_code == 200
    assert client.get_cookie("session").value in _kept_cookies(app)
    app.secret_key = "another key, the old one retired"
    answer = client.get("/auth/account")
    assert answer.status_code == 302 and "/auth/signin" in answer.location


def test_each_request_gets_its_own_copy_of_a_kept_session(app):
    with app.test_request_context("/"):
        serializer = app.session_interface.get_signing_serializer(app)
        value = serializer.dumps({"cart": [[1, 2]], "k": "v"})
    headers = {"Cookie": f"session={value}"}
    with app.test_request_context("/", headers=headers):
        first = app.session_interface.open_session(app, request)
        first["cart"].append([3, 4])
        first["x"] = 1
    with app.test_request_context("/", headers=headers):
        again = app.session_interface.open_session(app, request)
    assert dict(again) == {"cart": [[1, 2]], "k": "v"} and not again.modified
    assert again.issued == first.issued
