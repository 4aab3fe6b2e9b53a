"""The sharer's two sums add up exactly, in fen, on every path of a rebate's life and for a
mix of them, checked against the ledger's own rows (shop.money.statement)."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.money import appeals, fraud, ledger, payouts, statement
from shop.money.models import Appeal, AppealStatus, EntryKind, FlagKind, FraudFlag, LedgerEntry
from shop.orders import states
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Channel
from tests import invariants
from tests.factories import make_product, make_shop, make_user
from tests.services.test_links_and_clicks import facts
from tests.services.test_orders import NOW, pay, place

WINDOW = timedelta(days=7)


@pytest.fixture(autouse=True)
def _check_invariants(request):
    if "ctx" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("ctx")
    yield
    db.session.flush()
    invariants.check(db.session)


class Sharer:
    """One sharer selling ¥100 products at 10 % (a ¥10.00 rebate per order) through one link."""

    def __init__(self):
        self.shop = make_shop()
        self.user = self.shop.user
        self.product = make_product(price_cents=10000, original_price_cents=None, rebate_bps=1000)
        self.link = links.get_or_create_link(self.shop, self.product, Channel.MOMENTS, now=NOW)
        self.count = 0

    def paid_order(self, at=NOW):
        self.count += 1
        visitor = f"{self.count:02d}" * 16
        clicks.record_click(
            self.link, facts(), visitor_id=visitor, ip_secret="s", flooded=False,
            now=at - timedelta(minutes=5),
        )  # fmt: skip
        [order] = place(
            make_user(), [(self.product.id, 1)], visitor=visitor, at=at, key=f"s{self.count}"
        )
        pay(order, at)
        return order

    def completed(self, at=NOW):
        order = self.paid_order(at)
        shipped_at = at + timedelta(hours=1)
        states.ship(order, "顺丰速运", "SF1234567890", actor=make_user(), now=shipped_at)
        states.confirm_receipt(order, actor=order.buyer, now=at + timedelta(days=1))
        return order

    def settled(self, at=NOW):
        order = self.completed(at)
        later = at + timedelta(days=1) + WINDOW
        assert ledger.settle_order(order.id, now=later, return_window=WINDOW) == 1
        return order

    def payout(self, amount, key, at=NOW + timedelta(days=20)):
        if payouts.account_of(self.user) is None:
            payouts.save_account(self.user, "alipay", "小美", "13800000003", "", now=NOW)
        return payouts.request_payout(
            self.user, amount, idempotency_key=key, minimum_cents=1000, now=at
        )


def refund(order, at):
    states.request_refund(order, "不想要了", actor=order.buyer, now=at)
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=at)


def ledger_sums(sharer_id):
    """The sharer's entries summed by kind straight from the table."""
    rows = db.session.execute(
        select(LedgerEntry.kind, func.sum(LedgerEntry.amount_cents))
        .where(LedgerEntry.sharer_id == sharer_id)
        .group_by(LedgerEntry.kind)
    )
    found = dict.fromkeys(EntryKind, 0)
    for kind, amount in rows:
        found[EntryKind(kind)] = int(amount)
    return found


def check(sharer, **expected):
    s = statement.statement(sharer.user.id)
    assert s.adds_up()
    sums = ledger_sums(sharer.user.id)
    # Each term is the ledger's own sum of its kind, and the result is the ledger's balance.
    assert s.estimated_cents == sums[EntryKind.ESTIMATED]
    assert s.voided_cents == sums[EntryKind.VOIDED]
    assert s.settled_cents == sums[EntryKind.SETTLED]
    assert s.clawed_back_cents == sums[EntryKind.CLAWBACK]
    assert s.adjustment_cents == sums[EntryKind.ADJUSTMENT]
    assert s.paid_out_cents + s.payout_pending_cents == (
        sums[EntryKind.PAYOUT] - sums[EntryKind.PAYOUT_RETURNED]
    )
    balances = ledger.balances(sharer.user.id)
    assert s.available_cents + s.fraud_held_cents == balances.available_cents
    assert s.awaiting_cents == balances.estimated_cents
    for name, value in expected.items():
        assert getattr(s, name) == value, name
    return s


def held(sharer):
    admin = make_user(is_admin=True)
    flag = FraudFlag(
        kind=FlagKind.SELF_PURCHASE, subject_key=f"sharer:{sharer.user.id}", period_key="x",
        sharer_id=sharer.user.id, evidence={}, raised_at=NOW,
    )  # fmt: skip
    db.session.add(flag)
    db.session.flush()
    fraud.hold_rebates(flag, actor=admin, reason="核查", now=NOW)


def test_paid_is_estimated_and_awaits_settlement(ctx):
    sharer = Sharer()
    sharer.paid_order()
    check(sharer, estimated_cents=1000, awaiting_cents=1000, available_cents=0)


