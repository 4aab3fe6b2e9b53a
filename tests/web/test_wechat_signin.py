"""微信授权登录 against a local fake of WeChat's documented endpoints (tests/wechat_fake.py):
the authorize redirect is followed to the fake, which redirects back with code and state."""

import http.client
import socket
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from shop.accounts import wechat
from shop.accounts.models import User
from shop.accounts.signin_models import WeChatIdentity
from shop.platform.extensions import db
from tests.conftest import build_app
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.wechat_fake import APP_ID, FakeWeChat

WECHAT = {"User-Agent": "Mozilla/5.0 (iPhone) Mobile/15E148 MicroMessenger/8.0.50 Language/zh_CN"}
PHONE = "13900000011"


@pytest.fixture
def fake():
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture
def wx_app(database_url, tmp_path, fake):
    application = build_app(database_url, tmp_path / "instance", **fake.settings)
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def follow_fake(url: str) -> str:
    """GET the fake's authorize page (as the browser would) and return where it redirects."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=5)
    conn.request("GET", f"{parts.path}?{parts.query}")
    response = conn.getresponse()
    location = response.getheader("Location")
    conn.close()
    assert response.status == 302, response.status
    return location


def start(client, next_path=None):
    response = client.get("/auth/wechat", query_string={"next": next_path} if next_path else {})
    assert response.status_code == 302
    return response.headers["Location"]


def wechat_signin(client, next_path=None):
    back = urlsplit(follow_fake(start(client, next_path)))
    return client.get(f"{back.path}?{back.query}", headers=WECHAT)


def signed_in_as(client):
    page = client.get("/auth/account")
    return page.status_code == 200


def identities(app):
    with app.app_context():
        return db.session.execute(select(WeChatIdentity)).scalars().all()


def test_button_only_inside_wechat_and_when_configured(wx_app, app):
    client = wx_app.test_client()
    assert "/auth/wechat" in client.get("/auth/signin", headers=WECHAT).get_data(as_text=True)
    assert "/auth/wechat" in client.get("/auth/signup", headers=WECHAT).get_data(as_text=True)
    assert "/auth/wechat" not in client.get("/auth/signin").get_data(as_text=True)
    plain = app.test_client()  # not configured
    assert "/auth/wechat" not in plain.get("/auth/signin", headers=WECHAT).get_data(as_text=True)
    assert plain.get("/auth/wechat", headers=WECHAT).status_code == 404


def test_authorize_redirect_carries_the_documented_parameters(wx_app, fake):
    client = wx_app.test_client()
    url = start(client)
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert parts.fragment == "wechat_redirect"
    assert query["appid"] == APP_ID and query["response_type"] == "code"
    assert query["scope"] == "snsapi_base"
    assert query["redirect_uri"] == "http://localhost/auth/wechat/callback"
    assert len(query["state"]) == 32 and query["state"].isalnum()


def test_first_time_binds_to_the_account_that_signs_in_and_keeps_next(wx_app, fake):
    with wx_app.app_context():
        make_user(phone=PHONE)
        db.session.commit()
    client = wx_app.test_client()
    response = wechat_signin(client, "/me/")
    assert response.headers["Location"] == "/auth/signin?next=/me/"
    assert not signed_in_as(client) and identities(wx_app) == []
    signin = client.post(
        "/auth/signin", data={"account": PHONE, "password": DEFAULT_PASSWORD, "next": "/me/"}
    )
    assert signin.headers["Location"] == "/me/"
    (identity,) = identities(wx_app)
    assert (identity.app_id, identity.openid, identity.unionid) == (APP_ID, "o-fake-openid-1", None)
    # The access_token call carried the documented parameters.
    path, query = next(r for r in fake.requests if r[0] == "/sns/oauth2/access_token")
    assert query["grant_type"] == "authorization_code" and query["secret"] == fake.secret

    # Returning: signed in directly by WeChat.
    again = wx_app.test_client()
    response = wechat_signin(again, "/me/")
    assert response.headers["Location"] == "/me/" and signed_in_as(again)
    with wx_app.app_context():
        user = db.session.execute(select(User).where(User.phone == PHONE)).scalar_one()
        assert wechat.openid_for(user, APP_ID) == "o-fake-openid-1"
        assert wechat.openid_for(user, "wx-other-app") is None


def test_first_time_binds_through_a_sign_up_too(wx_app, fake):
    client = wx_app.test_client()
    wechat_signin(client)
    client.post(
        "/auth/signup",
        data={
            "account": "13900000012",
            "display_name": "小美",
            "password": "tea-and-cake-7",
            "confirm": "tea-and-cake-7",
        },
    )
    (identity,) = identities(wx_app)
    with wx_app.app_context():
        assert db.session.get(User, identity.user_id).phone == "13900000012"


def test_userinfo_scope_binds_the_signed_in_user_with_unionid_and_nickname(wx_app, fake):
    wx_app.config["WECHAT_OAUTH_SCOPE"] = "snsapi_userinfo"
    fake.user = {"openid": "o-info-1", "unionid": "u-union-1", "nickname": "小美"}
    with wx_app.app_context():
        make_user(phone=PHONE)
        db.session.commit()
    client = wx_app.test_client()
    client.post("/auth/signin", data={"account": PHONE, "password": DEFAULT_PASSWORD})
    response = wechat_signin(client)
    assert response.status_code == 302
    (identity,) = identities(wx_app)
    assert (identity.openid, identity.unionid, identity.nickname) == (
        "o-info-1",
        "u-union-1",
        "小美",
    )
    assert any(path == "/sns/userinfo" for path, _q in fake.requests)


def test_unionid_finds_the_account_from_another_official_account(wx_app, fake):
    wx_app.config["WECHAT_OAUTH_SCOPE"] = "snsapi_userinfo"
    with wx_app.app_context():
        user = make_user(phone=PHONE)
        db.session.add(
            WeChatIdentity(user_id=user.id, app_id="wx-older-app", openid="o-old", unionid="u-9")
        )
        db.session.commit()
    fake.user = {"openid": "o-new", "unionid": "u-9", "nickname": "小美"}
    client = wx_app.test_client()
    assert wechat_signin(client).status_code == 302 and signed_in_as(client)
    with wx_app.app_context():
        user = db.session.execute(select(User).where(User.phone == PHONE)).scalar_one()
        assert wechat.openid_for(user, APP_ID) == "o-new"
        assert wechat.openid_for(user, "wx-older-app") == "o-old"


def test_wrong_or_missing_state_shows_a_message_and_creates_nothing(wx_app, fake):
    client = wx_app.test_client()
    client.set_cookie("lang", "en")
    back = urlsplit(follow_fake(start(client)))
    code = parse_qs(back.query)["code"][0]
    response = client.get("/auth/wechat/callback", query_string={"code": code, "state": "x" * 32})
    assert response.status_code == 400
    assert "did not start from this page" in response.get_data(as_text=True)
    # The state was used up by that try: the right one now fails too.
    assert client.get(f"{back.path}?{back.query}").status_code == 400
    fresh = wx_app.test_client()  # no state in the session at all
    assert fresh.get(f"{back.path}?{back.query}").status_code == 400
    assert not any(path == "/sns/oauth2/access_token" for path, _q in fake.requests)
    assert identities(wx_app) == [] and not signed_in_as(client)
    zh = wx_app.test_client().get("/auth/wechat/callback?state=abc").get_data(as_text=True)
    assert "无法使用" in zh


def test_replayed_code_is_refused_with_a_clear_message(wx_app, fake):
    with wx_app.app_context():
        make_user(phone=PHONE)
        db.session.commit()
    client = wx_app.test_client()
    client.set_cookie("lang", "en")
    back = urlsplit(follow_fake(start(client)))
    client.get(f"{back.path}?{back.query}")  # pending identity kept
    code = parse_qs(back.query)["code"][0]
    # A new start gives a valid state; the old code is sent again.
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get("/auth/wechat/callback", query_string={"code": code, "state": state})
    assert response.status_code == 400
    assert "already used" in response.get_data(as_text=True)
    assert ("/sns/oauth2/access_token") in [p for p, _q in fake.requests]


@pytest.mark.parametrize(
    ("errcode", "text"), [(-1, "error -1"), (40125, "error 40125"), (40029, "expired")]
)
def test_errcode_answers_show_a_message(wx_app, fake, errcode, text):
    fake.fail_token_with = errcode
    client = wx_app.test_client()
    client.set_cookie("lang", "en")
    response = wechat_signin(client)
    assert response.status_code == 400 and text in response.get_data(as_text=True)
    assert identities(wx_app) == []


def test_network_failure_shows_a_message(wx_app, fake):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    wx_app.config["WECHAT_API_BASE"] = f"http://127.0.0.1:{port}"
    client = wx_app.test_client()
    client.set_cookie("lang", "en")
    response = wechat_signin(client)
    assert response.status_code == 502
    assert "could not be reached" in response.get_data(as_text=True)


def test_cancelled_authorization_changes_nothing(wx_app, fake):
    client = wx_app.test_client()
    state = parse_qs(urlsplit(start(client)).query)["state"][0]
    response = client.get("/auth/wechat/callback", query_string={"state": state})
    assert response.status_code == 400 and identities(wx_app) == []


def test_identity_of_another_account_is_not_moved(wx_app, fake):
    with wx_app.app_context():
        owner = make_user()
        db.session.add(WeChatIdentity(user_id=owner.id, app_id=APP_ID, openid="o-fake-openid-1"))
        make_user(phone=PHONE)
        db.session.commit()
        owner_id = owner.id
    client = wx_app.test_client()
    client.post("/auth/signin", data={"account": PHONE, "password": DEFAULT_PASSWORD})
    response = wechat_signin(client)
    assert response.status_code == 409
    (identity,) = identities(wx_app)
    assert identity.user_id == owner_id


def test_staff_signing_in_through_wechat_still_owes_the_second_step(wx_app, fake):
    wx_app.config["STAFF_TOTP_REQUIRED"] = True
    with wx_app.app_context():
        admin = make_user(is_admin=True)
        db.session.add(WeChatIdentity(user_id=admin.id, app_id=APP_ID, openid="o-fake-openid-1"))
        db.session.commit()
    client = wx_app.test_client()
    response = wechat_signin(client)
    assert response.headers["Location"] == "/auth/second-factor/setup"
    assert not signed_in_as(client)


def test_fetch_user_against_the_fake(wx_app, fake):
    fake.user = {"openid": "o-2", "unionid": "u-2", "nickname": "阿强"}
    with wx_app.app_context():
        base = wechat.Settings.from_config(wx_app.config)
        code = parse_qs(urlsplit(follow_fake(wechat.authorize_url(
            base, redirect_uri="http://localhost/cb", state="s1"))).query)["code"][0]  # fmt: skip
        assert wechat.fetch_user(base, code) == wechat.WeChatUser(openid="o-2")
        with pytest.raises(wechat.WeChatError) as replay:
            wechat.fetch_user(base, code)
        assert replay.value.errcode == wechat.CODE_USED
        wx_app.config["WECHAT_OAUTH_SCOPE"] = "snsapi_userinfo"
        info = wechat.Settings.from_config(wx_app.config)
        code = parse_qs(urlsplit(follow_fake(wechat.authorize_url(
            info, redirect_uri="http://localhost/cb", state="s2"))).query)["code"][0]  # fmt: skip
        assert wechat.fetch_user(info, code) == wechat.WeChatUser("o-2", "u-2", "阿强")
        assert db.session.execute(select(func.count(WeChatIdentity.id))).scalar_one() == 0


def test_snapshot_page_virtual_user_is_not_bound(wx_app, fake):
    fake.user = {"openid": "o-snapshot", "is_snapshotuser": 1}
    client = wx_app.test_client()
    client.set_cookie("lang", "en")
    response = wechat_signin(client)
    assert response.status_code == 400 and "not the preview" in response.get_data(as_text=True)
    assert identities(wx_app) == [] and not signed_in_as(client)


def test_an_answer_that_is_not_json_shows_a_message(wx_app, fake):
    fake.garble_next = True
    client = wx_app.test_client()
    client.set_cookie("lang", "en")
    response = wechat_signin(client)
    assert response.status_code == 502 and "could not read" in response.get_data(as_text=True)
    assert identities(wx_app) == []
