"""`flask backfill-splits` (shop.money.split_backfill): orders paid before merchant settlement
existed get their split and the merchant entries their history implies (paid, settled,
voided, clawed back), in batches, with no fee unless asked; running it again posts nothing.
The invariant checker (every paid order has a split that agrees with the rebate ledger, the
money identity per order) runs on the result."""

from datetime import timedelta

import pytest

from shop.money import ledger, merchant_ledger, split_backfill
from shop.platform.extensions import db
from tests import invariants
from tests.services.test_merchant_settlement import WINDOW, complete, kinds, refund, sale
from tests.services.test_orders import NOW


@pytest.fixture
def old_orders(ctx, monkeypatch):
    """Four orders paid, settled and refunded as before merchant settlement existed (no split,
    no merchant entry), with fee rates set since."""
    monkeypatch.setattr(merchant_ledger, "on_paid", lambda order, *, now: False)
    _m, plain = sale(sharer=False, category_fee_bps=500)
    _m, teamed = sale(override=1000, fee_bps=300)
    _m, voided = sale(category_fee_bps=500)
    refund(voided, NOW + timedelta(hours=2))
    _m, clawed = sale()
    done = complete(clawed)
    ledger.settle_order(clawed.id, now=done + WINDOW, return_window=WINDOW)
    refund(clawed, done + WINDOW + timedelta(days=1))
    _m, settled = sale(sharer=False)
    done = complete(settled)
    ledger.settle_order(settled.id, now=done + WINDOW, return_window=WINDOW)
    monkeypatch.undo()
    db.session.commit()  # backfill() commits batch by batch, as the command does
    assert all(merchant_ledger.split_of(o.id) is None for o in (plain, teamed, voided, clawed))
    with pytest.raises(AssertionError, match="paid orders without a split"):
        invariants.check(db.session)
    return {"plain": plain, "teamed": teamed, "voided": voided, "clawed": clawed,
            "settled": settled}  # fmt: skip


def test_old_orders_get_splits_and_entries_that_follow_their_history(old_orders):
    ids = sorted(o.id for o in old_orders.values())
    assert split_backfill.missing(limit=2) == ids[:2]
    done = split_backfill.backfill(now=NOW + timedelta(days=90), batch=2)
    assert done == {"orders": 5, "batches": 3}
    invariants.check(db.session)
    o = old_orders
    assert kinds(o["plain"]) == ["estimated"]
    assert kinds(o["teamed"]) == ["estimated"]
    assert kinds(o["voided"]) == ["estimated", "voided"]
    assert kinds(o["clawed"]) == ["estimated", "settled", "clawback"]
    teamed = merchant_ledger.split_of(o["teamed"].id)
    # The ledger's rebate (10%) and override (10% of it); no fee was agreed back then.
    assert (teamed.rebate_cents, teamed.override_cents, teamed.fee_cents) == (1000, 100, 0)
    assert teamed.platform_cents == -100
    assert teamed.merchant_cents == o["teamed"].total_cents - 1000
    plain = merchant_ledger.split_of(o["plain"].id)
    assert (plain.merchant_cents, plain.fee_cents) == (o["plain"].total_cents, 0)
    # The settled share of the order that earned no rebate is left to settle-rebates.
    assert kinds(o["settled"]) == ["estimated"]
    later = NOW + timedelta(days=90)
    assert o["settled"].id in ledger.due_for_settlement(now=later, return_window=WINDOW)
    ledger.settle_order(o["settled"].id, now=later, return_window=WINDOW)
    assert kinds(o["settled"]) == ["estimated", "settled"]
    # Again: nothing left, nothing posted twice.
    assert split_backfill.backfill(now=later, batch=2) == {"orders": 0, "batches": 0}
    assert split_backfill.backfill_order(o["plain"], now=later) is False
    invariants.check(db.session)


def test_with_current_fees_the_rates_of_today_are_charged(old_orders):
    split_backfill.backfill(now=NOW + timedelta(days=90), current_fees=True)
    invariants.check(db.session)
    plain = merchant_ledger.split_of(old_orders["plain"].id)
    assert plain.fee_cents == 500  # 5% of the category on 100 yuan of goods
    assert plain.merchant_cents == old_orders["plain"].total_cents - 500
    assert merchant_ledger.split_of(old_orders["teamed"].id).fee_cents == 300


def test_the_command_reports_and_is_safe_to_run_again(app, old_orders):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["backfill-splits", "--batch", "3"])
    assert first.exit_code == 0, first.output
    assert "Orders given a split: 5 (in 2 batches)" in first.output
    again = runner.invoke(args=["backfill-splits"])
    assert "Orders given a split: 0 (in 0 batches)" in again.output
    assert runner.invoke(args=["backfill-splits", "--batch", "0"]).exit_code != 0
    db.session.rollback()
    invariants.check(db.session)
