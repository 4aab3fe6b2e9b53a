"""The numbers of sharer teams, read from the ledger: a leader's members with what each
settled and the override they earned the leader (the team page), and every team for admins.
The rules of teams (invites, binding, override rates) are ``shop.teams``."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, func, select

from shop.accounts.models import User
from shop.money import ledger
from shop.money.models import EntryKind, LedgerEntry
from shop.orders.models import Order
from shop.platform.extensions import db
from shop.teams.models import TeamLeader, TeamMember


@dataclass(frozen=True)
class MemberLine:
    member_id: int
    name: str
    joined_at: datetime
    settled_cents: int  #: the member's own settled rebates in the period, less clawbacks
    override_cents: int  #: the leader's settled override from this member, less clawbacks
    pending_override_cents: int  #: the leader's override still estimated (not settled)


def _net(kind_column, amount_column):
    return func.coalesce(
        func.sum(
            case(
                (kind_column == EntryKind.SETTLED, amount_column),
                (kind_column == EntryKind.CLAWBACK, -amount_column),
                else_=0,
            )
        ),
        0,
    )


def members(leader_id: int, *, since: datetime, until: datetime) -> list[MemberLine]:
    """The leader's members, newest first, with what each settled in [since, until) and the
    leader's settled override from each (by the time the entries were posted), and the
    leader's override from each still waiting to settle now."""
    rows = db.session.execute(
        select(TeamMember.member_id, User.display_name, TeamMember.joined_at)
        .join(User, User.id == TeamMember.member_id)
        .where(TeamMember.leader_id == leader_id)
        .order_by(TeamMember.joined_at.desc(), TeamMember.member_id.desc())
    ).all()
    if not rows:
        return []
    ids = [member_id for member_id, _name, _joined in rows]
    in_period = (LedgerEntry.created_at >= since, LedgerEntry.created_at < until)
    own = dict(
        db.session.execute(
            select(LedgerEntry.sharer_id, _net(LedgerEntry.kind, LedgerEntry.amount_cents))
            .where(LedgerEntry.sharer_id.in_(ids), LedgerEntry.tier == 1, *in_period)
            .group_by(LedgerEntry.sharer_id)
        ).all()
    )
    overrides = {}
    pending = {}
    of_members = (
        LedgerEntry.sharer_id == leader_id,
        LedgerEntry.tier == 2,
        Order.sharer_id.in_(ids),
    )
    # Settled in the period; still waiting now, whenever it was estimated.
    for member_id, settled in db.session.execute(
        select(Order.sharer_id, _net(LedgerEntry.kind, LedgerEntry.amount_cents))
        .join(Order, Order.id == LedgerEntry.order_id)
        .where(*of_members, *in_period)
        .group_by(Order.sharer_id)
    ):
        overrides[member_id] = int(settled)
    for member_id, estimated in db.session.execute(
        select(Order.sharer_id, ledger.balance_sum(ledger.ESTIMATED_BALANCE))
        .join(Order, Order.id == LedgerEntry.order_id)
        .where(*of_members)
        .group_by(Order.sharer_id)
    ):
        pending[member_id] = int(estimated)
    return [
        MemberLine(
            member_id=member_id,
            name=name,
            joined_at=joined_at,
            settled_cents=int(own.get(member_id, 0)),
            override_cents=overrides.get(member_id, 0),
            pending_override_cents=pending.get(member_id, 0),
        )
        for member_id, name, joined_at in rows
    ]


@dataclass(frozen=True)
class TeamLine:
    leader_id: int
    name: str
    members: int
    overrides_disabled: bool
    disabled_reason: str
    override_settled_cents: int  #: every settled override, less clawbacks


def teams() -> list[TeamLine]:
    """Every sharer who leads members, by team size."""
    size = func.count(TeamMember.member_id)
    rows = db.session.execute(
        select(TeamMember.leader_id, User.display_name, size)
        .join(User, User.id == TeamMember.leader_id)
        .group_by(TeamMember.leader_id, User.display_name)
        .order_by(size.desc(), TeamMember.leader_id)
    ).all()
    ids = [leader_id for leader_id, _name, _n in rows]
    switches = {
        row.user_id: row
        for row in db.session.execute(select(TeamLeader).where(TeamLeader.user_id.in_(ids)))
        .scalars()
        .all()
    }
    earned = dict(
        db.session.execute(
            select(LedgerEntry.sharer_id, _net(LedgerEntry.kind, LedgerEntry.amount_cents))
            .where(LedgerEntry.tier == 2, LedgerEntry.sharer_id.in_(ids))
            .group_by(LedgerEntry.sharer_id)
        ).all()
    )
    lines = []
    for leader_id, name, n in rows:
        switch = switches.get(leader_id)
        lines.append(
            TeamLine(
                leader_id=leader_id,
                name=name,
                members=n,
                overrides_disabled=bool(switch and switch.overrides_disabled),
                disabled_reason=switch.disabled_reason if switch else "",
                override_settled_cents=int(earned.get(leader_id, 0)),
            )
        )
    return lines
