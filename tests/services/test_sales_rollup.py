"""The order, sales, product and ledger rollups (shop.money.sales): counted by hand through
an order's whole life, added up by many payments at once, equal to a recount, repaired by
``flask rollup`` and filled by the migration for orders placed before it."""

from datetime import timedelta

from sqlalchemy import func, select, update

from shop.insights import overview, stats
from shop.money import ledger, sales
from shop.money.models import LedgerDay, OrderDay, ProductDay, SaleDay
from shop.orders import states
from shop.orders.models import Order
from shop.platform import db as dbsetup
from shop.platform.extensions import db
from shop.sharing.rollup import china_day
from tests import invariants
from tests.factories import make_product, make_user
from tests.services.test_concurrency import race
from tests.services.test_orders import NOW, lifecycle_order, pay, place, shared_click


def order_day(order):
    return db.session.execute(
        select(
            OrderDay.orders,
            OrderDay.paid,
            OrderDay.estimated_cents,
            OrderDay.settled,
            OrderDay.settled_cents,
            OrderDay.refunded,
            OrderDay.refunded_cents,
        ).where(OrderDay.link_id == order.link_id, OrderDay.day == china_day(order.placed_at))
    ).one()


def sale_day(order):
    return db.session.execute(
        select(SaleDay.orders, SaleDay.gmv_cents, SaleDay.refunded).where(
            SaleDay.day == china_day(order.paid_at), SaleDay.sharer_id == order.sharer_id
        )
    ).one()


def ledger_days():
    return {
        kind: (entries, amount)
        for kind, entries, amount in db.session.execute(
            select(
                LedgerDay.kind, func.sum(LedgerDay.entries), func.sum(LedgerDay.amount_cents)
            ).group_by(LedgerDay.kind)
        )
    }


def recount_matches():
    connection = db.session.connection()
    assert sales.kept(connection) == sales.expected(connection)


def test_one_order_counted_by_hand_through_its_whole_life(ctx):
    # ¥100 at 10%: a ¥10.00 rebate. Placed 23:30 China time; paid then too.
    placed_at = NOW.replace(hour=15, minute=30)
    order, sharer = lifecycle_order(at=placed_at)
    assert order.click_lag_seconds == 3600  # the click was an hour before
    assert order_day(order) == (1, 1, 1000, 0, 0, 0, 0)
    assert sale_day(order) == (1, 10000, 0)
    assert db.session.execute(
        select(ProductDay.day, ProductDay.units, ProductDay.gmv_cents)
    ).all() == [(china_day(placed_at), 1, 10000)]
    assert ledger_days() == {"estimated": (1, 1000)}

    done_at = placed_at + timedelta(days=11, minutes=1)
    states.complete_shipped(now=done_at, after=timedelta(days=10))
    window = timedelta(days=7)
    assert ledger.settle_order(order.id, now=done_at + window, return_window=window) == 1
    assert ledger.settle_order(order.id, now=done_at + window, return_window=window) == 0
    assert order_day(order) == (1, 1, 1000, 1, 1000, 0, 0)  # settled once, not twice

    states.request_refund(order, "质量问题", actor=order.buyer, now=done_at + timedelta(days=8))
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=done_at + window)
    # Clawed back: no longer settled; estimated and paid stay (the funnel counts them), and
    # the refund with its reversed rebate is counted, once.
    assert order_day(order) == (1, 1, 1000, 0, 0, 1, 1000)
    assert ledger.reverse_for_refund(order, now=done_at + window) == 0
    assert order_day(order) == (1, 1, 1000, 0, 0, 1, 1000)
    assert sale_day(order) == (1, 10000, 1)
    assert ledger_days() == {
        "estimated": (1, 1000),
        "settled": (1, 1000),
        "clawback": (1, 1000),
    }
    recount_matches()

    # The pages read the same from the rollups as from the raw rows.
    day = china_day(placed_at)
    rolled = stats.funnel(sharer.id, day, day)
    raw = stats.funnel_from_raw(sharer.id, day, day)
    for name in ("orders", "paid", "estimated_cents", "settled", "settled_cents", "refunded"):
        assert getattr(rolled, name) == getattr(raw, name), name
    assert (rolled.refunded, rolled.refunded_cents, rolled.estimated_net_cents) == (1, 1000, 0)
    assert rolled.lag == raw.lag and rolled.lag.median_seconds == 3600
    at = done_at + window
    seen = overview.summary(now=at, days=60)
    totals = seen.rebates
    # Settled is gross on the overview as on the sharer's page; the clawback is apart.
    assert (totals.estimated_cents, totals.settled_cents, totals.clawed_back_cents) == (
        0,
        1000,
        1000,
    )
    assert seen.refunded == 1
    [top] = seen.top_sharers
    assert (top.sharer_id, top.orders, top.gmv_cents) == (sharer.id, 1, 10000)


