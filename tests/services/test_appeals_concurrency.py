"""Appeals under concurrent requests: one appeal decided by many requests at once posts one
adjustment; a sharer's questions sent at once stop exactly at the hourly limit."""

from datetime import timedelta

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.money import appeals
from shop.money.models import Appeal, AppealStatus, EntryKind, LedgerEntry
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_shop, make_user
from tests.services.test_concurrency import race
from tests.services.test_orders import NOW


def test_ten_decisions_at_once_post_one_adjustment(app):
    with app.app_context():
        sharer = make_shop().user
        appeal = Appeal(
            sharer_id=sharer.id,
            answer="overwritten",
            typed_number="12345678",
            status=AppealStatus.SUBMITTED,
            submitted_at=NOW,
            created_at=NOW,
        )
        db.session.add(appeal)
        admin_ids = [make_user(is_admin=True).id for _ in range(10)]
        db.session.commit()
        appeal_id = appeal.id

    def decide(i):
        appeals.decide(
            db.session.get(Appeal, appeal_id), True, actor=db.session.get(User, admin_ids[i]),
            reason=f"第{i}位管理员", amount_cents=800, now=NOW,
        )  # fmt: skip
        return "ok"

    results, _seconds = race(app, 10, decide)
    assert results.count("ok") == 1 and results.count("InvalidTransition") == 9, results
    with app.app_context():
        entries = db.session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount_cents).where(
                LedgerEntry.appeal_id == appeal_id
            )
        ).all()
        assert entries == [(EntryKind.ADJUSTMENT, 800)]
        invariants.check(db.session)


def test_thirty_questions_at_once_stop_at_the_hourly_limit(app):
    with app.app_context():
        sharer_id = make_shop().user.id
        db.session.commit()
    limits = appeals.Limits(per_hour=10, per_day=100)

    def ask(i):
        appeals.ask(
            db.session.get(User, sharer_id), number=f"2601011200{i:08d}", limits=limits,
            window=timedelta(days=15), now=NOW,
        )  # fmt: skip
        return "ok"

    results, _seconds = race(app, 30, ask)
    assert results.count("ok") == 10 and results.count("Conflict") == 20, results
    with app.app_context():
        assert db.session.execute(select(func.count(Appeal.id))).scalar() == 10
