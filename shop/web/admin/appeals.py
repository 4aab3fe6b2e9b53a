"""Appeals sent on by sharers: the evidence (the buyer's clicks with times, the rule, the
other candidates anonymised) and the decision; the service audits it and posts the
adjustment when upheld."""

from datetime import timedelta

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.catalog.products import parse_yuan
from shop.money import appeal_evidence, appeals, earnings
from shop.money.models import Appeal
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.admin import bp
from shop.web.admin.forms import AppealDecisionForm
from shop.web.common import money, now, show_domain_error


@bp.route("/appeals")
def appeal_list():
    return render_template(
        "admin/appeals.html", queue=appeals.queue(), status_labels=appeals.STATUS_LABELS
    )


def _load(appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None:
        abort(404)
    return appeal


def _render(appeal: Appeal, form: AppealDecisionForm | None = None, status: int = 200):
    days = current_app.config["ATTRIBUTION_WINDOW_DAYS"]
    if form is None:
        form = AppealDecisionForm()
        suggested = appeals.suggested_cents(appeal)
        form.amount.data = money(suggested) if suggested else ""
    return render_template(
        "admin/appeal_detail.html",
        appeal=appeal,
        answer=appeals.answer_text(appeal, window_days=days),
        evidence=appeal_evidence.evidence(appeal, window=timedelta(days=days)),
        reason_label=earnings.reason_label,
        form=form,
        status_labels=appeals.STATUS_LABELS,
    ), status


@bp.route("/appeals/<int:appeal_id>")
def appeal_detail(appeal_id: int):
    return _render(_load(appeal_id))


@bp.route("/appeals/<int:appeal_id>/decide", methods=["POST"])
def appeal_decide(appeal_id: int):
    appeal = _load(appeal_id)
    form = AppealDecisionForm()
    if not form.validate_on_submit():
        return _render(appeal, form, 422)
    uphold = request.form.get("decision") == "uphold"
    try:
        amount = parse_yuan(form.amount.data or "", "amount") if uphold else 0
        appeals.decide(
            appeal,
            uphold,
            actor=current_user._get_current_object(),
            reason=form.reason.data or "",
            amount_cents=amount,
            now=now(),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return _render(_load(appeal_id), form, 422)
    if uphold:
        flash(_("Upheld: ¥%(amount)s added to the sharer's balance.",
                amount=money(appeal.adjustment_cents)), "success")  # fmt: skip
    else:
        flash(_("Rejected; the sharer sees your reason."), "success")
    return redirect(url_for("admin.appeal_list"), code=303)
