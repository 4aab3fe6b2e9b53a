"""Partial refunds by item and amount (shop.money.refunds): the rounding rule, the ledgers and
the split after one, two and all partial refunds, before and after settlement, refused and
withdrawn requests, bad input, replays and concurrent duplicates, the database guard, and
the whole-order refund after partial ones. The invariant checker (with the per-order money
identity and tests/refund_invariants.py) runs after every test, on both databases."""

import itertools
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from shop.catalog.models import Product
from shop.money import ledger, merchant_ledger, refund_math, refund_queries, refund_views, refunds
from shop.money.models import (
    EntryKind,
    LedgerEntry,
    MerchantEntry,
    RefundCap,
    RefundRequest,
    RefundStatus,
    SaleDay,
)
from shop.orders import checkout, states
from shop.orders.models import GatewayRefund, Order, OrderStatus
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_merchant, make_product, make_user
from tests.services.test_concurrency import race
from tests.services.test_orders import ADDRESS, NOW, WINDOW, pay, shared_click
from tests.services.test_shipping import template
from tests.services.test_teams import invited, leader_with_shop, member_click

RETURN_WINDOW = timedelta(days=7)
S = OrderStatus


@pytest.fixture(autouse=True)
def _check_invariants(request):
    if "ctx" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("ctx")
    yield
    db.session.flush()
    invariants.check(db.session)


# --- the rounding rule, exhaustively on small numbers ----------------------------------------


def test_cumulative_floor_parts_never_exceed_and_always_add_up():
    for value, rebate, fee, override in [(7, 3, 2, 1), (10, 1, 0, 0), (9, 0, 9, 0), (5, 5, 0, 2)]:
        line = {"value": value, "rebate": rebate, "override": override, "fee": fee}
        # Every way of cutting the line into refunds of whole fen.
        for cuts in itertools.product(range(value + 1), repeat=2):
            a, b = sorted(cuts)
            steps = [a, b - a, value - b]
            done, totals = 0, [0, 0, 0, 0]
            for amount in steps:
                p = refund_math.step(done, amount, **line)
                assert min(vars(p).values()) >= 0
                assert p.rebate_cents + p.fee_cents + p.merchant_cents == amount
                done += amount
                totals = [t + x for t, x in zip(totals, vars(p).values(), strict=True)]
                assert totals[0] <= rebate and totals[1] <= override and totals[2] <= fee
            assert totals == [rebate, override, fee, value - rebate - fee]


def test_spread_and_unit_values_add_up_and_stay_within_each_piece():
    for amount in range(0, 31):
        pieces = refund_math.spread(amount, [10, 0, 7, 13])
        assert sum(pieces) == amount
        assert all(0 <= p <= full for p, full in zip(pieces, [10, 0, 7, 13], strict=True))
    units = [refund_math.units_value(1000, 3, n, 1) for n in range(3)]
    assert units == [333, 333, 334] and sum(units) == 1000
    assert refund_math.fee_by_item(30, [10, 20], [50, 50]) == [10, 20]
    assert sum(refund_math.fee_by_item(30, [10, 25], [50, 50])) == 30  # rates changed since


# --- an order of two lines, with a fee, a team override and shipping -------------------------


def order_of_two(*, override=2000, fee_bps=500, shipping=True, provider="sandbox"):
    """Paid: 3 x ¥33.33 and 1 x ¥19.99 through a sharer (with their leader's override), the
    merchant's fee ``fee_bps``, shipping ¥8 + ¥2 per further piece."""
    merchant = make_merchant()
    merchant.fee_bps = fee_bps
    kept = {}
    if shipping:
        flat = template(merchant_id=merchant.id)
        db.session.add(flat)
        db.session.flush()
        kept["shipping_template_id"] = flat.id
    tea = make_product(merchant=merchant, price_cents=3333, original_price_cents=None, **kept)
    cup = make_product(merchant=merchant, price_cents=1999, original_price_cents=None, **kept)
    buyer = make_user()
    if override:
        member = invited(leader_with_shop())
        member_click(member, tea)
    else:
        shared_click(tea, at=NOW - timedelta(hours=1))
    [order] = checkout.place_order(
        buyer, [(tea.id, 3), (cup.id, 1)], ADDRESS, checkout_key=f"k{tea.id}",
        provider=provider, visitor_id="v" * 32, now=NOW, window=WINDOW,
        allow_self_purchase=True, pay_within=timedelta(minutes=30),
        team_override_bps=override,
    )  # fmt: skip
    if provider == "sandbox":
        pay(order, NOW)
    return order


