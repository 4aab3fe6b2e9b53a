"""Appeals: "this order should have been mine".

A sharer names an order (the number the buyer gave them) or picks a click in a link's audit;
:func:`ask` answers at once with the attribution rule that was applied to that order, from
what the order froze when it was placed (``attribution_reason`` for the winner,
``attribution_others`` for every other sharer with a click): never recomputed, and never the
buyer or another sharer by name, phone or id.

What an answer may tell a sharer is only what the order already says to them on their own
earnings page. An order number that does not exist and one that exists but never touched
the sharer (not theirs, no click of theirs, not bought by them) get the same answer and
leave the same row, so answers cannot be used to learn which numbers exist. Every question
is kept as a row, and those rows are what the hourly and daily limits count.

A sharer who still disagrees sends the question on with a note (:func:`submit`); an admin
reads the evidence (``shop.money.appeal_evidence``: the buyer's clicks with times, each
sharer but the appellant anonymised) and upholds it, which posts one ADJUSTMENT ledger
entry (unique per appeal, so deciding twice posts once), or rejects it; either way audited,
with a reason the sharer reads. The adjustment is the platform's: the winner's rebate is
left as it was.
"""

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from shop.accounts import accounts
from shop.accounts.models import User
from shop.money import earnings, ledger
from shop.money.models import Appeal, AppealStatus, EntryKind
from shop.orders.models import Order, OrderStatus
from shop.platform import audit
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.sharing.attribution import EARNING, Reason
from shop.sharing.models import Click

#: Reasons an order's sharer (or another with a click) may ask the admins to look at again.
APPEALABLE = frozenset(
    {
        str(Reason.OVERWRITTEN),
        str(Reason.OUTSIDE_WINDOW),
        str(Reason.BOT),
        str(Reason.SELF_PURCHASE_NOT_ALLOWED),
    }
)

#: Each answer, in plain words; ``%(days)d`` is the attribution window now in force.
ANSWERS = {
    "not_found": _l(
        "We found no order with this number among the orders that came through your links. "
        "Check the number with the buyer (it is on their order page)."
    ),
    "unpaid": _l("This order has not been paid yet. A rebate is only estimated once it is paid."),
    "cancelled": _l("This order was cancelled before it was paid, so it earns no rebate."),
    "refunded": _l("This order was refunded, so it earns no rebate."),
    "yours": _l(
        "This order is already yours: the buyer's last click before ordering was on your link."
    ),
    "overwritten": _l(
        "This order belongs to another sharer: the last link the buyer clicked before "
        "ordering was someone else's."
    ),
    "outside_window": _l(
        "Your link was clicked more than %(days)d days before the order, outside the "
        "attribution window."
    ),
    "not_counted": _l(
        "Your link's click was not counted (a robot, a link preview or a repeat), so it "
        "could not earn the order."
    ),
    "self_purchase": _l("The buyer is you: buying through your own link earns no rebate here."),
    "own_order": _l("The buyer is you, and the order did not come through your link."),
    "click_not_counted": _l(
        "This click was not counted (a robot, a link preview or a repeat), so no order can "
        "be attributed to it."
    ),
    "click_no_order": _l(
        "No order has been attributed to this click yet, and none of this visitor's orders "
        "mention your link. Orders the visitor places within %(days)d days of the click are "
        "yours unless they click someone else's link later. If the buyer gave you an order "
        "number, enter it."
    ),
}
#: Answers the sharer may send on to the admins (not "yours": nothing to appeal).
SUBMITTABLE = frozenset(ANSWERS) - {"yours"}

STATUS_LABELS = {
    AppealStatus.ANSWERED: _l("answered"),
    AppealStatus.SUBMITTED: _l("waiting for an administrator"),
    AppealStatus.UPHELD: _l("upheld"),
    AppealStatus.REJECTED: _l("rejected"),
}

_NUMBER = re.compile(r"\d{6,24}")


def answer_text(appeal: Appeal, *, window_days: int) -> str:
    return str(ANSWERS[appeal.answer]) % {"days": window_days}


@dataclass(frozen=True)
class Limits:
    per_hour: int
    per_day: int


