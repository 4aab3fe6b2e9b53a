"""The demo's numbers agree with each other: every demo sharer's earnings add up, and 小美's
funnel (one order refunded before settlement, one after) shows exactly the ledger's money."""

from datetime import timedelta

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.insights import stats
from shop.money import statement
from shop.money.models import Appeal, AppealStatus, EntryKind, LedgerEntry
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.rollup import china_day
from tests import invariants
from tests.services.test_demo_orders import seed

SHARERS = ("13800000003", "13800000021", "13800000022")  # 小美, 阿杰, 王老师


def own_rebates(sharer_id: int) -> dict[EntryKind, int]:
    """The sharer's own rebate entries (tier 1, on orders) summed by kind."""
    found = dict.fromkeys(EntryKind, 0)
    for kind, amount in db.session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
        .where(
            LedgerEntry.sharer_id == sharer_id,
            LedgerEntry.tier == 1,
            LedgerEntry.order_id.is_not(None),
        )
        .group_by(LedgerEntry.kind)
    ):
        found[EntryKind(kind)] = int(amount)
    return found


def test_demo_earnings_add_up_and_the_funnel_equals_the_ledger(ctx):
    now = utcnow()
    seed(now)
    invariants.check(db.session)
    users = {
        u.phone: u
        for u in db.session.execute(select(User).where(User.phone.in_(SHARERS))).scalars()
    }
    for phone in SHARERS:
        assert statement.statement(users[phone].id).adds_up(), phone

    xiaomei = users["13800000003"]
    s = statement.statement(xiaomei.id)
    # One order refunded before settlement (voided), one after (clawed back); payouts paid.
    assert s.voided_cents > 0 and s.clawed_back_cents > 0 and s.paid_out_cents > 0
    assert s.adjustment_cents > 0  # her upheld appeal
    assert (
        s.settled_cents + s.adjustment_cents - s.clawed_back_cents - s.paid_out_cents
        - s.held_cents
        == s.available_cents
    )  # fmt: skip

    own = own_rebates(xiaomei.id)
    start, end = china_day(now - timedelta(days=60)), china_day(now)
    for funnel in (
        stats.funnel(xiaomei.id, start, end, now=now),
        stats.funnel(xiaomei.id, start, end),
        stats.funnel_from_raw(xiaomei.id, start, end),
    ):
        assert funnel.estimated_cents == own[EntryKind.ESTIMATED]
        assert funnel.estimated_net_cents == (
            own[EntryKind.ESTIMATED] - own[EntryKind.VOIDED] - own[EntryKind.CLAWBACK]
        )
        assert funnel.settled_cents == own[EntryKind.SETTLED] - own[EntryKind.CLAWBACK]
        assert funnel.refunded == 2 and funnel.refunded_cents == (
            own[EntryKind.VOIDED] + own[EntryKind.CLAWBACK]
        )
        for step in funnel.steps:
            if step.of and not step.per_hundred and step.rate_bps is not None:
                assert step.rate_bps <= 10_000, step
        for row in funnel.by_channel + funnel.by_product + funnel.by_link:
            assert row.paid <= row.orders and row.refunded <= row.paid
        assert sum(r.estimated_net_cents for r in funnel.by_link) == funnel.estimated_net_cents
        assert sum(r.settled_cents for r in funnel.by_channel) == funnel.settled_cents

    statuses = dict(db.session.execute(select(Appeal.sharer_id, Appeal.status)).all())
    assert statuses == {
        xiaomei.id: AppealStatus.UPHELD,
        users["13800000022"].id: AppealStatus.SUBMITTED,
    }
