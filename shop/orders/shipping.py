"""Shipping fees: a merchant's templates, and the fee of an order to a region.

The fee of one merchant's order: its items are grouped by their product's template (a product
with no template ships free); each group's fee is worked out from the group's pieces, weight
and goods; the order's fee is the sum. A group whose template does not deliver to the
province makes the whole order undeliverable (:class:`Unreachable`), and nothing is placed.

Fees are integer fen. By weight, started kilograms count whole (1,001 g is 2 kg) and an item
of unknown weight (0 g) weighs nothing, with at least the first kilogram charged.
Rebates are worked out on the items' prices only; shipping never earns a rebate.
"""

import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm.util import identity_key

from shop.catalog.models import (
    Merchant,
    Product,
    ShippingBasis,
    ShippingKind,
    ShippingTemplate,
)
from shop.orders import regions
from shop.platform.errors import NotFound, ValidationError
from shop.platform.extensions import db

MAX_TEMPLATES = 20
MAX_FEE_CENTS = 100_000_00


class Unreachable(ValidationError):
    """The merchant does not deliver to the address's province."""

    def __init__(self, merchant_name: str, province_name: str):
        super().__init__(
            _l(
                "%(shop)s does not deliver to %(province)s. Choose another address, or take "
                "this shop's items out of the order.",
                shop=merchant_name,
                province=province_name,
            ),
            "address",
        )
        self.merchant_name = merchant_name
        self.province_name = province_name


def province_of(region_code: str | None) -> str:
    """The province code of any region code ("330106" -> "330000"); "" when unknown."""
    code = region_code or ""
    return code[:2] + "0000" if len(code) == 6 and code.isdigit() else ""


