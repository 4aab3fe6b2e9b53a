"""Password guessing and lock-outs: the sign-in limits per address, per account and address,
and per account; the re-authentication limit per account (password change, payout account);
the sign-up limit that counts accounts made; the CSRF token renewed at sign-in."""

import re

from sqlalchemy import func, select

from shop import PROJECT_ROOT
from shop.accounts.models import User
from shop.platform.config import Defaults
from shop.platform.extensions import db
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.security.helpers import anonymous, csrf_token, hidden_fields, secure_app  # noqa: F401

OWNER_PHONE = "13800138000"
STRANGER = {"REMOTE_ADDR": "203.0.113.9"}
OWNER = {"REMOTE_ADDR": "198.51.100.7"}


def owner(app) -> None:
    with app.app_context():
        make_user(phone=OWNER_PHONE)
        db.session.commit()


def signin(client, password: str, address: dict | None = None, account: str = OWNER_PHONE):
    return client.post(
        "/auth/signin",
        data={"account": account, "password": password},
        environ_base=address or {},
    )


# --- sign-in -------------------------------------------------------------------------------


def test_a_stranger_elsewhere_cannot_lock_the_owner_out(app):
    app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"] = "3 per 5 minutes"
    owner(app)
    stranger = app.test_client()
    statuses = [signin(stranger, "wrong-pass-1", STRANGER).status_code for _ in range(6)]
    assert statuses == [200, 200, 200, 429, 429, 429]
    # The stranger is stopped even with the right password, from the stranger's address,
    assert signin(stranger, DEFAULT_PASSWORD, STRANGER).status_code == 429
    # but the owner, at home, signs in.
    assert signin(app.test_client(), DEFAULT_PASSWORD, OWNER).status_code == 302


def test_the_account_ceiling_stops_guessing_spread_over_many_addresses(app):
    app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"] = "2 per 5 minutes"
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "4 per hour"
    owner(app)
    for n in range(4):
        address = {"REMOTE_ADDR": f"203.0.113.{n + 1}"}
        assert signin(app.test_client(), "wrong-pass-1", address).status_code == 200
    assert (
        signin(app.test_client(), "wrong-pass-1", {"REMOTE_ADDR": "203.0.113.50"}).status_code
        == 429
    )
    # Another account is not touched by this one's ceiling.
    other = signin(app.test_client(), "x-y-z-1234", {"REMOTE_ADDR": "203.0.113.51"}, "13900000000")
    assert other.status_code == 200


def test_the_limit_answer_keeps_the_form_and_says_how_long_to_wait(app):
    app.config["LOGIN_LIMIT_PER_ACCOUNT_AND_IP"] = "2 per 5 minutes"
    owner(app)
    client = app.test_client()
    for _ in range(2):
        signin(client, "wrong-pass-1", account="+86 138 0013 8000")
    response = client.post(
        "/auth/signin",
        data={"account": "+86 138 0013 8000", "password": "wrong-pass-1", "next": "/me/shop"},
    )
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    page = response.get_data(as_text=True)
    assert 'name="account"' in page and 'value="+86 138 0013 8000"' in page  # still filled in
    assert 'value="/me/shop"' in page  # and where it was going
    assert "wrong-pass-1" not in page  # never the password
    assert "登录失败次数过多" in page and "请 5 分钟后再试" in page
    assert 'class="error-code"' not in page and "429" not in re.sub(r"<[^>]+>", "", page)
    english = client.post(
        "/auth/signin",
        data={"account": OWNER_PHONE, "password": "x"},
        headers={"Accept-Language": "en"},
    ).get_data(as_text=True)
    assert "Too many failed sign-ins" in english and "try again in 5 minutes." in english


def test_one_address_trying_many_accounts_is_still_braked(app):
    app.config["LOGIN_LIMIT_PER_IP"] = "3 per 10 minutes"
    client = app.test_client()
    for n in range(3):
        assert signin(client, "wrong-pass-1", account=f"1390000000{n}").status_code == 200
    assert signin(client, "wrong-pass-1", account="13900000009").status_code == 429


# --- re-authentication while signed in -----------------------------------------------------


def password_form(current: str, new: str = "brand-new-pass-9") -> dict:
    return {"current_password": current, "new_password": new, "confirm": new}


def test_wrong_current_passwords_are_limited_per_account(app, user_client):
    app.config["REAUTH_LIMIT_PER_ACCOUNT"] = "3 per 15 minutes"
    with app.app_context():
        user = make_user()
        db.session.commit()
        user_id, hash_before = user.id, user.password_hash
    phone, laptop = user_client(user), user_client(user)
    # A weak new password with the right current one is not a guess: it does not count.
    for _ in range(4):
        weak = phone.post("/auth/password", data=password_form(DEFAULT_PASSWORD, "12345678"))
        assert weak.status_code == 200 and "太容易被猜到" in weak.get_data(as_text=True)
    statuses = [phone.post("/auth/password", data=password_form("guess-1")).status_code]
    statuses += [laptop.post("/auth/password", data=password_form("guess-2")).status_code]
    statuses += [phone.post("/auth/password", data=password_form("guess-3")).status_code]
    assert statuses == [200, 200, 200]
    # Another session of the same account gets no fresh budget.
    fourth = laptop.post("/auth/password", data=password_form(DEFAULT_PASSWORD))
    assert fourth.status_code == 429
    page = fourth.get_data(as_text=True)
    assert "密码错误次数过多" in page and "分钟后再试" in page
    assert 'name="current_password"' in page
    with app.app_context():
        assert db.session.get(User, user_id).password_hash == hash_before


