"""Fraud flags: a scan that raises them from the data, and an admin's decisions on them.

``scan`` looks at the last day of flood-marked clicks (through the partial index
``ix_clicks_flood_time``, never the other clicks) and at the orders paid in the last
``window_days`` (through ``ix_orders_paid_at``). Each flag has a unique key (kind, subject,
period) and is inserted with ON CONFLICT DO NOTHING: a second scan, or two at once, adds
nothing, and a dismissed flag is not raised again for the same period.

An admin may dismiss a flag (with a reason) or hold the sharer's rebates: a ``RebateHold``
row that ``shop.money.payouts.request_payout`` refuses to pay past, until released. Every
decision writes an audit row in the same transaction.
"""

import hashlib
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from shop.accounts import accounts
from shop.accounts.models import User
from shop.catalog.catalog import page_count
from shop.money.models import FlagKind, FlagStatus, FraudFlag, RebateHold
from shop.orders.models import Order, OrderStatus
from shop.platform import audit
from shop.platform.db import insert_for
from shop.platform.errors import InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.sharing.attribution import Reason
from shop.sharing.models import Click, ShareLink
from shop.sharing.rollup import china_day

KIND_LABELS = {
    FlagKind.LINK_FLOOD: _l("Click flood on a link"),
    FlagKind.IP_FLOOD: _l("Click flood from one address"),
    FlagKind.SELF_PURCHASE: _l("Many self-purchases"),
    FlagKind.REFUND_SHARE: _l("Many refunds"),
    FlagKind.FAST_ORDER: _l("Order seconds after the click"),
    FlagKind.ADDRESS_CLUSTER: _l("One address, many sharers"),
}
STATUS_LABELS = {
    FlagStatus.OPEN: _l("open"),
    FlagStatus.DISMISSED: _l("dismissed"),
    FlagStatus.HELD: _l("rebates held"),
}

#: Attribution reasons that put an order in a sharer's name (earning or not).
ATTRIBUTED = (Reason.ATTRIBUTED, Reason.SELF_PURCHASE, Reason.SELF_PURCHASE_NOT_ALLOWED)
SELF = (Reason.SELF_PURCHASE, Reason.SELF_PURCHASE_NOT_ALLOWED)
#: Ids listed in a flag's evidence, at most.
MAX_IDS = 50
PAGE_SIZE = 50


@dataclass(frozen=True)
class Thresholds:
    flood_clicks: int = 100
    window_days: int = 30
    self_purchase_bps: int = 5000
    self_purchase_min_orders: int = 5
    refund_bps: int = 3000
    refund_min_orders: int = 5
    fast_order_seconds: int = 10
    address_min_sharers: int = 3

    @classmethod
    def from_config(cls, config) -> "Thresholds":
        return cls(
            flood_clicks=config["FRAUD_FLOOD_CLICKS"],
            window_days=config["FRAUD_WINDOW_DAYS"],
            self_purchase_bps=config["FRAUD_SELF_PURCHASE_BPS"],
            self_purchase_min_orders=config["FRAUD_SELF_PURCHASE_MIN_ORDERS"],
            refund_bps=config["FRAUD_REFUND_BPS"],
            refund_min_orders=config["FRAUD_REFUND_MIN_ORDERS"],
            fast_order_seconds=config["FRAUD_FAST_ORDER_SECONDS"],
            address_min_sharers=config["FRAUD_ADDRESS_MIN_SHARERS"],
        )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def normalise_address(region: str, detail: str) -> str:
    """One spelling per address: full-width to half-width, lower case, no spaces or
    punctuation ("浙江省 杭州市" and "浙江省杭州市，" are the same place)."""
    text = unicodedata.normalize("NFKC", f"{region}{detail}").lower()
    return re.sub(r"[\s\W_]+", "", text)


# --- the scan ------------------------------------------------------------------------------


def scan(*, now: datetime, thresholds: Thresholds) -> dict[FlagKind, int]:
    """Raise the flags the data calls for; returns how many new flags of each kind."""
    candidates = [
        *_click_floods(now, thresholds),
        *_sharer_shares(now, thresholds),
        *_fast_orders(now, thresholds),
        *_address_clusters(now, thresholds),
    ]
    raised = {kind: 0 for kind in FlagKind}
    for values in candidates:
        if _recently_flagged(values, now=now, thresholds=thresholds):
            continue
        if _insert(values, now=now):
            raised[values["kind"]] += 1
    return raised


