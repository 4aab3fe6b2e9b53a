"""The rule between platform fees and team overrides (issue 22): the platform pays a team
leader's override out of its fee, so no order may owe a leader more than the platform takes.

For an item, the override is ``rebate × override_bps / 10000`` and the fee ``goods × fee_bps /
10000``, with ``rebate ≤ goods × rebate_bps / 10000``; both round down to the fen. So the
platform's part of every order stays at or above zero exactly when, for every product (and
SKU) the fee applies to::

    rebate_bps × override_bps ≤ fee_bps × 10000

A fee that breaks this for some product is refused when an admin sets it (category or
merchant), with the product and the lowest fee that would do; so is a rebate rate a merchant
sets above what the fee allows (:func:`check_rebate`). The override rate in force is the
platform setting (``TEAM_OVERRIDE_BPS`` bounded by ``TEAM_OVERRIDE_MAX_BPS``), passed in by the
caller; with overrides off (0, the default) every fee is allowed.
"""

from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select

from shop.catalog.models import Category, Merchant, Product, Sku
from shop.catalog.products import format_bps
from shop.platform.errors import ValidationError
from shop.platform.extensions import db


def min_fee_bps(rebate_bps: int, override_bps: int) -> int:
    """The lowest fee (bps) that covers the override on a ``rebate_bps`` rebate, rounded up."""
    return -(-rebate_bps * override_bps // 10_000)


@dataclass(frozen=True)
class Highest:
    """The product with the highest rebate rate a fee applies to."""

    product_id: int
    title: str
    rebate_bps: int


def _rate_of_products():
    """Each product's highest rebate rate: its own, or any of its SKUs'."""
    sku_max = (
        select(Sku.product_id, func.max(Sku.rebate_bps).label("rate"))
        .where(Sku.rebate_bps.is_not(None))
        .group_by(Sku.product_id)
        .subquery()
    )
    rate = func.max(Product.rebate_bps, func.coalesce(sku_max.c.rate, 0))
    if db.session.get_bind().dialect.name == "postgresql":
        rate = func.greatest(Product.rebate_bps, func.coalesce(sku_max.c.rate, 0))
    return sku_max, rate


def highest_rebate(*, category: Category | None = None, merchant: Merchant | None = None):
    """The product with the highest rebate rate among those of ``merchant``, or of
    ``category`` whose merchant has no rate of its own (those the category's fee applies to).
    None when there are none."""
    sku_max, rate = _rate_of_products()
    query = select(Product.id, Product.title, rate.label("rate")).outerjoin(
        sku_max, sku_max.c.product_id == Product.id
    )
    if merchant is not None:
        query = query.where(Product.merchant_id == merchant.id)
    if category is not None:
        query = query.join(Merchant, Merchant.id == Product.merchant_id).where(
            Product.category_id == category.id, Merchant.fee_bps.is_(None)
        )
    row = db.session.execute(query.order_by(rate.desc(), Product.id).limit(1)).first()
    return None if row is None else Highest(row.id, row.title, int(row.rate or 0))


def _refuse(highest: Highest, fee_bps: int, override_bps: int) -> None:
    need = min_fee_bps(highest.rebate_bps, override_bps)
    raise ValidationError(
        _l(
            "The platform fee of %(fee)s%% would not cover the team override: “%(title)s” "
            "pays a %(rebate)s%% rebate, and the override of %(override)s%% of it needs a fee "
            "of at least %(need)s%%. Set at least %(need)s%%, or lower that rebate rate.",
            fee=format_bps(fee_bps),
            title=highest.title,
            rebate=format_bps(highest.rebate_bps),
            override=format_bps(override_bps),
            need=format_bps(need),
        ),
        "fee",
    )


def check_fee(target: Merchant | Category, fee_bps: int | None, *, override_bps: int) -> None:
    """Raise ValidationError (field ``fee``) if setting ``target``'s fee to ``fee_bps`` would let
    an override exceed the platform fee on some product. A merchant's rate set to None falls
    back to each product's category's rate: each of those is checked."""
    if override_bps <= 0:
        return
    if isinstance(target, Category):
        highest = highest_rebate(category=target)
        if highest is not None and min_fee_bps(highest.rebate_bps, override_bps) > (fee_bps or 0):
            _refuse(highest, fee_bps or 0, override_bps)
        return
    if fee_bps is not None:
        highest = highest_rebate(merchant=target)
        if highest is not None and min_fee_bps(highest.rebate_bps, override_bps) > fee_bps:
            _refuse(highest, fee_bps, override_bps)
        return
    sku_max, rate = _rate_of_products()
    rows = db.session.execute(
        select(Product.id, Product.title, rate.label("rate"), Category.fee_bps)
        .outerjoin(sku_max, sku_max.c.product_id == Product.id)
        .join(Category, Category.id == Product.category_id)
        .where(Product.merchant_id == target.id)
        .order_by(Product.id)
    ).all()
    for row in rows:
        if min_fee_bps(int(row.rate or 0), override_bps) > (row.fee_bps or 0):
            _refuse(Highest(row.id, row.title, int(row.rate or 0)), row.fee_bps or 0, override_bps)


def check_rebate(
    merchant: Merchant, category_id: int, rebate_bps: int, *, override_bps: int
) -> None:
    """Raise ValidationError (field ``rebate_percent``) if a product of ``merchant`` in the
    category ``category_id`` with a rebate rate (its own or a SKU's) up to ``rebate_bps``
    would let the override exceed the platform fee on it."""
    if override_bps <= 0:
        return
    if merchant.fee_bps is not None:
        fee = merchant.fee_bps
    else:
        category = db.session.get(Category, category_id)
        fee = (category.fee_bps or 0) if category is not None else 0
    if min_fee_bps(rebate_bps, override_bps) > fee:
        most = min(fee * 10_000 // override_bps, 10_000)
        raise ValidationError(
            _l(
                "At most %(most)s%%: the platform fee of %(fee)s%% must cover the team "
                "override (%(override)s%% of the rebate).",
                fee=format_bps(fee),
                override=format_bps(override_bps),
                most=format_bps(most),
            ),
            "rebate_percent",
        )


@dataclass(frozen=True)
class Uncovered:
    """A product whose fee in force does not cover the team override on its rebate."""

    product_id: int
    title: str
    merchant_id: int
    merchant_name: str
    category_id: int
    category_slug: str
    rebate_bps: int  #: its highest rate, its own or a SKU's
    fee_bps: int  #: the fee in force: the merchant's rate, else the category's, else 0
    fee_of_merchant: bool  #: the fee is the merchant's own rate (not the category's)
    need_bps: int  #: the lowest fee that covers the override


def uncovered_products(override_bps: int, *, limit: int | None = None) -> list[Uncovered]:
    """Every product (any status: a draft may be published without a new check) whose fee in
    force is below what the override ``override_bps`` needs on its highest rebate rate, by
    product id; empty with overrides off. This is the rule :func:`check_fee` keeps when an
    admin sets a fee, checked from the other side: for a new override setting (``flask
    check-config`` at start) and for what no check saw (a product moved to a category with a
    lower fee)."""
    if override_bps <= 0:
        return []
    sku_max, rate = _rate_of_products()
    fee = func.coalesce(Merchant.fee_bps, Category.fee_bps, 0)
    query = (
        select(
            Product.id, Product.title, Merchant.id.label("merchant_id"),
            Merchant.name.label("merchant_name"), Product.category_id, Category.slug,
            rate.label("rate"), fee.label("fee"), Merchant.fee_bps.label("own"),
        )
        .outerjoin(sku_max, sku_max.c.product_id == Product.id)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .join(Category, Category.id == Product.category_id)
        .where(rate * override_bps > fee * 10_000)
        .order_by(Product.id)
    )  # fmt: skip
    if limit is not None:
        query = query.limit(limit)
    return [
        Uncovered(
            product_id=row.id,
            title=row.title,
            merchant_id=row.merchant_id,
            merchant_name=row.merchant_name,
            category_id=row.category_id,
            category_slug=row.slug,
            rebate_bps=int(row.rate or 0),
            fee_bps=int(row.fee),
            fee_of_merchant=row.own is not None,
            need_bps=min_fee_bps(int(row.rate or 0), override_bps),
        )
        for row in db.session.execute(query)
    ]


def covered_override_bps(fees: list[int], rebates: list[int], override_bps: int) -> int:
    """The highest override rate, at most ``override_bps``, whose override on each item's
    rebate (rounded down to the fen, as :func:`shop.money.ledger.override_of`) is at most that
    item's fee: ``rebate × rate // 10000 ≤ fee``. ``fees`` and ``rebates`` are per item."""
    rate = override_bps
    for fee, rebate in zip(fees, rebates, strict=True):
        if rebate > 0:
            rate = min(rate, ((fee + 1) * 10_000 - 1) // rebate)
    return max(rate, 0)
