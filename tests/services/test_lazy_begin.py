"""PostgreSQL transactions that begin at the first statement needing one
(shop.platform.db.begin_when_needed): plain reads run without BEGIN (and so end without
ROLLBACK), while a write, a row lock or an advisory lock opens the transaction first, so a
unit of work that read first and then wrote is still one transaction, whole or not at all."""

import threading

import pytest
from sqlalchemy import create_engine, func, select, text

from shop.accounts.models import User
from shop.platform import db as dbsetup
from shop.platform.extensions import db
from tests.factories import make_user


@pytest.mark.parametrize(
    ("statement", "needs"),
    [
        ("SELECT users.id FROM users WHERE users.id = %(id)s", False),
        ("  select 1", False),
        ("SELECT users.id FROM users WHERE users.id = 1 FOR UPDATE", True),
        ("SELECT id FROM jobs FOR UPDATE SKIP LOCKED", True),
        ("SELECT id FROM orders FOR NO KEY UPDATE", True),
        ("SELECT id FROM orders FOR SHARE", True),
        ("SELECT pg_advisory_xact_lock(%(key)s)", True),
        ("SELECT nextval('orders_id_seq')", True),
        ("INSERT INTO users (phone) VALUES (%(phone)s)", True),
        ("UPDATE products SET stock = stock - 1 WHERE id = 1 AND stock >= 1", True),
        ("WITH gone AS (DELETE FROM carts RETURNING id) SELECT count(*) FROM gone", True),
        ("SAVEPOINT sa_savepoint_1", True),
    ],
)
def test_which_statements_need_a_transaction(statement, needs):
    assert dbsetup.needs_transaction(statement) is needs
    assert dbsetup.needs_transaction(statement) is needs  # asked again: the kept answer


def test_the_kept_answers_stay_bounded(monkeypatch):
    monkeypatch.setattr(dbsetup, "_needs_transaction", {})
    for n in range(dbsetup._NEEDS_TRANSACTION_KEPT + 10):
        assert dbsetup.needs_transaction(f"SELECT {n} FROM users") is False
        assert len(dbsetup._needs_transaction) <= dbsetup._NEEDS_TRANSACTION_KEPT
    assert dbsetup.needs_transaction("SELECT 1 FROM users FOR UPDATE") is True


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL's transactions")
        yield app
        db.session.rollback()


def _status():
    from psycopg.pq import TransactionStatus

    raw = db.session.connection().connection.dbapi_connection
    return TransactionStatus(raw.info.transaction_status).name


def test_reads_open_no_transaction_and_a_write_opens_one(pg):
    db.session.execute(select(func.count(User.id))).scalar_one()
    assert _status() == "IDLE"  # nothing to end: the session's rollback sends nothing
    make_user(display_name="甲")  # an INSERT: BEGIN went first
    assert _status() == "INTRANS"
    db.session.commit()
    db.session.execute(select(User.id)).all()
    assert _status() == "IDLE"


def test_a_row_lock_opens_the_transaction_and_holds_until_its_end(pg):
    user = make_user(display_name="乙")
    db.session.commit()
    user_id = user.id
    db.session.execute(select(User.id).where(User.id == user_id).with_for_update())
    assert _status() == "INTRANS"
    other = create_engine(db.engine.url)
    waited = []

    def lock_elsewhere():
        with other.connect() as conn:
            conn.execute(text("SET lock_timeout = '300ms'"))
            try:
                conn.execute(
                    text("SELECT id FROM users WHERE id = :id FOR UPDATE"), {"id": user_id}
                )
            except Exception as error:  # the lock is held by the first transaction
                waited.append(type(error).__name__)

    thread = threading.Thread(target=lock_elsewhere)
    thread.start()
    thread.join(5)
    other.dispose()
    assert waited == ["OperationalError"]
    db.session.rollback()


def test_a_unit_that_read_first_then_wrote_rolls_back_whole(pg):
    before = db.session.execute(select(func.count(User.id))).scalar_one()
    make_user(display_name="丙")
    make_user(display_name="丁")
    db.session.rollback()
    assert db.session.execute(select(func.count(User.id))).scalar_one() == before


def test_a_failed_write_leaves_the_connection_usable(pg):
    user = make_user(display_name="戊")
    db.session.commit()
    with pytest.raises(Exception, match="violates"):
        db.session.execute(
            text(
                "INSERT INTO users (id, display_name, is_admin, created_at, password_changed_at)"
                " VALUES (:id, 'x', false, now(), now())"
            ),
            {"id": user.id},
        )
    db.session.rollback()
    assert _status() == "IDLE"
    assert db.session.get(User, user.id).display_name == "戊"
