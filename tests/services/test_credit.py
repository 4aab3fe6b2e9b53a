"""The merchant credit rule, each of its caps on its own (``credit.compute`` is pure), then once
over real rows."""

import itertools
from datetime import datetime, timedelta

import pytest
from sqlalchemy import update

from shop.orders import states
from shop.orders.models import OrderStatus
from shop.platform.extensions import db
from shop.reviews import credit, writing
from shop.reviews.credit import CreditFact, CreditRules
from shop.reviews.models import Review, ReviewStatus
from tests.services.test_reviews import completed_order, new_products, review_of

RULES = CreditRules(min_order_cents=100, repeat_days=14, max_points=3)
#: Mid-month in China, so a few days either way stay in November.
T0 = datetime(2026, 11, 10, 2, 0, 0)
_ids = itertools.count(1)


def fact(
    rating=5,
    *,
    buyer=1,
    product=None,
    total=9900,
    status=OrderStatus.COMPLETED,
    placed=None,
    completed=None,
):
    """One published review of an order received three days after it was placed (at ``T0``
    unless either time is given); a new product unless ``product`` is given."""
    review_id = next(_ids)
    placed = placed or (completed - timedelta(days=3) if completed else T0)
    return CreditFact(
        review_id=review_id,
        buyer_id=buyer,
        product_id=product if product is not None else 1000 + review_id,
        rating=rating,
        order_total_cents=total,
        order_status=status,
        placed_at=placed,
        completed_at=completed or placed + timedelta(days=3),
    )


def test_points_by_rating():
    assert [credit.points(r) for r in (5, 4, 3, 2, 1)] == [1, 1, 0, -1, -1]
    result = credit.compute([fact(r, buyer=r) for r in (5, 4, 3, 2, 1)], RULES)
    assert (result.score, result.positive, result.neutral, result.negative) == (0, 2, 1, 2)
    assert result.counted == 5 and result.excluded == {} and result.capped == 0
    assert credit.compute([], RULES).score == 0


def test_refunded_orders_and_refunds_in_progress_do_not_count():
    result = credit.compute(
        [
            fact(5, status=OrderStatus.REFUNDED),
            fact(1, status=OrderStatus.REFUND_REQUESTED),
            fact(5, status=OrderStatus.REFUND_REJECTED),  # the buyer kept the goods
        ],
        RULES,
    )
    assert (result.score, result.counted, result.excluded) == (1, 1, {"refunded": 2})


def test_orders_below_the_minimum_do_not_count_and_at_the_minimum_do():
    result = credit.compute([fact(5, total=99), fact(5, total=100), fact(1, total=1)], RULES)
    assert (result.score, result.positive, result.negative) == (1, 1, 0)
    assert result.excluded == {"small_order": 2}


@pytest.mark.parametrize(
    ("later", "counted"),
    [
        (timedelta(days=13, hours=23), False),
        (timedelta(days=14) - timedelta(seconds=1), False),
        (timedelta(days=14), True),
        (timedelta(days=20), True),
    ],
)
def test_repeat_purchases_of_one_product_within_14_days_count_once(later, counted):
    result = credit.compute([fact(5, product=7), fact(5, product=7, placed=T0 + later)], RULES)
    assert result.positive == (2 if counted else 1)
    assert result.excluded == ({} if counted else {"repeat": 1})


def test_the_14_days_are_measured_from_the_last_purchase_that_counted():
    days = [0, 10, 14, 20, 27, 28]  # counted: 0, 14 (not 10 + 14), 28 (not 20 + 14)
    facts = [fact(4, product=7, placed=T0 + timedelta(days=d)) for d in days]
    result = credit.compute(list(reversed(facts)), RULES)  # order of the input does not matter
    assert (result.positive, result.excluded) == (3, {"repeat": 3})


def test_a_repeat_is_per_buyer_and_product():
    result = credit.compute(
        [
            fact(5, buyer=1, product=7),
            fact(5, buyer=1, product=8, placed=T0 + timedelta(days=1)),  # another product
            fact(5, buyer=2, product=7, placed=T0 + timedelta(days=1)),  # another buyer
        ],
        RULES,
    )
    assert (result.score, result.excluded) == (3, {})


def test_a_refunded_or_small_order_does_not_start_a_repeat_window():
    result = credit.compute(
        [
            fact(5, product=7, status=OrderStatus.REFUNDED),
            fact(5, product=7, total=50, placed=T0 + timedelta(days=1)),
            fact(5, product=7, placed=T0 + timedelta(days=2)),
        ],
        RULES,
    )
    assert (result.positive, result.excluded) == (1, {"refunded": 1, "small_order": 1})


@pytest.mark.parametrize(("rating", "score"), [(5, 3), (1, -3)])
def test_one_buyer_moves_the_score_at_most_three_points_a_month_either_way(rating, score):
    facts = [fact(rating, placed=T0 + timedelta(days=d)) for d in range(5)]
    result = credit.compute(facts, RULES)
    # The counts behind the positive rate are capped the same way.
    assert (result.score, result.capped, result.counted) == (score, 2, 3)


