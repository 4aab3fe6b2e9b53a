"""The cart: products from any shops, bought in one checkout that makes one order per
merchant (each paid on its own, as each merchant is paid separately).

The cart lives in the signed session cookie, so it survives signing in or signing up in the
middle of buying; it holds product ids, quantities and the share code the buyer came with,
never prices: checkout reads those from the database.
"""

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from shop.catalog.models import Product
from shop.orders import checkout
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.platform.inputs import parse_id
from shop.sharing import links, shops
from shop.web.common import safe_referrer, show_domain_error
from shop.web.forms import FlaskForm
from shop.web.storefront import bp
from shop.web.storefront.addresses import picking
from shop.web.storefront.checkout import (
    checkout_form,
    enabled_providers,
    place_lines,
    render_checkout,
)

CART_KEY = "cart"
MAX_LINES = 20


def cart_lines() -> dict[int, int]:
    raw = session.get(CART_KEY, {}).get("lines", {})
    lines = {}
    for key, quantity in raw.items():
        if str(key).isdigit() and isinstance(quantity, int) and quantity > 0:
            lines[int(key)] = quantity
    return lines


def _save(lines: dict[int, int], ref: str | None = None) -> None:
    cart = dict(session.get(CART_KEY, {}))
    cart["lines"] = {str(k): v for k, v in lines.items()}
    if ref is not None:
        cart["ref"] = ref
    if not lines:
        cart.pop("ref", None)
    session[CART_KEY] = cart


@bp.app_template_global()
def cart_count() -> int:
    """Items in the cart, for the badge in the top bar."""
    return sum(cart_lines().values()) if CART_KEY in session else 0


def _products(ids) -> dict[int, Product]:
    if not ids:
        return {}
    rows = (
        db.session.execute(
            select(Product).where(Product.id.in_(list(ids))).options(joinedload(Product.merchant))
        )
        .unique()
        .scalars()
    )
    return {p.id: p for p in rows}


def _groups(lines: dict[int, int]):
    """The cart by merchant: [(merchant, [(product, quantity, unavailable reason)])], and the
    total of what can be bought."""
    products = _products(lines)
    groups: dict[int, tuple] = {}
    total = 0
    for product_id, quantity in lines.items():
        product = products.get(product_id)
        if product is None:
            continue
        reason = shops.unavailable_reason(product)
        if reason is None and product.stock < quantity:
            reason = "short"
        groups.setdefault(product.merchant_id, (product.merchant, []))[1].append(
            (product, quantity, reason)
        )
        if reason is None:
            total += product.price_cents * quantity
    return list(groups.values()), total


@bp.route("/cart")
def cart():
    groups, total = _groups(cart_lines())
    return render_template(
        "storefront/cart.html",
        groups=groups,
        total=total,
        form=FlaskForm(),
        unavailable_labels=shops.UNAVAILABLE_LABELS,
    )


@bp.route("/cart/add", methods=["POST"])
def cart_add():
    if not FlaskForm().validate_on_submit():
        abort(400)
    product_id = parse_id(request.form.get("product_id"))
    product = db.session.get(Product, product_id) if product_id else None
    if product is None:
        abort(404)
    lines = cart_lines()
    try:
        reason = shops.unavailable_reason(product)
        if reason is not None:
            raise DomainError(str(shops.UNAVAILABLE_LABELS[reason]))
        if product.id not in lines and len(lines) >= MAX_LINES:
            raise DomainError(_("Your cart is full. Check out first."))
        quantity = checkout.parse_quantity(
            lines.get(product.id, 0) + (request.form.get("quantity", 1, type=int) or 1),
            maximum=min(current_app.config["MAX_ORDER_QUANTITY"], max(product.stock, 1)),
        )
    except DomainError as error:
        flash(error.message, "error")
        return redirect(safe_referrer() or url_for("storefront.cart"), code=303)
    lines[product.id] = quantity
    ref = request.form.get("ref", "")
    _save(lines, ref if links.is_well_formed(ref) else None)
    flash(_("Added to your cart."), "success")
    return redirect(url_for("storefront.cart"), code=303)


@bp.route("/cart/update", methods=["POST"])
def cart_update():
    if not FlaskForm().validate_on_submit():
        abort(400)
    product_id = parse_id(request.form.get("product_id"))
    lines = cart_lines()
    if product_id not in lines:
        return redirect(url_for("storefront.cart"), code=303)
    raw = request.form.get("quantity", "")
    if raw.strip() == "0" or request.form.get("remove"):
        del lines[product_id]
    else:
        try:
            lines[product_id] = checkout.parse_quantity(
                raw, maximum=current_app.config["MAX_ORDER_QUANTITY"]
            )
        except DomainError as error:
            flash(error.message, "error")
            return redirect(url_for("storefront.cart"), code=303)
    _save(lines)
    return redirect(url_for("storefront.cart"), code=303)


@bp.route("/cart/checkout", methods=["GET", "POST"])
@login_required
def cart_checkout():
    lines = cart_lines()
    groups, total = _groups(lines)
    if not lines:
        flash(_("Your cart is empty."), "info")
        return redirect(url_for("storefront.cart"))
    saved = checkout.addresses_of(current_user)
    available = enabled_providers()
    form = checkout_form(saved, available)
    if request.method == "GET":
        form.ref.data = session.get(CART_KEY, {}).get("ref", "")
    elif not picking() and form.validate_on_submit():
        buyable = [(p.id, q) for _m, items in groups for p, q, reason in items if reason is None]
        if len(buyable) != len(lines):
            show_domain_error(
                form, DomainError(_("Some items cannot be bought now. Look at your cart again."))
            )
        else:
            result = place_lines(form, buyable, saved, available, on_success=lambda: _save({}))
            if result is not None:
                return result
    return render_checkout(form, saved, groups)
