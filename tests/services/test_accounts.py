from datetime import datetime, timedelta

import pytest

from shop.accounts import accounts
from shop.accounts.models import UserSession
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests.factories import make_user

NOW = datetime(2026, 11, 24, 8, 0, 0)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", ("phone", "13800138000")),
        (" 138 0013 8000 ", ("phone", "13800138000")),
        ("+86 138-0013-8000", ("phone", "13800138000")),
        ("008613800138000", ("phone", "13800138000")),
        ("Li.Na@Example.CN", ("email", "li.na@example.cn")),
    ],
)
def test_account_is_normalized(raw, expected):
    assert accounts.normalize_account(raw) == expected


@pytest.mark.parametrize(
    "raw", ["", "12345678901", "1380013800", "138001380001", "23800138000", "a@", "x@y", "中文"]
)
def test_malformed_account_is_refused_on_the_account_field(raw):
    with pytest.raises(ValidationError) as caught:
        accounts.normalize_account(raw)
    assert caught.value.field == "account"


@pytest.mark.parametrize(
    "password", ["short1", "12345678901", "password", "Password", "aaaaaaaaaa", "abababab"]
)
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError) as caught:
        accounts.check_password_strength(password)
    assert caught.value.field == "password"


def test_password_containing_the_account_is_refused():
    with pytest.raises(ValidationError):
        accounts.check_password_strength("x13800138000y", account="13800138000")


def test_register_then_authenticate(ctx):
    user = accounts.register_user(
        account="13800138000", display_name=" 小 美 ", password="tea-and-cake-7", now=NOW
    )
    assert user.phone == "13800138000" and user.email is None
    assert user.display_name == "小 美"
    assert user.password_hash.startswith("$argon2id$")
    assert accounts.authenticate(account="138 0013 8000", password="tea-and-cake-7") == user
    assert accounts.authenticate(account="13800138000", password="wrong-pass-1") is None
    assert accounts.authenticate(account="13900000000", password="tea-and-cake-7") is None
    assert accounts.authenticate(account="not an account", password="x") is None


@pytest.mark.parametrize(
    ("first", "second"),
    [("13800138000", "+86 13800138000"), ("a@b.cn", "A@B.CN")],
)
def test_duplicate_account_is_refused(ctx, first, second):
    accounts.register_user(account=first, display_name="甲", password="tea-and-cake-7", now=NOW)
    with pytest.raises(ValidationError) as caught:
        accounts.register_user(
            account=second, display_name="乙", password="tea-and-cake-7", now=NOW
        )
    assert caught.value.field == "account"
    assert "已注册" in str(caught.value.message)


def test_a_session_token_works_until_it_is_ended(ctx):
    user = make_user()
    token = accounts.start_session(user, now=NOW)
    assert accounts.load_session_user(token) == user
    assert accounts.load_session_user(token + "x") is None
    accounts.end_session(token, now=NOW)
    assert accounts.load_session_user(token) is None
    stored = db.session.execute(db.select(UserSession)).scalar_one()
    assert stored.token_hash != token and len(stored.token_hash) == 64


def test_password_change_ends_every_other_session(ctx):
    user = make_user(password="first-pass-11")
    phone = accounts.start_session(user, now=NOW)
    laptop = accounts.start_session(user, now=NOW)
    accounts.change_password(
        user,
        current_password="first-pass-11",
        new_password="second-pass-22",
        now=NOW + timedelta(minutes=1),
    )
    fresh = accounts.start_session(user, now=NOW + timedelta(minutes=1))
    assert accounts.load_session_user(phone) is None
    assert accounts.load_session_user(laptop) is None
    assert accounts.load_session_user(fresh) == user
    assert accounts.authenticate(account=user.phone, password="second-pass-22") == user


def test_password_change_needs_the_current_password(ctx):
    user = make_user(password="first-pass-11")
    with pytest.raises(ValidationError) as caught:
        accounts.change_password(
            user, current_password="nope-nope-1", new_password="second-pass-22", now=NOW
        )
    assert caught.value.field == "current_password"
    with pytest.raises(ValidationError) as caught:
        accounts.change_password(
            user, current_password="first-pass-11", new_password="12345678", now=NOW
        )
    assert caught.value.field == "new_password"


def test_create_admin_makes_or_promotes(ctx):
    admin = accounts.create_admin(
        account="boss@example.cn", display_name="老板", password="boss-pass-99", now=NOW
    )
    assert admin.is_admin and admin.email == "boss@example.cn"
    existing = make_user()
    promoted = accounts.create_admin(
        account=existing.phone, display_name="x", password="ignored-pass-1", now=NOW
    )
    assert promoted == existing and promoted.is_admin