def test_orders_that_earn_nothing_count_in_sales_but_not_in_a_funnel(ctx):
    product = make_product(price_cents=5000, original_price_cents=None)
    [order] = place(make_user(), [(product.id, 2)], at=NOW)  # no click: no sharer
    pay(order, NOW)
    assert db.session.execute(select(OrderDay)).first() is None
    assert db.session.execute(
        select(SaleDay.sharer_id, SaleDay.orders, SaleDay.gmv_cents)
    ).all() == [(0, 1, 10000)]
    seen = overview.summary(now=NOW, days=1)
    assert seen.days[0].orders == 1
    assert overview.summary(now=NOW).top_sharers == []
    [top] = overview.summary(now=NOW).top_products
    assert (top.product_id, top.units, top.gmv_cents) == (product.id, 2, 10000)
    recount_matches()


def test_an_unpaid_order_counts_as_placed_only(ctx):
    product = make_product()
    shared_click(product, at=NOW - timedelta(minutes=5))
    [order] = place(make_user(), [(product.id, 1)], visitor="v" * 32, at=NOW)
    assert order_day(order)[:3] == (1, 0, 0)
    assert db.session.execute(select(SaleDay)).first() is None
    recount_matches()


def test_many_payments_at_once_add_up_to_the_recount(app):
    count = 12
    with app.app_context():
        product = make_product(stock=count, price_cents=1000, original_price_cents=None)
        shared_click(product, at=NOW - timedelta(minutes=5))
        placed = []
        for i in range(count):
            [order] = place(make_user(), [(product.id, 1)], visitor="v" * 32, at=NOW, key=f"k{i}")
            placed.append(order.id)
        db.session.commit()

    def pay_one(i):
        return pay(db.session.get(Order, placed[i]), NOW).applied

    results, _seconds = race(app, count, pay_one)
    assert results == [True] * count
    with app.app_context():
        assert db.session.execute(select(SaleDay.orders, SaleDay.gmv_cents)).all() == [
            (count, count * 1000)
        ]
        assert db.session.execute(select(OrderDay.orders, OrderDay.paid)).all() == [(count, count)]
        invariants.check(db.session)  # includes rollups == recount


def test_flask_rollup_repairs_the_order_rollups_and_can_run_again(app):
    with app.app_context():
        lifecycle_order()
        db.session.commit()
        expected = sales.expected(db.session.connection())
        with dbsetup.writing():
            db.session.execute(update(OrderDay).values(orders=99))
            db.session.execute(SaleDay.__table__.delete())
            db.session.commit()
    for _ in range(2):
        with app.app_context():  # as the command line runs it
            result = app.test_cli_runner().invoke(args=["rollup"])
            db.session.remove()
        assert result.exit_code == 0, result.output
        assert "Orders recounted: 1 earning, 1 paid" in result.output
    with app.app_context():
        assert sales.kept(db.session.connection()) == expected


def test_the_migration_fills_the_rollups_for_orders_placed_before_it(app):
    from flask_migrate import downgrade, upgrade

    with app.app_context():
        lifecycle_order()
        product = make_product()
        [order] = place(make_user(), [(product.id, 1)], at=NOW, key="no-sharer")
        pay(order, NOW + timedelta(minutes=3))
        db.session.commit()
        expected = sales.kept(db.session.connection())
        lags = db.session.execute(select(Order.click_lag_seconds).order_by(Order.id)).all()
        assert lags == [(3600,), (None,)]
        assert expected[OrderDay] and expected[SaleDay] and expected[LedgerDay]
        db.session.remove()
        downgrade(revision="4e25560b99aa")  # before the order rollups
        upgrade()
        assert sales.kept(db.session.connection()) == expected
        assert db.session.execute(select(Order.click_lag_seconds).order_by(Order.id)).all() == lags