def ask(order, picks, *, key="r1", amount=None, shipping=None, kind=states.REFUND_ONLY, at=NOW):
    items = [item.id for item in order.items]
    return refunds.request(
        order, {items[i]: n for i, n in picks.items()}, reason="坏了", kind=kind, key=key,
        actor=order.buyer, now=at, amount_cents=amount, with_shipping=shipping,
    )  # fmt: skip


def merchant_of(order):
    return make_user()  # the web checks the merchant; the service records who decided


def entries(order, refund=None):
    query = select(LedgerEntry.kind, LedgerEntry.tier, LedgerEntry.amount_cents).where(
        LedgerEntry.order_id == order.id
    )
    if refund is not None:
        query = query.where(LedgerEntry.refund_id == refund.id)
    return sorted((str(k), t, a) for k, t, a in db.session.execute(query))


def net_rebates(order):
    return sum(
        a * (1 if k == "estimated" else -1 if k in ("voided", "clawback") else 0)
        for k, _, a in entries(order)
    )


def test_one_partial_refund_reverses_its_lines_parts_and_keeps_the_order(ctx):
    order = order_of_two()
    assert order.shipping_cents == 800 + 3 * 200 and order.status == S.PAID
    tea = order.items[0]
    refund = ask(order, {0: 1})
    assert refund.amount_cents == 3333 and refund.shipping_cents == 0  # one of three units
    [line] = refund.lines
    # Rebate 10% of 9999 = 999; 1/3 refunded: 999 * 3333 // 9999 = 333; override 20% of it.
    assert (line.rebate_cents, line.override_cents) == (333, 199 * 3333 // 9999)
    assert line.rebate_cents + line.fee_cents + line.merchant_cents == 3333
    assert refund_views.lines(order)[0].left_quantity == 2  # held while it waits
    refunds.decide(refund, True, actor=merchant_of(order), source="merchant", now=NOW)
    assert order.status == S.PAID and refund.status == RefundStatus.REFUNDED
    assert entries(order, refund) == sorted(
        [("voided", 1, line.rebate_cents), ("voided", 2, line.override_cents)]
    )
    [share] = db.session.execute(
        select(MerchantEntry).where(MerchantEntry.refund_id == refund.id)
    ).scalars()
    assert (share.kind, share.amount_cents, share.fee_cents) == (
        "voided", line.merchant_cents, line.fee_cents,
    )  # fmt: skip
    assert refund_views.refunded_cents(order) == 3333
    assert db.session.get(Product, tea.product_id).stock == 10 - 3 + 1
    # tea: rebate 999, override 199; cup: 199 and 39; less the refunded unit's parts.
    assert net_rebates(order) == 999 + 199 + 199 + 39 - 333 - line.override_cents
    # The merchant heard of the request, the buyer of the decision (the outbox, once each).
    from shop.platform.outbox import OutboxRow

    told = db.session.execute(
        select(OutboxRow.kind, OutboxRow.user_id).where(
            OutboxRow.kind.in_(["refund_requested", "refund_decided"])
        )
    ).all()
    assert sorted(told) == [("refund_decided", order.buyer_id),
                            ("refund_requested", order.merchant.user_id)]  # fmt: skip
    # Doing it again changes nothing.
    before = db.session.execute(select(func.count(LedgerEntry.id))).scalar()
    refunds.decide(refund, True, actor=merchant_of(order), source="merchant", now=NOW)
    assert db.session.execute(select(func.count(LedgerEntry.id))).scalar() == before
    assert len(db.session.execute(select(OutboxRow.id)).all()) >= len(told)


def test_two_partials_then_everything_ends_refunded_with_nothing_left(ctx):
    order = order_of_two()
    first = ask(order, {0: 1})
    refunds.decide(first, True, actor=make_user(), source="merchant", now=NOW)
    second = ask(order, {0: 1, 1: 1}, key="r2")
    assert second.shipping_cents == 0  # a unit of tea is left: no shipping by default
    refunds.decide(second, True, actor=make_user(), source="merchant", now=NOW)
    assert order.status == S.PAID
    last = ask(order, {0: 1}, key="r3")  # everything left: the shipping comes with it
    assert last.shipping_cents == order.shipping_cents
    refunds.decide(last, True, actor=make_user(), source="merchant", now=NOW)
    assert order.status == S.REFUNDED
    assert first.amount_cents + second.amount_cents + last.amount_cents == order.total_cents
    assert net_rebates(order) == 0
    for item in order.items:
        product = db.session.get(Product, item.product_id)
        assert product.stock == 10 and product.sales_count == 0
    # The sale day counts the order refunded and all its money back.
    day = db.session.execute(select(SaleDay)).scalars().one()
    assert (day.refunded, day.refunded_cents) == (1, order.total_cents)


def test_refund_after_settlement_claws_back_and_settling_after_a_void_settles_the_rest(ctx):
    order = order_of_two(shipping=False)
    states.ship(order, "SF", "SF1234567890", actor=order.merchant.user, now=NOW)
    states.confirm_receipt(order, actor=order.buyer, now=NOW)
    voided = ask(order, {1: 1}, kind=states.RETURN)  # the cup, before settlement
    refunds.decide(voided, True, actor=make_user(), source="merchant", now=NOW)
    later = NOW + RETURN_WINDOW + timedelta(days=1)
    assert ledger.due_for_settlement(now=later, return_window=RETURN_WINDOW) == [order.id]
    ledger.settle_order(order.id, now=later, return_window=RETURN_WINDOW)
    settled = [e for e in entries(order) if e[0] == "settled"]
    assert ("settled", 1, 999) in settled and len(settled) == 2  # the tea only (and override)
    [share] = db.session.execute(
        select(MerchantEntry).where(
            MerchantEntry.order_id == order.id, MerchantEntry.kind == "settled"
        )
    ).scalars()
    split = merchant_ledger.split_of(order.id)
    assert share.amount_cents == split.merchant_cents - voided.lines[0].merchant_cents
    assert ledger.due_for_settlement(now=later, return_window=RETURN_WINDOW) == []
    clawed = ask(order, {0: 2}, key="r2", amount=5000, at=later)  # less than the two units
    refunds.decide(clawed, True, actor=make_user(), source="merchant", now=later)
    assert {k for k, _, _ in entries(order, clawed)} == {"clawback"}
    assert order.status == S.COMPLETED and refund_views.refunded_cents(order) == 1999 + 5000


def test_a_whole_order_refund_after_parts_gives_back_only_the_rest_through_the_gateway(ctx):
    order = order_of_two(provider="wechatpay")
    pay_through_gateway(order)
    part = ask(order, {1: 1}, amount=1000)
    refunds.decide(part, True, actor=make_user(), source="merchant", now=NOW)
    [partial] = db.session.execute(
        select(GatewayRefund).where(GatewayRefund.order_id == order.id)
    ).scalars()
    assert (partial.refund_number, partial.kind, partial.amount_cents) == (
        f"{order.number}-P1", "partial", 1000,
    )  # fmt: skip
    states.request_refund(order, "全退", actor=order.buyer, now=NOW)
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=NOW)
    rest = db.session.execute(
        select(GatewayRefund).where(GatewayRefund.refund_number == f"{order.number}-R")
    ).scalar_one()
    assert rest.amount_cents == order.total_cents - 1000
    assert order.status == S.REFUNDED and net_rebates(order) == 0
    for item in order.items:
        assert db.session.get(Product, item.product_id).stock == 10