def test_refund_before_settlement_voids(ctx):
    sharer = Sharer()
    refund(sharer.paid_order(), NOW + timedelta(days=1))
    check(sharer, estimated_cents=1000, voided_cents=1000, awaiting_cents=0, available_cents=0)


def test_settled_moves_to_available(ctx):
    sharer = Sharer()
    sharer.settled()
    check(sharer, estimated_cents=1000, settled_cents=1000, awaiting_cents=0, available_cents=1000)


def test_refund_after_settlement_claws_back(ctx):
    sharer = Sharer()
    refund(sharer.settled(), NOW + timedelta(days=9))
    check(sharer, settled_cents=1000, clawed_back_cents=1000, available_cents=0, voided_cents=0)


def test_paid_out_and_requested_payouts(ctx):
    sharer = Sharer()
    for _ in range(3):
        sharer.settled()
    first = sharer.payout(1000, "first-payout-key")
    payouts.decide(first, True, actor=make_user(is_admin=True), reference="T1", now=NOW)
    sharer.payout(1500, "second-payout-key")  # requested: held until decided
    s = check(sharer, settled_cents=3000, paid_out_cents=1000, payout_pending_cents=1500)
    assert (s.held_cents, s.available_cents) == (1500, 500)


def test_a_rejected_payout_comes_back(ctx):
    sharer = Sharer()
    sharer.settled()
    rejected = sharer.payout(1000, "reject-payout-key")
    payouts.decide(rejected, False, actor=make_user(is_admin=True), reason="账户不符", now=NOW)
    check(sharer, paid_out_cents=0, held_cents=0, available_cents=1000)


def test_a_fraud_hold_holds_the_positive_balance(ctx):
    sharer = Sharer()
    sharer.settled()
    sharer.settled()
    sharer.payout(1200, "before-hold-key")
    held(sharer)
    s = check(sharer, payout_pending_cents=1200, fraud_held_cents=800, available_cents=0)
    assert s.is_held and s.held_cents == 2000


def test_a_hold_on_a_negative_balance_holds_nothing_more(ctx):
    sharer = Sharer()
    order = sharer.settled()
    first = sharer.payout(1000, "all-of-it-key")
    payouts.decide(first, True, actor=make_user(is_admin=True), reference="T9", now=NOW)
    refund(order, NOW + timedelta(days=30))
    held(sharer)
    check(sharer, paid_out_cents=1000, clawed_back_cents=1000, fraud_held_cents=0,
          available_cents=-1000)  # fmt: skip


def test_an_upheld_appeal_adds_an_adjustment(ctx):
    sharer = Sharer()
    appeal = Appeal(sharer_id=sharer.user.id, answer="overwritten", typed_number="123456",
                    status=AppealStatus.SUBMITTED, created_at=NOW)  # fmt: skip
    db.session.add(appeal)
    db.session.flush()
    admin = make_user(is_admin=True)
    appeals.decide(appeal, True, actor=admin, reason="点击记录属实", amount_cents=730, now=NOW)
    check(sharer, adjustment_cents=730, available_cents=730)


def test_a_mix_of_every_path_adds_up(ctx):
    sharer = Sharer()
    sharer.paid_order()  # estimated, awaiting
    sharer.completed()  # completed, awaiting its window
    refund(sharer.paid_order(), NOW + timedelta(days=1))  # voided
    for _ in range(4):
        sharer.settled()
    refund(sharer.settled(), NOW + timedelta(days=9))  # clawed back
    paid = sharer.payout(1500, "mix-paid-key")
    payouts.decide(paid, True, actor=make_user(is_admin=True), reference="T2", now=NOW)
    sharer.payout(1000, "mix-pending-key")
    appeal = Appeal(sharer_id=sharer.user.id, answer="outside_window", typed_number="654321",
                    status=AppealStatus.SUBMITTED, created_at=NOW)  # fmt: skip
    db.session.add(appeal)
    db.session.flush()
    appeals.decide(appeal, True, actor=make_user(is_admin=True), reason="ok", amount_cents=250,
                   now=NOW)  # fmt: skip
    s = check(
        sharer,
        estimated_cents=8000,  # 8 paid orders
        voided_cents=1000,
        settled_cents=5000,
        awaiting_cents=2000,  # the paid one and the completed one
        clawed_back_cents=1000,
        adjustment_cents=250,
        paid_out_cents=1500,
        payout_pending_cents=1000,
        available_cents=1750,  # 5000 + 250 - 1000 - 1500 - 1000
    )
    held(sharer)
    s = check(sharer, fraud_held_cents=1750, available_cents=0)
    assert s.held_cents == 2750
