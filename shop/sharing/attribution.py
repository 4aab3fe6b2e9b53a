"""Who earns an order: a pure function of the visitor's clicks and the order time.

The rule, in plain words (docs/attribution.md and the sharer's pages say the same):

1. Only counted clicks earn: bots, link previews, prefetches, duplicates and floods never do.
2. The visitor's latest counted click at or before the order wins ("last click wins"),
   if it is at most ``window`` old (the edge counts: exactly 15 days old still earns).
3. Earlier clicks by other sharers inside the window are "overwritten by a later click".
4. A sharer buying through their own link is a self-purchase: it earns and is marked as
   such, unless the platform setting forbids self-purchases, in which case it earns nothing.

The decision records a reason for the winner and for every other sharer who had a click,
so each sharer can see why an order did or did not earn them a rebate.
"""

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


class Reason(enum.StrEnum):
    ATTRIBUTED = "attributed"
    SELF_PURCHASE = "self_purchase"
    SELF_PURCHASE_NOT_ALLOWED = "self_purchase_not_allowed"
    OUTSIDE_WINDOW = "outside_window"
    OVERWRITTEN = "overwritten"
    BOT = "bot"
    NO_CLICK = "no_click"


#: Reasons that earn a rebate.
EARNING = frozenset({Reason.ATTRIBUTED, Reason.SELF_PURCHASE})
#: The same as stored in ``orders.attribution_reason``, for SQL conditions.
EARNING_REASONS = frozenset(str(reason) for reason in EARNING)


@dataclass(frozen=True)
class ClickFact:
    click_id: int
    sharer_id: int
    clicked_at: datetime
    counted: bool
    #: The click's share link (the order keeps it), when the caller knows it.
    link_id: int | None = None


@dataclass(frozen=True)
class Decision:
    """The winning click (if any), the order's reason, and a reason per other sharer."""

    reason: Reason
    click_id: int | None = None
    sharer_id: int | None = None
    others: dict[int, Reason] = field(default_factory=dict)

    @property
    def earns(self) -> bool:
        return self.reason in EARNING


def decide(
    clicks: Iterable[ClickFact],
    *,
    order_at: datetime,
    buyer_id: int | None,
    window: timedelta,
    allow_self_purchase: bool,
) -> Decision:
    before = [c for c in clicks if c.clicked_at <= order_at]
    counted = [c for c in before if c.counted]
    in_window = [c for c in counted if order_at - c.clicked_at <= window]
    if not in_window:
        if counted:
            reason = Reason.OUTSIDE_WINDOW
        elif before:
            reason = Reason.BOT
        else:
            reason = Reason.NO_CLICK
        others = {c.sharer_id: reason for c in before}
        return Decision(reason=reason, others=others)

    winner = max(in_window, key=lambda c: (c.clicked_at, c.click_id))
    others: dict[int, Reason] = {}
    for click in before:
        if click.sharer_id == winner.sharer_id:
            continue
        if click.counted and order_at - click.clicked_at <= window:
            others[click.sharer_id] = Reason.OVERWRITTEN
        else:
            others.setdefault(
                click.sharer_id, Reason.OUTSIDE_WINDOW if click.counted else Reason.BOT
            )

    if buyer_id is not None and winner.sharer_id == buyer_id:
        reason = Reason.SELF_PURCHASE if allow_self_purchase else Reason.SELF_PURCHASE_NOT_ALLOWED
        if not allow_self_purchase:
            return Decision(
                reason=reason, sharer_id=winner.sharer_id, click_id=winner.click_id, others=others
            )
    else:
        reason = Reason.ATTRIBUTED
    return Decision(
        reason=reason, click_id=winner.click_id, sharer_id=winner.sharer_id, others=others
    )
