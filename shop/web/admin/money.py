"""Admin money pages: the payout queue (pay with a reference, or reject with a reason) and
refund disputes (an administrator may refund over the merchant's head). Every decision is
audited by the service in the same transaction."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.insights import queues as admin_queries
from shop.money import earnings, fraud, ledger, payouts
from shop.money.models import Payout
from shop.orders import carriers, states
from shop.orders.models import Order
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.admin import bp
from shop.web.admin.forms import PayoutDecisionForm, RefundOverrideForm
from shop.web.common import confirm_first, money, now, show_domain_error


def _payouts_page(form: PayoutDecisionForm | None = None, failed_id: int | None = None,
                  status: int = 200):  # fmt: skip
    queue = admin_queries.payout_queue()
    return render_template(
        "admin/payouts.html",
        queue=queue,
        balances={p.user_id: ledger.balances(p.user_id) for p in queue},
        held={p.user_id for p in queue if fraud.is_held(p.user_id)},
        recent=admin_queries.recent_payout_decisions(),
        form=PayoutDecisionForm(),
        failed_form=form,
        failed_id=failed_id,
        method_labels=payouts.METHOD_LABELS,
        status_labels=payouts.STATUS_LABELS,
        masked=payouts.masked,
    ), status


@bp.route("/payouts")
def payout_list():
    return _payouts_page()


@bp.route("/payouts/<int:payout_id>/decide", methods=["POST"])
def payout_decide(payout_id: int):
    payout = db.session.get(Payout, payout_id)
    if payout is None:
        abort(404)
    form = PayoutDecisionForm()
    if not form.validate_on_submit():
        return _payouts_page(form, payout.id, 422)
    approve = request.form.get("decision") == "pay"
    if approve:
        page = confirm_first(
            _(
                "Mark ¥%(amount)s to %(name)s as paid?",
                amount=money(payout.amount_cents),
                name=payout.user.display_name,
            ),
            _("Mark as paid"),
            url_for("admin.payout_list"),
            _("Only after the money has really been sent."),
        )
        if page is not None:
            return page
    try:
        payouts.decide(
            payout,
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
        return _payouts_page(form, payout.id, 422)
    name = payout.user.display_name
    if approve:
        flash(_("Paid ¥%(amount)s to %(name)s.", amount=money(payout.amount_cents), name=name),
              "success")  # fmt: skip
    else:
        flash(_("Rejected; ¥%(amount)s is back in %(name)s's balance.",
                amount=money(payout.amount_cents), name=name), "success")  # fmt: skip
    return redirect(url_for("admin.payout_list"), code=303)


@bp.route("/refunds")
def refund_list():
    rows = admin_queries.refund_disputes()
    return render_template(
        "admin/refunds.html",
        rows=[(o, earnings.merchant_cost(o)) for o in rows],
        form=RefundOverrideForm(),
        carrier_label=carriers.label,
    )


@bp.route("/orders/<int:order_id>/refund", methods=["POST"])
def order_refund(order_id: int):
    order = db.session.get(Order, order_id)
    if order is None:
        abort(404)
    form = RefundOverrideForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        states.refund_by_admin(
            order, form.reason.data or "", actor=current_user._get_current_object(), now=now()
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(_("Order %(number)s refunded.", number=order.number), "success")
    return redirect(url_for("admin.refund_list"), code=303)
