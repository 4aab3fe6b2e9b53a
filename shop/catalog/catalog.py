"""What the public catalogue shows: listed products of approved merchants."""

import enum
import re
from dataclasses import dataclass
from functools import cache

from sqlalchemy import Select, bindparam, func, or_, select
from sqlalchemy.orm import joinedload, selectinload
from sqlalchemy.orm.util import identity_key

from shop.catalog.models import (
    Category,
    Image,
    Merchant,
    MerchantStatus,
    Product,
    ProductImage,
    ProductStatus,
)
from shop.platform.extensions import db

#: Products on one catalogue page.
PAGE_SIZE = 20
#: Longer search text is cut to this many characters.
MAX_QUERY_LENGTH = 50
#: The escape character for LIKE patterns built from user input.
LIKE_ESCAPE = "\\"

# PostgreSQL refuses NUL in text, and no title contains a control character: drop them so
# odd input finds nothing instead of failing.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class Sort(enum.StrEnum):
    NEW = "new"
    PRICE_ASC = "price_asc"
    PRICE_DESC = "price_desc"
    REBATE = "rebate"
    SALES = "sales"


#: ORDER BY for each sort; newest first breaks ties so pages are stable.
SORT_ORDER = {
    Sort.NEW: (Product.created_at.desc(), Product.id.desc()),
    Sort.PRICE_ASC: (Product.price_cents.asc(), Product.created_at.desc(), Product.id.desc()),
    Sort.PRICE_DESC: (Product.price_cents.desc(), Product.created_at.desc(), Product.id.desc()),
    Sort.REBATE: (Product.rebate_bps.desc(), Product.created_at.desc(), Product.id.desc()),
    Sort.SALES: (Product.sales_count.desc(), Product.created_at.desc(), Product.id.desc()),
}


def visible_products() -> Select:
    """Products anyone may see: listed, from an approved merchant."""
    return (
        select(Product)
        .join(Merchant, Merchant.id == Product.merchant_id)
        .where(Product.status == ProductStatus.LISTED, Merchant.status == MerchantStatus.APPROVED)
    )


def product_for_page(product_id: int) -> Product | None:
    """A product with everything its page shows in two queries: the product with its merchant,
    category, images, specs and shipping template; then its SKUs when first used (up to 400 of
    them: joined too, they would multiply the images' rows; a lazy load costs less CPU than
    selectinload for one product, with the same one statement)."""
    return (
        db.session.execute(
            select(Product)
            .where(Product.id == product_id)
            .options(
                joinedload(Product.merchant),
                joinedload(Product.category),
                joinedload(Product.images).joinedload(ProductImage.image),
                joinedload(Product.specs),
                joinedload(Product.shipping_template),
            )
        )
        .unique()
        .scalar_one_or_none()
    )


@cache
def _for_checkout() -> Select:
    """product_for_checkout's statement, built once (building a statement costs more Python
    than running it), at its first use: its loader options need every model mapped."""
    return (
        select(
            Product,
            select(Image.sha256)
            .join(ProductImage, ProductImage.image_id == Image.id)
            .where(ProductImage.product_id == Product.id)
            .order_by(ProductImage.position)
            .limit(1)
            .scalar_subquery(),
        )
        .where(Product.id == bindparam("product_id"))
        .options(
            joinedload(Product.merchant),
            joinedload(Product.shipping_template),
            joinedload(Product.specs),
            joinedload(Product.skus),
        )
    )


def product_for_checkout(product_id: int) -> tuple[Product, str | None] | None:
    """A product with what buying it needs, in one query: its merchant, shipping template,
    specs and SKUs, and the sha256 of its cover picture (a column: its images joined too
    would multiply the SKUs' rows; a product has at most two specs). None when there is no
    such product."""
    found = db.session.execute(_for_checkout(), {"product_id": product_id}).unique().one_or_none()
    return None if found is None else (found[0], found[1])


def products_by_id(ids: list[int]) -> dict[int, Product]:
    """The products of ``ids`` (absent: none by that id): those this session holds already
    (a checkout page loaded them in this request) without a query, the rest in one. A SELECT
    would not refresh a held row anyway; shop.orders.checkout checks prices against the SKUs
    and takes stock with guarded UPDATEs."""
    found = {}
    for product_id in ids:
        held = db.session.identity_map.get(identity_key(Product, product_id))
        if held is not None:
            found[product_id] = held
    missing = [i for i in ids if i not in found]
    if missing:
        found.update(
            (p.id, p)
            for p in db.session.execute(select(Product).where(Product.id.in_(missing))).scalars()
        )
    return found


