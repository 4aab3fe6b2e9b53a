"""The cart: products from any shops, bought in one checkout that makes one order per
merchant (each paid on its own, as each merchant is paid separately).

The cart lives in the signed session cookie, so it survives signing in or signing up in the
middle of buying; it holds SKU lines ("product id:SKU id" -> quantity), the lines left out of
the next checkout and the share code the buyer came with, never prices: checkout reads those
from the database. A line of an older cookie is a bare product id: it stands for the product's
only SKU.
"""

from dataclasses import dataclass

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from shop.catalog import skus
from shop.catalog.models import Product, Sku
from shop.orders import checkout
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.sharing import links, shops
from shop.web.common import show_domain_error
from shop.web.forms import FlaskForm
from shop.web.storefront import bp
from shop.web.storefront.addresses import picking
from shop.web.storefront.checkout import (
    checkout_form,
    enabled_providers,
    place_lines,
    render_checkout,
)
from shop.web.storefront.lines import PricedLine, parse_shown, shown_field

CART_KEY = "cart"
MAX_LINES = 20


def line_key(product_id: int, sku_id: int | None) -> str:
    return f"{product_id}:{sku_id}" if sku_id else str(product_id)


def _parse_key(key: str) -> tuple[int, int | None] | None:
    product, _sep, sku = str(key).partition(":")
    if not product.isdigit() or (sku and not sku.isdigit()):
        return None
    return int(product), (int(sku) if sku else None)


def cart_lines() -> dict[str, int]:
    """{line key: quantity} of the well-formed lines."""
    raw = session.get(CART_KEY, {}).get("lines", {})
    return {
        str(key): quantity
        for key, quantity in raw.items()
        if _parse_key(key) and isinstance(quantity, int) and quantity > 0
    }


def _left_out() -> set[str]:
    return {str(k) for k in session.get(CART_KEY, {}).get("off", []) if isinstance(k, str)}


def _save(lines: dict[str, int], ref: str | None = None, off: set[str] | None = None) -> None:
    cart = dict(session.get(CART_KEY, {}))
    cart["lines"] = dict(lines)
    off = _left_out() if off is None else off
    cart["off"] = sorted(k for k in off if k in lines)
    if ref is not None:
        cart["ref"] = ref
    if not lines:
        cart.pop("ref", None)
    session[CART_KEY] = cart


@bp.app_template_global()
def cart_count() -> int:
    """Items in the cart, for the badges in the top bar and the tab bar."""
    return sum(cart_lines().values()) if CART_KEY in session else 0


@dataclass
class CartLine(PricedLine):
    key: str
    product: Product
    sku: Sku | None
    quantity: int
    #: Why it cannot be bought now: a shops.UNAVAILABLE_LABELS key, "short", "spec" or None.
    reason: str | None
    selected: bool

    @property
    def stock(self) -> int:
        return self.sku.stock if self.sku else 0


@dataclass
class CartGroup:
    merchant: object
    lines: list[CartLine]

    @property
    def total_cents(self) -> int:
        return sum(line.line_cents for line in self.lines if line.selected and not line.reason)


def _products(ids) -> dict[int, Product]:
    if not ids:
        return {}
    rows = (
        db.session.execute(
            select(Product)
            .where(Product.id.in_(list(ids)))
            .options(
                joinedload(Product.merchant),
                selectinload(Product.skus),
                selectinload(Product.specs),
            )
        )
        .unique()
        .scalars()
    )
    return {p.id: p for p in rows}


def cart_groups(lines: dict[str, int]) -> tuple[list[CartGroup], int]:
    """The cart by merchant, and the total of the selected lines that can be bought."""
    parsed = {key: _parse_key(key) for key in lines}
    products = _products({p for p, _s in parsed.values()})
    off = _left_out()
    groups: dict[int, CartGroup] = {}
    for key, quantity in lines.items():
        product_id, sku_id = parsed[key]
        product = products.get(product_id)
        if product is None:
            continue
        sku = skus.sku_of(product, sku_id)
        reason = shops.unavailable_reason(product)
        if reason is None and sku is None:
            reason = "spec"
        elif reason is None and sku.stock < quantity:
            reason = "short"
        group = groups.setdefault(product.merchant_id, CartGroup(product.merchant, []))
        group.lines.append(CartLine(key, product, sku, quantity, reason, key not in off))
    found = list(groups.values())
    return found, sum(g.total_cents for g in found)


def add_line(product: Product, sku: Sku, quantity: int, ref: str) -> None:
    """Add ``quantity`` of a SKU to the cart (on top of what is there); DomainError (a field
    "quantity") when the cart is full or the total would be above the limit or the stock."""
    lines = cart_lines()
    key = line_key(product.id, sku.id)
    legacy = str(product.id)
    already = lines.get(key, 0) + (lines.pop(legacy, 0) if len(product.active_skus) == 1 else 0)
    if key not in lines and len(lines) >= MAX_LINES:
        raise DomainError(_("Your cart is full. Check out first."), "quantity")
    lines[key] = checkout.parse_quantity(
        already + quantity,
        maximum=min(current_app.config["MAX_ORDER_QUANTITY"], max(sku.stock, 1)),
    )
    off = _left_out() - {key}
    _save(lines, ref if links.is_well_formed(ref) else None, off)