def _recently_flagged(values: dict, *, now: datetime, thresholds: Thresholds) -> bool:
    """True when the same subject got a flag of this kind within the evidence window, open,
    dismissed or held: a rolling window crossing midnight (or the 1st of a month) would
    otherwise raise the same evidence again under a new period key, reopening a decided
    flag."""
    window = (
        timedelta(hours=24)
        if values["kind"] in (FlagKind.LINK_FLOOD, FlagKind.IP_FLOOD)
        else timedelta(days=thresholds.window_days)
    )
    return (
        db.session.execute(
            select(FraudFlag.id).where(
                FraudFlag.kind == values["kind"],
                FraudFlag.subject_key == values["subject_key"],
                FraudFlag.raised_at > now - window,
            )
        ).first()
        is not None
    )


def _insert(values: dict, *, now: datetime) -> bool:
    statement = (
        insert_for(db.session, FraudFlag)
        .values(status=FlagStatus.OPEN, raised_at=now, **values)
        .on_conflict_do_nothing(index_elements=["kind", "subject_key", "period_key"])
        .returning(FraudFlag.id)
    )
    # A row comes back only when the flag is new (rowcount is not reliable for ORM inserts).
    return db.session.execute(statement).first() is not None


def _click_floods(now: datetime, t: Thresholds) -> list[dict]:
    since = now - timedelta(hours=24)
    period = china_day(now).isoformat()
    floods = (Click.uncounted_reason == "flood", Click.clicked_at >= since, Click.clicked_at <= now)
    flags = []
    by_link = db.session.execute(
        select(
            Click.link_id,
            func.count(Click.id),
            func.min(Click.clicked_at),
            func.max(Click.clicked_at),
            func.count(func.distinct(Click.ip_hash)),
        )
        .where(*floods)
        .group_by(Click.link_id)
        .having(func.count(Click.id) >= t.flood_clicks)
    ).all()
    links = {
        link.id: link
        for link in db.session.execute(
            select(ShareLink).where(ShareLink.id.in_([row[0] for row in by_link]))
        ).scalars()
    }
    for link_id, count, first, last, addresses in by_link:
        link = links.get(link_id)
        flags.append(
            {
                "kind": FlagKind.LINK_FLOOD,
                "subject_key": f"link:{link_id}",
                "period_key": period,
                "sharer_id": link.sharer_id if link else None,
                "link_id": link_id,
                "evidence": {
                    "clicks": count,
                    "addresses": addresses,
                    "first": _iso(first),
                    "last": _iso(last),
                    "link_code": link.code if link else "",
                    "hours": 24,
                },
            }
        )
    by_ip = db.session.execute(
        select(
            Click.ip_hash,
            func.count(Click.id),
            func.min(Click.clicked_at),
            func.max(Click.clicked_at),
        )
        .where(*floods)
        .group_by(Click.ip_hash)
        .having(func.count(Click.id) >= t.flood_clicks)
    ).all()
    for ip_hash, count, first, last in by_ip:
        targets = db.session.execute(
            select(ShareLink.id, ShareLink.sharer_id, func.count(Click.id))
            .join(ShareLink, ShareLink.id == Click.link_id)
            .where(*floods, Click.ip_hash == ip_hash)
            .group_by(ShareLink.id, ShareLink.sharer_id)
            .order_by(func.count(Click.id).desc(), ShareLink.id)
        ).all()
        sharers = sorted({sharer_id for _link, sharer_id, _n in targets})
        flags.append(
            {
                "kind": FlagKind.IP_FLOOD,
                "subject_key": f"ip:{ip_hash}",
                "period_key": period,
                "sharer_id": sharers[0] if len(sharers) == 1 else None,
                "ip_hash": ip_hash,
                "evidence": {
                    "clicks": count,
                    "first": _iso(first),
                    "last": _iso(last),
                    "link_ids": [link_id for link_id, _s, _n in targets][:MAX_IDS],
                    "sharer_ids": sharers[:MAX_IDS],
                    "hours": 24,
                },
            }
        )
    return flags


def _paid_since(now: datetime, t: Thresholds):
    since = now - timedelta(days=t.window_days)
    return (Order.paid_at >= since, Order.paid_at <= now)


