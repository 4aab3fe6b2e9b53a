"""Admin money pages: the payout queue (pay with a reference, or reject with a reason) and
refund disputes (an administrator may refund over the merchant's head). Every decision is
audited by the service in the same transaction."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from shop.insights import queues as admin_queries
from shop.money import earnings, fraud, ledger, payouts
from shop.money.models import Payout
from shop.orders import carriers, states
from shop.orders.models import Order
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.admin import bp, withdrawal_queue
from shop.web.admin.forms import PayoutDecisionForm, RefundOverrideForm
from shop.web.common import now

#: Sharers' payouts in the one admin withdrawal queue (shop.web.admin.withdrawal_queue).
PAYOUTS = withdrawal_queue.Audience(
    key="payout",
    model=Payout,
    form=PayoutDecisionForm,
    list_endpoint="admin.payout_list",
    decide_endpoint="admin.payout_decide",
    queue=admin_queries.payout_queue,
    decide=payouts.decide,
    name=lambda payout: payout.user.display_name,
    account=lambda p: (p.method, p.account_name, p.bank_name, p.account_number),
    balances=lambda payout: ledger.balances(payout.user_id),
    taken_attr="paid_out_cents",
    title=_l("Payouts"),
    heading=_l("Payouts waiting"),
    empty=_l("No payout requests are waiting."),
    taken_before=_l("paid out before"),
    recent=admin_queries.recent_payout_decisions,
    held=lambda payout: fraud.is_held(payout.user_id),
    hold_url=lambda payout: url_for("admin.flag_list", sharer=payout.user_id),
    reason="reject_reason",
)


@bp.route("/payouts")
def payout_list():
    return withdrawal_queue.queue_page(PAYOUTS)


@bp.route("/payouts/<int:payout_id>/decide", methods=["POST"])
def payout_decide(payout_id: int):
    return withdrawal_queue.decide_request(PAYOUTS, payout_id)


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
