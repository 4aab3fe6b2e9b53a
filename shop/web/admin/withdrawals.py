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
from shop.money import merchant_ledger, merchant_payouts
from shop.money.models import MerchantWithdrawal
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.admin import bp, fees, withdrawal_queue
from shop.web.admin.forms import PayoutDecisionForm
from shop.web.common import now, show_domain_error
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


#: Merchants' withdrawals in the one admin withdrawal queue (shop.web.admin.withdrawal_queue).
WITHDRAWALS = withdrawal_queue.Audience(
    key="withdrawal",
    model=MerchantWithdrawal,
    form=WithdrawalDecisionForm,
    list_endpoint="admin.withdrawal_list",
    decide_endpoint="admin.withdrawal_decide",
    queue=merchant_payouts.queue,
    decide=merchant_payouts.decide,
    name=lambda withdrawal: withdrawal.merchant.name,
    account=merchant_payouts.account_parts,
    balances=lambda withdrawal: merchant_ledger.balances(withdrawal.merchant_id),
    taken_attr="withdrawn_cents",
    title=_l("Merchant withdrawals"),
    heading=_l("Merchant withdrawals waiting"),
    empty=_l("No withdrawal requests are waiting."),
    taken_before=_l("withdrawn before"),
)


@bp.route("/withdrawals")
def withdrawal_list():
    return withdrawal_queue.queue_page(WITHDRAWALS)


@bp.route("/withdrawals/<int:withdrawal_id>/decide", methods=["POST"])
def withdrawal_decide(withdrawal_id: int):
    return withdrawal_queue.decide_request(WITHDRAWALS, withdrawal_id)


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