def pay_through_gateway(order):
    """Mark a gateway order paid as a verified callback would (the adapters have their
    own tests; here only the refund's side matters)."""
    states.transition(order, S.PAID, source="payment", actor=None, now=NOW)


def test_refused_and_withdrawn_requests_release_their_hold_and_post_nothing(ctx):
    order = order_of_two()
    refused = ask(order, {0: 3, 1: 1})
    with pytest.raises(ValidationError) as error:
        refunds.decide(refused, False, actor=make_user(), source="merchant", now=NOW)
    assert error.value.field == "note"
    refunds.decide(refused, False, actor=make_user(), source="merchant", now=NOW, note="已发货")
    withdrawn = ask(order, {0: 1}, key="r2")
    refunds.withdraw(withdrawn, actor=order.buyer, now=NOW)
    with pytest.raises(ValidationError):
        refunds.decide(withdrawn, True, actor=make_user(), source="merchant", now=NOW)
    assert [str(r.status) for r in refund_views.requests_of(order)] == ["rejected", "withdrawn"]
    assert all(r[0] == "estimated" for r in entries(order))
    assert [line.left_quantity for line in refund_views.lines(order)] == [3, 1]
    again = ask(order, {0: 3, 1: 1}, key="r3")
    assert again.seq == 3 and again.amount_cents == order.total_cents


