"""部分退款 for the buyer: choose items (and how many of each) of a paid order, see the amount,
lower it if agreed with the merchant, and send; withdraw a request still open. The money side
is shop.money.refunds; bad input comes back on the same page with everything kept."""

import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from shop.money import refund_returns, refunds
from shop.money.models import RefundRequest
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web import refund_form
from shop.web.common import now
from shop.web.forms import FlaskForm
from shop.web.storefront import bp
from shop.web.storefront.checkout import _own_order


def _page(order, *, key, values=None, error=None, status=200):
    return (
        render_template(
            "storefront/refund_part.html",
            order=order,
            key=key,
            values=values or {},
            error=error,
            form=FlaskForm(),
            **refund_form.page_values(order),
        ),
        status,
    )


@bp.route("/orders/<int:order_id>/refund-part", methods=["GET", "POST"])
@login_required
def order_refund_part(order_id: int):
    order = _own_order(order_id)
    if request.method == "GET":
        if order.status not in refunds.OPEN_FROM:
            flash(_("Part of this order cannot be refunded now."), "error")
            return redirect(url_for("storefront.order_detail", order_id=order.id))
        return _page(order, key=secrets.token_hex(16))
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    refund, values, key, error = refund_form.submit(
        order, request.form, actor=current_user, now=now()
    )
    if error is not None:
        return _page(order, key=key, values=values, error=error, status=422)
    flash(
        _("Refund of ¥%(amount)s requested. The merchant will decide.",
          amount=f"{refund.amount_cents // 100}.{refund.amount_cents % 100:02d}"),
        "success",
    )  # fmt: skip
    return redirect(url_for("storefront.order_detail", order_id=order.id, _anchor="refunds"))


@bp.route("/orders/<int:order_id>/refund-part/<int:part_id>/withdraw", methods=["POST"])
@login_required
def order_refund_part_withdraw(order_id: int, part_id: int):
    order = _own_order(order_id)
    refund = db.session.get(RefundRequest, part_id)
    if refund is None or refund.order_id != order.id:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        refunds.withdraw(refund, actor=current_user, now=now())
        db.session.commit()
        flash(_("Refund request withdrawn."), "success")
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    return redirect(url_for("storefront.order_detail", order_id=order.id, _anchor="refunds"))


@bp.route("/orders/<int:order_id>/refund-part/<int:part_id>/return", methods=["POST"])
@login_required
def order_refund_part_return(order_id: int, part_id: int):
    """退货退款 of some items: the buyer's return carrier and tracking number."""
    order = _own_order(order_id)
    refund = db.session.get(RefundRequest, part_id)
    if refund is None or refund.order_id != order.id:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        refund_returns.enter_return_tracking(
            refund, request.form.get("carrier", ""), request.form.get("tracking", ""),
            actor=current_user, now=now(),
        )  # fmt: skip
        db.session.commit()
        flash(_("Return tracking number saved. The merchant sees it."), "success")
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    return redirect(url_for("storefront.order_detail", order_id=order.id, _anchor="refunds"))
