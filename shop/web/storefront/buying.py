"""The product page and its buy form: a spec (SKU) chosen with its quantity goes into the
cart ("Add to cart") or straight to checkout ("Buy now").

Without JavaScript the form is a plain one (a radio button per spec value, a number input and
two submit buttons); static/js/spec-sheet.js turns it into the bottom sheet. Any bad choice
(a combination sold out or short of stock, a quantity above the limit, a price changed since
the page was shown) renders the page again with the message in the form and what was chosen
kept.
"""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from shop.catalog import catalog, skus
from shop.catalog.models import Product
from shop.orders import checkout
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.platform.inputs import parse_id
from shop.sharing import links, shops
from shop.web.common import money, safe_referrer
from shop.web.forms import FlaskForm
from shop.web.storefront import bp, stockparts
from shop.web.storefront.cart import add_line
from shop.web.storefront.coupons import landing_coupon
from shop.web.storefront.lines import parse_shown, shown_field
from shop.web.storefront.views import review_context, viewer_is_sharer


def render_product(product: Product, *, shop=None, item=None, ref=None, choice=None, status=200):
    """The product page; ``choice``: what the buy form holds (values, quantity, error)."""
    choice = choice or {}
    active = product.active_skus
    if "values" not in choice and len(active) == 1:
        choice["values"] = list(active[0].values)
    chosen = skus.sku_for_values(product, choice.get("values", []))
    show = chosen or (min(active, key=lambda s: s.price_cents) if active else None)
    rate = skus.rebate_bps_of(product, show) if show else product.rebate_bps
    rebate = (
        catalog.rebate_cents(show.price_cents if show else product.price_cents, rate)
        if viewer_is_sharer()
        else None
    )
    # The stock numbers: stand-ins while a page to be kept is rendered (stockparts).
    stockparts.note_state(product)
    sku_data = skus.page_data(product)
    for sku in sku_data["skus"]:
        sku["stock"] = stockparts.shown_stock(sku["stock"], sku["id"])
    return (
        render_template(
            "storefront/product.html",
            product=product,
            merchant=product.merchant,
            shop=shop,
            item=item,
            ref=ref,
            rebate=rebate,
            sku_data=sku_data,
            chosen=chosen,
            choice=choice,
            coupon=landing_coupon(item, ref, show.price_cents if show else product.price_cents),
            shown=shown_field(active),
            **review_context(product),
        ),
        status,
    )


@bp.route("/cart/add", methods=["POST"])
def cart_add():
    """The product page's buy form: ``action`` "cart" (the default) or "buy"."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    product_id = parse_id(request.form.get("product_id"))
    product = db.session.get(Product, product_id) if product_id else None
    if product is None:
        abort(404)
    form = request.form
    ref = form.get("ref", "")
    ref = ref if links.is_well_formed(ref) else None
    action = "buy" if form.get("action") == "buy" else "cart"
    values = [form.get(f"spec{i}", "")[:20] for i in range(len(product.specs))]
    raw_sku = form.get("sku_id", "")
    sku = None
    if raw_sku.isdigit() and len(raw_sku) < 10:
        sku = skus.sku_of(product, int(raw_sku))
    elif not product.specs or all(values):
        sku = skus.sku_for_values(product, values)
    if sku is not None:
        values = list(sku.values)
    choice = {"values": values, "quantity": form.get("quantity", "1")[:6], "action": action}
    reason = shops.unavailable_reason(product)
    if reason is not None and reason != "sold_out":
        # Not on sale (a draft, delisted, its merchant suspended): no page of it to show again.
        flash(str(shops.UNAVAILABLE_LABELS[reason]), "error")
        return redirect(safe_referrer() or url_for("storefront.cart"), code=303)
    try:
        if sku is None:
            raise DomainError(_("Choose a spec."), "spec")
        if sku.stock <= 0:
            raise DomainError(_("This spec is sold out. Choose another one."), "spec")
        limit = current_app.config["MAX_ORDER_QUANTITY"]
        quantity = checkout.parse_quantity(form.get("quantity", 1), maximum=limit)
        if quantity > sku.stock:
            raise DomainError(
                _("Only %(n)d left of this spec. Choose fewer.", n=sku.stock), "quantity"
            )
        shown = parse_shown(form.get("shown")).get(sku.id)
        if shown is not None and shown != sku.price_cents:
            raise DomainError(
                _(
                    "The price changed from ¥%(old)s to ¥%(new)s while you looked. "
                    "Check it and choose again.",
                    old=money(shown),
                    new=money(sku.price_cents),
                ),
                "price",
            )
        if action == "cart":
            add_line(product, sku, quantity, ref or "")
    except DomainError as error:
        choice["error"] = error.message
        choice["field"] = error.field
        flash(error.message, "error")
        shop, item = _sharer_context(form.get("shop", ""), product.id)
        return render_product(product, shop=shop, item=item, ref=ref, choice=choice, status=422)
    if action == "buy":
        return redirect(
            url_for(
                "storefront.checkout",
                product_id=product.id,
                sku=sku.id,
                quantity=quantity,
                price=sku.price_cents,
                ref=ref,
            ),
            code=303,
        )
    flash(_("Added to your cart."), "success")
    return redirect(url_for("storefront.cart"), code=303)


def _sharer_context(slug: str, product_id: int):
    found = shops.find_with_item(slug[:40], product_id) if slug else None
    return found if found else (None, None)
