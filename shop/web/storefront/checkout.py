"""Buying: the checkout form, the sandbox gateway's pages and the payment callbacks.

The sandbox gateway plays the part of a real one: its page takes the "payment", sends the
signed notice to our callback (as a gateway's server would), then sends the browser back to our
return path with the same signed notice. Both roads end in ``payments.apply_notice``.
"""

from datetime import timedelta
from urllib.parse import urlencode

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from shop.catalog import catalog, skus
from shop.orders import addresses, payments, shipping, states
from shop.orders import checkout as order_checkout
from shop.orders.gateways import providers as gateway_providers
from shop.orders.gateways.flow import GATEWAYS
from shop.orders.models import Order
from shop.platform import db as dbsetup
from shop.platform.errors import DomainError
from shop.platform.extensions import csrf, db
from shop.sharing import shops
from shop.teams import teams
from shop.web.common import now, safe_next, show_domain_error
from shop.web.storefront import bp, live_totals
from shop.web.storefront import coupons as buyer_coupons
from shop.web.storefront.addresses import picking
from shop.web.storefront.checkout_forms import SavedAddressCheckoutForm, checkout_form
from shop.web.storefront.lines import BuyLine, parse_shown
from shop.web.storefront.sharing import set_visitor_cookie, visitor_for_order


def enabled_providers(merchants=()):
    """The providers offered at checkout, in the order of PAYMENT_PROVIDERS: the real
    gateways once configured (shop.orders.gateways), the sandbox and manual transfer. With
    ``merchants``, only those that can take money for every one of them (WeChat Pay's partner
    mode only for merchants with a sub-merchant number)."""
    app = current_app._get_current_object()
    config = app.config
    live = gateway_providers.for_app(app)
    # Built once per app and settings (an HMAC and the provider objects on every checkout).
    key = (config["SECRET_KEY"], tuple(config["PAYMENT_PROVIDERS"]), id(live))
    kept = app.extensions.get("fenxiang.checkout_providers")
    if kept is None or kept[0] != key:
        simple = payments.providers(config["SECRET_KEY"], config["PAYMENT_PROVIDERS"])
        found = {
            name: live.get(name) or simple[name]
            for name in config["PAYMENT_PROVIDERS"]
            if name in live or name in simple
        }
        kept = app.extensions["fenxiang.checkout_providers"] = (key, found, live)
    found = kept[1]
    return {
        name: provider
        for name, provider in found.items()
        if all(getattr(provider, "takes", lambda _m: True)(m) for m in merchants)
    }


def chosen_address(form, saved):
    return {str(a.id): a for a in saved}.get(form.saved_address.data or "")


def quote(form, saved, groups) -> tuple[list[dict], int]:
    """Each merchant's part of the checkout with its goods, its shipping fee to the chosen
    (or typed) address's province and a message when it does not deliver there; and the
    total of what can be bought."""
    chosen = chosen_address(form, saved)
    if chosen is not None:
        province = shipping.province_of(chosen.province_code)
    else:
        province = shipping.province_of(form.province.data or "")
    parts, total = [], 0
    for merchant, items in groups:
        buyable = [line for line in items if line.reason is None]
        goods = sum(line.price_cents * line.quantity for line in buyable)
        buyable = [(line.product, line.quantity) for line in buyable]
        part = {"merchant": merchant, "items": items, "goods": goods, "fee": 0, "problem": None}
        part["offers"], part["coupon"] = buyer_coupons.offers_for(merchant, items, form.ref.data)
        part["discount"] = part["coupon"].discount_cents if part["coupon"] else 0
        try:
            part["fee"] = shipping.order_fee(merchant, buyable, province) if buyable else 0
        except shipping.Unreachable as error:
            part["problem"] = error.message
        total += goods - part["discount"] + part["fee"]
        parts.append(part)
    return parts, total


def render_checkout(form, saved, groups, product=None, live=None):
    parts, total = quote(form, saved, groups)
    keep = {k: request.args[k] for k in ("ref", "quantity") if request.args.get(k)}
    if form.ref.data:
        keep["ref"] = form.ref.data
    here = request.path + (f"?{urlencode(keep)}" if keep else "")
    return render_template(
        "storefront/checkout.html",
        here=here,
        form=form,
        product=product,
        parts=parts,
        # Whether any shop offers a coupon (the page's head loads the coupon script then).
        coupons_offered=any(part["offers"] for part in parts),
        total=total,
        saved=saved,
        chosen=chosen_address(form, saved),
        live=live,
    )


