"""Random sequences of everything that moves money (place, pay and replay, ship, confirm,
refund and its decisions, cancel, the timed sweeps, settle, payouts and their decisions), with
a controlled clock. After every step the database must agree with a small model written from
the issue's rules, and the invariant checker must pass (RELIABILITY.md, "Sequences")."""

import secrets
from dataclasses import dataclass
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from shop.money import ledger, payouts
from shop.money.models import Payout
from shop.orders import states
from shop.orders.models import Order, OrderStatus
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, make_user
from tests.services import test_orders as svc

S = OrderStatus
RETURN_WINDOW = timedelta(days=7)
AUTO_COMPLETE = timedelta(days=10)
PAY_WITHIN = timedelta(minutes=30)
MINIMUM = 1000


@dataclass
class Model:
    status: OrderStatus
    rebate: int
    placed_at: object
    state: str = "none"  # none, estimated, settled, voided, clawback
    refund_from: OrderStatus | None = None
    shipped_at: object = None
    completed_at: object = None


class OrderMachine(RuleBasedStateMachine):
    placed = Bundle("orders")

    @initialize(
        price=st.integers(min_value=5_000, max_value=200_000),
        bps=st.integers(min_value=100, max_value=5000),
    )
    def setup(self, price, bps):
        self.clock = svc.NOW
        self.product = make_product(
            price_cents=price, original_price_cents=None, rebate_bps=bps, stock=1000
        )
        self.visitor = secrets.token_hex(16)
        self.sharer = svc.shared_click(
            self.product, visitor=self.visitor, at=self.clock - timedelta(hours=1)
        )
        payouts.save_account(self.sharer, "alipay", "小美", "13800000003", "", now=self.clock)
        self.admin = make_user(is_admin=True)
        self.merchant_user = self.product.merchant.user
        self.models: dict[int, Model] = {}
        self.payouts: dict[int, str] = {}  # id -> status
        self.payout_amounts: dict[int, int] = {}
        self.keys = 0

    # --- helpers ---------------------------------------------------------------------------

    def order(self, order_id: int) -> Order:
        return db.session.get(Order, order_id)

    def attempt(self, action) -> bool:
        """Run a service call; a refusal (DomainError) must change nothing."""
        try:
            with db.session.begin_nested():
                action()
            return True
        except DomainError:
            return False

    # --- rules -----------------------------------------------------------------------------

    @rule(target=placed, quantity=st.integers(min_value=1, max_value=3), pays=st.booleans())
    def place(self, quantity, pays=False):
        self.keys += 1
        [order] = svc.place(
            self.buyer(),
            [(self.product.id, quantity)],
            visitor=self.visitor,
            key=f"m{self.keys}-{self.product.id}",
            at=self.clock,
        )
        earns = order.sharer_id == self.sharer.id
        rebate = sum(i.rebate_cents for i in order.items) if earns else 0
        self.models[order.id] = Model(S.PLACED, rebate, self.clock)
        if pays:
            self.pay(order.id, 1)
        return order.id

    def buyer(self):
        if not hasattr(self, "_buyer"):
            self._buyer = make_user()
        return self._buyer

    @rule(hours=st.sampled_from([0, 1, 24, 24 * 8, 24 * 11]))
    def advance(self, hours):
        self.clock += timedelta(hours=hours, seconds=1)
        if hours >= 24:  # days pass: the cron jobs have run
            self.sweep()
            self.settle()

    @rule(order_id=placed, times=st.integers(min_value=1, max_value=3))
    def pay(self, order_id, times):
        order = self.order(order_id)
        for _ in range(times):  # the gateway's retries
            svc.pay(order, self.clock)
        model = self.models[order_id]
        if model.status == S.PLACED:  # a late notice still pays an order not yet swept
            model.status = S.PAID
            if model.rebate:
                model.state = "estimated"

    @rule(order_id=placed)
    def fulfil(self, order_id):
        """The common road, so that long sequences reach settlement and payouts often."""
        self.pay(order_id, 1)
        self.ship(order_id)
        self.confirm(order_id)

    @rule(order_id=placed)
    def fulfil_and_wait(self, order_id):
        """... and the return window passes: the rebate settles (unless refunded)."""
        self.fulfil(order_id)
        self.advance(24 * 8)

    @rule(order_id=placed)
    def ship(self, order_id):
        model = self.models[order_id]
        ok = self.attempt(
            lambda: states.ship(
                self.order(order_id),
                "顺丰速运",
                "SF1234567890",
                actor=self.merchant_user,
                now=self.clock,
            )  # fmt: skip
        )
        allowed = model.status == S.PAID or (
            model.status == S.REFUND_REJECTED and model.refund_from == S.PAID
        )
        assert ok == allowed
        if ok:
            model.status, model.shipped_at = S.SHIPPED, self.clock

    @rule(order_id=placed)
    def confirm(self, order_id):
        model = self.models[order_id]
        order = self.order(order_id)
        ok = self.attempt(lambda: states.confirm_receipt(order, actor=order.buyer, now=self.clock))
        allowed = model.status == S.SHIPPED or (
            model.status == S.REFUND_REJECTED and model.refund_from == S.SHIPPED
        )
        assert ok == allowed
        if ok:
            model.status, model.completed_at = S.COMPLETED, self.clock

    @rule(order_id=placed)
    def request_refund(self, order_id):
        model = self.models[order_id]
        order = self.order(order_id)
        ok = self.attempt(
            lambda: states.request_refund(order, "不想要了", actor=order.buyer, now=self.clock)
        )
        assert ok == (model.status in (S.PAID, S.SHIPPED, S.COMPLETED))
        if ok:
            model.refund_from, model.status = model.status, S.REFUND_REQUESTED

    @rule(order_id=placed, approve=st.booleans(), by_admin=st.booleans())
    def decide_refund(self, order_id, approve, by_admin):
        model = self.models[order_id]
        order = self.order(order_id)
        if by_admin:
            if not approve:
                return
            ok = self.attempt(
                lambda: states.refund_by_admin(order, "改判", actor=self.admin, now=self.clock)
            )
            allowed = model.status in (S.REFUND_REQUESTED, S.REFUND_REJECTED)
        else:
            ok = self.attempt(
                lambda: states.decide_refund(
                    order, approve, actor=self.merchant_user, source="merchant", now=self.clock
                )
            )
            allowed = model.status == S.REFUND_REQUESTED
        assert ok == allowed
        if not ok:
            return
        if approve:
            model.status = S.REFUNDED
            if model.state == "estimated":
                model.state = "voided"
            elif model.state == "settled":
                model.state = "clawback"
        else:
            model.status = S.REFUND_REJECTED

    @rule(order_id=placed)
    def cancel(self, order_id):
        model = self.models[order_id]
        order = self.order(order_id)
        ok = self.attempt(lambda: states.cancel_by_buyer(order, actor=order.buyer, now=self.clock))
        assert ok == (model.status == S.PLACED)
        if ok:
            model.status = S.CANCELLED

    @rule()
    def sweep(self):
        states.cancel_unpaid(now=self.clock)
        states.complete_shipped(now=self.clock, after=AUTO_COMPLETE)
        for model in self.models.values():
            if model.status == S.PLACED and model.placed_at + PAY_WITHIN <= self.clock:
                model.status = S.CANCELLED
            resumable = model.status == S.SHIPPED or (
                model.status == S.REFUND_REJECTED and model.refund_from == S.SHIPPED
            )
            if resumable and model.shipped_at and model.shipped_at <= self.clock - AUTO_COMPLETE:
                model.status, model.completed_at = S.COMPLETED, self.clock

    @rule()
    def settle(self):
        for order_id in ledger.due_for_settlement(now=self.clock, return_window=RETURN_WINDOW):
            ledger.settle_order(order_id, now=self.clock, return_window=RETURN_WINDOW)
        for model in self.models.values():
            if (
                model.state == "estimated"
                and model.status in (S.COMPLETED, S.REFUND_REJECTED)
                and model.completed_at is not None
                and model.completed_at <= self.clock - RETURN_WINDOW
            ):
                model.state = "settled"

    @rule(amount=st.one_of(st.none(), st.integers(min_value=1, max_value=50_000)))
    def request_payout(self, amount):
        self.keys += 1
        available = self.expected_available()
        if amount is None:  # everything available (or an impossible amount when none is)
            amount = max(available, 1)
        is_open = "requested" in self.payouts.values()
        before = set(self.payouts)
        ok = self.attempt(
            lambda: payouts.request_payout(
                self.sharer,
                amount,
                idempotency_key=f"p{self.keys}".ljust(16, "x"),
                minimum_cents=MINIMUM,
                now=self.clock,
            )  # fmt: skip
        )
        assert ok == (not is_open and MINIMUM <= amount <= available)
        if ok:
            [new] = {p.id for p in payouts.history(self.sharer)} - before
            self.payouts[new] = "requested"
            self.payout_amounts[new] = amount

    @rule(approve=st.booleans())
    def decide_payout(self, approve):
        waiting = [pid for pid, status in self.payouts.items() if status == "requested"]
        if not waiting:
            return
        payout = db.session.get(Payout, waiting[0])
        payouts.decide(
            payout, approve, actor=self.admin, reference="REF-1", reason="不符", now=self.clock
        )
        self.payouts[payout.id] = "paid" if approve else "rejected"

    # --- what must hold after every step ---------------------------------------------------

    def expected_available(self) -> int:
        settled = sum(m.rebate for m in self.models.values() if m.state in ("settled",))
        held = sum(
            self.payout_amounts[p] for p, s in self.payouts.items() if s in ("requested", "paid")
        )
        return settled - held

    @invariant()
    def database_agrees_with_the_model(self):
        if not hasattr(self, "models"):
            return
        db.session.flush()
        for order_id, model in self.models.items():
            assert self.order(order_id).status == model.status, order_id
        balances = ledger.balances(self.sharer.id)
        estimated = sum(m.rebate for m in self.models.values() if m.state == "estimated")
        assert balances.estimated_cents == estimated
        assert balances.available_cents == self.expected_available()
        assert balances.paid_out_cents == sum(
            self.payout_amounts[p] for p, s in self.payouts.items() if s == "paid"
        )
        invariants.check(db.session)


def test_random_sequences_keep_the_money_right(ctx):
    run_state_machine_as_test(
        OrderMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
            database=None,
        ),
    )
