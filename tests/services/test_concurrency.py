"""Requests released together against one file database (SQLite) or PostgreSQL server: each
thread has its own app context, session and connection, as a server's workers do."""

import threading
import time
from datetime import timedelta

from sqlalchemy import func, select

from shop.accounts.models import User
from shop.catalog.models import Product
from shop.money import ledger, payouts
from shop.money.models import LedgerEntry, Payout
from shop.orders import checkout, payments
from shop.orders.models import Order, OrderEvent
from shop.platform import db as dbsetup
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, make_user
from tests.services.test_orders import (
    ADDRESS,
    NOW,
    WINDOW,
    earning_sharer,
    sandbox,
)


def race(app, count, work):
    """Run ``work(i)`` in ``count`` threads released by one barrier; returns (results,
    seconds). A DomainError counts as a refusal (its class name is the result)."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(i):
        with app.app_context():
            barrier.wait()
            try:
                with dbsetup.writing():
                    results[i] = work(i)
                    db.session.commit()
            except DomainError as error:
                db.session.rollback()
                results[i] = type(error).__name__
            finally:
                db.session.remove()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results, time.perf_counter() - begin


def test_fifty_buyers_for_five_in_stock_buy_exactly_five(app):
    with app.app_context():
        product_id = make_product(stock=5).id
        buyer_ids = [make_user().id for _ in range(50)]
        db.session.commit()

    def buy(i):
        buyer = db.session.get(User, buyer_ids[i])
        placed = checkout.place_order(
            buyer, [(product_id, 1)], ADDRESS, checkout_key=f"key-{i}-xxxxxxxxxxxx",
            provider="sandbox", visitor_id=None, now=NOW, window=WINDOW,
            allow_self_purchase=True, pay_within=timedelta(minutes=30),
        )  # fmt: skip
        return "ok" if placed else None

    results, seconds = race(app, 50, buy)
    assert results.count("ok") == 5, results
    assert all(r in ("ok", "ValidationError") for r in results), results
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 0
        assert db.session.execute(select(func.count(Order.id))).scalar() == 5
        invariants.check(db.session)
    print(f"\n50 buyers, stock 5: 5 sold, 45 refused, {seconds:.2f} s")


def test_two_hundred_replays_of_one_payment_notice_pay_once(app):
    with app.app_context():
        product = make_product(stock=5)
        [order] = checkout.place_order(
            make_user(), [(product.id, 1)], ADDRESS, checkout_key="replayed-key-0000",
            provider="sandbox", visitor_id=None, now=NOW, window=WINDOW,
            allow_self_purchase=True, pay_within=timedelta(minutes=30),
        )  # fmt: skip
        db.session.commit()
        provider = sandbox()
        body = provider.notice_body(order)
        signature = provider.sign(body)
        order_id = order.id

    def deliver(_i):
        notice = provider.parse(body, signature)
        return payments.apply_notice("sandbox", notice, now=NOW).outcome

    results, seconds = race(app, 200, deliver)
    assert results.count("paid") == 1 and results.count("replay") == 199, set(results)
    with app.app_context():
        paid = select(func.count(OrderEvent.id)).where(
            OrderEvent.order_id == order_id, OrderEvent.to_status == "paid"
        )
        assert db.session.execute(paid).scalar() == 1
        invariants.check(db.session)
    print(f"\n200 deliveries of one notice: 1 paid, 199 replays, {seconds:.2f} s")


def test_fifty_payout_requests_against_one_balance_give_one_payout(app):
    with app.app_context():
        sharer_id = earning_sharer(50).id
        db.session.commit()

    def ask(i):
        sharer = db.session.get(User, sharer_id)
        payouts.request_payout(sharer, 4000, idempotency_key=f"k{i}", minimum_cents=1000, now=NOW)
        return "ok"

    results, seconds = race(app, 50, ask)
    assert results.count("ok") == 1, results
    with app.app_context():
        assert db.session.execute(select(func.count(Payout.id))).scalar() == 1
        assert ledger.balances(sharer_id).available_cents == 1000
        assert (
            db.session.execute(
                select(func.count(LedgerEntry.id)).where(LedgerEntry.kind == "payout")
            ).scalar()
            == 1
        )
        invariants.check(db.session)
    print(f"\n50 payout requests on ¥50: 1 accepted, 49 refused, {seconds:.2f} s")


def test_fifty_withdrawal_requests_against_one_merchant_balance_give_one(app):
    from shop.money import merchant_ledger
    from shop.money import merchant_payouts as mp
    from shop.money.models import MerchantWithdrawal
    from tests.services.test_merchant_settlement import settled_merchant

    with app.app_context():
        merchant, order = settled_merchant()
        merchant_id, user_id, total = merchant.id, merchant.user_id, order.total_cents
        db.session.commit()

    def ask(i):
        user = db.session.get(User, user_id)
        mp.request_withdrawal(user, 4000, idempotency_key=f"w{i}", minimum_cents=1000, now=NOW)
        return "ok"

    results, seconds = race(app, 50, ask)
    assert results.count("ok") == 1, results
    with app.app_context():
        assert db.session.execute(select(func.count(MerchantWithdrawal.id))).scalar() == 1
        assert merchant_ledger.balances(merchant_id).available_cents == total - 4000
        invariants.check(db.session)
    print(f"\n50 withdrawal requests: 1 accepted, 49 refused, {seconds:.2f} s")


def test_twenty_reports_at_once_from_one_account_store_at_most_the_limit(app):
    from shop.reviews import writing
    from shop.reviews.models import Review, ReviewReport
    from tests.factories import make_review

    with app.app_context():
        review_ids = [make_review(body=f"评价{n}").id for n in range(20)]
        reporter_id = make_user().id
        db.session.commit()

    def report(i):
        review = db.session.get(Review, review_ids[i])
        reporter = db.session.get(User, reporter_id)
        writing.report_review(review, reporter=reporter, reason="spam", now=NOW)
        return "ok"

    results, seconds = race(app, 20, report)
    assert results.count("ok") == 10 and results.count("ValidationError") == 10, results
    with app.app_context():
        assert db.session.execute(select(func.count(ReviewReport.id))).scalar() == 10
    print(f"\n20 reports at once from one account: 10 stored, 10 refused, {seconds:.2f} s")


def test_twelve_reviews_at_once_from_one_buyer_hold_all_past_the_burst(app):
    from shop.orders.models import OrderItem
    from shop.reviews import writing
    from shop.reviews.models import Review, ReviewStatus
    from shop.reviews.rules import Rules
    from tests.factories import make_completed_order

    with app.app_context():
        buyer = make_user()
        item_ids = [make_completed_order(buyer, at=NOW).items[0].id for _ in range(12)]
        buyer_id = buyer.id
        db.session.commit()

    def write(i):
        item = db.session.get(OrderItem, item_ids[i])
        buyer = db.session.get(User, buyer_id)
        review = writing.write_review(
            item, actor=buyer, rating=5, body="好", now=NOW + timedelta(minutes=1),
            rules=Rules(),
        )  # fmt: skip
        return str(review.status)

    results, _seconds = race(app, 12, write)
    assert results.count("published") == 5 and results.count("held") == 7, results
    with app.app_context():
        statuses = db.session.execute(select(Review.status)).scalars().all()
        assert statuses.count(ReviewStatus.PUBLISHED) == 5


def test_fifty_claims_of_a_batch_of_ten_give_exactly_ten(app):
    from shop.orders import coupons
    from shop.orders.models import Coupon, CouponClaim

    with app.app_context():
        product = make_product(stock=5)
        coupon_id = coupons.create_coupon(
            product.merchant, product_id=product.id, off_cents=500, threshold_cents=0,
            total_count=10, per_buyer=1, starts_at=NOW - timedelta(days=1),
            ends_at=NOW + timedelta(days=1), now=NOW,
        ).id  # fmt: skip
        buyer_ids = [make_user().id for _ in range(50)]
        db.session.commit()

    def grab(i):
        coupon = db.session.get(Coupon, coupon_id)
        coupons.claim(coupon, buyer=db.session.get(User, buyer_ids[i]), now=NOW)
        return "ok"

    results, seconds = race(app, 50, grab)
    assert results.count("ok") == 10, results
    assert results.count("ValidationError") == 40, results
    with app.app_context():
        assert db.session.get(Coupon, coupon_id).remaining == 0
        assert db.session.execute(select(func.count(CouponClaim.id))).scalar() == 10
        invariants.check(db.session)
    print(f"\n50 claims of a batch of 10: 10 given, 40 refused, {seconds:.2f} s")


def test_one_buyer_claiming_twenty_times_at_once_gets_the_per_buyer_limit(app):
    from shop.orders import coupons
    from shop.orders.models import Coupon, CouponClaim

    with app.app_context():
        product = make_product(stock=5)
        coupon_id = coupons.create_coupon(
            product.merchant, product_id=None, off_cents=500, threshold_cents=0,
            total_count=100, per_buyer=3, starts_at=NOW - timedelta(days=1),
            ends_at=NOW + timedelta(days=1), now=NOW,
        ).id  # fmt: skip
        buyer_id = make_user().id
        db.session.commit()

    def grab(_i):
        coupon = db.session.get(Coupon, coupon_id)
        coupons.claim(coupon, buyer=db.session.get(User, buyer_id), now=NOW)
        return "ok"

    results, _seconds = race(app, 20, grab)
    assert results.count("ok") == 3, results
    with app.app_context():
        assert db.session.get(Coupon, coupon_id).remaining == 97
        assert db.session.execute(select(func.count(CouponClaim.id))).scalar() == 3
        invariants.check(db.session)


def test_one_claim_used_by_ten_checkouts_at_once_discounts_one_order(app):
    from shop.orders import coupons
    from shop.orders.models import Coupon

    with app.app_context():
        product = make_product(stock=20, price_cents=5000)
        buyer = make_user()
        coupon = coupons.create_coupon(
            product.merchant, product_id=product.id, off_cents=500, threshold_cents=0,
            total_count=10, per_buyer=1, starts_at=NOW - timedelta(days=1),
            ends_at=NOW + timedelta(days=1), now=NOW,
        )  # fmt: skip
        claim_id = coupons.claim(coupon, buyer=buyer, now=NOW).id
        buyer_id, product_id, merchant_id = buyer.id, product.id, product.merchant_id
        coupon_id = coupon.id
        db.session.commit()

    def buy(i):
        placed = checkout.place_order(
            db.session.get(User, buyer_id), [(product_id, 1)], ADDRESS,
            checkout_key=f"coupon-{i}-xxxxxxxxxx", provider="sandbox", visitor_id=None,
            now=NOW, window=WINDOW, allow_self_purchase=True,
            pay_within=timedelta(minutes=30), coupons={merchant_id: claim_id},
        )  # fmt: skip
        return "ok" if placed else None

    results, _seconds = race(app, 10, buy)
    assert results.count("ok") == 1, results
    with app.app_context():
        discounted = db.session.execute(
            select(func.count(Order.id)).where(Order.discount_cents > 0)
        ).scalar()
        assert discounted == 1
        assert db.session.get(Coupon, coupon_id).remaining == 9
        invariants.check(db.session)


def test_one_checkout_form_sent_ten_times_at_once_places_one_order(app):
    """The same form (one checkout key) from ten tabs at once: one order, its stock taken once,
    and every request answered with that order (PostgreSQL: the orders' INSERT waits on the
    first one's key, then writes nothing for it)."""
    with app.app_context():
        product_id = make_product(stock=5).id
        buyer_id = make_user().id
        db.session.commit()

    def send(_i):
        [order] = checkout.place_order(
            db.session.get(User, buyer_id), [(product_id, 1)], ADDRESS,
            checkout_key="ten-tabs-key-0000", provider="sandbox", visitor_id=None, now=NOW,
            window=WINDOW, allow_self_purchase=True, pay_within=timedelta(minutes=30),
        )  # fmt: skip
        return order.id

    results, _seconds = race(app, 10, send)
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 4
        assert db.session.execute(select(func.count(Order.id))).scalar() == 1
        invariants.check(db.session)
