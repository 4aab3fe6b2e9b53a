"""Merchant settlement: each paid order's split, the merchant ledger over every lifecycle
path (paid, refunded before and after settlement, with and without a team override and a
fee), fee rates, statements and withdrawals. The invariant checker (with the per-order
money identity) runs after every test."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.money import ledger, merchant_ledger, merchant_statement, payouts
from shop.money import merchant_payouts as mp
from shop.money.models import MerchantEntry, WithdrawalStatus
from shop.orders import states
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests import invariants
from tests.factories import make_category, make_merchant, make_product, make_user
from tests.services.test_orders import NOW, pay, place, shared_click
from tests.services.test_teams import buy_through, invited, leader_with_shop, member_click

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


def admin():
    return make_user(is_admin=True)


def sale(*, fee_bps=None, category_fee_bps=None, override=0, sharer=True, price=10000):
    """One paid order of one unit at ``price`` (10% rebate), through a sharer (and their
    team leader's override of ``override`` bps) or not."""
    merchant = make_merchant()
    merchant.fee_bps = fee_bps
    category = make_category(fee_bps=category_fee_bps)
    product = make_product(
        price_cents=price,
        original_price_cents=None,
        rebate_bps=1000,
        merchant=merchant,
        category=category,
    )
    if override:
        member = invited(leader_with_shop())
        member_click(member, product)
        order = buy_through(product, rate=override, key=f"k{product.id}")
    elif sharer:
        shared_click(product, at=NOW - timedelta(hours=1))
        [order] = place(make_user(), [(product.id, 1)], visitor="v" * 32, key=f"k{product.id}")
    else:
        [order] = place(make_user(), [(product.id, 1)], key=f"k{product.id}")
    pay(order, NOW)
    return merchant, order


def parts(order):
    s = merchant_ledger.split_of(order.id)
    return (s.paid_cents, s.merchant_cents, s.rebate_cents, s.override_cents, s.fee_cents)


def kinds(order):
    return [
        str(k)
        for k in db.session.execute(
            select(MerchantEntry.kind)
            .where(MerchantEntry.order_id == order.id)
            .order_by(MerchantEntry.id)
        ).scalars()
    ]


def complete(order, at=NOW):
    states.ship(order, "顺丰速运", "SF1234567890", actor=make_user(), now=at)
    states.confirm_receipt(order, actor=order.buyer, now=at + timedelta(days=1))
    return at + timedelta(days=1)


def refund(order, at):
    states.request_refund(order, "坏了", actor=order.buyer, now=at)
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=at)


def test_no_sharer_no_fee_the_merchant_gets_everything_shipping_included(ctx):
    merchant, order = sale(sharer=False)
    assert parts(order) == (order.total_cents, order.total_cents, 0, 0, 0)
    assert kinds(order) == ["estimated"]
    b = merchant_ledger.balances(merchant.id)
    assert (b.pending_cents, b.available_cents) == (order.total_cents, 0)


@pytest.mark.parametrize("override", [0, 1000])
@pytest.mark.parametrize("fee", [None, 500])
def test_paid_settled_then_refunded_after_settlement_claws_back(ctx, override, fee):
    merchant, order = sale(category_fee_bps=fee, override=override)
    fee_cents = 500 if fee else 0
    ship = order.shipping_cents
    # No fee: the override is cut to what the fee covers, nothing (merchant_ledger.cover_override).
    overrides = 100 if override and fee else 0
    assert parts(order) == (10000 + ship, 10000 + ship - 1000 - fee_cents, 1000, overrides,
                            fee_cents)  # fmt: skip
    assert merchant_ledger.split_of(order.id).platform_cents == fee_cents - overrides
    done = complete(order)
    assert ledger.due_for_settlement(now=done + WINDOW, return_window=WINDOW) == [order.id]
    ledger.settle_order(order.id, now=done + WINDOW, return_window=WINDOW)
    ledger.settle_order(order.id, now=done + WINDOW, return_window=WINDOW)  # a replay
    assert kinds(order) == ["estimated", "settled"]
    share = 10000 + ship - 1000 - fee_cents
    b = merchant_ledger.balances(merchant.id)
    assert (b.pending_cents, b.available_cents) == (0, share)
    invariants.check(db.session)
    refund(order, done + WINDOW + timedelta(days=1))
    assert kinds(order) == ["estimated", "settled", "clawback"]
    b = merchant_ledger.balances(merchant.id)
    assert (b.pending_cents, b.available_cents) == (0, 0)


