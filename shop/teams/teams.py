"""Sharer teams: invite codes, binding a new account to the sharer who invited it, the
override rate an order snapshots, and the admin's switch for a leader's overrides. The team
page's numbers are ``shop.insights.teams``.

The rules, all enforced here or by the schema (shop.teams.models):

- Binding happens once, when a new account signs up through an invite (``bind``); an
  existing account is never bound or re-bound, so a cycle cannot form (a new account leads
  nobody yet), and a sharer cannot invite themselves (the CHECK ``member_id <> leader_id``
  and the check in ``bind``).
- Nobody is paid for inviting: binding writes no ledger entry. A leader earns only an
  override on the rebates of the sales their members make, and only while the platform
  setting ``TEAM_OVERRIDE_BPS`` is above 0 (off by default), capped by
  ``TEAM_OVERRIDE_MAX_BPS`` and never above the member's own rebate.
- Two tiers: ``override_for`` looks one step up from the order's sharer and stops; the
  ledger posts tier-2 entries only beside tier-1 entries of the same order item and kind
  (``ledger``), so an override is estimated, settled, voided and clawed back with the
  rebate it is part of, never by itself.
- The override is paid by the platform on top of the member's rebate: the member's own
  rebate is the same with or without a leader.
"""

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shop.accounts.models import User
from shop.platform import audit
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.sharing import links
from shop.sharing.models import Shop
from shop.teams.models import TeamLeader, TeamMember

#: Whatever the settings say, an override is never more than the rebate it is part of.
CEILING_BPS = 10_000


def effective_rate(rate_bps: int, max_bps: int) -> int:
    """The override rate in force: the setting, bounded by the maximum setting and by
    ``CEILING_BPS``; 0 (off) for anything not above 0."""
    return max(0, min(int(rate_bps or 0), int(max_bps or 0), CEILING_BPS))


def override_amount(rebate_cents: int, rate_bps: int) -> int:
    """A leader's override on one item's rebate, rounded down to the fen."""
    return rebate_cents * rate_bps // 10_000


# --- invites and binding ---------------------------------------------------------------------


def invite_of(user: User, *, now: datetime) -> TeamLeader:
    """The user's invite (made on first use). Only a sharer with a shop invites: the invite
    page and poster show the shop."""
    leader = db.session.get(TeamLeader, user.id)
    if leader is not None:
        return leader
    if db.session.execute(select(Shop.id).where(Shop.user_id == user.id)).first() is None:
        raise ValidationError(_l("Open your shop first: an invitation shows your shop."))
    for _attempt in range(5):
        leader = TeamLeader(user_id=user.id, invite_code=links.new_code(), created_at=now)
        try:
            with db.session.begin_nested():
                db.session.add(leader)
                db.session.flush()
            return leader
        except IntegrityError:
            existing = db.session.get(TeamLeader, user.id)
            if existing is not None:  # made meanwhile by another request of this user
                return existing
    raise RuntimeError("no free invite code after 5 attempts")


def leader_by_code(code: str | None) -> TeamLeader | None:
    """The invite behind ``code``, or None for anything that is not a live invite."""
    if not code or not links.is_well_formed(code):
        return None
    return db.session.execute(
        select(TeamLeader).where(TeamLeader.invite_code == code)
    ).scalar_one_or_none()


def bind(member: User, code: str | None, *, now: datetime) -> TeamMember | None:
    """Bind ``member``, an account made by this very sign-up, to the invite's sharer.
    Returns the binding, or None when the code is not an invite, names the member themself,
    or the member is bound already (binding happens once: the first one stays)."""
    leader = leader_by_code(code)
    if leader is None or leader.user_id == member.id:
        return None
    if db.session.get(TeamMember, member.id) is not None:
        return None
    # A leader whose own leader is this member would make a loop; a new account leads
    # nobody, so this only refuses crafted data.
    upstream = db.session.get(TeamMember, leader.user_id)
    if upstream is not None and upstream.leader_id == member.id:
        return None
    binding = TeamMember(member_id=member.id, leader_id=leader.user_id, joined_at=now)
    try:
        with db.session.begin_nested():
            db.session.add(binding)
            db.session.flush()
    except IntegrityError:
        return None
    return binding


def leader_of(user_id: int) -> User | None:
    """The member's team leader (the only person above them), or None."""
    row = db.session.get(TeamMember, user_id)
    return row.leader if row is not None else None


def override_for(sharer_id: int | None, buyer_id: int, rate_bps: int) -> tuple[int | None, int]:
    """(leader id, rate) for an order earning ``sharer_id`` a rebate, decided when it is
    placed; (None, 0) when no override applies: the setting is off, the sharer has no
    leader, an admin stopped the leader's overrides, or the leader is the buyer."""
    if sharer_id is None or rate_bps <= 0:
        return None, 0
    membership = db.session.get(TeamMember, sharer_id)
    if membership is None or membership.leader_id == buyer_id:
        return None, 0
    leader = db.session.get(TeamLeader, membership.leader_id)
    if leader is not None and leader.overrides_disabled:
        return None, 0
    return membership.leader_id, min(rate_bps, CEILING_BPS)


# --- the team page ---------------------------------------------------------------------------


def set_overrides(
    leader: User, *, disabled: bool, reason: str, actor: User, now: datetime
) -> TeamLeader:
    """An admin stops (or allows again) the overrides of ``leader`` on orders placed from
    now on; orders placed before keep what they were placed with. Audited; stopping needs a
    reason, shown to the leader."""
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an admin can do this."))
    reason = (reason or "").strip()
    if disabled and not reason:
        raise ValidationError(_l("Give a reason: the sharer will see it."), "reason")
    if len(reason) > 200:
        raise ValidationError(_l("At most 200 characters."), "reason")
    row = db.session.get(TeamLeader, leader.id, with_for_update=True)
    if row is None:
        raise ValidationError(_l("This sharer has no team."))
    before = {"overrides_disabled": bool(row.overrides_disabled), "reason": row.disabled_reason}
    row.overrides_disabled = disabled
    row.disabled_reason = reason if disabled else ""
    db.session.flush()
    audit.record(
        actor=actor,
        action="team.overrides_disabled" if disabled else "team.overrides_allowed",
        object_type="user",
        object_id=leader.id,
        before=before,
        after={"overrides_disabled": disabled, "reason": row.disabled_reason},
        reason=reason or None,
        now=now,
    )
    return row