@bp.route("/cart")
def cart():
    groups, total = cart_groups(cart_lines())
    return render_template(
        "storefront/cart.html",
        groups=groups,
        total=total,
        form=FlaskForm(),
        unavailable_labels=shops.UNAVAILABLE_LABELS,
    )


@bp.route("/cart/update", methods=["POST"])
def cart_update():
    """One line's buttons: − and + (``step``), a quantity typed (``quantity``), ``remove``,
    ``select``/``deselect`` for the checkout, or another SKU of the product (``sku_id``)."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    lines = cart_lines()
    key = request.form.get("line", "") or _key_of_product(lines, request.form.get("product_id"))
    if key not in lines:
        return redirect(url_for("storefront.cart"), code=303)
    off = _left_out()
    op = request.form.get("op", "")
    try:
        if op == "remove" or request.form.get("remove"):
            del lines[key]
        elif op in ("select", "deselect"):
            off = off - {key} if op == "select" else off | {key}
        elif op == "spec":
            key = _change_spec(lines, key, off)
        else:
            raw = request.form.get("quantity", lines[key])
            if op in ("dec", "inc"):  # − stops at 1; "Remove" takes a line out
                quantity = checkout.parse_quantity(raw, maximum=10**6) + (1 if op == "inc" else -1)
                quantity = max(quantity, 1)
            else:
                quantity = raw
            if str(quantity).strip() == "0":
                del lines[key]
            else:
                lines[key] = checkout.parse_quantity(quantity, maximum=_line_maximum(key))
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("storefront.cart", _anchor=f"line-{key}"), code=303)
    _save(lines, off=off)
    return redirect(url_for("storefront.cart", _anchor=f"line-{key}"), code=303)


def _key_of_product(lines: dict[str, int], raw: str | None) -> str:
    """The line of a product named by id (a form of an older page): its first line."""
    return next((k for k in lines if k.partition(":")[0] == (raw or "").strip()), "")


def _line_maximum(key: str) -> int:
    limit = current_app.config["MAX_ORDER_QUANTITY"]
    product_id, sku_id = _parse_key(key)
    product = db.session.get(Product, product_id)
    sku = skus.sku_of(product, sku_id) if product else None
    return min(limit, max(sku.stock, 1)) if sku else limit


def _change_spec(lines: dict[str, int], key: str, off: set[str]) -> str:
    product_id, _sku = _parse_key(key)
    product = db.session.get(Product, product_id)
    raw = request.form.get("sku_id", "")
    sku = skus.sku_of(product, int(raw)) if product and raw.isdigit() else None
    if sku is None:
        raise DomainError(_("Choose one of the product's specs."), "sku")
    new_key = line_key(product.id, sku.id)
    if new_key == key:
        return key
    quantity = lines.pop(key) + lines.get(new_key, 0)
    lines[new_key] = min(quantity, max(sku.stock, 1), current_app.config["MAX_ORDER_QUANTITY"])
    if key in off:
        off.discard(key)
        off.add(new_key)
    return new_key


@bp.route("/cart/checkout", methods=["GET", "POST"])
@login_required
def cart_checkout():
    lines = cart_lines()
    groups, total = cart_groups(lines)
    chosen = [line for g in groups for line in g.lines if line.selected]
    if not chosen:
        flash(_("Choose at least one item to check out."), "info")
        return redirect(url_for("storefront.cart"))
    saved = checkout.addresses_of(current_user)
    available = enabled_providers({g.merchant for g in groups if any(x.selected for x in g.lines)})
    form = checkout_form(saved, available)
    shown_groups = [CartGroup(g.merchant, [x for x in g.lines if x.selected]) for g in groups]
    shown_groups = [g for g in shown_groups if g.lines]
    if request.method == "GET":
        form.ref.data = session.get(CART_KEY, {}).get("ref", "")
        form.shown.data = shown_field(line.sku for line in chosen if line.sku)
    elif not picking() and form.validate_on_submit():
        if any(line.reason for line in chosen):
            show_domain_error(
                form, DomainError(_("Some items cannot be bought now. Look at your cart again."))
            )
        else:
            buyable = [(x.product.id, x.quantity, x.sku.id) for x in chosen]
            bought = {x.key for x in chosen}
            result = place_lines(
                form,
                buyable,
                saved,
                available,
                shown_prices=parse_shown(form.shown.data),
                on_success=lambda: _save({k: q for k, q in lines.items() if k not in bought}),
                groups=[(g.merchant, g.lines) for g in shown_groups],
            )
            if result is not None:
                return result
            form.shown.data = shown_field(line.sku for line in chosen if line.sku)
    return render_checkout(form, saved, [(g.merchant, g.lines) for g in shown_groups])