def test_bad_input_is_refused_with_its_field_and_changes_nothing(ctx):
    order = order_of_two()
    other = order_of_two()
    items = [item.id for item in order.items]
    cases = [
        ({items[0]: 0}, None, "items"),  # nothing chosen
        ({other.items[0].id: 1}, None, "items"),  # an item of another order
        ({items[0]: 4}, None, "items"),  # more units than bought
        ({items[0]: 1}, 3334, "amount"),  # more than was paid for it
        ({items[0]: 1}, 0, "amount"),
    ]
    for picks, amount, field in cases:
        with pytest.raises(ValidationError) as error:
            refunds.request(
                order, picks, reason="坏了", kind=states.REFUND_ONLY, key="bad",
                actor=order.buyer, now=NOW, amount_cents=amount,
            )  # fmt: skip
        assert error.value.field == field, (picks, amount)
    with pytest.raises(PermissionDenied):
        refunds.request(
            order, {items[0]: 1}, reason="x", kind=states.REFUND_ONLY, key="k",
            actor=other.buyer, now=NOW,
        )  # fmt: skip
    with pytest.raises(ValidationError) as error:
        ask(order, {0: 1}, kind=states.RETURN)  # nothing was shipped yet
    assert error.value.field == "kind"
    assert refund_views.requests_of(order) == []
    open_one = ask(order, {0: 1})
    with pytest.raises(ValidationError):
        ask(order, {1: 1}, key="r2")  # one open request at a time
    with pytest.raises(ValidationError):
        states.request_refund(order, "全退", actor=order.buyer, now=NOW)
    refunds.withdraw(open_one, actor=order.buyer, now=NOW)
    states.request_refund(order, "全退", actor=order.buyer, now=NOW)
    with pytest.raises(ValidationError):
        ask(order, {1: 1}, key="r3")  # a whole-order request is open


