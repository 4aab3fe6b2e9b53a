"""Partial refund requests on the admin refunds page: an administrator refunds (or refuses)
one over the merchant's head, with a reason; the service audits it in the same transaction."""

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from shop.money import refunds
from shop.money.models import RefundRequest, RefundStatus
from shop.platform import audit
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db
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
