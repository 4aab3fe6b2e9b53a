"""A merchant's products: input rules (money in fen, rates in basis points), images, and the
draft -> listed -> delisted life of a product."""

import re
from dataclasses import dataclass
from datetime import datetime

from flask import current_app
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from shop.catalog import images
from shop.catalog.catalog import whole_number
from shop.catalog.models import Category, Merchant, Product, ProductImage, ProductStatus
from shop.platform import inputs
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.stamps import mark_stale

#: The product state table: (from, action) -> to.
TRANSITIONS = {
    (ProductStatus.DRAFT, "list"): ProductStatus.LISTED,
    (ProductStatus.LISTED, "delist"): ProductStatus.DELISTED,
    (ProductStatus.DELISTED, "list"): ProductStatus.LISTED,
}
MAX_PRICE_CENTS = 100_000_000  # ¥1,000,000: above this a typo is likelier than a product
MAX_STOCK = 1_000_000
_YUAN_RE = re.compile(r"^(\d{1,9})(?:\.(\d{1,2}))?$")
_PERCENT_RE = re.compile(r"^(\d{1,3})(?:\.(\d{1,2}))?$")


def parse_yuan(raw: str | None, field: str, *, required: bool = True) -> int | None:
    """ "129.9" -> 12990 fen. Exact decimal parsing, never floats. At most two decimals."""
    text = (raw or "").strip().replace(",", "").replace("，", "").lstrip("¥￥").strip()
    if not text:
        if required:
            raise ValidationError(_l("Enter a price."), field)
        return None
    if text.startswith("-"):
        raise ValidationError(_l("The price must be more than zero."), field)
    match = _YUAN_RE.match(text)
    if not match:
        raise ValidationError(
            _l("Enter an amount in yuan with at most two decimals, e.g. 129.90."), field
        )
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents <= 0:
        raise ValidationError(_l("The price must be more than zero."), field)
    if cents > MAX_PRICE_CENTS:
        raise ValidationError(_l("The price is too high."), field)
    return cents


def parse_rebate_percent(raw: str | None, field: str = "rebate_percent") -> int:
    """ "15" -> 1500 bps, "12.5" -> 1250; within the platform's bounds (settings)."""
    low, high = current_app.config["REBATE_BPS_MIN"], current_app.config["REBATE_BPS_MAX"]
    bounds = _l(
        "The rebate rate must be between %(low)s%% and %(high)s%%.",
        low=format_bps(low),
        high=format_bps(high),
    )
    text = (raw or "").strip().rstrip("%％").strip()
    match = _PERCENT_RE.match(text)
    if not match:
        raise ValidationError(bounds, field)
    bps = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if not low <= bps <= high:
        raise ValidationError(bounds, field)
    return bps


def format_bps(bps: int) -> str:
    """1500 -> "15", 1250 -> "12.5": a rate as the percent a person types."""
    whole, rest = divmod(bps, 100)
    return f"{whole}" if not rest else f"{whole}.{rest:02d}".rstrip("0")


def parse_stock(raw: str | None, field: str = "stock") -> int:
    stock = whole_number(raw)
    if stock is None or stock > MAX_STOCK:
        raise ValidationError(_l("Enter a whole number from 0 to %(max)d.", max=MAX_STOCK), field)
    return stock


@dataclass(frozen=True)
class ProductInput:
    """What a merchant typed, as text; ``check_input`` turns it into numbers or errors."""

    title: str
    description: str
    category_id: int | None
    price: str
    original_price: str
    stock: str
    rebate_percent: str


@dataclass(frozen=True)
class ProductFields:
    title: str
    description: str
    category_id: int
    price_cents: int
    original_price_cents: int | None
    stock: int
    rebate_bps: int


