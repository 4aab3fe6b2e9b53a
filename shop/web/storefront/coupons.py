"""Coupons for buyers: claiming one in one tap (the landing page's button), the checkout's
coupon row (the best usable coupon per shop, a choice when there are several), and the
coupon a share link brings along, which applies by itself at checkout."""

from dataclasses import dataclass

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from shop.orders import coupons
from shop.orders.coupon_offers import coupon_row
from shop.orders.models import Coupon, CouponClaim
from shop.platform import db as dbsetup
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.sharing import links
from shop.web.common import now, safe_next
from shop.web.storefront import bp

#: The value of the choice "no coupon" in a shop's coupon row.
NONE = "none"


@dataclass(frozen=True)
class Offer:
    value: str  #: a claim id, or "link" for the link's coupon not yet claimed
    label: str
    discount_cents: int
    reason: str | None
    #: The coupon's terms, for the buy-now page's live totals (checkout-qty.js).
    off_cents: int = 0
    threshold_cents: int = 0
    #: The link's coupon itself and the link's id (value "link"), claimed when the order is
    #: placed; or the buyer's claim.
    coupon: Coupon | None = None
    link_id: int | None = None
    claim: CouponClaim | None = None


def link_id_of(ref: str) -> int | None:
    """The id of the live share link ``ref`` (from the link cache: no query), else None."""
    if not ref or not links.is_well_formed(ref):
        return None
    link = links.resolve_cached(ref)
    return None if link is None or link.gone else link.id


def link_coupon(ref: str) -> tuple[Coupon | None, int | None]:
    """The coupon the share link ``ref`` carries (open now) and the link's id."""
    link_id = link_id_of(ref)
    if link_id is None:
        return None, None
    return coupons.shown_coupon(item_id=None, link_id=link_id, now=now()), link_id


def _goods(items) -> dict[int, int]:
    goods: dict[int, int] = {}
    for line in items:
        if line.reason is None:
            goods[line.product.id] = goods.get(line.product.id, 0) + line.line_cents
    return goods


def offers_for(merchant, items, ref: str) -> tuple[list[Offer], Offer | None]:
    """A shop's coupon row: the buyer's claims (and the link's coupon when they have none of
    it yet), usable first, and the one chosen (the form's choice, else the best)."""
    if not current_user.is_authenticated:
        return [], None
    goods = _goods(items)
    at = now()
    # The claims and the link's coupon in one query (the checkout asks once per shop).
    link_id = link_id_of(ref)
    claims, coupon = coupon_row(current_user, merchant.id, link_id, now=at)
    found, _best = coupons.choices(current_user, merchant.id, goods, now=at, claims=claims)
    offers = [
        Offer(
            str(c.claim.id),
            coupons.describe(c.claim.coupon),
            c.discount_cents,
            c.reason,
            c.claim.coupon.off_cents,
            c.claim.coupon.threshold_cents,
            claim=c.claim,
        )
        for c in found
    ]
    # The link's coupon: this shop's, open, and none of it held unused (coupon_row).
    if coupon is not None and coupon.remaining > 0:
        offers.append(
            Offer(
                "link",
                coupons.describe(coupon),
                coupons.discount_of(coupon, goods),
                coupons.why_not(coupon, goods, now=at),
                coupon.off_cents,
                coupon.threshold_cents,
                coupon,
                link_id,
            )
        )
    offers.sort(key=lambda o: (o.reason is not None, -o.discount_cents))
    wanted = request.form.get(f"coupon-{merchant.id}") if request.method == "POST" else None
    if wanted == NONE:
        return offers, None
    usable = [o for o in offers if o.reason is None]
    chosen = next((o for o in usable if o.value == wanted), usable[0] if usable else None)
    return offers, chosen


def claims_for_order(groups, ref: str) -> tuple[dict[int, int], list]:
    """({merchant id: claim id} to place the orders with, the rows behind them); the link's
    coupon is claimed now when it was chosen (in the caller's transaction). The caller keeps
    the rows until the orders are placed: the session holds a loaded row only while something
    refers to it, and place_order then finds the claims and coupons without reading them
    again. Raises DomainError."""
    picked, rows = {}, []
    for merchant, items in groups:
        _offers, chosen = offers_for(merchant, items, ref)
        if chosen is None:
            continue
        if chosen.value == "link":
            row = coupons.claim(
                chosen.coupon, buyer=current_user, now=now(), link_id=chosen.link_id
            )
            picked[merchant.id] = row.id
            rows += [row, chosen.coupon]
        else:
            picked[merchant.id] = int(chosen.value)
            rows.append(chosen.claim)
    return picked, rows


@bp.route("/coupons/<int:coupon_id>/claim", methods=["POST"])
@login_required
def claim_coupon(coupon_id: int):
    """Claim one coupon in one tap, then back to the page it was tapped on."""
    coupon = db.session.get(Coupon, coupon_id)
    if coupon is None:
        abort(404)
    back = safe_next(request.form.get("next")) or url_for("storefront.home")
    ref = request.form.get("ref", "")
    _coupon, link_id = link_coupon(ref)
    try:
        with dbsetup.writing():
            coupons.claim(coupon, buyer=current_user, now=now(), link_id=link_id)
            db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(
            _("Coupon claimed: %(what)s. It applies at checkout.", what=coupons.describe(coupon)),
            "success",
        )
    return redirect(back)


@dataclass(frozen=True)
class Shown:
    """The coupon on a landing page: the coupon, its words and 券后价 (None: not on one unit)."""

    coupon: Coupon
    label: str
    after_cents: int | None
    claimed: bool = False  #: the signed-in buyer holds one unused


def landing_coupon(item, ref: str | None, price_cents: int) -> Shown | None:
    """The coupon the sharer put on this link (else on this shop item), for the page."""
    link_id = None
    if ref:
        link = links.resolve_cached(ref)
        link_id = link.id if link is not None and not link.gone else None
    coupon = coupons.shown_coupon(
        item_id=item.id if item is not None else None, link_id=link_id, now=now()
    )
    if coupon is None:
        return None
    held = current_user.is_authenticated and any(
        c.coupon_id == coupon.id
        for c in coupons.unused_claims(current_user, coupon.merchant_id, now=now())
    )
    return Shown(coupon, coupons.describe(coupon), coupons.price_after(coupon, price_cents), held)