def test_the_same_form_twice_is_one_request_and_the_caps_guard_in_the_database(ctx):
    order = order_of_two()
    first = ask(order, {0: 1}, key="same")
    assert ask(order, {0: 2}, key="same").id == first.id
    assert db.session.execute(select(func.count(RefundRequest.id))).scalar() == 1
    db.session.flush()
    with pytest.raises(IntegrityError):  # the CHECK, whatever the code above it does
        with db.session.begin_nested():
            db.session.execute(
                update(RefundCap)
                .where(RefundCap.order_id == order.id)
                .values(done_cents=RefundCap.cap_cents + 1)
            )
    with pytest.raises(IntegrityError):  # a second open request for the order
        with db.session.begin_nested():
            db.session.execute(
                text(
                    "INSERT INTO refund_requests (order_id, seq, request_key, status, kind, "
                    "reason, amount_cents, shipping_cents, source, requested_by_id, "
                    "requested_at) VALUES (:o, 9, 'x', 'requested', 'refund_only', 'r', 1, 0, "
                    "'buyer', :u, :t)"
                ),
                {"o": order.id, "u": order.buyer_id, "t": NOW},
            )
    with pytest.raises(IntegrityError):  # a partial reversal posted twice
        with db.session.begin_nested():
            for _ in range(2):
                db.session.add(
                    LedgerEntry(
                        sharer_id=order.sharer_id,
                        kind=EntryKind.VOIDED,
                        amount_cents=1,
                        order_id=order.id,
                        order_item_id=order.items[0].id,
                        tier=1,
                        refund_id=first.id,
                        created_at=NOW,
                    )  # fmt: skip
                )
            db.session.flush()


def test_an_admin_refunds_part_at_once_and_it_is_audited(ctx):
    from shop.platform.models import AuditEntry

    order = order_of_two()
    admin = make_user(is_admin=True)
    refund = refunds.request(
        order, {order.items[1].id: 1}, reason="商家未回应", kind=states.REFUND_ONLY, key="a1",
        actor=admin, now=NOW, source="admin",
    )  # fmt: skip
    assert refund.status == RefundStatus.REFUNDED and refund.source == "admin"
    assert db.session.execute(
        select(AuditEntry).where(AuditEntry.action == "order.refund_part")
    ).scalar_one()
    with pytest.raises(PermissionDenied):
        refunds.request(
            order, {order.items[0].id: 1}, reason="x", kind=states.REFUND_ONLY, key="a2",
            actor=make_user(), now=NOW, source="admin",
        )  # fmt: skip


def test_concurrent_duplicate_requests_and_decisions_do_it_once(app):
    with app.app_context():
        order = order_of_two()
        db.session.commit()
        order_id = order.id

    def request(_i):
        found = db.session.get(Order, order_id)
        return ask(found, {0: 1}, key="dup").id

    results, _ = race(app, 6, request)
    assert len({r for r in results if isinstance(r, int)}) == 1, results
    assert all(isinstance(r, int) or r in ("Conflict", "ValidationError") for r in results)

    def agree(_i):
        refund = db.session.execute(select(RefundRequest)).scalar_one()
        refunds.decide(refund, True, actor=db.session.get(Order, order_id).buyer,
                       source="merchant", now=NOW)  # fmt: skip
        return "ok"

    results, _ = race(app, 6, agree)
    assert results.count("ok") >= 1, results
    with app.app_context():
        reversals = select(func.count(LedgerEntry.id)).where(LedgerEntry.refund_id.is_not(None))
        assert db.session.execute(reversals).scalar() == 2  # rebate and override, once
        assert (
            db.session.execute(
                select(func.count(MerchantEntry.id)).where(MerchantEntry.refund_id.is_not(None))
            ).scalar()
            == 1
        )
        invariants.check(db.session)


def test_the_merchant_statement_counts_what_each_refund_gave_back(ctx):
    from shop.money import merchant_statement

    order = order_of_two()
    part = ask(order, {0: 1}, amount=2000)
    refunds.decide(part, True, actor=make_user(), source="merchant", now=NOW)
    window = {"since": NOW - timedelta(days=1), "until": NOW + timedelta(days=1)}
    st = merchant_statement.statement(order.merchant_id, **window)
    line = part.lines[0]
    assert (st.refunds, st.refunded_cents) == (1, 2000) and st.adds_up()
    split = merchant_ledger.split_of(order.id)
    assert st.rebate_cents == split.rebate_cents - line.rebate_cents
    assert st.net_cents == split.merchant_cents - line.merchant_cents
    states.request_refund(order, "全退", actor=order.buyer, now=NOW)
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=NOW)
    st = merchant_statement.statement(order.merchant_id, **window)
    assert (st.refunded_cents, st.net_cents, st.rebate_cents, st.fee_cents) == (
        order.total_cents, 0, 0, 0,
    )  # fmt: skip
    rows = list(merchant_statement.lines(order.merchant_id, **window))
    assert sum(row[3] for row in rows) == 0 and sum(row[6] for row in rows) == 0