def check_input(
    data: ProductInput, sku_rows: list | None = None
) -> tuple[ProductFields | None, list[ValidationError]]:
    """All the field errors at once (a form shows them together), or the clean fields. With
    ``sku_rows`` (skus.CleanRow, a product with specs) the price is their lowest and the stock
    their sum; the form's own price and stock are not read."""
    errors: list[ValidationError] = []

    def attempt(fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except ValidationError as error:
            errors.append(error)
            return None

    title = " ".join((data.title or "").split())
    if not title:
        errors.append(ValidationError(_l("Enter a title."), "title"))
    elif len(title) > 60:
        errors.append(ValidationError(_l("Use at most %(n)d characters.", n=60), "title"))
    description = (data.description or "").strip()
    if len(description) > 5000:
        errors.append(ValidationError(_l("Use at most %(n)d characters.", n=5000), "description"))
    known = data.category_id is not None and inputs.is_id(data.category_id)
    if not known or db.session.get(Category, data.category_id) is None:
        errors.append(ValidationError(_l("Choose a category."), "category_id"))
    if sku_rows is not None:
        price = min((r.price_cents for r in sku_rows), default=None)
    else:
        price = attempt(parse_yuan, data.price, "price")
    original = attempt(parse_yuan, data.original_price, "original_price", required=False)
    if price is not None and original is not None and original < price:
        errors.append(
            ValidationError(
                _l("The original price cannot be lower than the price."), "original_price"
            )
            if sku_rows is None
            else ValidationError(
                _l("The original price cannot be lower than the lowest spec price."),
                "original_price",
            )
        )
    if sku_rows is not None:
        stock = sum(r.stock for r in sku_rows)
    else:
        stock = attempt(parse_stock, data.stock)
    rebate = attempt(parse_rebate_percent, data.rebate_percent)
    if errors:
        return None, errors
    fields = ProductFields(title, description, data.category_id, price, original, stock, rebate)
    return fields, []


def _require_approved(merchant: Merchant) -> None:
    if not merchant.is_approved:
        raise PermissionDenied(_l("Only approved merchants can change products."))


def create_product(
    merchant: Merchant,
    fields: ProductFields,
    *,
    uploads: list[bytes],
    now: datetime,
    dimensions: list | None = None,
    rows: list | None = None,
) -> Product:
    """A new draft product with its images (may be none yet) and its SKUs: ``rows``
    (skus.CleanRow) of the spec ``dimensions``, or one SKU of the form's price and stock."""
    _require_approved(merchant)
    product = Product(
        merchant_id=merchant.id,
        status=ProductStatus.DRAFT,
        created_at=now,
        updated_at=now,
        **{**vars(fields), "stock": 0},
    )
    db.session.add(product)
    db.session.flush()
    add_images(product, uploads, merchant=merchant)
    save_specs(product, dimensions or [], rows or [_plain_row(fields, None)])
    return product


def _plain_row(fields: ProductFields, stock_shown: int | None):
    """The one SKU of a product without specs, from the form's price and stock."""
    from shop.catalog.skus import CleanRow

    return CleanRow(("", ""), fields.price_cents, fields.stock, stock_shown, None, None)


def save_specs(product: Product, dimensions, rows) -> None:
    from shop.catalog import skus

    skus.save(product, dimensions, rows)


def update_product(
    product: Product,
    fields: ProductFields,
    *,
    stock_shown: int | None,
    merchant: Merchant,
    now: datetime,
    dimensions: list | None = None,
    rows: list | None = None,
) -> Product:
    """Save the edit form. Without spec ``rows``, ``fields.price_cents`` and ``fields.stock``
    are the product's one SKU, the stock typed over ``stock_shown`` (what the form showed when
    it was opened; None when it did not say). Orders placed or cancelled since then changed
    the stock in the database, so each SKU's stock moves by the difference in one guarded
    UPDATE (RELIABILITY rule 5): a form left open never gives back stock that was sold. A cut
    below what is left now, or a form without the stock it showed, is refused (ValidationError
    naming the stock now); nothing is saved then (the caller rolls back)."""
    _require_approved(merchant)
    if rows is None:
        if stock_shown is None:
            raise ValidationError(
                _l(
                    "The stock changed while you were editing: it is %(stock)d now. "
                    "Check the stock and save again.",
                    stock=product.stock,
                ),
                "stock",
            )
        rows = [_plain_row(fields, stock_shown)]
        dimensions = []
    for name, value in vars(fields).items():
        if name not in ("stock", "price_cents"):
            setattr(product, name, value)
    product.price_cents = min(row.price_cents for row in rows)
    product.updated_at = now
    save_specs(product, dimensions or [], rows)
    db.session.refresh(product, ["stock"])
    return product


def _lock_images(product: Product) -> None:
    """Take the product's row lock (PostgreSQL; on SQLite the write transaction holds the
    whole database) and re-read its images, so that uploads, removals and cover changes of
    one product take turns and each sees the positions the one before it committed."""
    db.session.execute(select(Product.id).where(Product.id == product.id).with_for_update())
    db.session.expire(product, ["images"])


def add_images(product: Product, uploads: list[bytes], *, merchant: Merchant) -> None:
    """Validate and attach uploads after the existing images (at most MAX_PRODUCT_IMAGES)."""
    _require_approved(merchant)
    uploads = [data for data in uploads if data]
    if not uploads:
        return
    _lock_images(product)
    limit = current_app.config["MAX_PRODUCT_IMAGES"]
    if len(product.images) + len(uploads) > limit:
        raise ValidationError(_l("A product has at most %(n)d images.", n=limit), "images")
    images.lock_uploads(uploads)
    stored = [
        images.store_image(data, field="images", uploaded_by_id=merchant.user_id)
        for data in uploads
    ]
    position = max((pi.position for pi in product.images), default=-1) + 1
    for image in stored:
        if any(pi.image_id == image.id for pi in product.images):
            continue  # the same picture twice is shown once
        product.images.append(ProductImage(image_id=image.id, position=position))
        position += 1
    db.session.flush()


def remove_image(product: Product, product_image_id: int, *, merchant: Merchant) -> None:
    _require_approved(merchant)
    _lock_images(product)
    target = next((pi for pi in product.images if pi.id == product_image_id), None)
    if target is None:
        raise ValidationError(_l("That image is not on this product."))
    if product.status == ProductStatus.LISTED and len(product.images) == 1:
        raise ValidationError(_l("A listed product needs at least one image. Add another first."))
    product.images.remove(target)
    db.session.flush()


def make_cover(product: Product, product_image_id: int, *, merchant: Merchant) -> None:
    """Move one image to the front; the others keep their order."""
    _require_approved(merchant)
    _lock_images(product)
    ordered = sorted(product.images, key=lambda pi: pi.position)
    target = next((pi for pi in ordered if pi.id == product_image_id), None)
    if target is None:
        raise ValidationError(_l("That image is not on this product."))
    ordered.remove(target)
    ordered.insert(0, target)
    # Two passes so the unique (product_id, position) never sees two rows at one position.
    offset = len(ordered) + 1000
    for index, pi in enumerate(ordered):
        pi.position = offset + index
    db.session.flush()
    for index, pi in enumerate(ordered):
        pi.position = index
    db.session.flush()


def change_status(product: Product, action: str, *, merchant: Merchant, now: datetime) -> None:
    """List or delist. Listing needs at least one image, a price and stock."""
    _require_approved(merchant)
    current = product.status
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise InvalidTransition(_l("This product cannot do that in its current state."))
    if target == ProductStatus.LISTED:
        missing = []
        if not product.images:
            missing.append(_l("Add at least one image."))
        if not product.price_cents:
            missing.append(_l("Set a price."))
        if product.stock <= 0:
            missing.append(_l("Add stock."))
        if missing:
            raise ValidationError(
                _l("Not listed yet: %(missing)s", missing=" ".join(map(str, missing)))
            )
    result = db.session.execute(
        update(Product)
        .where(Product.id == product.id, Product.status == current)
        .values(status=target, updated_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:
        raise Conflict(_l("This product was changed elsewhere. Please look again."))
    mark_stale(product.id)  # a Core UPDATE: the flush never sees it
    db.session.refresh(product)


def merchant_products(merchant: Merchant, status: ProductStatus | None = None) -> list[Product]:
    query = select(Product).where(Product.merchant_id == merchant.id)
    if status is not None:
        query = query.where(Product.status == status)
    return list(db.session.execute(query.order_by(Product.updated_at.desc())).scalars())


def status_counts(merchant: Merchant) -> dict[ProductStatus, int]:
    rows = db.session.execute(
        select(Product.status, func.count(Product.id))
        .where(Product.merchant_id == merchant.id)
        .group_by(Product.status)
    ).all()
    return {ProductStatus(status): count for status, count in rows}


STATUS_LABELS = {
    ProductStatus.DRAFT: _l("Draft"),
    ProductStatus.LISTED: _l("Listed"),
    ProductStatus.DELISTED: _l("Delisted"),
}


def status_label(status: ProductStatus):
    return STATUS_LABELS[ProductStatus(status)]
