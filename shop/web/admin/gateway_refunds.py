"""Admin: money going back through WeChat Pay and Alipay, and the differences the daily
reconciliation found. Every refund the gateway has not
confirmed (waiting, or refused and being retried), and payments that arrived after their order
was cancelled. An admin can send a refund again at once; the retry is audited."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy import select
from wtforms import StringField
from wtforms.validators import Optional

from shop.orders.gateways import flow, providers, reconcile
from shop.orders.models import GatewayRefund, ReconciliationItem
from shop.platform import audit
from shop.platform import db as dbsetup
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.admin import bp
from shop.web.common import now
from shop.web.forms import FlaskForm


@bp.route("/gateway-refunds")
def gateway_refunds():
    open_rows = db.session.execute(
        select(GatewayRefund)
        .where(GatewayRefund.state != "done")
        .order_by(GatewayRefund.created_at)
        .limit(200)
    ).scalars()
    late = db.session.execute(
        select(GatewayRefund)
        .where(GatewayRefund.kind == "late_payment", GatewayRefund.state == "done")
        .order_by(GatewayRefund.done_at.desc())
        .limit(50)
    ).scalars()
    return render_template(
        "admin/gateway_refunds.html", open_rows=list(open_rows), late=list(late), form=FlaskForm()
    )


@bp.route("/gateway-refunds/<int:refund_id>/retry", methods=["POST"])
def gateway_refund_retry(refund_id: int):
    if not FlaskForm().validate_on_submit():
        abort(400)
    refund = db.session.get(GatewayRefund, refund_id)
    if refund is None:
        abort(404)
    adapter = providers.for_app_current().get(refund.provider)
    if adapter is None or refund.state == "done":
        flash(_("This refund cannot be sent from here."), "error")
        return redirect(url_for("admin.gateway_refunds"), code=303)
    before = {"state": refund.state, "attempts": refund.attempts}
    state = flow.send(refund_id, adapter, now=now())
    with dbsetup.writing():
        db.session.rollback()
        refund = db.session.get(GatewayRefund, refund_id)
        audit.record(
            actor=current_user._get_current_object(),
            action="gateway_refund.retry",
            object_type="order",
            object_id=refund.order_id,
            before=before,
            after={"state": refund.state, "attempts": refund.attempts},
            reason=refund.last_error or None,
            now=now(),
        )
        db.session.commit()
    if state == "done":
        flash(_("The refund went through."), "success")
    elif refund.last_error == "wrong_account":
        flash(
            _("WeChat Pay still names another sub-merchant's account for this refund: it is "
              "neither done nor refused. See Reconciliation."),
            "error",
        )  # fmt: skip
    elif state == "pending":
        flash(_("The gateway accepted the refund; it confirms it shortly."), "success")
    elif state == "held":
        flash(
            _("The refund waits for the profit-sharing return first (%(error)s).",
              error=refund.last_error),
            "success",
        )  # fmt: skip
    else:
        flash(
            _("The gateway refused the refund again (%(error)s).", error=refund.last_error), "error"
        )
    return redirect(url_for("admin.gateway_refunds"), code=303)


class ResolveForm(FlaskForm):
    note = StringField(_l("How it was resolved"), validators=[Optional()])


@bp.app_template_global()
def merchant_sub_mchid(order_number: str) -> str:
    """The sub-merchant number the order's payment was made under (a wrong_account
    difference): recorded then, else the merchant's now."""
    return providers.sub_mchid_of_order(order_number)


@bp.route("/reconciliation")
def reconciliation():
    open_items = db.session.execute(
        select(ReconciliationItem)
        .where(ReconciliationItem.resolved_at.is_(None))
        .order_by(ReconciliationItem.day.desc(), ReconciliationItem.id)
        .limit(200)
    ).scalars()
    resolved = db.session.execute(
        select(ReconciliationItem)
        .where(ReconciliationItem.resolved_at.is_not(None))
        .order_by(ReconciliationItem.resolved_at.desc())
        .limit(50)
    ).scalars()
    return render_template(
        "admin/reconciliation.html",
        open_items=list(open_items),
        resolved=list(resolved),
        form=ResolveForm(),
        failed_id=None,
    )


@bp.route("/reconciliation/<int:item_id>/resolve", methods=["POST"])
def reconciliation_resolve(item_id: int):
    item = db.session.get(ReconciliationItem, item_id)
    if item is None:
        abort(404)
    form = ResolveForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        reconcile.resolve(item, form.note.data, actor=current_user._get_current_object(), now=now())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        form.note.errors = [error.message]
        open_items = db.session.execute(
            select(ReconciliationItem).where(ReconciliationItem.resolved_at.is_(None))
        ).scalars()
        return render_template(
            "admin/reconciliation.html",
            open_items=list(open_items),
            resolved=[],
            form=form,
            failed_id=item_id,
        ), 400
    flash(_("Marked as resolved."), "success")
    return redirect(url_for("admin.reconciliation"), code=303)