@pytest.mark.parametrize("seed", range(1, 9))
def test_random_sequences_keep_every_invariant_after_every_step(ctx, seed):
    """Partial requests (random lines, numbers, amounts, shipping), agreements, refusals,
    withdrawals, shipping, completion, settlement and a whole-order refund, in a random order
    with a moving clock; the invariant checker after every step."""
    import random

    rng = random.Random(seed)
    order = order_of_two(override=rng.choice([0, 2000]), fee_bps=rng.choice([0, 300, 900]))
    at, n = NOW, 0
    for _ in range(20):
        at += timedelta(days=rng.choice([0, 1, 4]))
        step = rng.choice(["ask", "ask", "agree", "agree", "refuse", "withdraw", "move", "settle",
                           "whole"])  # fmt: skip
        open_ = [r for r in refund_views.requests_of(order) if r.status == "requested"]
        try:
            with db.session.begin_nested():
                if step == "ask":
                    n += 1
                    left = [line for line in refund_views.lines(order) if line.left_quantity]
                    picks = {
                        line.item.id: rng.randint(1, line.left_quantity)
                        for line in rng.sample(left, rng.randint(1, len(left)))
                    } if left else {order.items[0].id: 1}  # fmt: skip
                    amount = rng.choice([None, None, rng.randint(1, 3000)])
                    refunds.request(
                        order, picks, reason="随机", kind=states.REFUND_ONLY, key=f"s{n}",
                        actor=order.buyer, now=at, amount_cents=amount,
                        with_shipping=rng.choice([None, True]),
                    )  # fmt: skip
                elif step in ("agree", "refuse") and open_:
                    refunds.decide(open_[0], step == "agree", actor=make_user(),
                                   source="merchant", now=at, note="随机")  # fmt: skip
                elif step == "withdraw" and open_:
                    refunds.withdraw(open_[0], actor=order.buyer, now=at)
                elif step == "move":
                    if order.status == S.PAID:
                        states.ship(order, "SF", "SF1234567890", actor=make_user(), now=at)
                    elif order.status == S.SHIPPED:
                        states.confirm_receipt(order, actor=order.buyer, now=at)
                elif step == "settle":
                    ledger.settle_order(order.id, now=at, return_window=RETURN_WINDOW)
                elif step == "whole" and order.status in refunds.OPEN_FROM:
                    states.request_refund(order, "全退", actor=order.buyer, now=at)
                    states.decide_refund(order, True, actor=make_user(), source="merchant",
                                         now=at)  # fmt: skip
        except ValidationError:
            pass  # refused input changes nothing; the checker says so below
        db.session.refresh(order)
        db.session.flush()
        invariants.check(db.session)
    assert refund_views.refunded_cents(order) <= order.total_cents


def test_unanswered_requests_are_escalated_once_and_decided_ones_never(ctx):
    silent_order, answered_order = order_of_two(), order_of_two()
    silent = ask(silent_order, {0: 1})
    answered = ask(answered_order, {0: 1}, key="r2")
    refunds.decide(answered, False, actor=make_user(), source="merchant", now=NOW, note="已发货")
    after = timedelta(days=3)
    assert refund_queries.escalate_unanswered(now=NOW + timedelta(days=2), after=after) == 0
    late = NOW + timedelta(days=4)
    assert refund_queries.escalate_unanswered(now=late, after=after) == 1
    assert refund_queries.escalate_unanswered(now=late + timedelta(hours=1), after=after) == 0
    db.session.refresh(silent)
    db.session.refresh(answered)
    assert (silent.escalated_at, answered.escalated_at) == (late, None)