def test_a_friend_with_many_orders_cannot_lift_the_positive_rate_past_the_cap():
    honest = [fact(1, buyer=100 + n) for n in range(10)]
    friend = [fact(5, buyer=1, product=1000 + n) for n in range(90)]
    result = credit.compute(honest + friend, RULES)
    assert (result.score, result.positive, result.negative) == (3 - 10, 3, 10)
    assert result.positive_percent == 3 * 100 // 13


def test_the_cap_applies_to_the_month_net_of_both_ways():
    facts = [fact(5) for _ in range(4)] + [fact(1) for _ in range(2)]  # +4 - 2
    assert (credit.compute(facts, RULES).score, credit.compute(facts, RULES).capped) == (2, 0)


def test_different_buyers_are_capped_separately():
    facts = [fact(5, buyer=b) for b in (1, 2) for _ in range(4)]
    result = credit.compute(facts, RULES)
    assert (result.score, result.capped) == (6, 2)


def test_each_month_has_its_own_cap():
    october = [fact(5, completed=datetime(2026, 10, 15, 4, 0)) for _ in range(3)]
    november = [fact(5, completed=datetime(2026, 11, 15, 4, 0)) for _ in range(3)]
    assert credit.compute(october + november, RULES).score == 6


@pytest.mark.parametrize(
    ("completed", "score"),
    [
        (datetime(2026, 10, 31, 15, 59, 59), 3),  # 23:59:59 on 31 October in China
        (datetime(2026, 10, 31, 16, 0, 0), 6),  # midnight: 1 November in China
        (datetime(2026, 10, 31, 17, 0, 0), 6),
    ],
)
def test_months_are_counted_in_china_time(completed, score):
    october = [fact(5, completed=datetime(2026, 10, 10, 4, 0)) for _ in range(3)]
    edge = [fact(5, completed=completed) for _ in range(3)]
    assert credit.compute(october + edge, RULES).score == score


@pytest.mark.parametrize(
    ("positive", "negative", "percent"),
    [(199, 1, 99), (2, 1, 66), (1, 0, 100), (0, 3, 0), (0, 0, None)],
)
def test_the_positive_share_is_rounded_down(positive, negative, percent):
    facts = [fact(5, buyer=i) for i in range(positive)]
    facts += [fact(1, buyer=10_000 + i) for i in range(negative)] + [fact(3)]
    assert credit.compute(facts, RULES).positive_percent == percent


def test_the_rules_come_from_the_settings(app, ctx):
    app.config.update(
        CREDIT_MIN_ORDER_CENTS=500, CREDIT_REPEAT_DAYS=7, CREDIT_MAX_POINTS_PER_MONTH=5
    )
    assert CreditRules.current() == CreditRules(min_order_cents=500, repeat_days=7, max_points=5)


def test_merchant_credit_counts_only_published_initial_reviews_of_kept_orders(ctx):
    products = new_products(6)
    merchant = products[0].merchant
    at = datetime(2026, 11, 10, 2, 0)

    def review(product, rating, **kwargs):
        order = completed_order(products=[product], at=at)
        return order, review_of(order, rating=rating, at=at + timedelta(days=4), **kwargs)

    counted, _ = review(products[0], 5)
    _, negative = review(products[1], 1)
    writing.write_followup(negative, actor=negative.author, body="追评", now=at + timedelta(days=5))
    _, held = review(products[2], 5, body="www.x.cn")
    _, hidden = review(products[3], 1)
    db.session.execute(
        update(Review).where(Review.id == hidden.id).values(status=ReviewStatus.HIDDEN)
    )
    refunded, _ = review(products[4], 5)
    states.request_refund(refunded, "坏了", actor=refunded.buyer, now=at + timedelta(days=6))
    repeat_buyer = counted.buyer
    again = completed_order(repeat_buyer, [products[0]], at=at + timedelta(days=2))
    review_of(again, rating=5, at=at + timedelta(days=4, minutes=1))
    review(new_products()[0], 1)  # another merchant's

    assert held.status == ReviewStatus.HELD
    result = credit.merchant_credit(merchant)
    assert (result.score, result.positive, result.neutral, result.negative) == (0, 1, 0, 1)
    assert result.excluded == {"refunded": 1, "repeat": 1}
    assert result.positive_percent == 50
    assert credit.merchant_credit(new_products()[0].merchant).counted == 0


def test_the_merchants_own_account_never_counts(ctx):
    [product] = new_products(1)
    merchant = product.merchant
    at = datetime(2026, 11, 10, 2, 0)
    own = completed_order(merchant.user, [product], at=at)
    review_of(own, rating=5, at=at + timedelta(days=4))
    assert credit.merchant_credit(merchant).counted == 0
