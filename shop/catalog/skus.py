"""Specs and SKUs: up to two spec dimensions per product, one SKU per combination of their
values, each with its own price, stock, image and rebate rate.

Stock is kept per SKU. The product row carries the sums the catalogue sorts and filters by:
``stock`` is the stock of its active SKUs added up and ``price_cents`` their lowest price, so
every stock change moves the SKU and its product in the same transaction, by the same delta
(never recomputed from a read, which a concurrent order could make stale).
"""

import re
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from shop.catalog.models import Product, ProductSpec, Sku
from shop.catalog.stockmoves import move
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.platform.stamps import mark_stale

MAX_DIMENSIONS = 2
MAX_VALUES = 20
MAX_NAME = 20
_SPLIT_RE = re.compile(r"[,，、;；/\n]+")


@dataclass
class SkuRow:
    """One row of the SKU table as typed: the combination's values and text inputs."""

    values: tuple[str, str]
    price: str = ""
    stock: str = ""
    #: The stock the form showed (an edit moves the stock by the difference); None for a new row.
    stock_shown: str | None = None
    rebate_percent: str = ""
    image_id: str = ""


@dataclass
class SpecInput:
    """The spec dimensions as typed: [(name, "红, 蓝")], and the rows of the table."""

    dimensions: list[tuple[str, str]] = field(default_factory=list)
    rows: list[SkuRow] = field(default_factory=list)


@dataclass(frozen=True)
class CleanRow:
    values: tuple[str, str]
    price_cents: int
    stock: int
    stock_shown: int | None
    rebate_bps: int | None
    image_id: int | None


def split_values(raw: str) -> list[str]:
    """ "红, 蓝，白" -> ["红", "蓝", "白"]: commas (either width), 、, ; or new lines; once each."""
    seen: list[str] = []
    for part in _SPLIT_RE.split(raw or ""):
        value = " ".join(part.split())
        if value and value not in seen:
            seen.append(value)
    return seen


def clean_dimensions(dimensions: list[tuple[str, str]]) -> tuple[list, list[ValidationError]]:
    """[(name, [values])] of the dimensions filled in, and field errors (spec<N>_name/values)."""
    clean, errors = [], []
    for index, (name, raw) in enumerate(dimensions[:MAX_DIMENSIONS]):
        name = " ".join((name or "").split())
        values = split_values(raw)
        if not name and not values:
            continue
        if not name or len(name) > MAX_NAME:
            errors.append(
                ValidationError(
                    _l("Name the spec in 1 to 20 characters, e.g. 颜色."), f"spec{index}_name"
                )
            )
        if not values:
            errors.append(
                ValidationError(_l("Enter the values, separated by commas."), f"spec{index}_values")
            )
        elif len(values) > MAX_VALUES or any(len(v) > MAX_NAME for v in values):
            errors.append(
                ValidationError(
                    _l("At most 20 values of at most 20 characters each."), f"spec{index}_values"
                )
            )
        clean.append((name, values))
    names = [name for name, _values in clean]
    if len(names) == 2 and names[0] and names[0] == names[1]:
        errors.append(ValidationError(_l("Give the two specs different names."), "spec1_name"))
    return clean, errors


def combinations(dimensions: list[tuple[str, list[str]]]) -> list[tuple[str, str]]:
    """Every (value1, value2) of the dimensions, in table order; [("", "")] without specs."""
    if not dimensions:
        return [("", "")]
    first = dimensions[0][1]
    if len(dimensions) == 1:
        return [(v, "") for v in first]
    return [(a, b) for a in first for b in dimensions[1][1]]


def row_field(values: tuple[str, str], name: str) -> str:
    """The form field name of a table cell: the row is named by its values, so a row keeps
    what was typed in it when values are added or removed around it."""
    return f"sku[{values[0]}|{values[1]}].{name}"


def check_rows(
    rows: list[SkuRow], product_images: list[int]
) -> tuple[list[CleanRow], list[ValidationError]]:
    """The rows as numbers, or field errors named by :func:`row_field`."""
    from shop.catalog.products import parse_rebate_percent, parse_stock, parse_yuan

    clean, errors = [], []
    for row in rows:

        def attempt(fn, *args, name, values=row.values, **kwargs):
            try:
                return fn(*args, row_field(values, name), **kwargs)
            except ValidationError as error:
                errors.append(error)
                return None

        price = attempt(parse_yuan, row.price, name="price")
        stock = attempt(parse_stock, row.stock, name="stock")
        shown = None
        if row.stock_shown not in (None, ""):
            shown = attempt(parse_stock, row.stock_shown, name="stock")
        rebate = None
        if (row.rebate_percent or "").strip():
            rebate = attempt(parse_rebate_percent, row.rebate_percent, name="rebate_percent")
        image = None
        if (row.image_id or "").strip():
            image = int(row.image_id) if row.image_id.strip().isdigit() else -1
            if image not in product_images:
                errors.append(
                    ValidationError(
                        _l("Choose one of the product's images."), row_field(row.values, "image_id")
                    )
                )
        if price is not None and stock is not None:
            clean.append(CleanRow(row.values, price, stock, shown, rebate, image))
    return clean, errors