def _check_limits(sharer: User, limits: Limits, now: datetime) -> None:
    """The sharer's row is locked first, so questions sent at once are counted in turn."""
    accounts.lock_account(sharer.id)
    for limit, span, message in (
        (limits.per_hour, timedelta(hours=1), _l("You asked %(n)d times in the last hour.")),
        (limits.per_day, timedelta(days=1), _l("You asked %(n)d times in the last day.")),
    ):
        asked = db.session.execute(
            select(func.count())
            .select_from(Appeal)
            .where(Appeal.sharer_id == sharer.id, Appeal.created_at > now - span)
        ).scalar_one()
        if asked >= limit:
            raise Conflict(
                str(message) % {"n": asked} + " " + str(_l("Please try again later.")), "number"
            )


def _answer_for(order: Order, sharer_id: int) -> str | None:
    """The answer about ``order`` for ``sharer_id``; None when the order never touched them
    (the caller then answers as if it did not exist)."""
    mine = order.sharer_id == sharer_id
    theirs = (order.attribution_others or {}).get(str(sharer_id))
    bought = order.buyer_id == sharer_id
    if not (mine or theirs or bought):
        return None
    if order.status == OrderStatus.PLACED:
        return "unpaid"
    if order.status == OrderStatus.CANCELLED:
        return "cancelled"
    if order.status == OrderStatus.REFUNDED:
        return "refunded"
    if mine and order.attribution_reason in EARNING:
        return "yours"
    if mine and order.attribution_reason == Reason.SELF_PURCHASE_NOT_ALLOWED:
        return "self_purchase"
    if theirs == Reason.OVERWRITTEN:
        return "overwritten"
    if theirs == Reason.OUTSIDE_WINDOW:
        return "outside_window"
    if theirs == Reason.BOT:
        return "not_counted"
    return "own_order" if bought else "not_found"


def _orders_after_click(click: Click, sharer_id: int, window: timedelta) -> list[Order]:
    """Orders attributed to this click, then orders whose winning click was by the same
    visitor within the window after it and that mention this sharer (their earnings page
    lists those already)."""
    direct = list(
        db.session.execute(
            select(Order).where(Order.click_id == click.id).order_by(Order.id)
        ).scalars()
    )
    if direct:
        return direct
    later = select(Click.id).where(
        Click.visitor_id == click.visitor_id,
        Click.clicked_at >= click.clicked_at,
        Click.clicked_at <= click.clicked_at + window,
    )
    return list(
        db.session.execute(
            select(Order)
            .where(Order.click_id.in_(later), earnings.touching(sharer_id))
            .order_by(Order.placed_at)
        ).scalars()
    )


def ask(
    sharer: User,
    *,
    number: str = "",
    click: Click | None = None,
    limits: Limits,
    window: timedelta,
    now: datetime,
) -> Appeal:
    """Answer "why is this order not mine?" for an order number or one of the sharer's own
    clicks (the view checks the click is on one of their links). Raises ValidationError for
    a number that cannot be one (nothing recorded), Conflict (field "number") over a limit."""
    typed = re.sub(r"\s", "", number or "")
    if click is None and not _NUMBER.fullmatch(typed):
        raise ValidationError(
            _l("Enter the order number: 6 to 24 digits, on the buyer's order page."), "number"
        )
    _check_limits(sharer, limits, now)
    order: Order | None = None
    answer = None
    if click is not None:
        typed = ""
        found = _orders_after_click(click, sharer.id, window)
        if found:
            order = found[0]
            answer = _answer_for(order, sharer.id)
        if answer is None:
            order = None
            answer = "click_not_counted" if not click.is_counted else "click_no_order"
    else:
        order = db.session.execute(select(Order).where(Order.number == typed)).scalar_one_or_none()
        answer = _answer_for(order, sharer.id) if order is not None else None
        if answer is None or answer == "not_found":
            order, answer = None, "not_found"
    appeal = Appeal(
        sharer_id=sharer.id,
        order_id=order.id if order is not None else None,
        click_id=click.id if click is not None else None,
        typed_number=typed,
        answer=answer,
        status=AppealStatus.ANSWERED,
        created_at=now,
    )
    db.session.add(appeal)
    db.session.flush()
    return appeal