def _sharer_shares(now: datetime, t: Thresholds) -> list[dict]:
    """Sharers whose attributed paid orders are mostly their own, or mostly refunded."""
    rows = db.session.execute(
        select(Order.id, Order.sharer_id, Order.attribution_reason, Order.status)
        .where(*_paid_since(now, t), Order.attribution_reason.in_([str(r) for r in ATTRIBUTED]))
        .order_by(Order.id)
    ).all()
    per_sharer: dict[int, dict[str, list[int]]] = defaultdict(
        lambda: {"all": [], "self": [], "refunded": []}
    )
    for order_id, sharer_id, reason, status in rows:
        if sharer_id is None:
            continue
        bucket = per_sharer[sharer_id]
        bucket["all"].append(order_id)
        if reason in SELF:
            bucket["self"].append(order_id)
        if status == OrderStatus.REFUNDED:
            bucket["refunded"].append(order_id)
    period = china_day(now).strftime("%Y-%m")
    flags = []
    checks = (
        (FlagKind.SELF_PURCHASE, "self", t.self_purchase_bps, t.self_purchase_min_orders),
        (FlagKind.REFUND_SHARE, "refunded", t.refund_bps, t.refund_min_orders),
    )
    for sharer_id, bucket in sorted(per_sharer.items()):
        total = len(bucket["all"])
        for kind, key, bps, minimum in checks:
            hits = bucket[key]
            if total < minimum or len(hits) * 10000 < bps * total:
                continue
            flags.append(
                {
                    "kind": kind,
                    "subject_key": f"sharer:{sharer_id}",
                    "period_key": period,
                    "sharer_id": sharer_id,
                    "evidence": {
                        "orders": total,
                        "hits": len(hits),
                        "share_bps": len(hits) * 10000 // total,
                        "threshold_bps": bps,
                        "days": t.window_days,
                        "order_ids": hits[:MAX_IDS],
                    },
                }
            )
    return flags


def _fast_orders(now: datetime, t: Thresholds) -> list[dict]:
    rows = db.session.execute(
        select(
            Order.id,
            Order.number,
            Order.sharer_id,
            Order.placed_at,
            Click.id,
            Click.clicked_at,
            Click.link_id,
        )
        .join(Click, Click.id == Order.click_id)
        # The seconds kept on the order when it was placed: only the fast ones are loaded.
        .where(*_paid_since(now, t), Order.click_lag_seconds <= t.fast_order_seconds)
        .order_by(Order.id)
    ).all()
    flags = []
    for order_id, number, sharer_id, placed_at, click_id, clicked_at, link_id in rows:
        gap = placed_at - clicked_at
        flags.append(
            {
                "kind": FlagKind.FAST_ORDER,
                "subject_key": f"order:{order_id}",
                "period_key": "",
                "sharer_id": sharer_id,
                "link_id": link_id,
                "evidence": {
                    "order_id": order_id,
                    "order_number": number,
                    "click_id": click_id,
                    "clicked_at": _iso(clicked_at),
                    "placed_at": _iso(placed_at),
                    "seconds": max(int(gap.total_seconds()), 0),
                    "threshold_seconds": t.fast_order_seconds,
                },
            }
        )
    return flags


def _address_clusters(now: datetime, t: Thresholds) -> list[dict]:
    rows = db.session.execute(
        select(Order.id, Order.sharer_id, Order.ship_region, Order.ship_detail)
        .where(*_paid_since(now, t), Order.sharer_id.is_not(None))
        .order_by(Order.id)
    ).all()
    clusters: dict[str, dict] = {}
    for order_id, sharer_id, region, detail in rows:
        key = normalise_address(region, detail)
        cluster = clusters.setdefault(
            key, {"orders": [], "sharers": set(), "address": f"{region} {detail}"}
        )
        cluster["orders"].append(order_id)
        cluster["sharers"].add(sharer_id)
    period = china_day(now).strftime("%Y-%m")
    flags = []
    for key, cluster in sorted(clusters.items()):
        sharers = sorted(cluster["sharers"])
        if len(sharers) < t.address_min_sharers:
            continue
        digest = hashlib.sha256(key.encode()).hexdigest()[:24]
        flags.append(
            {
                "kind": FlagKind.ADDRESS_CLUSTER,
                "subject_key": f"addr:{digest}",
                "period_key": period,
                "sharer_id": None,
                "evidence": {
                    "orders": len(cluster["orders"]),
                    "sharers": len(sharers),
                    "threshold": t.address_min_sharers,
                    "days": t.window_days,
                    "address": cluster["address"],
                    "order_ids": cluster["orders"][:MAX_IDS],
                    "sharer_ids": sharers[:MAX_IDS],
                },
            }
        )
    return flags