@bp.route("/checkout/<int:product_id>", methods=["GET", "POST"])
@login_required
def checkout(product_id: int):
    """Buy one SKU of a product now (the "Buy now" button)."""
    found = catalog.product_for_checkout(product_id)
    if found is None:
        abort(404)
    product, cover = found
    if shops.is_gone(product):
        abort(410)
    saved = addresses.address_rows(current_user)  # read only: as_shipping copies the chosen
    available = enabled_providers([product.merchant])
    form = checkout_form(saved, available)
    raw_sku = request.values.get("sku_id") or request.args.get("sku") or ""
    sku = skus.sku_of(product, int(raw_sku) if raw_sku.isdigit() and len(raw_sku) < 10 else None)
    if sku is None:
        flash(_("Choose a spec first."), "error")
        return redirect(url_for("storefront.product_detail", product_id=product.id, _anchor="buy"))
    if request.method == "GET":
        form.quantity.data = request.args.get("quantity", 1, type=int)
        form.sku_id.data = str(sku.id)
        shown = request.args.get("price", type=int)
        form.shown.data = f"{sku.id}:{shown if shown else sku.price_cents}"
    elif live_totals.recalculating():
        live_totals.check_quantity(form)
    elif not picking() and form.validate_on_submit():
        try:
            quantity = order_checkout.parse_quantity(
                request.form.get("quantity"), maximum=current_app.config["MAX_ORDER_QUANTITY"]
            )
        except DomainError as error:
            show_domain_error(form, error)
        else:
            result = place_lines(
                form,
                [(product.id, quantity, sku.id)],
                saved,
                available,
                shown_prices=parse_shown(form.shown.data),
                groups=[(product.merchant, [BuyLine(product, sku, quantity)])],
            )
            if result is not None:
                return result
            form.shown.data = f"{sku.id}:{sku.price_cents}"
    quantity = max(form.quantity.data if isinstance(form.quantity.data, int) else 1, 1)
    reason = None if sku.stock >= quantity else "short"
    line = BuyLine(product, sku, quantity, reason, cover)
    live = live_totals.buy_now(form, saved, product, sku)
    return render_checkout(form, saved, [(product.merchant, [line])], product=product, live=live)


def place_lines(
    form: SavedAddressCheckoutForm,
    lines,
    saved,
    available,
    *,
    shown_prices=None,
    on_success=None,
    groups=(),
):
    """Place the orders of ``lines`` (product id, quantity, SKU id) with the form's address
    and payment, refusing prices other than ``shown_prices``; the redirect to pay, or None
    with the errors on the form (a changed price: the new one, to submit again)."""
    config = current_app.config
    key = (form.checkout_key.data or "")[:40]
    if len(key) < 16:
        flash(_("This form has expired. Please try again."), "error")
        return None
    try:
        chosen = chosen_address(form, saved)
        if chosen is not None and chosen.is_legacy:
            raise DomainError(
                _("Choose the province, city and district of this address again."), "address"
            )
        if chosen is not None:
            address = addresses.as_shipping(chosen)
        else:
            address = addresses.check_address(
                form.name.data,
                form.phone.data,
                form.province.data,
                form.city.data,
                form.district.data,
                form.detail.data,
            )
        provider = form.provider.data
        if provider not in available:
            raise DomainError(_("Choose how to pay."), "provider")
        visitor, hopped = visitor_for_order(form.ref.data or "")
        # ``_rows`` keeps the chosen claims loaded until the orders are placed.
        picked, _rows = buyer_coupons.claims_for_order(groups, form.ref.data or "")
        placed = order_checkout.place_order(
            current_user,
            lines,
            address,
            checkout_key=key,
            shown_prices=shown_prices,
            provider=provider,
            visitor_id=visitor,
            now=now(),
            window=timedelta(days=config["ATTRIBUTION_WINDOW_DAYS"]),
            allow_self_purchase=config["ALLOW_SELF_PURCHASE"],
            team_override_bps=teams.effective_rate(
                config["TEAM_OVERRIDE_BPS"], config["TEAM_OVERRIDE_MAX_BPS"]
            ),
            pay_within=timedelta(minutes=config["PAYMENT_TIMEOUT_MINUTES"]),
            repeat_window=_repeat_window(),
            note=form.note.data or "",
            coupons=picked,
        )
        if chosen is None:
            order_checkout.save_address(current_user, address, now=now())
        # Read before the commit expires the rows: the redirect needs no query of its own.
        placed_ids = [order.id for order in placed]
        db.session.commit()
    except order_checkout.RepeatOrder as repeat:
        # Going back after paying fetches a new form (a new key): show the order placed a
        # moment ago, and keep the form, whose "Order again" button places it on purpose.
        db.session.rollback()
        form.repeat_orders = repeat.orders
        return None
    except DomainError as error:
        db.session.rollback()
        if error.field == "address":
            form.address_errors = [error.message]
        else:
            show_domain_error(form, error)
        return None
    if on_success is not None:
        on_success()
    if len(placed_ids) == 1:
        response = redirect(url_for("storefront.order_pay", order_id=placed_ids[0]))
    else:
        flash(
            _("%(n)d orders placed, one per shop. Pay each of them below.", n=len(placed_ids)),
            "success",
        )
        response = redirect(url_for("storefront.my_orders", status="placed"))
    if hopped:
        set_visitor_cookie(response, visitor)
    return response


