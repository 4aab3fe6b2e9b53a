"""A merchant's credit score, from its buyers' published reviews, by a rule that resists gaming.

The rule (also in docs/reviews-and-credit.md and on the merchant page):

1. Each published review of a completed order scores: 4-5 stars +1, 3 stars 0, 1-2 stars -1.
   Follow-ups and held or hidden reviews score nothing.
2. Orders refunded, or with a refund in progress, do not count.
3. Orders whose total is below ``min_order_cents`` (default ¥1) do not count.
4. One buyer's purchases of the same product within ``repeat_days`` (default 14) of the last one
   that counted count once.
5. The points from one buyer to one merchant in one calendar month (China time, by the month
   the order was completed) are capped at ``max_points`` either way (default 3 and -3), and so
   are that buyer's positive, neutral and negative reviews behind the positive rate.
6. The merchant's own account never counts.

The score is the sum. Buying many cheap orders from a friend, splitting one purchase into
several orders, or reviewing the same product again and again therefore moves it very little.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from shop.catalog.models import Merchant
from shop.orders.models import Order, OrderStatus
from shop.platform.cache import app_cache
from shop.platform.extensions import db
from shop.reviews.models import Review, ReviewKind, ReviewStatus
from shop.sharing.rollup import china_day

NOT_COUNTED_STATUSES = frozenset({OrderStatus.REFUNDED, OrderStatus.REFUND_REQUESTED})


@dataclass(frozen=True)
class CreditRules:
    min_order_cents: int = 100
    repeat_days: int = 14
    max_points: int = 3

    @classmethod
    def current(cls) -> "CreditRules":
        c = current_app.config
        return cls(
            min_order_cents=c["CREDIT_MIN_ORDER_CENTS"],
            repeat_days=c["CREDIT_REPEAT_DAYS"],
            max_points=c["CREDIT_MAX_POINTS_PER_MONTH"],
        )


@dataclass(frozen=True)
class CreditFact:
    """One published initial review with what the rule needs to know about its order."""

    review_id: int
    buyer_id: int
    product_id: int
    rating: int
    order_total_cents: int
    order_status: OrderStatus
    placed_at: datetime
    completed_at: datetime


@dataclass
class Credit:
    score: int = 0
    positive: int = 0
    neutral: int = 0
    negative: int = 0
    #: Reviews left out, by rule: "refunded", "small_order", "repeat".
    excluded: dict[str, int] = field(default_factory=dict)
    #: Points dropped by the monthly cap (positive and negative together, as absolute points).
    capped: int = 0

    @property
    def counted(self) -> int:
        return self.positive + self.neutral + self.negative

    @property
    def positive_percent(self) -> int | None:
        """Share of positive among positive and negative reviews, in whole percent (rounded
        down, so 99.6% never shows as 100%); None without any."""
        rated = self.positive + self.negative
        return self.positive * 100 // rated if rated else None


def points(rating: int) -> int:
    return 1 if rating >= 4 else (0 if rating == 3 else -1)


def compute(facts: list[CreditFact], rules: CreditRules) -> Credit:
    """The credit from ``facts`` by the rule in this module's docstring (pure; tested)."""
    credit = Credit()

    def exclude(why: str) -> None:
        credit.excluded[why] = credit.excluded.get(why, 0) + 1

    repeat = timedelta(days=rules.repeat_days)
    last_counted: dict[tuple[int, int], datetime] = {}
    #: (buyer, month) -> reviews of each kind: [positive, neutral, negative]
    monthly: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for fact in sorted(facts, key=lambda f: (f.placed_at, f.review_id)):
        if fact.order_status in NOT_COUNTED_STATUSES:
            exclude("refunded")
            continue
        if fact.order_total_cents < rules.min_order_cents:
            exclude("small_order")
            continue
        key = (fact.buyer_id, fact.product_id)
        previous = last_counted.get(key)
        if previous is not None and fact.placed_at - previous < repeat:
            exclude("repeat")
            continue
        last_counted[key] = fact.placed_at
        month = china_day(fact.completed_at).strftime("%Y-%m")
        monthly[(fact.buyer_id, month)][1 - points(fact.rating)] += 1
    cap = rules.max_points
    for positive, neutral, negative in monthly.values():
        total = positive - negative
        kept = max(-cap, min(cap, total))
        credit.score += kept
        credit.capped += abs(total - kept)
        # The counts behind the positive rate obey the same cap, so one buyer's many orders
        # in a month cannot move the rate more than the score.
        credit.positive += min(positive, cap)
        credit.neutral += min(neutral, cap)
        credit.negative += min(negative, cap)
    return credit


def facts_for(merchant: Merchant) -> list[CreditFact]:
    rows = db.session.execute(
        select(
            Review.id,
            Order.buyer_id,
            Review.product_id,
            Review.rating,
            Order.total_cents,
            Order.status,
            Order.placed_at,
            Order.completed_at,
        )
        .join(Order, Order.id == Review.order_id)
        .where(
            Review.merchant_id == merchant.id,
            Review.kind == ReviewKind.INITIAL,
            Review.status == ReviewStatus.PUBLISHED,
            Order.completed_at.is_not(None),
            # The merchant's own account buying from itself earns it nothing.
            Order.buyer_id != merchant.user_id,
        )
    ).all()
    return [CreditFact(*row) for row in rows]


def merchant_credit(merchant: Merchant, rules: CreditRules | None = None) -> Credit:
    return compute(facts_for(merchant), rules or CreditRules.current())


def merchant_credit_cached(merchant: Merchant) -> Credit:
    """:func:`merchant_credit`, at most CREDIT_CACHE_SECONDS old. Every product page shows its
    merchant's credit; recomputing it from all the merchant's reviews on each view would cost
    more than the rest of the page. The merchant's own page and console compute it afresh."""
    cache = app_cache("credit_cache", "CREDIT_CACHE_SECONDS")
    return cache.get(merchant.id, lambda: merchant_credit(merchant))
