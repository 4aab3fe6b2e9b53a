"""Merchant coupons: made by a merchant (and funded by them), claimed by buyers, attached by
sharers to a shop item or a share link, used once by an order.

Money rules:

- A coupon takes ``off_cents`` off its scope's goods (one product, or the merchant's whole
  shop), never more than those goods, when they reach ``threshold_cents`` (满减).
- The order keeps the coupon and the discount: ``total = goods - discount + shipping``.
- The discount is spread over the scope's items in proportion to their amounts
  (:func:`spread`), and each item's rebate is worked out on its amount after its share: the
  rebate is on the price paid.
- Claims take ``remaining`` down by one guarded UPDATE, and the buyer's row is locked
  before counting their claims, so neither the total nor the per-buyer limit can be passed
  by requests at the same moment. An order takes a claim by one guarded UPDATE (once).
- A cancelled unpaid order gives its coupon back; a refund after payment does not.
"""

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts.accounts import lock_account
from shop.accounts.models import User
from shop.catalog.models import Merchant, Product
from shop.orders.models import Coupon, CouponAttachment, CouponClaim, Order
from shop.platform.errors import NotFound, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.sharing.models import ShareLink, ShopItem

MAX_COUNT = 100_000


def _yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def create_coupon(
    merchant: Merchant,
    *,
    product_id: int | None,
    off_cents: int,
    threshold_cents: int,
    total_count: int,
    per_buyer: int,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> Coupon:
    """A new coupon of ``merchant``; ValidationError (with its field) for bad input."""
    if product_id is not None:
        product = db.session.get(Product, product_id)
        if product is None or product.merchant_id != merchant.id:
            raise ValidationError(_l("Choose one of your products."), "product_id")
    if off_cents <= 0:
        raise ValidationError(_l("Enter an amount off of at least ¥0.01."), "off")
    if threshold_cents < 0:
        raise ValidationError(_l("The threshold cannot be negative."), "threshold")
    if threshold_cents and off_cents >= threshold_cents:
        raise ValidationError(_l("The amount off must be less than the threshold."), "off")
    if not 1 <= total_count <= MAX_COUNT:
        raise ValidationError(_l("Issue between 1 and %(n)d coupons.", n=MAX_COUNT), "total_count")
    if not 1 <= per_buyer <= total_count:
        raise ValidationError(
            _l("Each buyer may claim between 1 and the total count."), "per_buyer"
        )
    if ends_at <= starts_at:
        raise ValidationError(_l("The end must be after the start."), "ends_at")
    if ends_at <= now:
        raise ValidationError(_l("The end must be in the future."), "ends_at")
    coupon = Coupon(
        merchant_id=merchant.id,
        product_id=product_id,
        off_cents=off_cents,
        threshold_cents=threshold_cents,
        total_count=total_count,
        remaining=total_count,
        per_buyer=per_buyer,
        starts_at=starts_at,
        ends_at=ends_at,
        created_at=now,
    )
    db.session.add(coupon)
    db.session.flush()
    return coupon


def coupons_of(merchant: Merchant) -> list[Coupon]:
    return list(
        db.session.execute(
            select(Coupon).where(Coupon.merchant_id == merchant.id).order_by(Coupon.id.desc())
        ).scalars()
    )


def stop_coupon(coupon: Coupon, *, actor: Merchant) -> None:
    """No more claims of ``coupon`` (claims already held stay usable until it ends)."""
    if coupon.merchant_id != actor.id:
        raise PermissionDenied(_l("This is not your coupon."))
    coupon.is_active = False
    db.session.flush()


def describe(coupon: Coupon) -> str:
    """ "满¥99减¥10" or "¥10 off" as the buyer reads it."""
    if coupon.threshold_cents:
        return str(
            _l(
                "¥%(off)s off orders of ¥%(threshold)s",
                off=_yuan(coupon.off_cents),
                threshold=_yuan(coupon.threshold_cents),
            )
        )
    return str(_l("¥%(off)s off", off=_yuan(coupon.off_cents)))


def price_after(coupon: Coupon | None, price_cents: int) -> int | None:
    """券后价 of one unit at ``price_cents``; None when the coupon does not apply to one unit."""
    if coupon is None or price_cents < coupon.threshold_cents:
        return None
    return max(price_cents - coupon.off_cents, 0)


def _check_open(coupon: Coupon, now: datetime) -> None:
    if now >= coupon.ends_at:
        raise ValidationError(_l("This coupon has expired."), "coupon")
    if now < coupon.starts_at:
        raise ValidationError(_l("This coupon cannot be used yet."), "coupon")
    if not coupon.is_active:
        raise ValidationError(_l("This coupon was stopped by the merchant."), "coupon")


def claim(coupon: Coupon, *, buyer: User, now: datetime, link_id: int | None = None) -> CouponClaim:
    """Give ``buyer`` one of ``coupon``. Raises ValidationError: expired, used up, or
    claimed as often as a buyer may."""
    _check_open(coupon, now)
    lock_account(buyer.id)
    held = db.session.execute(
        select(func.count(CouponClaim.id)).where(
            CouponClaim.coupon_id == coupon.id, CouponClaim.buyer_id == buyer.id
        )
    ).scalar_one()
    if held >= coupon.per_buyer:
        raise ValidationError(_l("You have already claimed this coupon."), "coupon")
    try:
        with db.session.begin_nested():
            taken = db.session.execute(
                update(Coupon)
                .where(
                    Coupon.id == coupon.id,
                    Coupon.remaining > 0,
                    Coupon.is_active.is_(True),
                    Coupon.ends_at > now,
                )
                .values(remaining=Coupon.remaining - 1)
                .execution_options(synchronize_session=False)
            )
            if taken.rowcount != 1:
                raise ValidationError(_l("This coupon is used up."), "coupon")
            row = CouponClaim(
                coupon_id=coupon.id, buyer_id=buyer.id, seq=held + 1, link_id=link_id,
                claimed_at=now,
            )  # fmt: skip
            db.session.add(row)
            db.session.flush()
    except IntegrityError:
        raise ValidationError(_l("You have already claimed this coupon."), "coupon") from None
    return row


def unused_claims(buyer: User, merchant_id: int, *, now: datetime) -> list[CouponClaim]:
    """The buyer's claims of ``merchant_id``'s coupons not used and not yet ended."""
    return list(
        db.session.execute(
            select(CouponClaim)
            .join(Coupon, Coupon.id == CouponClaim.coupon_id)
            .where(
                CouponClaim.buyer_id == buyer.id,
                CouponClaim.order_id.is_(None),
                Coupon.merchant_id == merchant_id,
                Coupon.ends_at > now,
            )
            .order_by(Coupon.off_cents.desc(), CouponClaim.id)
        ).scalars()
    )


def scope_goods(coupon: Coupon, goods: dict[int, int]) -> int:
    """The goods (fen, by product id) a coupon counts."""
    if coupon.product_id is None:
        return sum(goods.values())
    return goods.get(coupon.product_id, 0)


def why_not(coupon: Coupon, goods: dict[int, int], *, now: datetime) -> str | None:
    """Why ``coupon`` cannot be used on an order of ``goods`` ({product id: fen}); None
    when it can."""
    if now >= coupon.ends_at:
        return str(_l("This coupon has expired."))
    if now < coupon.starts_at:
        return str(_l("This coupon cannot be used yet."))
    if coupon.product_id is not None and coupon.product_id not in goods:
        return str(_l("This coupon is for another product."))
    if scope_goods(coupon, goods) < coupon.threshold_cents:
        return str(
            _l(
                "Spend ¥%(threshold)s to use this coupon.",
                threshold=_yuan(coupon.threshold_cents),
            )
        )
    return None


def discount_of(coupon: Coupon, goods: dict[int, int]) -> int:
    return min(coupon.off_cents, scope_goods(coupon, goods))


@dataclass(frozen=True)
class Choice:
    claim: CouponClaim
    discount_cents: int
    reason: str | None  #: why it cannot be used; None when it can


def choices(buyer: User, merchant_id: int, goods: dict[int, int], *, now: datetime, claims=None):
    """The buyer's claims (``claims`` when read already) for one merchant's order of ``goods``,
    usable ones first, the largest discount first: (choices, best usable claim or None)."""
    held = unused_claims(buyer, merchant_id, now=now) if claims is None else claims
    found = [
        Choice(c, discount_of(c.coupon, goods), why_not(c.coupon, goods, now=now)) for c in held
    ]
    found.sort(key=lambda ch: (ch.reason is not None, -ch.discount_cents, ch.claim.id))
    best = found[0] if found and found[0].reason is None else None
    return found, best


def checked_claim(
    claim_id: int, *, buyer: User, merchant_id: int, goods: dict[int, int], now: datetime
) -> tuple[CouponClaim, int]:
    """The buyer's claim ``claim_id`` for this merchant's order and its discount, or
    ValidationError (another buyer's claim is "not found": authorization)."""
    row = db.session.get(CouponClaim, claim_id)
    if row is None or row.buyer_id != buyer.id:
        raise NotFound(_l("This coupon does not exist."))
    if row.order_id is not None:
        raise ValidationError(_l("This coupon was used already."), "coupon")
    if row.coupon.merchant_id != merchant_id:
        raise ValidationError(_l("This coupon is for another shop."), "coupon")
    reason = why_not(row.coupon, goods, now=now)
    if reason:
        raise ValidationError(reason, "coupon")
    return row, discount_of(row.coupon, goods)


def use_claim(row: CouponClaim, order: Order, *, now: datetime) -> None:
    """Mark the claim used by ``order``: one guarded UPDATE, so it is used once."""
    done = db.session.execute(
        update(CouponClaim)
        .where(CouponClaim.id == row.id, CouponClaim.order_id.is_(None))
        .values(order_id=order.id, used_at=now)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise ValidationError(_l("This coupon was used already."), "coupon")


def give_back(order: Order) -> None:
    """A cancelled unpaid order's coupon can be used again (refunds keep it used)."""
    db.session.execute(
        update(CouponClaim)
        .where(CouponClaim.order_id == order.id)
        .values(order_id=None, used_at=None)
        .execution_options(synchronize_session=False)
    )


def spread(discount_cents: int, amounts: list[int]) -> list[int]:
    """``discount_cents`` over lines of ``amounts`` in proportion, in whole fen, rounded
    down; the remainder goes to the largest line (the first of equals). Deterministic, sums
    to the discount, and no share exceeds its line when the discount does not exceed the
    total."""
    total = sum(amounts)
    if not amounts or total <= 0 or discount_cents <= 0:
        return [0] * len(amounts)
    shares = [discount_cents * amount // total for amount in amounts]
    left = discount_cents - sum(shares)
    # Largest line first; a fen that would pass a line's amount goes to the next one.
    for i in sorted(range(len(amounts)), key=lambda i: (-amounts[i], i)):
        extra = min(left, amounts[i] - shares[i])
        shares[i] += extra
        left -= extra
    return shares


# --- sharers ---------------------------------------------------------------------------------


def attach(
    coupon: Coupon, *, sharer: User, item: ShopItem | None = None, link: ShareLink | None = None
) -> CouponAttachment:
    """Put ``coupon`` on the sharer's shop item or share link (replacing one there). The
    product must be in the sharer's shop, and the coupon for that product or its merchant's
    whole shop."""
    if (item is None) == (link is None):
        raise ValueError("attach to one shop item or one link")
    if item is not None:
        if item.shop.user_id != sharer.id:
            raise NotFound(_l("This product is not in your shop."))
        product = item.product
    else:
        if link.sharer_id != sharer.id:
            raise NotFound(_l("This link does not exist."))
        if link.product_id is None:
            raise ValidationError(_l("Coupons go on links to one product."), "coupon")
        in_shop = db.session.execute(
            select(ShopItem.id).where(
                ShopItem.shop_id == link.shop_id, ShopItem.product_id == link.product_id
            )
        ).first()
        if in_shop is None:
            raise ValidationError(_l("This product is not in your shop."), "coupon")
        product = link.product
    if coupon.merchant_id != product.merchant_id or coupon.product_id not in (None, product.id):
        raise ValidationError(
            _l("This coupon is not for “%(title)s”.", title=product.title), "coupon"
        )
    where = (
        CouponAttachment.shop_item_id == item.id
        if item is not None
        else CouponAttachment.link_id == link.id
    )
    row = db.session.execute(select(CouponAttachment).where(where)).scalar_one_or_none()
    if row is None:
        row = CouponAttachment(
            sharer_id=sharer.id,
            shop_item_id=item.id if item is not None else None,
            link_id=link.id if link is not None else None,
        )
        db.session.add(row)
    row.coupon_id = coupon.id
    row.product_id = product.id
    db.session.flush()
    return row


def detach(*, sharer: User, item: ShopItem | None = None, link: ShareLink | None = None) -> None:
    """Take the coupon off the sharer's shop item or share link."""
    owner = item.shop.user_id if item is not None else link.sharer_id
    if owner != sharer.id:
        raise NotFound(_l("This product is not in your shop."))
    column, value = (
        (CouponAttachment.shop_item_id, item.id) if item else (CouponAttachment.link_id, link.id)
    )
    for row in db.session.execute(select(CouponAttachment).where(column == value)).scalars():
        db.session.delete(row)
    db.session.flush()


def attachable(product: Product, *, now: datetime) -> list[Coupon]:
    """Coupons a sharer can put on ``product``: its merchant's, for it or the whole shop,
    open and not used up."""
    return list(
        db.session.execute(
            select(Coupon)
            .where(
                Coupon.merchant_id == product.merchant_id,
                (Coupon.product_id.is_(None)) | (Coupon.product_id == product.id),
                Coupon.is_active.is_(True),
                Coupon.remaining > 0,
                Coupon.ends_at > now,
            )
            .order_by(Coupon.off_cents.desc())
        ).scalars()
    )


def shown_coupon(*, item_id: int | None, link_id: int | None, now: datetime) -> Coupon | None:
    """The coupon a landing page shows: the link's, else the shop item's; only while open.
    Both looked up in one query."""
    pairs = ((CouponAttachment.link_id, link_id), (CouponAttachment.shop_item_id, item_id))
    wanted = [column == value for column, value in pairs if value is not None]
    if not wanted:
        return None
    rows = db.session.execute(
        select(Coupon, CouponAttachment.link_id)
        .join(CouponAttachment, CouponAttachment.coupon_id == Coupon.id)
        .where(
            or_(*wanted),
            Coupon.is_active.is_(True),
            Coupon.ends_at > now,
        )
    ).all()
    # The link's first (its attachment row names the link), then the item's.
    for coupon, on_link in sorted(rows, key=lambda row: row[1] is None):
        if (on_link is None or on_link == link_id) and coupon.starts_at <= now:
            return coupon
    return None