def _repeat_window() -> timedelta | None:
    """How far back a checkout of the same lines counts as a repeat; None when the buyer
    pressed "Order again" (or the check is off)."""
    seconds = current_app.config["CHECKOUT_REPEAT_SECONDS"]
    if not seconds or request.form.get("repeat") == "1":
        return None
    return timedelta(seconds=seconds)


@bp.route("/orders/<int:order_id>/pay")
@login_required
def order_pay(order_id: int):
    order = _own_order(order_id)
    if order.status != states.S.PLACED:
        return redirect(url_for("storefront.order_detail", order_id=order.id))
    provider = enabled_providers().get(order.payment_provider)
    if order.payment_provider in GATEWAYS and provider is not None:
        return redirect(url_for("storefront.gateway_pay", order_id=order.id))
    target = None
    if provider is not None:
        back = url_for("storefront.sandbox_return", _external=False)
        target = provider.start(order, back)
    if target:
        return redirect(target)
    return redirect(url_for("storefront.order_detail", order_id=order.id))


@bp.route("/pay/sandbox/<string:number>", methods=["GET", "POST"])
def sandbox_gateway(number: str):
    """The simulated gateway's own page (not part of the shop in a real deployment)."""
    provider = enabled_providers().get("sandbox")
    token = request.values.get("t", "")
    if provider is None or not provider.valid_token(number, token):
        abort(404)
    order = db.session.execute(select(Order).where(Order.number == number)).scalar_one_or_none()
    if order is None:
        abort(404)
    # The same test as every other redirect target: "/\\host" and "/\t/host" lead off-site too.
    back = safe_next(request.values.get("return")) or url_for("storefront.sandbox_return")
    if order.status != states.S.PLACED:
        # Paid already (the page reached again by going back) or no longer payable: the page
        # says so and a tap on its old pay button sends no notice and changes nothing.
        return render_template(
            "storefront/sandbox_gateway.html",
            order=order,
            token=token,
            back=back,
            tapped=request.method == "POST",
        )
    if request.method == "POST":
        body = provider.notice_body(order)
        signature = provider.sign(body)
        # The gateway's server notifies the shop (at least once) ...
        _apply("sandbox", provider, body, signature)
        # ... and the buyer's browser comes back with the same signed notice.
        return redirect(f"{back}?{urlencode({'body': body.decode(), 'sig': signature})}", code=303)
    return render_template("storefront/sandbox_gateway.html", order=order, token=token, back=back)


def _apply(name: str, provider, body: bytes, signature: str):
    with dbsetup.writing():
        db.session.rollback()
        notice = provider.parse(body, signature)
        result = payments.apply_notice(name, notice, now=now())
        db.session.commit()
    return result


@bp.route("/payments/sandbox/notify", methods=["POST"])
@csrf.exempt  # a server-to-server callback: its signature is the proof, not a form token
def sandbox_notify():
    provider = enabled_providers().get("sandbox")
    if provider is None:
        abort(404)
    try:
        result = _apply(
            "sandbox", provider, request.get_data(), request.headers.get("X-Sandbox-Signature", "")
        )
    except payments.BadSignature:
        db.session.rollback()
        return {"ok": False, "error": "bad signature"}, 400
    # A replay, or a notice for an order that can no longer be paid, is still received: 200,
    # so the gateway stops retrying; what happened is stored with the event.
    return {"ok": True, "outcome": result.outcome}, 200


@bp.route("/payments/sandbox/return")
def sandbox_return():
    provider = enabled_providers().get("sandbox")
    if provider is None:
        abort(404)
    body = request.args.get("body", "").encode()
    try:
        result = _apply("sandbox", provider, body, request.args.get("sig", ""))
    except payments.BadSignature:
        db.session.rollback()
        abort(400)
    if result.order is None:
        abort(404)
    if result.order.status != states.S.PLACED:
        return redirect(url_for("storefront.order_paid", order_id=result.order.id))
    return redirect(url_for("storefront.order_detail", order_id=result.order.id))


# --- the buyer's orders (their pages: shop.web.storefront.orders) ----------------------------


def _own_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != current_user.id:
        abort(404)
    return order