# --- reading ---------------------------------------------------------------------------------


def spec_names(product: Product) -> list[str]:
    return [spec.name for spec in product.specs]


def spec_text(product: Product, sku: Sku) -> str:
    """ "颜色：红；尺码：M", or "" for a product without specs."""
    return "；".join(
        f"{name}：{value}" for name, value in zip(spec_names(product), sku.values, strict=False)
    )


def rebate_bps_of(product: Product, sku: Sku) -> int:
    return product.rebate_bps if sku.rebate_bps is None else sku.rebate_bps


def sku_of(product: Product, sku_id: int | None) -> Sku | None:
    """The product's active SKU ``sku_id``; without an id, its only active SKU (None when it
    has several: the buyer must choose)."""
    active = product.active_skus
    if sku_id is None:
        return active[0] if len(active) == 1 else None
    return next((s for s in active if s.id == sku_id), None)


def sku_for_values(product: Product, values: list[str]) -> Sku | None:
    wanted = (tuple(values) + ("", ""))[:2]
    return next((s for s in product.active_skus if (s.value1, s.value2) == wanted), None)


def page_data(product: Product) -> dict:
    """The SKUs as the product page's script reads them (no rates: buyers never see them)."""
    return {
        "specs": [{"name": s.name, "values": list(s.values)} for s in product.specs],
        "skus": [
            {
                "id": s.id,
                "values": list(s.values),
                "price": s.price_cents,
                "stock": s.stock,
                "image": s.image.sha256 if s.image else None,
            }
            for s in product.active_skus
        ],
    }


# --- saving ----------------------------------------------------------------------------------


def save(product: Product, dimensions: list[tuple[str, list[str]]], rows: list[CleanRow]) -> None:
    """Make the product's specs and SKUs those of the form. A row that was shown moves its
    stock by what was typed minus what was shown (orders placed meanwhile are kept); a cut
    below what is left is refused (ValidationError on that row's stock, nothing saved by the
    caller's rollback). Removed combinations become inactive; the product's sums follow."""
    db.session.execute(select(Product.id).where(Product.id == product.id).with_for_update())
    mark_stale(product.id)  # its stock sums are Core UPDATEs
    db.session.expire(product, ["specs", "skus"])
    existing = {(s.value1, s.value2): s for s in product.skus}
    wanted = {row.values for row in rows}
    for spec in list(product.specs):
        product.specs.remove(spec)
    db.session.flush()
    for position, (name, values) in enumerate(dimensions):
        product.specs.append(ProductSpec(position=position, name=name, values=list(values)))
    for key, sku in existing.items():
        if key not in wanted and sku.is_active:
            sku.is_active = False
            db.session.flush()
            db.session.execute(
                update(Product)
                .where(Product.id == product.id)
                .values(stock=Product.stock - sku.stock)
                .execution_options(synchronize_session=False)
            )
    for position, row in enumerate(rows):
        sku = existing.get(row.values)
        if sku is None:
            sku = Sku(
                product_id=product.id,
                value1=row.values[0],
                value2=row.values[1],
                price_cents=row.price_cents,
                stock=row.stock,
                is_active=True,
            )
            db.session.add(sku)
            db.session.flush()
            db.session.execute(
                update(Product)
                .where(Product.id == product.id)
                .values(stock=Product.stock + row.stock)
                .execution_options(synchronize_session=False)
            )
        else:
            reactivated = not sku.is_active
            if reactivated:
                sku.is_active = True
                db.session.flush()
                db.session.execute(
                    update(Product)
                    .where(Product.id == product.id)
                    .values(stock=Product.stock + sku.stock)
                    .execution_options(synchronize_session=False)
                )
            if row.stock_shown is None or reactivated:
                db.session.refresh(sku, ["stock"])
                change = row.stock - sku.stock
            else:
                change = row.stock - row.stock_shown
            if not move(sku, change):
                db.session.refresh(sku, ["stock"])
                raise ValidationError(
                    _l(
                        "The stock changed while you were editing: it is %(stock)d now. "
                        "Check the stock and save again.",
                        stock=sku.stock,
                    ),
                    row_field(row.values, "stock") if any(row.values) else "stock",
                )
        sku.price_cents = row.price_cents
        sku.rebate_bps = row.rebate_bps
        sku.image_id = row.image_id
        sku.position = position
    db.session.flush()
    for sku in existing.values():
        db.session.expire(sku, ["stock"])
    db.session.expire(product, ["skus", "specs", "stock"])
    summarize(product)


def summarize(product: Product) -> None:
    """The product's lowest price and whether its prices differ, from its active SKUs."""
    prices = [s.price_cents for s in product.active_skus]
    if prices:
        product.price_cents = min(prices)
        product.has_price_range = min(prices) != max(prices)
    db.session.flush()
