"""The merchant's shipping templates (/merchant/shipping): make, change and delete them, and
pick one (and a weight) per product."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import RadioField, StringField

from shop.catalog.models import Product, ShippingBasis, ShippingKind
from shop.orders import regions, shipping
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.platform.inputs import parse_id
from shop.web.common import show_domain_error
from shop.web.forms import FlaskForm
from shop.web.merchant import bp

KIND_LABELS = {
    ShippingKind.FREE: _l("Free shipping"),
    ShippingKind.FLAT: _l("A fee"),
    ShippingKind.FREE_OVER: _l("A fee, free over an amount"),
    ShippingKind.REGIONAL: _l("Fees by province"),
}
BASIS_LABELS = {ShippingBasis.PIECE: _l("By piece"), ShippingBasis.WEIGHT: _l("By weight (kg)")}


class TemplateForm(FlaskForm):
    name = StringField(_l("Template name"), render_kw={"maxlength": 40})
    kind = RadioField(_l("Delivery is"), choices=[])
    basis = RadioField(_l("Count"), choices=[])
    first_fee = StringField(
        _l("First piece or kg (yuan)"), render_kw={"inputmode": "decimal"}, default="0"
    )
    extra_fee = StringField(
        _l("Each more piece or kg (yuan)"), render_kw={"inputmode": "decimal"}, default="0"
    )
    free_over = StringField(
        _l("Free from goods of (yuan)"), render_kw={"inputmode": "decimal"}, default="0"
    )
    #: Errors of the province tables (fees by province, provinces not delivered to).
    region_errors: list | tuple = ()


def _yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}" if cents % 100 else str(cents // 100)


def _template_input(form: TemplateForm) -> shipping.TemplateInput:
    fees = {}
    for province in regions.provinces():
        first = shipping.parse_fee(
            request.form.get(f"first_{province.code}"), "region_fees", blank=None
        )
        extra = shipping.parse_fee(request.form.get(f"extra_{province.code}"), "region_fees")
        if first is not None:
            fees[province.code] = (first, extra or 0)
    return shipping.TemplateInput(
        name=form.name.data or "",
        kind=form.kind.data or "",
        basis=form.basis.data or "",
        first_fee_cents=shipping.parse_fee(form.first_fee.data, "first_fee"),
        extra_fee_cents=shipping.parse_fee(form.extra_fee.data, "extra_fee"),
        free_over_cents=shipping.parse_fee(form.free_over.data, "free_over"),
        region_fees=fees,
        unreachable=request.form.getlist("unreachable"),
    )


def _own_template(template_id: int):
    try:
        return shipping.own_template(g.merchant, template_id)
    except DomainError:
        abort(404)


@bp.route("/shipping")
def shipping_list():
    products = db.session.execute(
        select(Product).where(Product.merchant_id == g.merchant.id).order_by(Product.id.desc())
    ).scalars()
    return render_template(
        "merchant/shipping.html",
        templates=shipping.templates_of(g.merchant),
        products=list(products),
        kind_labels=KIND_LABELS,
        basis_labels=BASIS_LABELS,
        form=FlaskForm(),
        yuan=_yuan,
    )


@bp.route("/shipping/new", methods=["GET", "POST"])
@bp.route("/shipping/<int:template_id>/edit", methods=["GET", "POST"])
def shipping_edit(template_id: int | None = None):
    template = _own_template(template_id) if template_id is not None else None
    form = TemplateForm()
    form.kind.choices = [(k.value, str(v)) for k, v in KIND_LABELS.items()]
    form.basis.choices = [(k.value, str(v)) for k, v in BASIS_LABELS.items()]
    if request.method == "GET":
        form.kind.data = template.kind.value if template else ShippingKind.FLAT.value
        form.basis.data = template.basis.value if template else ShippingBasis.PIECE.value
        if template is not None:
            form.name.data = template.name
            form.first_fee.data = _yuan(template.first_fee_cents)
            form.extra_fee.data = _yuan(template.extra_fee_cents)
            form.free_over.data = _yuan(template.free_over_cents)
    elif form.validate_on_submit():
        try:
            template = shipping.save_template(g.merchant, _template_input(form), template=template)
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            if error.field in ("region_fees", "unreachable"):
                form.region_errors = [error.message]
            else:
                show_domain_error(form, error)
        else:
            flash(_("Shipping template saved."), "success")
            return redirect(url_for("merchant.shipping_list"), code=303)
    if request.method == "POST":
        fees = {}
        for p in regions.provinces():
            typed = (
                request.form.get(f"first_{p.code}", ""),
                request.form.get(f"extra_{p.code}", ""),
            )
            if any(typed):
                fees[p.code] = typed
        unreachable = set(request.form.getlist("unreachable"))
    else:
        stored = template.region_fees if template else {}
        fees = {code: (_yuan(a), _yuan(b)) for code, (a, b) in stored.items()}
        unreachable = set(template.unreachable if template else [])
    return render_template(
        "merchant/shipping_form.html",
        form=form,
        template=template,
        provinces=regions.provinces(),
        fees=fees,
        unreachable=unreachable,
    )


@bp.route("/shipping/<int:template_id>/delete", methods=["POST"])
def shipping_delete(template_id: int):
    template = _own_template(template_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    shipping.delete_template(template)
    db.session.commit()
    flash(_("Template deleted. Its products ship free now."), "success")
    return redirect(url_for("merchant.shipping_list"), code=303)


@bp.route("/shipping/products/<int:product_id>", methods=["POST"])
def shipping_product(product_id: int):
    """One product's template and weight."""
    product = db.session.get(Product, product_id)
    if product is None or product.merchant_id != g.merchant.id:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    raw_template = request.form.get("template_id", "")
    raw_weight = (request.form.get("weight_grams") or "0").strip()
    try:
        template = None
        if raw_template.strip():
            template = _own_template(parse_id(raw_template) or 0)
        if not raw_weight.isascii() or not raw_weight.isdigit() or len(raw_weight) > 7:
            raise DomainError(_("Enter the weight in grams, from 0 to 1000000."))
        shipping.set_product_shipping(product, template, int(raw_weight))
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(_("Shipping of “%(title)s” saved.", title=product.title), "success")
    return redirect(url_for("merchant.shipping_list") + f"#product-{product.id}", code=303)