@pytest.mark.parametrize("override", [0, 1000])
def test_refunded_before_settlement_voids_and_never_settles(ctx, override):
    merchant, order = sale(fee_bps=300, override=override)
    refund(order, NOW + timedelta(hours=2))
    assert kinds(order) == ["estimated", "voided"]
    assert merchant_ledger.balances(merchant.id).pending_cents == 0
    later = NOW + timedelta(days=60)
    assert ledger.due_for_settlement(now=later, return_window=WINDOW) == []
    assert ledger.settle_order(order.id, now=later, return_window=WINDOW) == 0
    assert kinds(order) == ["estimated", "voided"]


def test_an_order_earning_no_rebate_settles_its_share_by_the_same_run(ctx):
    merchant, order = sale(sharer=False, fee_bps=200)
    done = complete(order)
    assert ledger.due_for_settlement(now=done + WINDOW, return_window=WINDOW) == [order.id]
    assert ledger.settle_order(order.id, now=done + WINDOW, return_window=WINDOW) == 0
    assert kinds(order) == ["estimated", "settled"]
    assert merchant_ledger.balances(merchant.id).available_cents == order.total_cents - 200


def test_the_merchants_rate_wins_over_the_category_and_the_fee_never_eats_the_rebate(ctx):
    _, order = sale(fee_bps=0, category_fee_bps=900)
    assert parts(order)[4] == 0
    _, order = sale(fee_bps=None, category_fee_bps=900, price=999)
    assert parts(order)[4] == 999 * 900 // 10000  # rounded down to the fen
    _, order = sale(fee_bps=10000, price=10000)  # 100%: what the rebate leaves, no more
    assert parts(order)[1:] == (order.shipping_cents, 1000, 0, 9000)


def test_a_replayed_payment_posts_nothing_twice_and_the_split_is_kept(ctx):
    merchant, order = sale(fee_bps=100)
    merchant.fee_bps = 5000  # a later change never touches a paid order
    assert merchant_ledger.on_paid(order, now=NOW) is False
    assert parts(order)[4] == 100
    assert kinds(order) == ["estimated"]


def test_merchant_entries_cannot_be_changed_or_removed(ctx):
    from sqlalchemy import text

    sale()
    entry_id = db.session.execute(select(MerchantEntry.id)).scalar_one()
    for statement in (
        "UPDATE merchant_entries SET amount_cents = 1 WHERE id = :id",
        "DELETE FROM merchant_entries WHERE id = :id",
    ):
        with pytest.raises(Exception, match="append-only"):
            with db.session.begin_nested():
                db.session.execute(text(statement), {"id": entry_id})


def test_fees_are_set_by_admins_only_with_a_reason_and_audited(ctx):
    merchant, category = make_merchant(), make_category()
    with pytest.raises(PermissionDenied):
        mp.set_fee(merchant, 300, actor=make_user(), reason="x", now=NOW)
    with pytest.raises(ValidationError):
        mp.set_fee(merchant, 300, actor=admin(), reason=" ", now=NOW)
    with pytest.raises(ValidationError):
        mp.parse_bps("120")
    assert mp.parse_bps("2.5") == 250 and mp.parse_bps("") is None
    mp.set_fee(merchant, 250, actor=admin(), reason="签约费率", now=NOW)
    mp.set_fee(category, 100, actor=admin(), reason="类目费率", now=NOW)
    assert (merchant.fee_bps, category.fee_bps) == (250, 100)
    rows = db.session.execute(select(AuditEntry.action, AuditEntry.after)).all()
    assert [(a, after["fee_bps"]) for a, after in rows] == [
        ("merchant.fee", 250),
        ("category.fee", 100),
    ]


def test_statement_sums_add_up_by_period(ctx):
    merchant = make_merchant()
    merchant.fee_bps = 200
    orders = []
    for n in range(3):
        product = make_product(price_cents=5000 + n * 100, original_price_cents=None,
                               rebate_bps=1000, merchant=merchant)  # fmt: skip
        shared_click(product, visitor=f"{n}" * 32, at=NOW - timedelta(hours=1))
        [order] = place(make_user(), [(product.id, 2)], visitor=f"{n}" * 32, key=f"s{n}")
        pay(order, NOW)
        orders.append(order)
    refund(orders[0], NOW + timedelta(days=40))  # refunded in the next period
    first = merchant_statement.statement(merchant.id, since=NOW, until=NOW + timedelta(days=30))
    gross = sum(o.total_cents for o in orders)
    rebates = sum(merchant_ledger.split_of(o.id).rebate_cents for o in orders)
    fees = sum(merchant_ledger.split_of(o.id).fee_cents for o in orders)
    assert (first.orders, first.gross_cents, first.refunds) == (3, gross, 0)
    assert (first.rebate_cents, first.fee_cents) == (rebates, fees)
    assert first.net_cents == gross - rebates - fees and first.adds_up()
    second = merchant_statement.statement(
        merchant.id, since=NOW + timedelta(days=30), until=NOW + timedelta(days=60)
    )
    s0 = merchant_ledger.split_of(orders[0].id)
    assert (second.orders, second.refunds, second.refunded_cents) == (0, 1, s0.paid_cents)
    assert second.net_cents == -s0.merchant_cents and second.adds_up()
    rows = list(merchant_statement.lines(merchant.id, since=NOW, until=NOW + timedelta(days=60)))
    assert len(rows) == 4 and sum(r[6] for r in rows) == first.net_cents + second.net_cents
    # Another merchant's statement is empty.
    assert merchant_statement.statement(make_merchant().id, since=NOW, until=NOW.replace(
        year=2030)).orders == 0  # fmt: skip


