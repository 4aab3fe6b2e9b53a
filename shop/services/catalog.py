"""What the public catalogue shows: listed products of approved merchants."""

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from shop.extensions import db
from shop.models import Merchant, MerchantStatus, Product, ProductImage, ProductStatus


def visible_products() -> Select:
    """Products anyone may see: listed, from an approved merchant."""
    return (
        select(Product)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(Product.status == ProductStatus.LISTED, Merchant.status == MerchantStatus.APPROVED)
    )


def latest_products(limit: int = 20) -> list[Product]:
    query = (
        visible_products()
        .options(selectinload(Product.images).joinedload(ProductImage.image))
        .order_by(Product.created_at.desc(), Product.id.desc())
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def rebate_cents(price_cents: int, rebate_bps: int, quantity: int = 1) -> int:
    """The sharer's rebate on ``quantity`` units: price x rate, rounded down to the fen.

    Rounding down is the one rounding rule for rebates: the platform never promises a fen it
    did not earn, and the sum of rounded rebates never exceeds the rate applied to the total.
    """
    return (price_cents * quantity * rebate_bps) // 10000
