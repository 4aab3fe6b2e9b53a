"""部分退款 for the merchant: each request on the order page shows what is asked (items,
numbers, amount, shipping, type, reason); the merchant agrees or refuses with a reason. The
money side is shop.money.refunds."""

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from shop.money import refund_views, refunds
from shop.money.models import RefundRequest
from shop.orders import carriers
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.common import now
from shop.web.merchant import bp
from shop.web.merchant.forms import EmptyForm
from shop.web.merchant.orders import load_own_order

LABELS = {
    "requested": _l("Waiting for your answer"),
    "refunded": _l("Refunded"),
    "rejected": _l("Rejected"),
    "withdrawn": _l("Withdrawn by the buyer"),
}


@bp.app_template_global()
def merchant_part_refunds(order) -> list[RefundRequest]:
    """The order's partial refund requests, for the merchant's order page."""
    return refund_views.requests_of(order)


@bp.app_template_global()
def part_carrier_label(code: str) -> str:
    return carriers.label(code)


@bp.app_template_global()
def part_refund_label(status) -> str:
    return str(LABELS.get(str(status), status))


@bp.route("/orders/<int:order_id>/refund-part/<int:part_id>", methods=["GET", "POST"])
def order_refund_part(order_id: int, part_id: int):
    order = load_own_order(order_id)
    refund = db.session.get(RefundRequest, part_id)
    if refund is None or refund.order_id != order.id:
        abort(404)
    form = EmptyForm()
    if request.method == "GET":
        return render_template("merchant/refund_part.html", order=order, refund=refund, form=form)
    if not form.validate_on_submit():
        abort(400)
    decision = request.form.get("decision", "")
    note = request.form.get("note", "")
    try:
        if decision not in ("approve", "reject"):
            raise DomainError(_("Choose to refund or to reject."), "decision")
        refunds.decide(
            refund, decision == "approve", actor=current_user, source="merchant", now=now(),
            note=note,
        )  # fmt: skip
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        db.session.refresh(refund)
        page = render_template(
            "merchant/refund_part.html", order=order, refund=refund, form=form, error=error,
            note=note,
        )  # fmt: skip
        return page, 422
    flash(
        _("Refunded. Its stock is back and its part of the rebate is cancelled.")
        if decision == "approve"
        else _("Refund rejected. The buyer sees your reason."),
        "success",
    )
    return redirect(url_for("merchant.order_detail", order_id=order.id), code=303)