# --- reading -------------------------------------------------------------------------------


def _percent(bps: int) -> str:
    return f"{bps / 100:.0f}%"


def explain(flag: FraudFlag) -> str:
    """Why the flag was raised, in words, from its evidence."""
    e = flag.evidence or {}
    if flag.kind == FlagKind.LINK_FLOOD:
        return _l(
            "Link %(code)s got %(clicks)d clicks marked as a flood in %(hours)d hours, "
            "from %(addresses)d addresses.",
            code=e.get("link_code", ""),
            clicks=e.get("clicks", 0),
            hours=e.get("hours", 24),
            addresses=e.get("addresses", 0),
        )
    if flag.kind == FlagKind.IP_FLOOD:
        return _l(
            "One address sent %(clicks)d clicks marked as a flood in %(hours)d hours, "
            "to %(links)d links of %(sharers)d sharers.",
            clicks=e.get("clicks", 0),
            hours=e.get("hours", 24),
            links=len(e.get("link_ids", [])),
            sharers=len(e.get("sharer_ids", [])),
        )
    if flag.kind == FlagKind.SELF_PURCHASE:
        return _l(
            "%(hits)d of this sharer's %(orders)d paid orders in %(days)d days (%(share)s) "
            "were bought by the sharer; the limit is %(limit)s.",
            hits=e.get("hits", 0),
            orders=e.get("orders", 0),
            days=e.get("days", 0),
            share=_percent(e.get("share_bps", 0)),
            limit=_percent(e.get("threshold_bps", 0)),
        )
    if flag.kind == FlagKind.REFUND_SHARE:
        return _l(
            "%(hits)d of this sharer's %(orders)d paid orders in %(days)d days (%(share)s) "
            "were refunded; the limit is %(limit)s.",
            hits=e.get("hits", 0),
            orders=e.get("orders", 0),
            days=e.get("days", 0),
            share=_percent(e.get("share_bps", 0)),
            limit=_percent(e.get("threshold_bps", 0)),
        )
    if flag.kind == FlagKind.FAST_ORDER:
        return _l(
            "Order %(number)s was placed %(seconds)d seconds after its click "
            "(flagged at %(limit)d seconds or less).",
            number=e.get("order_number", ""),
            seconds=e.get("seconds", 0),
            limit=e.get("threshold_seconds", 0),
        )
    return _l(
        "%(orders)d paid orders in %(days)d days went to one address through %(sharers)d "
        "different sharers.",
        orders=e.get("orders", 0),
        days=e.get("days", 0),
        sharers=e.get("sharers", 0),
    )


def flag_page(
    page: int, *, status: FlagStatus | None, sharer_id: int | None = None
) -> tuple[list[FraudFlag], int]:
    query = select(FraudFlag)
    if status is not None:
        query = query.where(FraudFlag.status == status)
    if sharer_id is not None:
        query = query.where(FraudFlag.sharer_id == sharer_id)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    pages = page_count(total, PAGE_SIZE)
    page = min(max(1, page), pages)
    rows = db.session.execute(
        query.options(selectinload(FraudFlag.sharer))
        .order_by(FraudFlag.raised_at.desc(), FraudFlag.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).scalars()
    return list(rows), pages


def newest_open(limit: int) -> list[FraudFlag]:
    """The ``limit`` most recently raised open flags (the admin overview's list)."""
    return list(
        db.session.execute(
            select(FraudFlag)
            .where(FraudFlag.status == FlagStatus.OPEN)
            .options(joinedload(FraudFlag.sharer))  # one round trip
            .order_by(FraudFlag.raised_at.desc(), FraudFlag.id.desc())
            .limit(limit)
        ).scalars()
    )


@cache
def status_counts_query():
    """One row: how many flags are in each status, in FlagStatus order (the admin home reads
    it with its other counts in one query)."""
    return select(
        *(func.count().filter(FraudFlag.status == s.value).label(f"f_{s}") for s in FlagStatus)
    ).select_from(FraudFlag)


def status_counts() -> dict[FlagStatus, int]:
    row = db.session.execute(status_counts_query()).one()
    return dict(zip(FlagStatus, row, strict=True))


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