def account_form(password: str) -> dict:
    return {
        "method": "alipay",
        "account_name": "小美",
        "account_number": "xiaomei@example.com",
        "bank_name": "",
        "password": password,
    }


def test_payout_account_password_is_limited_per_user_not_per_session(app, user_client):
    app.config["REAUTH_LIMIT_PER_ACCOUNT"] = "2 per 15 minutes"
    with app.app_context():
        user = make_user()
        db.session.commit()
    first, second, third = user_client(user), user_client(user), user_client(user)
    assert first.post("/me/earnings/account", data=account_form("guess-1")).status_code == 200
    assert second.post("/auth/password", data=password_form("guess-2")).status_code == 200
    # A new session (sign in again) does not reset the count, nor does the other form.
    refused = third.post("/me/earnings/account", data=account_form("guess-3"))
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    page = refused.get_data(as_text=True)
    form = account_form("guess-3")
    # The form comes back with what was typed (never the password) and how long to wait.
    assert f'value="{form["account_name"]}"' in page
    assert f'value="{form["account_number"]}"' in page
    assert "guess-3" not in page and "分钟后再试" in page


# --- sign-up -------------------------------------------------------------------------------


def signup_form(n: int, **fields) -> dict:
    return {
        "account": f"1370000{n:04d}",
        "display_name": f"小美{n}",
        "password": "tea-and-cake-7",
        "confirm": "tea-and-cake-7",
        **fields,
    }


def test_signup_limit_counts_accounts_created_not_attempts(app):
    app.config["SIGNUP_LIMIT_PER_IP"] = "3 per hour"
    for n in range(6):  # rejected forms: a weak password
        rejected = app.test_client().post(
            "/auth/signup", data=signup_form(n, password="12345678", confirm="12345678")
        )
        assert rejected.status_code == 200
    for n in range(3):
        assert app.test_client().post("/auth/signup", data=signup_form(n)).status_code == 302
    refused = app.test_client().post("/auth/signup", data=signup_form(9))
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert 'value="13700000009"' in page and 'value="小美9"' in page  # nothing typed is lost
    assert "此网络注册的账号过多" in page and "分钟后再试" in page
    with app.app_context():
        assert db.session.execute(select(func.count(User.id))).scalar_one() == 3


def test_signup_limit_is_sized_for_shared_addresses_and_every_limit_is_documented():
    amount = int(Defaults.SIGNUP_LIMIT_PER_IP.split()[0])
    assert amount >= 60
    documented = (PROJECT_ROOT / "docs" / "settings.md").read_text()
    names = [name for name in vars(Defaults) if "_LIMIT_PER_" in name]
    assert len(names) >= 5
    missing = [name for name in names if f"SHOP_{name}`" not in documented]
    assert not missing, missing


# --- the CSRF token is renewed when signing in ----------------------------------------------


def refused_with(client, token: str) -> bool:
    """Whether a form sent with ``token`` is refused as expired (sign-out, the simplest one)."""
    response = client.post("/auth/signout", data={"csrf_token": token})
    return response.status_code == 400


def test_a_token_from_before_sign_in_is_refused_after_it(secure_app):  # noqa: F811
    with secure_app.app_context():
        make_user(phone=OWNER_PHONE)
        db.session.commit()
    client = anonymous(secure_app)
    old = csrf_token(client)
    form = {"csrf_token": old, "account": OWNER_PHONE, "password": DEFAULT_PASSWORD}
    assert client.post("/auth/signin", data=form).status_code == 302
    assert refused_with(client, old)
    assert client.get("/auth/account").status_code == 200  # still signed in
    assert not refused_with(client, csrf_token(client))  # the new token works


def test_a_token_from_before_sign_up_is_refused_after_it(secure_app):  # noqa: F811
    client = anonymous(secure_app)
    page = client.get("/auth/signup").get_data(as_text=True)
    old = hidden_fields(page)["csrf_token"]
    assert (
        client.post("/auth/signup", data={**signup_form(1), "csrf_token": old}).status_code == 302
    )
    assert refused_with(client, old)
    assert not refused_with(client, csrf_token(client))


def test_a_token_from_before_a_password_change_is_refused_after_it(secure_app):  # noqa: F811
    with secure_app.app_context():
        make_user(phone=OWNER_PHONE)
        db.session.commit()
    client = anonymous(secure_app)
    form = {"csrf_token": csrf_token(client), "account": OWNER_PHONE, "password": DEFAULT_PASSWORD}
    assert client.post("/auth/signin", data=form).status_code == 302
    old = csrf_token(client)
    changed = client.post(
        "/auth/password", data={**password_form(DEFAULT_PASSWORD), "csrf_token": old}
    )
    assert changed.status_code == 302
    assert refused_with(client, old)
    assert not refused_with(client, csrf_token(client))
