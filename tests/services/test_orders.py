"""Checkout, the order state table, payments, the ledger and payouts, with explicit times."""

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select, text

from shop.money import ledger, payouts
from shop.money.models import EntryKind, LedgerEntry, PayoutStatus
from shop.orders import checkout, payments, states
from shop.orders.models import Order, OrderStatus, PaymentEvent
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Channel
from tests import invariants
from tests.factories import make_merchant, make_product, make_shop, make_user
from tests.services.test_links_and_clicks import facts

NOW = datetime(2026, 11, 24, 10, 0, 0)
WINDOW = timedelta(days=15)
ADDRESS = checkout.ShippingAddress("王小二", "13912345678", "浙江省 杭州市 西湖区", "文三路 90 号")
S = OrderStatus


def place(
    buyer, lines, *, key="k1", visitor=None, provider="sandbox", at=NOW, allow=True, coupons=None
):
    return checkout.place_order(
        buyer,
        lines,
        ADDRESS,
        checkout_key=key,
        provider=provider,
        visitor_id=visitor,
        now=at,
        window=WINDOW,
        allow_self_purchase=allow,
        pay_within=timedelta(minutes=30),
        coupons=coupons,
    )


def shared_click(product, visitor="v" * 32, at=NOW - timedelta(days=1)):
    """A counted click on a sharer's link for ``product``; returns the sharer."""
    shop = make_shop()
    link = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=at)
    clicks.record_click(link, facts(), visitor_id=visitor, ip_secret="s", flooded=False, now=at)
    return shop.user


def sandbox():
    return payments.providers("test-secret", ["sandbox", "manual"])["sandbox"]


def pay(order, at=NOW):
    provider = sandbox()
    body = provider.notice_body(order)
    notice = provider.parse(body, provider.sign(body))
    return payments.apply_notice("sandbox", notice, now=at)


FORCED_STATES = {"test_every_pair_of_the_state_table", "test_a_stale_order_object_changes_nothing"}


@pytest.fixture(autouse=True)
def _check_invariants(request):
    # Tests that force statuses with raw SQL (to reach every state) break them on purpose.
    forced = request.node.originalname in FORCED_STATES
    uses_db = "ctx" in request.fixturenames and not forced
    if uses_db:
        request.getfixturevalue("ctx")  # set up first, so torn down after this check
    yield
    if uses_db:
        db.session.flush()
        invariants.check(db.session)


def test_order_snapshots_price_and_rate_and_reserves_stock(ctx):
    product = make_product(price_cents=12850, rebate_bps=1234, stock=5)
    sharer = shared_click(product)
    buyer = make_user()
    [order] = place(buyer, [(product.id, 3)], visitor="v" * 32)
    assert product.stock == 2
    [item] = order.items
    assert (item.unit_price_cents, item.quantity, item.rebate_bps) == (12850, 3, 1234)
    assert item.rebate_cents == 12850 * 3 * 1234 // 10000 == 4757  # rounded down, once
    assert order.total_cents == 38550
    assert order.sharer_id == sharer.id and order.attribution_reason == "attributed"
    assert order.click_id is not None and order.link_id is not None
    product.price_cents, product.rebate_bps = 1, 100  # later changes do not touch the order
    db.session.flush()
    db.session.refresh(item)
    assert item.unit_price_cents == 12850 and item.rebate_bps == 1234
    assert [e.to_status for e in order.events] == ["placed"]


def test_no_click_orders_record_why_they_earn_nothing(ctx):
    product = make_product()
    [order] = place(make_user(), [(product.id, 1)])
    assert order.attribution_reason == "no_click" and order.sharer_id is None
    pay(order)
    assert not db.session.execute(select(LedgerEntry)).all()


def test_self_purchase_is_marked_and_obeys_the_setting(ctx):
    product = make_product()
    sharer = shared_click(product, visitor="s" * 32)
    [allowed] = place(sharer, [(product.id, 1)], visitor="s" * 32, key="a")
    [refused] = place(sharer, [(product.id, 1)], visitor="s" * 32, key="b", allow=False)
    assert allowed.attribution_reason == "self_purchase" and allowed.sharer_id == sharer.id
    assert refused.attribution_reason == "self_purchase_not_allowed"
    pay(allowed)
    pay(refused)
    kinds = db.session.execute(select(LedgerEntry.order_id)).scalars().all()
    assert kinds == [allowed.id]


