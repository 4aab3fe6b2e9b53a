from http.cookies import SimpleCookie

import pytest

from shop.accounts.models import User, UserSession
from shop.platform.extensions import db
from tests.conftest import build_app
from tests.factories import DEFAULT_PASSWORD, make_user


def signup(client, **data):
    form = {
        "account": "13800138000",
        "display_name": "小美",
        "password": "tea-and-cake-7",
        "confirm": "tea-and-cake-7",
    }
    form.update(data)
    return client.post("/auth/signup", data=form)


def test_signup_creates_the_user_and_signs_in(app, client):
    response = signup(client, next="/auth/account")
    assert response.status_code == 302
    assert response.headers["Location"] == "/auth/account"
    page = client.get("/auth/account").get_data(as_text=True)
    assert "小美" in page and "13800138000" in page
    with app.app_context():
        assert db.session.execute(db.select(User.phone)).scalar_one() == "13800138000"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"account": "1380013800"}, "11 位大陆手机号"),
        ({"account": "nobody@"}, "邮箱格式不正确"),
        ({"password": "12345678", "confirm": "12345678"}, "太容易被猜到"),
        ({"password": "abc", "confirm": "abc"}, "至少 8 个字符"),
        ({"confirm": "something-else-1"}, "两次输入的密码不一致"),
        ({"display_name": ""}, "此项必填"),
    ],
)
def test_signup_errors_are_clear_and_keep_the_input(app, client, data, message):
    response = signup(client, **data)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in page
    if data.get("account"):
        assert f'value="{data["account"]}"' in page
    else:
        assert 'value="13800138000"' in page
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(User.id))).scalar_one() == 0


def test_duplicate_phone_and_email_are_refused(app, client):
    with app.app_context():
        make_user(phone="13800138000")
        make_user(phone=None, email="li@example.cn")
        db.session.commit()
    page = signup(client).get_data(as_text=True)
    assert "该手机号已注册" in page
    page = signup(client, account="LI@example.cn").get_data(as_text=True)
    assert "该邮箱已注册" in page


def test_signin_with_wrong_password_says_so_in_english_when_asked(app, client):
    with app.app_context():
        make_user(phone="13800138000")
        db.session.commit()
    response = client.post(
        "/auth/signin",
        data={"account": "13800138000", "password": "wrong-pass-1"},
        headers={"Accept-Language": "en-US,en;q=0.9"},
    )
    assert response.status_code == 200
    assert "The account or password is wrong." in response.get_data(as_text=True)


def test_repeated_wrong_passwords_hit_the_account_limit(app, client):
    app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"] = "3 per 5 minutes"
    with app.app_context():
        make_user(phone="13800138000")
        db.session.commit()
    for _ in range(3):
        response = client.post(
            "/auth/signin", data={"account": "13800138000", "password": "wrong-pass-1"}
        )
        assert response.status_code == 200
    # Even the right password waits at this address: the limit protects the account, not the
    # guess (tests/web/test_auth_limits.py: the owner elsewhere is not locked out).
    response = client.post(
        "/auth/signin", data={"account": "+86 138 0013 8000", "password": DEFAULT_PASSWORD}
    )
    assert response.status_code == 429
    page = response.get_data(as_text=True)
    assert "登录失败次数过多" in page and "分钟后再试" in page
    assert int(response.headers["Retry-After"]) > 0
    # Another account from the same address is not blocked by this account's limit.
    other = client.post("/auth/signin", data={"account": "13900000000", "password": "x-y-z-123"})
    assert other.status_code == 200


def test_ip_limit_counts_failures_across_accounts(app, client):
    app.config["LOGIN_LIMIT_PER_IP"] = "4 per 10 minutes"
    for n in range(4):
        response = client.post(
            "/auth/signin", data={"account": f"1390000000{n}", "password": "wrong-pass-1"}
        )
        assert response.status_code == 200
    response = client.post("/auth/signin", data={"account": "13900000009", "password": "x"})
    assert response.status_code == 429


