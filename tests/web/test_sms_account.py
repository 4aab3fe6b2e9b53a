"""What a code or a session lets a person do: reset the password (other sessions end), set a
first password without a current one, change the phone (code to the new number), see the
sessions by device and sign out the others; password lock-outs never stop a code sign-in."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import event, select

from shop.accounts.models import User, UserSession
from shop.platform.extensions import db, passwords
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.web.test_sms_signin import OTHER, PHONE, demo_code, english, send, verify

WECHAT_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)
WINDOWS_EDGE = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0"
)


@pytest.fixture
def sms_app(app):
    app.config.update(SMS_PROVIDER="console", DEMO_MODE=True)
    return app


def owner(app, **fields):
    with app.app_context():
        user = make_user(phone=PHONE, display_name="店主", **fields)
        db.session.commit()
        return user.id


def password_client(app, user_agent=None, address="198.51.100.7"):
    client = english(app)
    environ = {"REMOTE_ADDR": address}
    if user_agent:
        environ["HTTP_USER_AGENT"] = user_agent
    response = client.post(
        "/auth/signin",
        data={"account": PHONE, "password": DEFAULT_PASSWORD},
        environ_base=environ,
    )
    assert response.status_code == 302
    return client


def live_sessions(app, user_id):
    with app.app_context():
        return (
            db.session.execute(
                select(UserSession).where(
                    UserSession.user_id == user_id, UserSession.revoked_at.is_(None)
                )
            )
            .scalars()
            .all()
        )


# --- password reset -------------------------------------------------------------------------


def test_a_password_reset_by_code_signs_out_every_other_session(sms_app):
    user_id = owner(sms_app)
    phone_a = password_client(sms_app)
    phone_b = password_client(sms_app)
    client = english(sms_app)
    sent = send(client, path="/auth/reset")
    response = client.post(
        "/auth/reset",
        data={
            "phone": PHONE,
            "code": demo_code(sent),
            "new_password": "new-tea-pass-77",
            "confirm": "new-tea-pass-77",
            "action": "reset",
        },
    )
    assert response.status_code == 302
    assert phone_a.get("/auth/account").status_code == 302  # signed out
    assert phone_b.get("/auth/account").status_code == 302
    assert client.get("/auth/account").status_code == 200  # this device is signed in
    assert len(live_sessions(sms_app, user_id)) == 1
    old = english(sms_app).post(
        "/auth/signin", data={"account": PHONE, "password": DEFAULT_PASSWORD}
    )
    assert old.status_code == 200
    new = english(sms_app).post(
        "/auth/signin", data={"account": PHONE, "password": "new-tea-pass-77"}
    )
    assert new.status_code == 302


def test_a_reset_with_a_wrong_code_or_a_weak_password_changes_nothing(sms_app):
    owner(sms_app)
    client = english(sms_app)
    code = demo_code(send(client, path="/auth/reset"))
    weak = client.post(
        "/auth/reset",
        data={"phone": PHONE, "code": code, "new_password": "12345678", "confirm": "12345678"},
    ).get_data(as_text=True)
    assert "This password is too easy to guess." in weak and f'value="{PHONE}"' in weak
    wrong = client.post(
        "/auth/reset",
        data={
            "phone": PHONE,
            "code": "000000" if code != "000000" else "111111",
            "new_password": "new-tea-pass-77",
            "confirm": "new-tea-pass-77",
        },
    ).get_data(as_text=True)
    assert "The code is wrong." in wrong
    with sms_app.app_context():
        user = db.session.execute(select(User)).scalar_one()
        assert passwords.verify(user.password_hash, DEFAULT_PASSWORD)


def test_a_reset_code_is_not_sent_to_a_number_without_an_account(sms_app):
    page = send(english(sms_app), path="/auth/reset").get_data(as_text=True)
    assert "No account uses this mobile number." in page
    assert "Demo code" not in page


# --- a first password -----------------------------------------------------------------------


def test_an_account_made_by_a_code_sets_its_first_password_without_a_current_one(sms_app):
    client = english(sms_app)
    verify(client, demo_code(send(client)))
    page = client.get("/auth/password").get_data(as_text=True)
    assert "Set a password" in page and 'name="current_password"' not in page
    response = client.post(
        "/auth/password", data={"new_password": "first-pass-2026", "confirm": "first-pass-2026"}
    )
    assert response.status_code == 302
    signin = english(sms_app).post(
        "/auth/signin", data={"account": PHONE, "password": "first-pass-2026"}
    )
    assert signin.status_code == 302
    # From now on the current password is asked.
    page = client.get("/auth/password").get_data(as_text=True)
    assert 'name="current_password"' in page
    again = client.post(
        "/auth/password", data={"new_password": "second-pass-2026", "confirm": "second-pass-2026"}
    )
    assert again.status_code == 200 and "This field is required." in again.get_data(as_text=True)


# --- the phone ------------------------------------------------------------------------------


def test_the_phone_changes_with_a_code_sent_to_the_new_number(sms_app):
    user_id = owner(sms_app)
    client = password_client(sms_app)
    sent = send(client, OTHER, path="/auth/account/phone")
    assert "sent to 139****9000" in sent.get_data(as_text=True)
    response = client.post(
        "/auth/account/phone", data={"phone": OTHER, "code": demo_code(sent), "action": "change"}
    )
    assert response.status_code == 302
    with sms_app.app_context():
        assert db.session.get(User, user_id).phone == OTHER


def test_a_code_sent_to_the_old_number_does_not_change_the_phone(sms_app):
    owner(sms_app)
    client = password_client(sms_app)
    old_code = demo_code(send(english(sms_app), PHONE, path="/auth/code"))
    page = client.post(
        "/auth/account/phone", data={"phone": OTHER, "code": old_code, "action": "change"}
    ).get_data(as_text=True)
    assert "No code was sent to this number." in page


def test_a_number_of_another_account_is_refused_before_any_code_is_sent(sms_app):
    owner(sms_app)
    with sms_app.app_context():
        make_user(phone=OTHER)
        db.session.commit()
    client = password_client(sms_app)
    page = send(client, OTHER, path="/auth/account/phone").get_data(as_text=True)
    assert "This number belongs to another account." in page and "Demo code" not in page
    page = send(client, PHONE, path="/auth/account/phone").get_data(as_text=True)
    assert "This is already your mobile number." in page


# --- sessions -------------------------------------------------------------------------------


def test_the_account_page_lists_sessions_by_device_and_signs_out_the_others(sms_app):
    user_id = owner(sms_app)
    wechat = password_client(sms_app, WECHAT_IPHONE)
    android = password_client(sms_app, ANDROID_CHROME, address="203.0.113.20")
    password_client(sms_app, WINDOWS_EDGE)
    page = wechat.get("/auth/account", environ_base={"REMOTE_ADDR": "198.51.100.7"})
    page = page.get_data(as_text=True)
    assert "iPhone · WeChat" in page and "Android · Chrome" in page and "Windows · Edge" in page
    assert page.count("This device") == 1 and "same network as this device" in page
    wechat.set_cookie("lang", "zh_Hans_CN")
    zh = wechat.get("/auth/account")
    wechat.set_cookie("lang", "en")
    assert "iPhone · 微信" in zh.get_data(as_text=True)
    with sms_app.app_context():
        rows = db.session.execute(select(UserSession)).scalars().all()
        for row in rows:  # never the raw address
            assert "198.51.100.7" not in (row.address_hash or "")
            assert "203.0.113.20" not in (row.address_hash or "")
            assert len(row.address_hash) == 64
    response = wechat.post("/auth/account/sessions/end-others")
    assert response.status_code == 302
    assert "Signed out on 2 other devices." in wechat.get("/auth/account").get_data(as_text=True)
    assert android.get("/auth/account").status_code == 302
    assert len(live_sessions(sms_app, user_id)) == 1


def test_last_seen_is_written_at_most_once_per_interval_and_never_for_visitors(sms_app):
    user_id = owner(sms_app)
    client = password_client(sms_app)
    statements = []

    def count(_conn, _cursor, statement, *_args):
        if "UPDATE user_sessions" in statement and "last_seen_at IS NULL OR" in statement:
            statements.append(statement)

    with sms_app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        for _ in range(3):
            client.get("/")
        assert statements == []  # seen at sign-in, less than 5 minutes ago
        with sms_app.app_context():
            row = live_sessions(sms_app, user_id)[0]
            db.session.get(UserSession, row.id).last_seen_at -= timedelta(minutes=6)
            db.session.commit()
        client.get("/")
        client.get("/")
        assert len(statements) == 1
        anonymous = sms_app.test_client()
        anonymous.get("/")
        anonymous.get("/auth/signin")
        assert len(statements) == 1
    finally:
        event.remove(engine, "before_cursor_execute", count)
    with sms_app.app_context():
        row = live_sessions(sms_app, user_id)[0]
        assert row.last_seen_at > row.created_at - timedelta(minutes=1)


def test_the_display_name_can_be_changed(sms_app):
    owner(sms_app)
    client = password_client(sms_app)
    response = client.post("/auth/account/name", data={"display_name": "  茶 友  "})
    assert response.status_code == 302
    assert "Your display name is now 茶 友." in client.get("/auth/account").get_data(as_text=True)
    page = client.post("/auth/account/name", data={"display_name": "官方客服"}).get_data(
        as_text=True
    )
    assert "kept for the platform" in page


# --- lock-outs ------------------------------------------------------------------------------


def test_password_lockout_points_to_the_code_and_the_code_still_signs_the_owner_in(sms_app):
    sms_app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"] = "2 per 5 minutes"
    sms_app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3 per hour"
    owner(sms_app)
    stranger = english(sms_app)
    for n in range(4):
        address = {"REMOTE_ADDR": f"203.0.113.{n + 1}"}
        stranger.post(
            "/auth/signin",
            data={"account": PHONE, "password": "wrong-pass-1"},
            environ_base=address,
        )
    # Password sign-in is now stopped for this account everywhere, the owner's too,
    home = english(sms_app)
    limited = home.post("/auth/signin", data={"account": PHONE, "password": DEFAULT_PASSWORD})
    assert limited.status_code == 429
    page = limited.get_data(as_text=True)
    assert "You can still sign in now with a text message code." in page
    assert re.search(r'id="code-signin-link" href="/auth/signin"', page)
    # but the code gets the owner in.
    response = verify(home, demo_code(send(home)))
    assert response.status_code == 302
    assert home.get("/auth/account").status_code == 200
