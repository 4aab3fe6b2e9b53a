"""/admin/fees: the platform fee of each product category (basis points, typed as a
percentage), and the team override in force it must cover (shop.money.fee_rules): a fee that
would let some product's override exceed it is refused with the product and the lowest fee
that would do. Products whose fee does not cover it anyway (the override setting raised at a
deploy, a product moved to a cheaper category) are listed at the top in red. Every change is
audited with its reason (merchant_payouts.set_fee).

/admin/merchants/<id>/wechatpay: a merchant's WeChat Pay sub-merchant number for partner mode
(服务商), audited likewise."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Length, Optional

from shop.catalog import merchants
from shop.catalog.models import Category, Merchant
from shop.catalog.products import format_bps
from shop.money import fee_rules, merchant_payouts
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.teams import teams
from shop.web.admin import bp
from shop.web.common import now, show_domain_error
from shop.web.forms import FlaskForm


class CategoryFeeForm(FlaskForm):
    fee = StringField(
        _l("Platform fee, in percent"),
        validators=[Optional(), Length(max=8)],
        description=_l("For example 2.5. Empty: no fee. Merchants with their own rate keep it."),
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    reason = StringField(
        _l("Reason (kept in the audit log)"), validators=[Optional(), Length(max=200)]
    )


UNCOVERED_SHOWN = 50


def override_in_force() -> int:
    config = current_app.config
    return teams.effective_rate(config["TEAM_OVERRIDE_BPS"], config["TEAM_OVERRIDE_MAX_BPS"])


@bp.route("/fees")
def fee_list():
    override = override_in_force()
    rows = []
    for category in db.session.execute(
        select(Category).order_by(Category.position, Category.id)
    ).scalars():
        highest = fee_rules.highest_rebate(category=category) if override else None
        need = fee_rules.min_fee_bps(highest.rebate_bps, override) if highest else 0
        rows.append({"category": category, "highest": highest, "need": need})
    # What no check at setting time saw: a raised override setting, a product moved to a
    # category with a lower fee. Checkout cuts such an order's override to its fee
    # (merchant_ledger.cover_override); the admin sees it here first.
    uncovered = fee_rules.uncovered_products(override, limit=UNCOVERED_SHOWN + 1)
    return render_template(
        "admin/fees.html", rows=rows, override=override, uncovered=uncovered[:UNCOVERED_SHOWN],
        more=len(uncovered) > UNCOVERED_SHOWN,
    )  # fmt: skip


@bp.route("/categories/<int:category_id>/fee", methods=["GET", "POST"])
def category_fee(category_id: int):
    category = db.session.get(Category, category_id)
    if category is None:
        abort(404)
    override = override_in_force()
    form = CategoryFeeForm()
    if request.method == "GET":
        form.fee.data = "" if category.fee_bps is None else format_bps(category.fee_bps)
    elif form.validate_on_submit():
        try:
            bps = merchant_payouts.parse_bps(form.fee.data)
            merchant_payouts.set_fee(
                category,
                bps,
                actor=current_user._get_current_object(),
                reason=form.reason.data or "",
                now=now(),
                override_bps=override,
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            page = render_template(
                "admin/category_fee.html", category=category, form=form, override=override
            )
            return page, 422
        flash(_("Platform fee saved."), "success")
        return redirect(url_for("admin.fee_list"), code=303)
    return render_template(
        "admin/category_fee.html", category=category, form=form, override=override
    )


class SubMchidForm(FlaskForm):
    sub_mchid = StringField(
        _l("WeChat Pay sub-merchant number (子商户号)"),
        validators=[Optional(), Length(max=32)],
        description=_l(
            "Digits, from the partner console after the merchant's onboarding. "
            "Empty: the merchant cannot take WeChat Pay in partner mode."
        ),  # fmt: skip
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    reason = StringField(
        _l("Reason (kept in the audit log)"), validators=[Optional(), Length(max=200)]
    )


@bp.route("/merchants/<int:merchant_id>/wechatpay", methods=["GET", "POST"])
def merchant_wechatpay(merchant_id: int):
    """The merchant's sub-merchant number for WeChat Pay's partner mode (docs/payments.md)."""
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        abort(404)
    form = SubMchidForm()
    partner = bool(current_app.config.get("WECHATPAY_SP_MCHID"))
    if request.method == "GET":
        form.sub_mchid.data = merchant.wechatpay_sub_mchid
    elif form.validate_on_submit():
        try:
            merchants.set_wechatpay_sub_mchid(
                merchant,
                form.sub_mchid.data or "",
                actor=current_user._get_current_object(),
                reason=form.reason.data or "",
                now=now(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            page = render_template(
                "admin/merchant_wechatpay.html", merchant=merchant, form=form, partner=partner
            )
            return page, 422
        flash(_("Sub-merchant number saved."), "success")
        return redirect(url_for("admin.merchant_detail", merchant_id=merchant.id), code=303)
    return render_template(
        "admin/merchant_wechatpay.html", merchant=merchant, form=form, partner=partner
    )
