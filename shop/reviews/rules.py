"""The shared pieces of buyers' reviews: the review settings (``Rules``), the order states
that can be reviewed, the page size, and the labels shown for a review's disclosure, status and
hold rules and for the reasons a reader reports one. Writing reviews is in
``shop.reviews.writing``, reading them in ``shop.reviews.reading``.
"""

from dataclasses import dataclass

from flask import current_app
from flask_babel import lazy_gettext as _l

from shop.orders.models import OrderStatus
from shop.reviews.models import Disclosure, ReviewStatus

PER_PAGE = 10
#: Orders in these states can be reviewed (the buyer received the goods and kept them).
REVIEWABLE = frozenset({OrderStatus.COMPLETED, OrderStatus.REFUND_REJECTED})


@dataclass(frozen=True)
class Rules:
    """The review settings (see ``shop.platform.config.Defaults``); tests build their own."""

    review_days: int = 30
    followup_days: int = 180
    reply_days: int = 30
    max_chars: int = 500
    max_photos: int = 6
    burst_count: int = 5
    burst_minutes: int = 10
    reports_per_hour: int = 10

    @classmethod
    def current(cls) -> "Rules":
        c = current_app.config
        return cls(
            review_days=c["REVIEW_WINDOW_DAYS"],
            followup_days=c["FOLLOWUP_WINDOW_DAYS"],
            reply_days=c["REPLY_WINDOW_DAYS"],
            max_chars=c["REVIEW_MAX_CHARS"],
            max_photos=c["MAX_REVIEW_PHOTOS"],
            burst_count=c["REVIEW_BURST_COUNT"],
            burst_minutes=c["REVIEW_BURST_MINUTES"],
            reports_per_hour=c["REPORT_LIMIT_PER_HOUR"],
        )


DISCLOSURE_LABELS = {
    Disclosure.SHARER_REBATE: _l("Written by the sharer who earned this order's rebate"),
    Disclosure.SELF_PURCHASE: _l("Self-purchase through the buyer's own share link"),
}
STATUS_LABELS = {
    ReviewStatus.PUBLISHED: _l("published"),
    ReviewStatus.HELD: _l("waiting for moderation"),
    ReviewStatus.HIDDEN: _l("hidden by an administrator"),
}
RULE_LABELS = {
    "link": _l("contains a link"),
    "phone": _l("contains a phone number"),
    "blocked_word": _l("contains a blocked word"),
    "burst": _l("many reviews from one account in a short time"),
}
#: Reasons a reader picks from when reporting; "other" needs words of their own.
REPORT_REASONS = {
    "spam": _l("Advertising or spam"),
    "abuse": _l("Insults or harassment"),
    "privacy": _l("Someone's personal information"),
    "fake": _l("Not a real purchase experience"),
    "other": _l("Something else"),
}
