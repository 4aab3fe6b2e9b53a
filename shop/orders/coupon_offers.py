"""The coupons a checkout's coupon row can offer for one shop, read in one query: the buyer's
unused claims (as :func:`shop.orders.coupons.unused_claims` finds them) and the coupon the
share link the buyer came through carries (as :func:`shop.orders.coupons.shown_coupon` finds
it for a link alone), when the buyer holds none of it unused.

Two queries before (the claims, then the link's coupon), each a round trip and the ORM's cost
of a statement: the checkout form and the order placed from it ask once per shop. The
statement is built once, with parameters: building it is most of its cost in Python."""

from datetime import datetime
from functools import cache

from sqlalchemy import Select, and_, bindparam, or_, select

from shop.accounts.models import User
from shop.orders.models import Coupon, CouponAttachment, CouponClaim
from shop.platform.extensions import db


@cache
def _row() -> Select:
    """coupon_row's statement, built once at its first use (building it is most of its cost
    in Python; an entity in a statement needs every model mapped)."""
    on_link = (
        select(CouponAttachment.id)
        .where(
            CouponAttachment.coupon_id == Coupon.id,
            CouponAttachment.link_id == bindparam("link_id"),
        )
        .exists()
    )
    return (
        select(Coupon, CouponClaim)
        .outerjoin(
            CouponClaim,
            and_(
                CouponClaim.coupon_id == Coupon.id,
                CouponClaim.buyer_id == bindparam("buyer_id"),
                CouponClaim.order_id.is_(None),
            ),
        )
        .where(
            Coupon.merchant_id == bindparam("merchant_id"),
            Coupon.ends_at > bindparam("now"),
            or_(
                CouponClaim.id.is_not(None),
                and_(on_link, Coupon.is_active.is_(True), Coupon.starts_at <= bindparam("now")),
            ),
        )
        .order_by(Coupon.off_cents.desc(), CouponClaim.id)
    )


def coupon_row(
    buyer: User, merchant_id: int, link_id: int | None, *, now: datetime
) -> tuple[list[CouponClaim], Coupon | None]:
    """(the buyer's claims of ``merchant_id``'s coupons, not used and not yet ended, the
    largest amount off first; the coupon on the share link ``link_id`` when it is this
    merchant's, open now, and the buyer holds none of it unused, else None).

    The link's coupon is returned whatever its ``remaining``: the caller offers it only while
    some are left, as before. Without a link (None) no attachment matches."""
    rows = db.session.execute(
        _row(), {"buyer_id": buyer.id, "merchant_id": merchant_id, "link_id": link_id, "now": now}
    ).all()
    claims = [claim for _coupon, claim in rows if claim is not None]
    # A coupon the buyer holds comes back with its claims only; one they do not, alone.
    linked = next((coupon for coupon, claim in rows if claim is None), None)
    return claims, linked