def submit(appeal: Appeal, note: str, *, actor: User, now: datetime) -> Appeal:
    """Send an answered question to the admins with the sharer's note."""
    if appeal.sharer_id != actor.id:
        raise PermissionDenied(_l("This is not your appeal."))
    note = " ".join((note or "").split())
    if not 5 <= len(note) <= 500:
        raise ValidationError(_l("Tell the administrators why, in 5 to 500 characters."), "note")
    if appeal.answer not in SUBMITTABLE:
        raise InvalidTransition(_l("This order is already yours; there is nothing to appeal."))
    if (
        appeal.order_id is not None
        and db.session.execute(
            select(Appeal.id).where(
                Appeal.sharer_id == actor.id,
                Appeal.order_id == appeal.order_id,
                Appeal.status.in_([AppealStatus.SUBMITTED, AppealStatus.UPHELD]),
                Appeal.id != appeal.id,
            )
        ).first()
    ):
        raise Conflict(_l("You have already sent this order to the administrators."), "note")
    result = db.session.execute(
        update(Appeal)
        .where(Appeal.id == appeal.id, Appeal.status == AppealStatus.ANSWERED)
        .values(status=AppealStatus.SUBMITTED, note=note, submitted_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(appeal)
    if result.rowcount != 1:
        raise InvalidTransition(_l("This appeal has been sent already."))
    return appeal


def suggested_cents(appeal: Appeal) -> int:
    """What the order would have paid the appellant at the rates frozen on it."""
    if appeal.order is None:
        return 0
    return sum(item.rebate_cents for item in appeal.order.items)


def _snapshot(appeal: Appeal) -> dict:
    return {
        "status": str(appeal.status),
        "adjustment_cents": appeal.adjustment_cents,
        "decision_reason": appeal.decision_reason,
    }


def decide(
    appeal: Appeal,
    uphold: bool,
    *,
    actor: User,
    reason: str,
    amount_cents: int = 0,
    now: datetime,
) -> Appeal:
    """An admin upholds (posting ``amount_cents`` as an ADJUSTMENT to the appellant) or
    rejects a submitted appeal, with a reason the sharer reads; audited in the same
    transaction. A second decision raises InvalidTransition and posts nothing."""
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can decide on appeals."))
    reason = " ".join((reason or "").split())
    if not 1 <= len(reason) <= 200:
        raise ValidationError(_l("Give a reason; the sharer will see it."), "reason")
    if uphold and not 1 <= amount_cents <= 10_000_000:
        raise ValidationError(_l("Enter the adjustment, more than ¥0."), "amount")
    before = _snapshot(appeal)
    result = db.session.execute(
        update(Appeal)
        .where(Appeal.id == appeal.id, Appeal.status == AppealStatus.SUBMITTED)
        .values(
            status=AppealStatus.UPHELD if uphold else AppealStatus.REJECTED,
            decided_by_id=actor.id,
            decided_at=now,
            decision_reason=reason,
            adjustment_cents=amount_cents if uphold else 0,
        )
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(appeal)
    if result.rowcount != 1:
        raise InvalidTransition(_l("This appeal has been decided already."))
    if uphold:
        ledger.post(
            sharer_id=appeal.sharer_id,
            kind=EntryKind.ADJUSTMENT,
            amount_cents=amount_cents,
            appeal_id=appeal.id,
            now=now,
        )
    audit.record(
        actor=actor,
        action="appeal.uphold" if uphold else "appeal.reject",
        object_type="appeal",
        object_id=appeal.id,
        before=before,
        after=_snapshot(appeal),
        reason=reason,
        now=now,
    )
    return appeal


def mine(sharer: User, *, limit: int = 20) -> list[Appeal]:
    """The sharer's appeals sent to the admins, and recent questions, newest first."""
    return list(
        db.session.execute(
            select(Appeal)
            .where(Appeal.sharer_id == sharer.id)
            .order_by(Appeal.created_at.desc(), Appeal.id.desc())
            .limit(limit)
        ).scalars()
    )


def queue() -> list[Appeal]:
    return list(
        db.session.execute(
            select(Appeal)
            .where(Appeal.status == AppealStatus.SUBMITTED)
            .order_by(Appeal.submitted_at)
        ).scalars()
    )