def merchant_for_page(merchant_id: int) -> Merchant | None:
    """An approved merchant (anyone else has no public page)."""
    merchant = db.session.get(Merchant, merchant_id)
    return merchant if merchant and merchant.status == MerchantStatus.APPROVED else None


def merchant_products(merchant: Merchant, limit: int = 60) -> list[Product]:
    query = (
        visible_products()
        .where(Product.merchant_id == merchant.id)
        .options(selectinload(Product.images).joinedload(ProductImage.image))
        .order_by(*SORT_ORDER[Sort.SALES])
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def latest_products(limit: int = 20) -> list[Product]:
    query = (
        visible_products()
        .options(selectinload(Product.images).joinedload(ProductImage.image))
        .order_by(*SORT_ORDER[Sort.NEW])
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def rebate_cents(price_cents: int, rebate_bps: int, quantity: int = 1) -> int:
    """The sharer's rebate on ``quantity`` units: price x rate, rounded down to the fen.

    Rounding down is the one rounding rule for rebates: the platform never promises a fen it
    did not earn, and the sum of rounded rebates never exceeds the rate applied to the total.
    """
    return (price_cents * quantity * rebate_bps) // 10000


def unit_rebates(products: list[Product]) -> dict[int, int]:
    """The rebate on one unit of each product, by product id."""
    return {p.id: rebate_cents(p.price_cents, p.rebate_bps) for p in products}


# --- browsing ------------------------------------------------------------------------------


def categories() -> list[Category]:
    """Every category, in the order the chips show them."""
    query = select(Category).order_by(Category.position, Category.id)
    return list(db.session.execute(query).scalars())


def category_by_slug(slug: str | None) -> Category | None:
    slug = clean_text(slug or "")
    if not slug:
        return None
    return db.session.execute(select(Category).where(Category.slug == slug)).scalar_one_or_none()


def clean_text(value: str) -> str:
    """``value`` without control characters or surrounding spaces, cut to the search limit."""
    return _CONTROL.sub("", value).strip()[:MAX_QUERY_LENGTH].strip()


def parse_sort(value: str | None) -> Sort:
    """The sort named by ``value``; newest first for anything unknown."""
    try:
        return Sort(value)
    except ValueError:
        return Sort.NEW


def whole_number(value: str | None) -> int | None:
    """``value`` (trimmed) as an int when it is 1 to 18 ASCII digits; None otherwise. Form
    fields and ids go through this: "²".isdigit() is true, but int("²") fails."""
    text = (value or "").strip()
    if not text or len(text) > 18 or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def parse_page(value: str | None) -> int:
    """A 1-based page number from a query string; 1 for anything that is not a positive
    whole number. (The upper bound is applied by ``browse``.)"""
    if value is None or not value.strip().isascii() or not value.strip().isdigit():
        return 1
    # A thousand-digit number is still a valid int; cap it before it reaches SQL.
    return max(1, min(int(value.strip()[:9]), 10**8))


def page_count(total: int, per_page: int) -> int:
    """How many pages ``total`` rows fill (at least one, so an empty list has a page)."""
    return max(1, -(-total // per_page))


def escape_like(text: str) -> str:
    """``text`` with LIKE's wildcards (% and _) and the escape character made literal."""
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


@dataclass(frozen=True)
class CatalogPage:
    products: list[Product]
    #: Matching products on all pages.
    total: int
    page: int
    pages: int

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


def browse(
    *,
    query: str = "",
    category: Category | None = None,
    sort: Sort = Sort.NEW,
    page: int = 1,
    per_page: int = PAGE_SIZE,
) -> CatalogPage:
    """One page of visible products matching ``query`` (a literal, case-insensitive phrase in
    the title or description) in ``category``, in ``sort`` order.

    A page past the end gives the last page and one below 1 gives the first, so a stale link
    still shows products.
    """
    selection = visible_products()
    query = clean_text(query)
    if query:
        pattern = f"%{escape_like(query)}%"
        selection = selection.where(
            or_(
                Product.title.ilike(pattern, escape=LIKE_ESCAPE),
                Product.description.ilike(pattern, escape=LIKE_ESCAPE),
            )
        )
    if category is not None:
        selection = selection.where(Product.category_id == category.id)

    total = db.session.execute(select(func.count()).select_from(selection.subquery())).scalar_one()
    pages = page_count(total, per_page)
    page = min(max(1, page), pages)
    rows = db.session.execute(
        selection.options(selectinload(Product.images).joinedload(ProductImage.image))
        .order_by(*SORT_ORDER[sort])
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).scalars()
    return CatalogPage(products=list(rows), total=total, page=page, pages=pages)
