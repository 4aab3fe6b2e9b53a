"""Reading fraud flags: why one was raised, in words, their labels, and the admin's lists
and counts of them."""

from functools import cache

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import joinedload, selectinload

from shop.catalog.catalog import page_count
from shop.money.models import FlagKind, FlagStatus, FraudFlag
from shop.platform.extensions import db

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

PAGE_SIZE = 50


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
