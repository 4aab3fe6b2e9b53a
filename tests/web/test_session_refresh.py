"""A signed-in session's cookie is signed and sent again when it changes, and otherwise at
most once an hour (shop.web.hooks.SessionInterface): its 30 days still run from the last use."""

from http.cookies import SimpleCookie

from shop.platform.extensions import db
from shop.web import hooks
from tests.factories import make_product, make_user


def session_cookie(response):
    assert response.status_code in (200, 302, 303), response.status_code
    return SimpleCookie(response.headers.get("Set-Cookie", "")).get("session")


def test_an_unchanged_session_is_sent_again_once_an_hour_a_changed_one_at_once(
    app, user_client, monkeypatch
):
    with app.app_context():
        user = make_user()
        db.session.commit()
    clock = [1_800_000_000]
    monkeypatch.setattr(hooks.time, "time", lambda: clock[0])
    client = user_client(user)
    client.get("/auth/account")  # its form's CSRF token stored: a change, sent
    assert session_cookie(client.get("/auth/account")) is None
    clock[0] += hooks.REFRESH_SECONDS - 1
    assert session_cookie(client.get("/auth/account")) is None
    clock[0] += 1
    again = session_cookie(client.get("/auth/account"))
    assert again is not None and again["expires"] and again["httponly"]
    assert session_cookie(client.get("/auth/account")) is None
    with client.session_transaction() as session:
        assert session[hooks.REFRESHED_AT] == clock[0] and session.permanent
    # A change is sent at once: the cart kept in the session.
    clock[0] += 5
    assert session_cookie(client.get("/cart")) is None
    with app.app_context():
        product_id = make_product(stock=5).id
        db.session.commit()
    assert session_cookie(client.post("/cart/add", data={"product_id": product_id})) is not None
    assert "tab-badge" in client.get("/cart").get_data(as_text=True)  # still signed in, kept


def test_a_visitor_s_session_is_sent_only_when_it_changes(app, client):
    client.get("/auth/signin")  # the sign-in form's CSRF token: stored and sent
    assert session_cookie(client.get("/auth/signin")) is None
    with client.session_transaction() as session:
        assert hooks.REFRESHED_AT not in session and not session.permanent