def test_bad_quantities_and_stock(ctx):
    product = make_product(stock=2)
    buyer = make_user()
    for raw in ("0", "-1", "abc", "", "100"):
        with pytest.raises(ValidationError) as caught:
            checkout.parse_quantity(raw, maximum=99)
        assert caught.value.field == "quantity"
    with pytest.raises(ValidationError, match="2"):
        place(buyer, [(product.id, 3)])
    assert product.stock == 2 and not db.session.execute(select(Order)).all()


def test_replayed_checkout_returns_the_same_orders_and_merchants_split(ctx):
    a, b = make_merchant(), make_merchant()
    pa, pb, pa2 = make_product(merchant=a), make_product(merchant=b), make_product(merchant=a)
    buyer = make_user()
    first = place(buyer, [(pa.id, 1), (pb.id, 2), (pa2.id, 1)], key="same")
    again = place(buyer, [(pa.id, 1), (pb.id, 2), (pa2.id, 1)], key="same")
    assert [o.id for o in first] == [o.id for o in again] and len(first) == 2
    assert {o.merchant_id for o in first} == {a.id, b.id}
    assert sorted(len(o.items) for o in first) == [1, 2]
    assert pb.stock == 8  # reserved once


ALL = list(OrderStatus)
SOURCES = ("buyer", "merchant", "admin", "payment", "system", "withdrawal")


def order_in(status, refund_from=None):
    product = make_product()
    [order] = place(make_user(), [(product.id, 1)], key=f"k{product.id}")
    values = {"status": status, "refund_from": refund_from}
    db.session.execute(Order.__table__.update().where(Order.id == order.id).values(**values))
    db.session.refresh(order)
    return order


@pytest.mark.parametrize("start", ALL)
def test_every_pair_of_the_state_table(ctx, start):
    """Each (from, to, source): allowed exactly when the table says so; refused ones change
    nothing."""
    for to in ALL:
        for source in SOURCES:
            refund_from = (
                str(S.SHIPPED) if start in (S.REFUND_REJECTED, S.REFUND_REQUESTED) else None
            )
            order = order_in(start, refund_from)
            expected = source in states.TRANSITIONS.get((start, to), ())
            if start == S.REFUND_REJECTED and to in states.RESUME_FROM:
                expected = expected and states.RESUME_FROM[to] == S.SHIPPED
            if start == S.REFUND_REQUESTED and to in (S.PAID, S.SHIPPED, S.COMPLETED):
                expected = expected and to == S.SHIPPED  # a withdrawn request goes back
            if expected:
                states.transition(order, to, source=source, actor=None, now=NOW)
                assert order.status == to
                assert order.events[-1].from_status == start and order.events[-1].to_status == to
            else:
                with pytest.raises(InvalidTransition):
                    states.transition(order, to, source=source, actor=None, now=NOW)
                db.session.refresh(order)
                assert order.status == start and len(order.events) == 1


def test_a_stale_order_object_changes_nothing(ctx):
    order = order_in(S.PAID)
    db.session.execute(
        text("UPDATE orders SET version = version + 1 WHERE id = :id"), {"id": order.id}
    )
    with pytest.raises(Conflict):
        states.transition(order, S.SHIPPED, source="merchant", actor=None, now=NOW)
    assert order.status == S.PAID


def test_payment_replays_forgeries_and_wrong_amounts(ctx):
    product = make_product()
    shared_click(product)
    [order] = place(make_user(), [(product.id, 1)], visitor="v" * 32)
    provider = sandbox()
    body = provider.notice_body(order)
    with pytest.raises(payments.BadSignature):
        provider.parse(body, "0" * 64)
    with pytest.raises(payments.BadSignature):
        provider.parse(body.replace(b'"paid"', b'"refund"'), provider.sign(body))
    notice = provider.parse(body, provider.sign(body))
    assert payments.apply_notice("sandbox", notice, now=NOW).outcome == "paid"
    for _ in range(3):
        assert payments.apply_notice("sandbox", notice, now=NOW).outcome == "replay"
    second = provider.notice_body(order)  # a second, different event for the same order
    late = payments.apply_notice("sandbox", provider.parse(second, provider.sign(second)), now=NOW)
    assert late.outcome == "already_paid"
    assert order.status == S.PAID
    assert len(db.session.execute(select(LedgerEntry)).all()) == 1
    cheap = payments.PaymentNotice("x1", order.number, order.total_cents - 1)
    [fresh] = place(make_user(), [(product.id, 1)], key="z")
    bad = payments.apply_notice("sandbox", payments.PaymentNotice("x2", fresh.number, 1), now=NOW)
    assert bad.outcome == "amount_mismatch" and fresh.status == S.PLACED
    assert payments.apply_notice("sandbox", cheap, now=NOW).outcome == "amount_mismatch"