def template_fee(
    template: ShippingTemplate | None,
    province_code: str,
    *,
    pieces: int,
    grams: int,
    goods_cents: int,
) -> int | None:
    """The fee for one group of items under ``template`` to ``province_code``; None when the
    template does not deliver there. An unknown province ("") is charged the base fee."""
    if template is None:
        return 0
    if province_code and province_code in (template.unreachable or []):
        return None
    if template.kind == ShippingKind.FREE:
        return 0
    if template.kind == ShippingKind.FREE_OVER and goods_cents >= template.free_over_cents:
        return 0
    first, extra = template.first_fee_cents, template.extra_fee_cents
    if template.kind == ShippingKind.REGIONAL and province_code in (template.region_fees or {}):
        first, extra = (int(v) for v in template.region_fees[province_code])
    if template.basis == ShippingBasis.WEIGHT:
        units = max(1, -(-grams // 1000))
    else:
        units = max(1, pieces)
    return first + (units - 1) * extra


def order_fee(merchant: Merchant, lines: list[tuple[Product, int]], province_code: str) -> int:
    """The fee of one merchant's order of ``lines`` (product, quantity) to a province; raises
    Unreachable when a template of one of them does not deliver there."""
    groups: dict[int | None, list[tuple[Product, int]]] = defaultdict(list)
    for product, quantity in lines:
        groups[product.shipping_template_id].append((product, quantity))
    templates = _templates([tid for tid in groups if tid is not None])
    total = 0
    for template_id, items in groups.items():
        fee = template_fee(
            templates.get(template_id) if template_id is not None else None,
            province_code,
            pieces=sum(q for _p, q in items),
            grams=sum(p.weight_grams * q for p, q in items),
            goods_cents=sum(p.price_cents * q for p, q in items),
        )
        if fee is None:
            province = regions.get(province_code)
            raise Unreachable(merchant.name, province.name if province else province_code)
        total += fee
    return total


def fee_table(product: Product, province_code: str, upto: int) -> list[int | None]:
    """The fee of an order of 1, 2, ... ``upto`` pieces of ``product`` alone to a province
    (None where it is not delivered), worked out as ``order_fee`` (``template_fee``) does, with
    no query (the product's template is in the session) and the template's terms read once
    for the province: the buy-now page updates its totals from it as the quantity changes."""
    tid = product.shipping_template_id
    template = db.session.get(ShippingTemplate, tid) if tid is not None else None
    if template is None:
        return [0] * upto
    if province_code and province_code in (template.unreachable or []):
        return [None] * upto
    kind = template.kind
    if kind == ShippingKind.FREE:
        return [0] * upto
    first, extra = template.first_fee_cents, template.extra_fee_cents
    regional = template.region_fees or {}
    if kind == ShippingKind.REGIONAL and province_code in regional:
        first, extra = (int(v) for v in regional[province_code])
    # The goods reach the free-over amount from this quantity on (never: past ``upto``).
    free_from = upto + 1
    if kind == ShippingKind.FREE_OVER:
        price, over = product.price_cents, template.free_over_cents
        free_from = next((q for q in range(1, upto + 1) if price * q >= over), upto + 1)
    if template.basis == ShippingBasis.WEIGHT:
        grams = product.weight_grams
        units = [max(1, -(-(grams * q) // 1000)) for q in range(1, free_from)]
    else:
        units = range(1, free_from)
    return [first + (n - 1) * extra for n in units] + [0] * (upto + 1 - free_from)


def _templates(ids: list[int]) -> dict[int, ShippingTemplate]:
    """The templates of ``ids``: those this session holds already (the product page's query
    loads its product's) without a query, the rest in one."""
    found = {}
    for tid in ids:
        held = db.session.identity_map.get(identity_key(ShippingTemplate, tid))
        if held is not None:
            found[tid] = held
    missing = [tid for tid in ids if tid not in found]
    if missing:
        rows = db.session.execute(select(ShippingTemplate).where(ShippingTemplate.id.in_(missing)))
        found.update((t.id, t) for t in rows.scalars())
    return found


@dataclass(frozen=True)
class FeeHint:
    """What a product page says of delivery: ``kind`` is "free", "fee", "from" (the base fee,
    more to some provinces), "free_over" or "unreachable"; ``cents`` the fee or the amount."""

    kind: str
    cents: int = 0
    province: str = ""


def product_hint(product: Product, province_code: str = "") -> FeeHint:
    """The fee of one piece of ``product`` to ``province_code`` (the buyer's default address),
    or its template's base fee when there is no province."""
    tid = product.shipping_template_id
    template = db.session.get(ShippingTemplate, tid) if tid is not None else None
    if template is None or template.kind == ShippingKind.FREE:
        if template is not None and province_code in (template.unreachable or []):
            return FeeHint("unreachable", province=_name(province_code))
        return FeeHint("free")
    if province_code:
        fee = template_fee(
            template,
            province_code,
            pieces=1,
            grams=product.weight_grams,
            goods_cents=product.price_cents,
        )
        if fee is None:
            return FeeHint("unreachable", province=_name(province_code))
        if fee == 0:
            return FeeHint("free", province=_name(province_code))
        return FeeHint("fee", fee, _name(province_code))
    if template.kind == ShippingKind.FREE_OVER and product.price_cents < template.free_over_cents:
        return FeeHint("free_over", template.free_over_cents)
    base = template_fee(
        template, "", pieces=1, grams=product.weight_grams, goods_cents=product.price_cents
    )
    if base == 0:
        return FeeHint("free")
    varies = template.kind == ShippingKind.REGIONAL and any(
        int(first) > base for first, _extra in (template.region_fees or {}).values()
    )
    return FeeHint("from" if varies else "fee", base)


def _name(province_code: str) -> str:
    region = regions.get(province_code)
    return region.name if region else ""


# --- a merchant's templates -----------------------------------------------------------------


def templates_of(merchant: Merchant) -> list[ShippingTemplate]:
    return list(
        db.session.execute(
            select(ShippingTemplate)
            .where(ShippingTemplate.merchant_id == merchant.id)
            .order_by(ShippingTemplate.id)
        ).scalars()
    )


def own_template(merchant: Merchant, template_id: int | None) -> ShippingTemplate | None:
    """The merchant's template by id; None for no id; NotFound for another's."""
    if not template_id:
        return None
    template = db.session.get(ShippingTemplate, template_id)
    if template is None or template.merchant_id != merchant.id:
        raise NotFound(_l("This shipping template does not exist."))
    return template


@dataclass
class TemplateInput:
    name: str
    kind: str
    basis: str
    first_fee_cents: int
    extra_fee_cents: int
    free_over_cents: int
    region_fees: dict[str, tuple[int, int]]
    unreachable: list[str]


def check_template(data: TemplateInput) -> TemplateInput:
    """The input cleaned; ValidationError naming the field to fix."""
    data.name = " ".join((data.name or "").split())
    if not data.name or len(data.name) > 40:
        raise ValidationError(_l("Give the template a name (at most 40 characters)."), "name")
    if data.kind not in ShippingKind._value2member_map_:
        raise ValidationError(_l("Choose how delivery is charged."), "kind")
    if data.basis not in ShippingBasis._value2member_map_:
        raise ValidationError(_l("Choose by piece or by weight."), "basis")
    for field in ("first_fee_cents", "extra_fee_cents", "free_over_cents"):
        if not 0 <= getattr(data, field) <= MAX_FEE_CENTS:
            raise ValidationError(_l("Enter an amount from 0 to 100000 yuan."), field)
    if data.kind == ShippingKind.FREE_OVER and data.free_over_cents <= 0:
        raise ValidationError(_l("Enter the amount from which delivery is free."), "free_over")
    provinces = {p.code for p in regions.provinces()}
    for code, (first, extra) in data.region_fees.items():
        if (
            code not in provinces
            or not 0 <= min(first, extra) <= max(first, extra) <= MAX_FEE_CENTS
        ):
            raise ValidationError(_l("Check the fees by province."), "region_fees")
    if any(code not in provinces for code in data.unreachable):
        raise ValidationError(_l("Choose provinces from the list."), "unreachable")
    if data.kind != ShippingKind.REGIONAL:
        data.region_fees = {}
    return data


def save_template(
    merchant: Merchant, data: TemplateInput, *, template: ShippingTemplate | None = None
) -> ShippingTemplate:
    """Create (``template`` None) or change one of the merchant's templates."""
    data = check_template(data)
    if template is None:
        count = db.session.execute(
            select(func.count())
            .select_from(ShippingTemplate)
            .where(ShippingTemplate.merchant_id == merchant.id)
        ).scalar_one()
        if count >= MAX_TEMPLATES:
            raise ValidationError(_l("At most %(n)d templates.", n=MAX_TEMPLATES), "name")
        template = ShippingTemplate(merchant_id=merchant.id)
        db.session.add(template)
    template.name = data.name
    template.kind = ShippingKind(data.kind)
    template.basis = ShippingBasis(data.basis)
    template.first_fee_cents = data.first_fee_cents
    template.extra_fee_cents = data.extra_fee_cents
    template.free_over_cents = data.free_over_cents
    template.region_fees = {k: [int(a), int(b)] for k, (a, b) in sorted(data.region_fees.items())}
    template.unreachable = sorted(set(data.unreachable))
    db.session.flush()
    return template


def delete_template(template: ShippingTemplate) -> None:
    """Its products ship free from now on (the key is set to NULL); placed orders keep the
    fee they were placed with."""
    db.session.execute(
        Product.__table__.update()
        .where(Product.shipping_template_id == template.id)
        .values(shipping_template_id=None)
    )
    db.session.delete(template)
    db.session.flush()


def set_product_shipping(
    product: Product, template: ShippingTemplate | None, weight_grams: int
) -> None:
    if template is not None and template.merchant_id != product.merchant_id:
        raise NotFound(_l("This shipping template does not exist."))
    if not 0 <= weight_grams <= 1_000_000:
        raise ValidationError(_l("Enter the weight in grams, from 0 to 1000000."), "weight_grams")
    product.shipping_template_id = template.id if template else None
    product.weight_grams = weight_grams
    db.session.flush()


_YUAN = re.compile(r"^(\d{1,7})(?:\.(\d{1,2}))?$")


def parse_fee(raw: str | None, field: str, *, blank: int | None = 0) -> int | None:
    """A fee typed in yuan ("8", "12.5") as fen; ``blank`` for an empty box; ValidationError
    for the field otherwise (no floats: the digits are read as they are)."""
    text = unicodedata.normalize("NFKC", raw or "").strip().lstrip("¥").strip()
    if not text:
        return blank
    match = _YUAN.match(text)
    if not match:
        raise ValidationError(
            _l("Enter an amount in yuan with at most two decimals, e.g. 8 or 12.50."), field
        )
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if cents > MAX_FEE_CENTS:
        raise ValidationError(_l("Enter an amount from 0 to 100000 yuan."), field)
    return cents