def test_successful_signins_do_not_use_up_the_limit(app, client):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "2 per 5 minutes"
    with app.app_context():
        make_user(phone="13800138000")
        db.session.commit()
    for _ in range(4):
        fresh = app.test_client()
        response = fresh.post(
            "/auth/signin", data={"account": "13800138000", "password": DEFAULT_PASSWORD}
        )
        assert response.status_code == 302


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"]
)
def test_offsite_next_is_ignored(app, client, target):
    with app.app_context():
        make_user(phone="13800138000")
        db.session.commit()
    page = client.get("/auth/signin", query_string={"next": target}).get_data(as_text=True)
    assert 'id="next" name="next" type="hidden" value=""' in page
    assert 'href="https://evil' not in page and 'href="//evil' not in page
    assert "已忽略" in page
    response = client.post(
        "/auth/signin",
        data={"account": "13800138000", "password": DEFAULT_PASSWORD, "next": target},
    )
    assert response.headers["Location"] == "/"


def test_local_next_is_followed(app, client):
    with app.app_context():
        make_user(phone="13800138000")
        db.session.commit()
    response = client.post(
        "/auth/signin",
        data={"account": "13800138000", "password": DEFAULT_PASSWORD, "next": "/auth/password"},
    )
    assert response.headers["Location"] == "/auth/password"


def _session_cookie(client) -> str:
    return client.get_cookie("session").value


def test_signout_kills_a_copied_session_cookie(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    stolen = _session_cookie(client)
    assert client.post("/auth/signout").status_code == 302
    thief = app.test_client()
    thief.set_cookie("session", stolen)
    response = thief.get("/auth/account")
    assert response.status_code == 302 and "/auth/signin" in response.headers["Location"]
    with app.app_context():
        assert db.session.execute(db.select(UserSession.revoked_at)).scalar_one() is not None


def test_password_change_kills_other_sessions_but_keeps_this_one(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    phone = user_client(user)
    laptop = user_client(user)
    response = laptop.post(
        "/auth/password",
        data={
            "current_password": DEFAULT_PASSWORD,
            "new_password": "brand-new-pass-9",
            "confirm": "brand-new-pass-9",
        },
    )
    assert response.status_code == 302
    assert laptop.get("/auth/account").status_code == 200
    assert phone.get("/auth/account").status_code == 302
    old_cookie = app.test_client()
    old_cookie.set_cookie("session", _session_cookie(phone))
    assert old_cookie.get("/auth/account").status_code == 302


def test_password_change_errors_stay_on_the_form(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
    client = user_client(user)
    page = client.post(
        "/auth/password",
        data={
            "current_password": "nope-nope-1",
            "new_password": "brand-new-pass-9",
            "confirm": "brand-new-pass-9",
        },
    ).get_data(as_text=True)
    assert "当前密码不正确" in page


def test_missing_csrf_token_gets_a_clear_400(tmp_path, database_url):
    app = build_app(database_url, tmp_path / "csrf", WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post("/auth/signin", data={"account": "13800138000", "password": "x"})
    assert response.status_code == 400
    assert "表单已过期" in response.get_data(as_text=True)
    # And with the token, the same form works.
    page = client.get("/auth/signin").get_data(as_text=True)
    token = page.split('name="csrf_token" type="hidden" value="')[1].split('"')[0]
    response = client.post(
        "/auth/signin", data={"account": "13800138000", "password": "x", "csrf_token": token}
    )
    assert response.status_code == 200
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_session_cookie_flags(app):
    with app.app_context():
        phone = make_user().phone
        db.session.commit()
    client = app.test_client()
    response = client.post("/auth/signin", data={"account": phone, "password": DEFAULT_PASSWORD})
    cookie = SimpleCookie(response.headers["Set-Cookie"])["session"]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and not cookie["secure"]
    secure = app.test_client().post(
        "/auth/signin",
        data={"account": phone, "password": DEFAULT_PASSWORD},
        base_url="https://shop.example",
    )
    assert "Secure" in secure.headers["Set-Cookie"]


def test_account_page_needs_sign_in(client):
    response = client.get("/auth/account")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/auth/signin?next=")