def test_payment_after_the_timeout_cancelled_the_order_is_recorded_not_applied(ctx):
    product = make_product(stock=1)
    [order] = place(make_user(), [(product.id, 1)])
    assert product.stock == 0
    assert states.cancel_unpaid(now=NOW + timedelta(minutes=29)) == 0
    assert states.cancel_unpaid(now=NOW + timedelta(minutes=30)) == 1
    db.session.refresh(product)
    assert order.status == S.CANCELLED and product.stock == 1
    assert pay(order).outcome == "not_payable"
    assert db.session.execute(select(PaymentEvent.outcome)).scalar_one() == "not_payable"


def lifecycle_order(at=NOW, rebate_bps=1000, price=10000):
    product = make_product(price_cents=price, original_price_cents=None, rebate_bps=rebate_bps)
    sharer = shared_click(product, at=at - timedelta(hours=1))
    [order] = place(make_user(), [(product.id, 1)], visitor="v" * 32, at=at, key=f"k{product.id}")
    pay(order, at)
    merchant = make_user()
    states.ship(order, "顺丰速运", "SF1234567890", actor=merchant, now=at + timedelta(days=1))
    return order, sharer


def test_rebate_estimated_settled_once_then_clawed_back(ctx):
    order, sharer = lifecycle_order()
    assert ledger.balances(sharer.id).estimated_cents == 1000
    assert states.complete_shipped(now=NOW + timedelta(days=10), after=timedelta(days=10)) == 0
    done_at = NOW + timedelta(days=11, minutes=1)
    assert states.complete_shipped(now=done_at, after=timedelta(days=10)) == 1
    window = timedelta(days=7)
    assert ledger.due_for_settlement(now=done_at + timedelta(days=6), return_window=window) == []
    due = ledger.due_for_settlement(now=done_at + window, return_window=window)
    assert due == [order.id]
    assert ledger.settle_order(order.id, now=done_at + window, return_window=window) == 1
    assert ledger.settle_order(order.id, now=done_at + window, return_window=window) == 0
    assert ledger.due_for_settlement(now=done_at + window, return_window=window) == []
    b = ledger.balances(sharer.id)
    assert (b.estimated_cents, b.available_cents) == (0, 1000)
    states.request_refund(order, "质量问题", actor=order.buyer, now=done_at + timedelta(days=8))
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=done_at + window)
    b = ledger.balances(sharer.id)
    assert (b.estimated_cents, b.available_cents) == (0, 0)
    kinds = db.session.execute(select(LedgerEntry.kind).order_by(LedgerEntry.id)).scalars().all()
    assert kinds == [EntryKind.ESTIMATED, EntryKind.SETTLED, EntryKind.CLAWBACK]


def test_refund_before_settlement_voids(ctx):
    order, sharer = lifecycle_order()
    states.request_refund(order, "不想要了", actor=order.buyer, now=NOW + timedelta(days=2))
    states.decide_refund(
        order, True, actor=make_user(), source="merchant", now=NOW + timedelta(days=3)
    )
    assert ledger.balances(sharer.id).estimated_cents == 0
    assert (
        ledger.due_for_settlement(now=NOW + timedelta(days=60), return_window=timedelta(days=7))
        == []
    )


def test_a_rejected_refund_goes_on_and_settles(ctx):
    order, sharer = lifecycle_order()
    states.request_refund(order, "慢", actor=order.buyer, now=NOW + timedelta(days=2))
    states.decide_refund(
        order, False, actor=make_user(), source="merchant", now=NOW + timedelta(days=3)
    )
    states.confirm_receipt(order, actor=order.buyer, now=NOW + timedelta(days=4))
    assert order.status == S.COMPLETED
    ledger.settle_order(order.id, now=NOW + timedelta(days=11), return_window=timedelta(days=7))
    assert ledger.balances(sharer.id).available_cents == 1000


def test_only_the_buyer_acts_on_their_order(ctx):
    order, _ = lifecycle_order()
    with pytest.raises(PermissionDenied):
        states.confirm_receipt(order, actor=make_user(), now=NOW)
    with pytest.raises(PermissionDenied):
        states.request_refund(order, "x", actor=make_user(), now=NOW)