def settled_merchant(price=10000):
    merchant, order = sale(sharer=False, price=price)
    done = complete(order)
    ledger.settle_order(order.id, now=done + WINDOW, return_window=WINDOW)
    payouts.save_account(merchant.user, "alipay", "张三", "13900001111", "", now=NOW)
    return merchant, order


def test_withdrawals_minimum_one_open_idempotent_and_decided_by_admins(ctx):
    merchant, order = settled_merchant()
    user, total = merchant.user, order.total_cents
    with pytest.raises(ValidationError):
        mp.request_withdrawal(user, 500, idempotency_key="a", minimum_cents=1000, now=NOW)
    with pytest.raises(ValidationError):
        mp.request_withdrawal(user, total + 1, idempotency_key="a", minimum_cents=1000, now=NOW)
    with pytest.raises(PermissionDenied):
        mp.request_withdrawal(make_user(), 2000, idempotency_key="a", minimum_cents=1, now=NOW)
    first = mp.request_withdrawal(user, 2000, idempotency_key="a", minimum_cents=1000, now=NOW)
    again = mp.request_withdrawal(user, 2000, idempotency_key="a", minimum_cents=1000, now=NOW)
    assert again.id == first.id
    with pytest.raises(Conflict):
        mp.request_withdrawal(user, 2000, idempotency_key="b", minimum_cents=1000, now=NOW)
    assert merchant_ledger.balances(merchant.id).available_cents == total - 2000
    with pytest.raises(PermissionDenied):
        mp.decide(first, False, actor=make_user(), reason="no", now=NOW)
    with pytest.raises(ValidationError):
        mp.decide(first, False, actor=admin(), reason="", now=NOW)
    mp.decide(first, False, actor=admin(), reason="账户名不符", now=NOW)
    assert first.status == WithdrawalStatus.REJECTED
    assert merchant_ledger.balances(merchant.id).available_cents == total
    with pytest.raises(InvalidTransition):
        mp.decide(first, True, actor=admin(), reference="T1", now=NOW)
    second = mp.request_withdrawal(user, 3000, idempotency_key="c", minimum_cents=1000, now=NOW)
    with pytest.raises(ValidationError):
        mp.decide(second, True, actor=admin(), reference="", now=NOW)
    mp.decide(second, True, actor=admin(), reference="ALI2026120600001", now=NOW)
    b = merchant_ledger.balances(merchant.id)
    assert (b.available_cents, b.withdrawn_cents, b.withdrawing_cents) == (total - 3000, 3000, 0)
    actions = db.session.execute(select(AuditEntry.action)).scalars().all()
    assert actions == ["withdrawal.reject", "withdrawal.pay"]
    assert [w.id for w in mp.history(merchant.id)] == [second.id, first.id]
    assert mp.queue() == []


def test_the_migration_goes_down_and_up_with_entries_in_place(app):
    from flask_migrate import downgrade, upgrade
    from sqlalchemy import inspect

    with app.app_context():
        merchant, order = sale(fee_bps=200)
        refund(order, NOW + timedelta(hours=1))
        db.session.commit()
        old_id = order.id
        db.session.remove()
        downgrade(revision="5d1e0c2b7a90")
        conn = db.session.connection()
        names = inspect(conn).get_table_names()
        assert not {"order_splits", "merchant_entries", "merchant_withdrawals"} & set(names)
        assert "fee_bps" not in {c["name"] for c in inspect(conn).get_columns("merchants")}
        db.session.commit()
        db.session.remove()
        upgrade()
        # Orders paid before the migration have no split (docs/orders-and-money.md); new ones do.
        assert merchant_ledger.split_of(old_id) is None
        merchant, order = sale(fee_bps=100)
        assert parts(order)[4] == 100 and kinds(order) == ["estimated"]
        db.session.commit()
