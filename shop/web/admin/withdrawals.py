"""Admin: the merchant withdrawal queue (pay with a reference, or reject with a reason) and
a merchant's platform fee rate. Every decision is audited by the service."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import Length, Optional

from shop.catalog.models import Merchant
from shop.catalog.products import format_bps
from shop.money import merchant_ledger, merchant_payouts, payouts
from shop.money.models import MerchantWithdrawal
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.admin import bp, fees
from shop.web.admin.forms import PayoutDecisionForm
from shop.web.common import confirm_first, money, now, show_domain_error
from shop.web.forms import FlaskForm


class WithdrawalDecisionForm(PayoutDecisionForm):
    reason = StringField(
        _l("Reason (shown to the merchant)"), validators=[Optional(), Length(max=200)]
    )


class FeeForm(FlaskForm):
    fee = StringField(
        _l("Platform fee, in percent"),
        validators=[Optional(), Length(max=8)],
        description=_l("Empty: the product's category's rate (0 when it has none)."),
        render_kw={"inputmode": "decimal", "autocomplete": "off"},
    )
    reason = StringField(
        _l("Reason (kept in the audit log)"), validators=[Optional(), Length(max=200)]
    )


def _page(form=None, failed_id=None, status=200):
    queue = merchant_payouts.queue()
    return render_template(
        "admin/withdrawals.html",
        queue=queue,
        balances={w.merchant_id: merchant_ledger.balances(w.merchant_id) for w in queue},
        form=WithdrawalDecisionForm(),
        failed_form=form,
        failed_id=failed_id,
        method_labels=payouts.METHOD_LABELS,
        account_parts=merchant_payouts.account_parts,
    ), status


@bp.route("/withdrawals")
def withdrawal_list():
    return _page()


@bp.route("/withdrawals/<int:withdrawal_id>/decide", methods=["POST"])
def withdrawal_decide(withdrawal_id: int):
    withdrawal = db.session.get(MerchantWithdrawal, withdrawal_id)
    if withdrawal is None:
        abort(404)
    form = WithdrawalDecisionForm()
    if not form.validate_on_submit():
        return _page(form, withdrawal.id, 422)
    approve = request.form.get("decision") == "pay"
    name = withdrawal.merchant.name
    amount = money(withdrawal.amount_cents)
    if approve:
        page = confirm_first(
            _("Mark ¥%(amount)s to %(name)s as paid?", amount=amount, name=name),
            _("Mark as paid"),
            url_for("admin.withdrawal_list"),
            _("Only after the money has really been sent."),
        )
        if page is not None:
            return page
    try:
        merchant_payouts.decide(
            withdrawal,
            approve,
            actor=current_user._get_current_object(),
            reference=form.reference.data or "",
            reason=form.reason.data or "",
            now=now(),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return _page(form, withdrawal.id, 422)
    if approve:
        flash(_("Paid ¥%(amount)s to %(name)s.", amount=amount, name=name), "success")
    else:
        flash(_("Rejected; ¥%(amount)s is back in %(name)s's balance.", amount=amount,
                name=name), "success")  # fmt: skip
    return redirect(url_for("admin.withdrawal_list"), code=303)


@bp.route("/merchants/<int:merchant_id>/fee", methods=["GET", "POST"])
def merchant_fee(merchant_id: int):
    merchant = db.session.get(Merchant, merchant_id)
    if merchant is None:
        abort(404)
    form = FeeForm()
    if request.method == "GET":
        form.fee.data = "" if merchant.fee_bps is None else format_bps(merchant.fee_bps)
    elif form.validate_on_submit():
        try:
            bps = merchant_payouts.parse_bps(form.fee.data)
            merchant_payouts.set_fee(
                merchant,
                bps,
                actor=current_user._get_current_object(),
                reason=form.reason.data or "",
                now=now(),
                override_bps=fees.override_in_force(),
            )
            db.session.commit()
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
            return render_template("admin/merchant_fee.html", merchant=merchant, form=form), 422
        flash(_("Platform fee saved."), "success")
        return redirect(url_for("admin.merchant_detail", merchant_id=merchant.id), code=303)
    return render_template("admin/merchant_fee.html", merchant=merchant, form=form)
