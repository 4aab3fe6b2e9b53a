"""`flask seed-demo`'s orders, rebates and payouts: every state is there, made by the real
services (so the invariants hold), the story is at rest at the seed's ``now``, and seeding
again adds nothing."""

from datetime import timedelta

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.demo import orders as demo_orders
from shop.demo import seed as demo
from shop.money import ledger, payouts
from shop.money.models import EntryKind, LedgerEntry, PayoutStatus
from shop.orders import states
from shop.orders.models import Order, OrderEvent, OrderStatus
from shop.platform import db as dbsetup
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests import invariants


def seed(now):
    with dbsetup.writing():
        created = demo.seed_demo(now=now)
        db.session.commit()
    return created


def sharer():
    return db.session.execute(select(User).where(User.phone == "13800000003")).scalar_one()


def row_counts() -> dict[str, int]:
    return {
        table.name: db.session.execute(select(func.count()).select_from(table)).scalar_one()
        for table in db.metadata.sorted_tables
    }


def test_demo_has_orders_and_rebates_in_every_state_and_is_at_rest(ctx):
    now = utcnow()
    created = seed(now)
    assert created["orders"] == len(demo_orders.ORDERS) and created["payouts"] == 2
    invariants.check(db.session)

    statuses = set(db.session.execute(select(Order.status)).scalars())
    assert statuses == set(OrderStatus)
    kinds = set(db.session.execute(select(LedgerEntry.kind)).scalars())
    assert kinds == set(EntryKind)
    reasons = set(db.session.execute(select(Order.attribution_reason)).scalars())
    assert {"attributed", "outside_window", "no_click"} <= reasons
    assert reasons & {"self_purchase", "self_purchase_not_allowed"}
    others = db.session.execute(select(Order.attribution_others)).scalars()
    assert {"overwritten", "outside_window"} <= {r for o in others for r in o.values()}

    shipped = db.session.execute(select(Order).where(Order.carrier != "")).scalars().all()
    assert {o.carrier for o in shipped} == {"SF", "ZTO"}
    assert all(o.tracking_number for o in shipped)
    # One cancellation by the payment timeout, the other by the buyer.
    cancelled = select(OrderEvent.source).where(OrderEvent.to_status == "cancelled")
    assert sorted(db.session.execute(cancelled).scalars()) == ["buyer", "system"]

    xiaomei = sharer()
    balances = ledger.balances(xiaomei.id)
    assert balances.available_cents >= 1000 and balances.pending_payout_cents == 0
    paid, rejected = payouts.history(xiaomei)[::-1]
    assert paid.status == PayoutStatus.PAID and paid.reference
    assert rejected.status == PayoutStatus.REJECTED and rejected.reject_reason
    account = payouts.account_of(xiaomei)
    assert account.method == "alipay" and payouts.masked(account.account_number) == "•••• 0003"

    # One story in time: entries were posted in the order of their times, and every order's
    # events too, all before ``now``.
    times = list(
        db.session.execute(select(LedgerEntry.created_at).order_by(LedgerEntry.id)).scalars()
    )
    assert times == sorted(times) and times[-1] <= now
    events = db.session.execute(
        select(OrderEvent.order_id, OrderEvent.created_at).order_by(OrderEvent.id)
    ).all()
    for order_id in {order_id for order_id, _ in events}:
        mine = [at for oid, at in events if oid == order_id]
        assert mine == sorted(mine) and mine[-1] <= now

    placed = db.session.execute(
        select(Order).where(Order.status == OrderStatus.PLACED)
    ).scalar_one()
    assert placed.pay_deadline > now
    # The sweeps and the settlement run have nothing to do at the seed's time: the demo does
    # not change the moment cron first runs.
    with dbsetup.writing():
        assert states.cancel_unpaid(now=now) == 0
        assert states.complete_shipped(now=now, after=timedelta(days=10)) == 0
        assert ledger.due_for_settlement(now=now, return_window=timedelta(days=7)) == []
        db.session.rollback()


def test_seeding_again_changes_nothing(ctx):
    now = utcnow()
    seed(now)
    counts = row_counts()
    assert counts["orders"] and counts["ledger_entries"] and counts["payouts"] and counts["reviews"]
    balances = ledger.balances(sharer().id)
    created = seed(now + timedelta(hours=2))
    assert set(created.values()) == {0}
    assert row_counts() == counts
    assert ledger.balances(sharer().id) == balances
    invariants.check(db.session)
