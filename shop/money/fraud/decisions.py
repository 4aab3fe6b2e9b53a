"""An admin's decisions on fraud flags, and the rebate holds that stop payouts.

An admin may dismiss a flag (with a reason) or hold the sharer's rebates: a ``RebateHold``
row that ``shop.money.payouts.request_payout`` refuses to pay past, until released. Every
decision writes an audit row in the same transaction.
"""

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts import accounts
from shop.accounts.models import User
from shop.money.models import FlagStatus, FraudFlag, RebateHold
from shop.platform import audit
from shop.platform.errors import InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db

# --- holds ---------------------------------------------------------------------------------


def active_hold(sharer_id: int) -> RebateHold | None:
    return db.session.execute(
        select(RebateHold).where(
            RebateHold.sharer_id == sharer_id, RebateHold.released_at.is_(None)
        )
    ).scalar_one_or_none()


def is_held(sharer_id: int) -> bool:
    return active_hold(sharer_id) is not None


# --- decisions -----------------------------------------------------------------------------


def _snapshot(flag: FraudFlag) -> dict:
    return {"status": str(flag.status), "decision_reason": flag.decision_reason}


def _reason(reason: str | None) -> str:
    reason = " ".join((reason or "").split())
    if not 1 <= len(reason) <= 200:
        raise ValidationError(_l("Give a reason (up to 200 characters)."), "reason")
    return reason


def _check_admin(actor: User) -> None:
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can decide on fraud flags."))


def _move(flag: FraudFlag, target: FlagStatus, *, actor: User, reason: str, now: datetime):
    """Guarded transition from open: exactly one row changes, or the flag was decided already."""
    result = db.session.execute(
        update(FraudFlag)
        .where(FraudFlag.id == flag.id, FraudFlag.status == FlagStatus.OPEN)
        .values(status=target, decided_by_id=actor.id, decided_at=now, decision_reason=reason)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(flag)
    if result.rowcount != 1:
        raise InvalidTransition(_l("This flag has been decided already."))


def dismiss_flag(flag: FraudFlag, *, actor: User, reason: str, now: datetime) -> FraudFlag:
    """Close an open flag as harmless. Raises ValidationError without a reason and
    InvalidTransition when it is no longer open."""
    _check_admin(actor)
    reason = _reason(reason)
    before = _snapshot(flag)
    _move(flag, FlagStatus.DISMISSED, actor=actor, reason=reason, now=now)
    audit.record(
        actor=actor,
        action="fraud.dismiss",
        object_type="fraud_flag",
        object_id=flag.id,
        before=before,
        after=_snapshot(flag),
        reason=reason,
        now=now,
    )
    return flag


def hold_rebates(flag: FraudFlag, *, actor: User, reason: str, now: datetime) -> RebateHold:
    """Stop the flagged sharer's payouts until released. A sharer already held stays held
    (one active hold); the flag is marked held either way."""
    _check_admin(actor)
    reason = _reason(reason)
    if flag.sharer_id is None:
        raise ValidationError(_l("This flag names no single sharer whose rebates could be held."))
    # The same row lock request_payout takes: a request and a hold made at the same moment
    # are ordered, so a held sharer never gets a new request past the check.
    accounts.lock_account(flag.sharer_id)
    before = _snapshot(flag)
    _move(flag, FlagStatus.HELD, actor=actor, reason=reason, now=now)
    hold = active_hold(flag.sharer_id)
    if hold is None:
        hold = RebateHold(
            sharer_id=flag.sharer_id,
            flag_id=flag.id,
            reason=reason,
            held_by_id=actor.id,
            held_at=now,
        )
        try:
            with db.session.begin_nested():
                db.session.add(hold)
                db.session.flush()
        except IntegrityError:  # another admin held them at the same moment
            hold = active_hold(flag.sharer_id)
    audit.record(
        actor=actor,
        action="fraud.hold",
        object_type="fraud_flag",
        object_id=flag.id,
        before=before,
        after={**_snapshot(flag), "sharer_id": flag.sharer_id, "hold_id": hold.id},
        reason=reason,
        now=now,
    )
    return hold


def release_rebates(sharer: User, *, actor: User, reason: str, now: datetime) -> RebateHold:
    """End the sharer's active hold; their held flags are closed as dismissed with the same
    reason. Raises InvalidTransition when nothing is held."""
    _check_admin(actor)
    reason = _reason(reason)
    result = db.session.execute(
        update(RebateHold)
        .where(RebateHold.sharer_id == sharer.id, RebateHold.released_at.is_(None))
        .values(released_at=now, released_by_id=actor.id, release_reason=reason)
        .returning(RebateHold.id)
        .execution_options(synchronize_session=False)
    ).all()
    if len(result) != 1:
        raise InvalidTransition(_l("This sharer's rebates are not held."))
    hold = db.session.get(RebateHold, result[0][0])
    db.session.refresh(hold)
    db.session.execute(
        update(FraudFlag)
        .where(FraudFlag.sharer_id == sharer.id, FraudFlag.status == FlagStatus.HELD)
        .values(
            status=FlagStatus.DISMISSED,
            decided_by_id=actor.id,
            decided_at=now,
            decision_reason=reason,
        )  # fmt: skip
        .execution_options(synchronize_session=False)
    )
    audit.record(
        actor=actor,
        action="fraud.release",
        object_type="rebate_hold",
        object_id=hold.id,
        before={"sharer_id": sharer.id, "held": True},
        after={"sharer_id": sharer.id, "held": False},
        reason=reason,
        now=now,
    )
    return hold
