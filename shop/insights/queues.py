"""Read models for admin pages: queues and the audit trail."""

from functools import cache

from sqlalchemy import func, select, true
from sqlalchemy.orm import selectinload

from shop.catalog.catalog import page_count
from shop.catalog.models import Merchant, MerchantStatus
from shop.money import fraud
from shop.money.models import Appeal, AppealStatus, FlagStatus, Payout, PayoutStatus
from shop.orders.models import Order, OrderStatus
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.reviews import moderation

PAGE_SIZE = 50


def merchant_queue(status: MerchantStatus) -> list[Merchant]:
    """Merchants in one status: pending ones oldest first (fair queue), others latest first."""
    query = select(Merchant).options(selectinload(Merchant.user), selectinload(Merchant.category))
    query = query.where(Merchant.status == status)
    if status == MerchantStatus.PENDING:
        query = query.order_by(Merchant.submitted_at.asc(), Merchant.id.asc())
    else:
        query = query.order_by(Merchant.decided_at.desc(), Merchant.id.desc())
    return list(db.session.execute(query).scalars())


@cache
def _merchant_counts_query():
    """One row: how many merchants are in each status, in MerchantStatus order."""
    return select(
        *(func.count().filter(Merchant.status == s.value).label(f"m_{s}") for s in MerchantStatus)
    ).select_from(Merchant)


def merchant_counts() -> dict[MerchantStatus, int]:
    row = db.session.execute(_merchant_counts_query()).one()
    return dict(zip(MerchantStatus, row, strict=True))


def audit_page(
    page: int, *, object_type: str | None = None, object_id: int | None = None
) -> tuple[list[AuditEntry], int]:
    """One page of the audit trail, newest first, and the number of pages."""
    query = select(AuditEntry)
    if object_type:
        query = query.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        query = query.where(AuditEntry.object_id == object_id)
    total = db.session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    pages = page_count(total, PAGE_SIZE)
    page = min(max(1, page), pages)
    rows = db.session.execute(
        query.options(selectinload(AuditEntry.actor))
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).scalars()
    return list(rows), pages


def payout_queue() -> list[Payout]:
    """Open payout requests, oldest first (fair queue), with their sharers."""
    return list(
        db.session.execute(
            select(Payout)
            .options(selectinload(Payout.user))
            .where(Payout.status == PayoutStatus.REQUESTED)
            .order_by(Payout.requested_at.asc(), Payout.id.asc())
        ).scalars()
    )


def recent_payout_decisions(limit: int = 20) -> list[Payout]:
    return list(
        db.session.execute(
            select(Payout)
            .options(selectinload(Payout.user))
            .where(Payout.status != PayoutStatus.REQUESTED)
            .order_by(Payout.decided_at.desc(), Payout.id.desc())
            .limit(limit)
        ).scalars()
    )


#: Orders an administrator may need to step into: a refund waiting on the merchant, or one
#: the merchant rejected (the buyer may have complained).
DISPUTE_STATUSES = (OrderStatus.REFUND_REQUESTED, OrderStatus.REFUND_REJECTED)


def refund_disputes(limit: int = 100) -> list[Order]:
    return list(
        db.session.execute(
            select(Order)
            .options(selectinload(Order.items), selectinload(Order.merchant))
            .where(Order.status.in_(DISPUTE_STATUSES))
            # Escalated requests (merchant silent past REFUND_ESCALATE_DAYS) first.
            .order_by(
                Order.refund_escalated_at.is_(None).asc(),
                Order.placed_at.asc(),
                Order.id.asc(),
            )
            .limit(limit)
        ).scalars()
    )


@cache
def _money_counts_query():
    payouts = select(func.count(Payout.id)).where(Payout.status == PayoutStatus.REQUESTED)
    disputes = select(func.count(Order.id)).where(Order.status.in_(DISPUTE_STATUSES))
    appeals = select(func.count(Appeal.id)).where(Appeal.status == AppealStatus.SUBMITTED)
    return select(
        payouts.scalar_subquery().label("payouts_waiting"),
        disputes.scalar_subquery().label("refund_disputes"),
        appeals.scalar_subquery().label("appeals_waiting"),
    )


def money_counts() -> dict[str, int]:
    payouts, disputes, appeals = db.session.execute(_money_counts_query()).one()
    return {"payouts_waiting": payouts, "refund_disputes": disputes, "appeals_waiting": appeals}


@cache
def _work_counts_query():
    merchants = _merchant_counts_query().subquery()
    flags = fraud.status_counts_query().subquery()
    money = _money_counts_query().subquery()
    reviews = moderation.queue_counts_query().subquery()
    # Four one-row results side by side.
    joined = merchants.join(money, true()).join(reviews, true()).join(flags, true())
    return select(merchants, money, reviews, flags).select_from(joined)


def work_counts() -> dict[str, dict]:
    """The admin home's "work waiting" in one round trip: merchants per status, payouts waiting,
    refund disputes and appeals waiting, reviews per moderation tab, fraud flags per status."""
    row = iter(db.session.execute(_work_counts_query()).one())
    merchants = {status: next(row) for status in MerchantStatus}
    money = {name: next(row) for name in ("payouts_waiting", "refund_disputes", "appeals_waiting")}
    reviews = {tab: next(row) for tab in moderation.TABS}
    flags = {status: next(row) for status in FlagStatus}
    return {"merchants": merchants, "money": money, "reviews": reviews, "flags": flags}
