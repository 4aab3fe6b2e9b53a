"""Partial refund requests on the admin refunds page: an administrator refunds (or refuses)
one over the merchant's head, with a reason; the service audits it in the same transaction.
An administrator can also refund some items of an order directly (/admin/refund-part finds it
by number; /admin/orders/<id>/refund-part is the buyer's form, refunded at once and audited).
The blueprint's guard lets only administrators in; forms carry CSRF tokens."""

import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from shop.money import refunds
from shop.money.models import RefundRequest, RefundStatus
from shop.orders.models import Order
from shop.platform import audit
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db
from shop.web import refund_form
from shop.web.admin import bp
from shop.web.common import now
from shop.web.forms import FlaskForm


@bp.app_template_global()
def open_part_refunds() -> list[tuple[RefundRequest, bool]]:
    """Partial refund requests waiting for a merchant, escalated ones first (the merchant
    left them unanswered past ``REFUND_ESCALATE_DAYS``: `flask sweep-orders` records when),
    then oldest first, each with whether it was escalated."""
    found = db.session.execute(
        select(RefundRequest)
        .where(RefundRequest.status == RefundStatus.REQUESTED)
        .order_by(
            RefundRequest.escalated_at.is_(None).asc(), RefundRequest.requested_at, RefundRequest.id
        )
        .limit(100)
    ).scalars()
    return [(part, part.escalated_at is not None) for part in found]


@bp.route("/refund-parts/<int:part_id>", methods=["POST"])
def part_refund_decide(part_id: int):
    refund = db.session.get(RefundRequest, part_id)
    if refund is None:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    approve = request.form.get("decision") == "approve"
    reason = " ".join((request.form.get("reason") or "").split())
    actor = current_user._get_current_object()
    try:
        if not reason:
            raise ValidationError(_("Say why, in at most 200 characters."), "reason")
        refunds.decide(refund, approve, actor=actor, source="admin", now=now(), note=reason)
        if not approve:
            audit.record(
                actor=actor, action="order.refund_part_reject", object_type="order",
                object_id=refund.order_id, before={"refund": refund.seq},
                after={"status": "rejected"}, reason=reason, now=now(),
            )  # fmt: skip
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    else:
        flash(_("Order %(number)s: refund decided.", number=refund.order.number), "success")
    return redirect(url_for("admin.refund_list", _anchor="part-refunds"), code=303)


# --- an administrator starts a partial refund ---------------------------------------------


def _order_page(order: Order, *, key: str, values=None, error=None, status=200):
    return (
        render_template(
            "admin/refund_part.html",
            order=order,
            key=key,
            values=values or {},
            error=error,
            form=FlaskForm(),
            **refund_form.page_values(order),
        ),
        status,
    )


@bp.route("/refund-part")
def order_part_lookup():
    """Find the order to refund part of by its number (the buyer quotes it to support)."""
    number = "".join((request.args.get("number") or "").split())[:24]
    if not number:
        return render_template("admin/refund_part_lookup.html", number="", error=None)
    order = db.session.execute(select(Order).where(Order.number == number)).scalar_one_or_none()
    if order is None:
        error = _("No order has the number %(number)s.", number=number)
        return render_template("admin/refund_part_lookup.html", number=number, error=error), 404
    return redirect(url_for("admin.order_refund_part", order_id=order.id), code=303)


@bp.route("/orders/<int:order_id>/refund-part", methods=["GET", "POST"])
def order_refund_part(order_id: int):
    """Refund some items of an order at once, over the merchant's head: the buyer's form
    with a reason required, the refund audited (``order.refund_part``) by the service in the
    same transaction, its money sent through the order's gateway."""
    order = db.session.get(Order, order_id)
    if order is None:
        abort(404)
    if request.method == "GET":
        if order.status not in refunds.OPEN_FROM:
            flash(_("Part of this order cannot be refunded now."), "error")
            return redirect(url_for("admin.refund_list"), code=303)
        return _order_page(order, key=secrets.token_hex(16))
    if not FlaskForm().validate_on_submit():
        abort(400)
    refund, values, key, error = refund_form.submit(
        order,
        request.form,
        actor=current_user._get_current_object(),
        now=now(),
        source="admin",
    )
    if error is not None:
        return _order_page(order, key=key, values=values, error=error, status=422)
    flash(
        _("Order %(number)s: ¥%(amount)s refunded.", number=order.number,
          amount=f"{refund.amount_cents // 100}.{refund.amount_cents % 100:02d}"),
        "success",
    )  # fmt: skip
    return redirect(url_for("admin.refund_list"), code=303)
