"""Signing in and signing up do their Argon2 work without SQLite's write lock.

A POST takes the lock at its first query (shop.web.common). bench/bench_load.py found sign-ins that
checked the password under it: each held every writer (click batches, checkouts) for the
check's tenth of a second or more, and four at once on a busy 2-core machine pushed one past
the 5 s busy timeout ("database is locked", a 500)."""

import sqlite3

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, func, select, update

from shop.accounts.models import User, UserSession
from shop.platform.extensions import db, passwords
from tests.factories import DEFAULT_PASSWORD, make_user


def write_lock_is_free(database_url: str) -> bool:
    """Whether another connection could begin a write transaction right now (no waiting)."""
    connection = sqlite3.connect(database_url.removeprefix("sqlite:///"), timeout=0)
    try:
        connection.isolation_level = None
        connection.execute("BEGIN IMMEDIATE")
        connection.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    finally:
        connection.close()


def sessions_of(app, user_id: int) -> int:
    with app.app_context():
        query = select(func.count()).select_from(UserSession).where(UserSession.user_id == user_id)
        return db.session.execute(query).scalar()


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("SQLite's database-wide write lock")
    return database_url


def test_signin_checks_the_password_while_others_can_write(app, client, sqlite_only, monkeypatch):
    with app.app_context():
        user = make_user()
        account, user_id = user.phone, user.id
        db.session.commit()
    seen = []
    real_verify = passwords.verify

    def verify(password_hash, password):
        seen.append(write_lock_is_free(sqlite_only))
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify", verify)
    answer = client.post("/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 302
    assert seen == [True]
    assert sessions_of(app, user_id) == 1


def test_signup_hashes_the_password_while_others_can_write(app, client, sqlite_only, monkeypatch):
    seen = []
    real_hash = passwords.hash

    def hash_(password):
        seen.append(write_lock_is_free(sqlite_only))
        return real_hash(password)

    monkeypatch.setattr(passwords, "hash", hash_)
    form = {"account": "13800138000", "display_name": "小美", "password": "tea-and-cake-7"}
    answer = client.post("/auth/signup", data={**form, "confirm": form["password"]})
    assert answer.status_code == 302
    assert seen == [True]


def test_a_hash_with_older_parameters_is_replaced_at_sign_in(app, client):
    old = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1).hash(DEFAULT_PASSWORD)
    with app.app_context():
        user = make_user(password_hash=old)
        account, user_id = user.phone, user.id
        db.session.commit()
        assert passwords.needs_rehash(old)
    answer = client.post("/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 302
    with app.app_context():
        stored = db.session.get(User, user_id).password_hash
        assert stored != old and not passwords.needs_rehash(stored)
        assert passwords.verify(stored, DEFAULT_PASSWORD)
    assert sessions_of(app, user_id) == 1


def test_a_password_changed_during_the_check_stops_the_sign_in(
    app, client, database_url, monkeypatch
):
    """The check and the session's write are two transactions: a password change committed
    between them wins, and the old password signs nobody in."""
    with app.app_context():
        user = make_user()
        account, user_id = user.phone, user.id
        new_hash = passwords.hash("another-secret-9")
        db.session.commit()
    other = create_engine(database_url)
    real_verify = passwords.verify

    def verify(password_hash, password):
        with other.begin() as conn:  # another worker changes the password meanwhile
            conn.execute(update(User).where(User.id == user_id).values(password_hash=new_hash))
        return real_verify(password_hash, password)

    monkeypatch.setattr(passwords, "verify", verify)
    try:
        answer = client.post(
            "/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD}
        )
    finally:
        other.dispose()
    assert answer.status_code == 200
    assert sessions_of(app, user_id) == 0