def test_ledger_rows_cannot_be_changed_or_removed(ctx):
    order, _ = lifecycle_order()
    entry_id = db.session.execute(select(LedgerEntry.id)).scalar_one()
    for statement in (
        "UPDATE ledger_entries SET amount_cents = 1 WHERE id = :id",
        "DELETE FROM ledger_entries WHERE id = :id",
    ):
        with pytest.raises(Exception, match="append-only"):
            with db.session.begin_nested():
                db.session.execute(text(statement), {"id": entry_id})


def earning_sharer(amount_yuan=50):
    order, sharer = lifecycle_order(price=amount_yuan * 1000)  # 10% of price
    states.confirm_receipt(order, actor=order.buyer, now=NOW + timedelta(days=2))
    ledger.settle_order(order.id, now=NOW + timedelta(days=10), return_window=timedelta(days=7))
    payouts.save_account(sharer, "alipay", "小美", "13800000003", "", now=NOW)
    return sharer


def test_payouts_minimum_balance_one_open_and_rejection_returns(ctx):
    sharer = earning_sharer(50)
    assert ledger.balances(sharer.id).available_cents == 5000
    request = lambda amount, key: payouts.request_payout(  # noqa: E731
        sharer, amount, idempotency_key=key, minimum_cents=1000, now=NOW + timedelta(days=11)
    )
    with pytest.raises(ValidationError, match="10.00"):
        request(999, "a")
    with pytest.raises(ValidationError, match="50.00"):
        request(5001, "b")
    first = request(3000, "c")
    assert request(3000, "c").id == first.id  # replayed form
    with pytest.raises(Conflict):
        request(1000, "d")
    b = ledger.balances(sharer.id)
    assert (b.available_cents, b.pending_payout_cents) == (2000, 3000)
    admin = make_user(is_admin=True)
    with pytest.raises(PermissionDenied):
        payouts.decide(first, False, actor=sharer, reason="x", now=NOW)
    payouts.decide(first, False, actor=admin, reason="账户名不符", now=NOW)
    with pytest.raises(InvalidTransition):
        payouts.decide(first, True, actor=admin, reference="T1", now=NOW)
    assert ledger.balances(sharer.id).available_cents == 5000
    second = request(5000, "e")
    payouts.decide(second, True, actor=admin, reference="ALI2026112400001", now=NOW)
    b = ledger.balances(sharer.id)
    assert (b.available_cents, b.paid_out_cents) == (0, 5000)
    assert second.status == PayoutStatus.PAID


def test_a_negative_balance_blocks_payouts_until_covered(ctx):
    sharer = earning_sharer(50)
    payouts.request_payout(sharer, 5000, idempotency_key="all", minimum_cents=1000, now=NOW)
    # The settled order is refunded after the payout: clawback takes the balance below zero.
    order = db.session.execute(select(Order).where(Order.sharer_id == sharer.id)).scalar_one()
    states.request_refund(order, "退货", actor=order.buyer, now=NOW + timedelta(days=12))
    states.decide_refund(order, True, actor=make_user(is_admin=True), source="admin", now=NOW)
    assert ledger.balances(sharer.id).available_cents == -5000
    payout = payouts.open_request(sharer)
    payouts.decide(payout, True, actor=make_user(is_admin=True), reference="R1", now=NOW)
    with pytest.raises(ValidationError, match="0.00"):
        payouts.request_payout(sharer, 1000, idempotency_key="x", minimum_cents=1000, now=NOW)


def test_payout_account_rules(ctx):
    user = make_user()
    for args, field in (
        (("cash", "王", "13800000000", ""), "method"),
        (("bank", "王", "1234", "招商银行"), "account_number"),
        (("bank", "王", "6225880112345678", ""), "bank_name"),
        (("wechat", "", "wxid_abcdef", ""), "account_name"),
    ):
        with pytest.raises(ValidationError) as caught:
            payouts.save_account(user, *args, now=NOW)
        assert caught.value.field == field
    account = payouts.save_account(user, "bank", "王", "6225 8801 1234 5678", "招商银行", now=NOW)
    assert account.account_number == "6225880112345678"
    assert payouts.masked(account.account_number) == "•••• 5678"


def test_settle_rebates_command_twice_settles_once(app, ctx):
    order, sharer = lifecycle_order(at=datetime(2026, 1, 1))
    states.confirm_receipt(order, actor=order.buyer, now=datetime(2026, 1, 3))
    db.session.commit()
    runner = app.test_cli_runner()
    first = runner.invoke(args=["settle-rebates"])
    second = runner.invoke(args=["settle-rebates"])
    assert "rebate entries settled: 1" in first.output, first.output
    assert "Orders due: 0" in second.output
    db.session.rollback()
    assert ledger.balances(sharer.id).available_cents == 1000
