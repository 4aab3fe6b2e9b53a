"""A sharer asks why an order is not theirs (by its number, or from a click in a link's
audit), reads the answer at once, and may send it on to the admins with a note."""

from datetime import timedelta

from flask import abort, current_app, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.money import appeals
from shop.money.models import Appeal
from shop.platform.errors import Conflict, DomainError
from shop.platform.extensions import db
from shop.platform.inputs import parse_id
from shop.sharing import links
from shop.sharing.models import Click
from shop.web.common import now, show_domain_error
from shop.web.sharer import bp
from shop.web.sharer.forms import AppealAskForm, AppealSubmitForm


def _window() -> timedelta:
    return timedelta(days=current_app.config["ATTRIBUTION_WINDOW_DAYS"])


def _load_own_click(raw) -> Click | None:
    """A click on one of the sharer's own links, or None when none was named; 404 for
    anyone else's (the same as for a click that does not exist)."""
    if raw in (None, ""):
        return None
    click_id = parse_id(raw)
    click = db.session.get(Click, click_id) if click_id else None
    if click is None or click.link.shop_id != g.shop.id:
        abort(404)
    return click


def _load_own_appeal(appeal_id: int) -> Appeal:
    appeal = db.session.get(Appeal, appeal_id)
    if appeal is None or appeal.sharer_id != current_user.id:
        abort(404)
    return appeal


def _render_ask(form: AppealAskForm, click: Click | None, status: int = 200):
    return render_template(
        "sharer/appeal_new.html",
        form=form,
        click=click,
        channel=links.channel_name(click.link) if click is not None else "",
        history=appeals.mine(current_user._get_current_object()),
        status_labels=appeals.STATUS_LABELS,
        window_days=current_app.config["ATTRIBUTION_WINDOW_DAYS"],
    ), status


@bp.route("/appeals", methods=["GET"])
def appeal_new():
    form = AppealAskForm()
    click = _load_own_click(request.args.get("click"))
    if click is not None:
        form.click.data = str(click.id)
    form.number.data = (request.args.get("number") or "")[:40]
    return _render_ask(form, click)


@bp.route("/appeals", methods=["POST"])
def appeal_ask():
    form = AppealAskForm()
    click = _load_own_click(form.click.data)
    if not form.validate_on_submit():
        return _render_ask(form, click, 422)
    config = current_app.config
    try:
        appeal = appeals.ask(
            current_user._get_current_object(),
            number=form.number.data or "",
            click=click,
            limits=appeals.Limits(config["APPEAL_LIMIT_PER_HOUR"], config["APPEAL_LIMIT_PER_DAY"]),
            window=_window(),
            now=now(),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return _render_ask(form, click, 429 if isinstance(error, Conflict) else 422)
    return redirect(url_for("sharer.appeal_detail", appeal_id=appeal.id), code=303)


def _render_detail(appeal: Appeal, form: AppealSubmitForm | None = None, status: int = 200):
    return render_template(
        "sharer/appeal.html",
        appeal=appeal,
        answer=appeals.answer_text(
            appeal, window_days=current_app.config["ATTRIBUTION_WINDOW_DAYS"]
        ),
        form=form or AppealSubmitForm(),
        can_submit=appeal.status == "answered" and appeal.answer in appeals.SUBMITTABLE,
        status_labels=appeals.STATUS_LABELS,
    ), status


@bp.route("/appeals/<int:appeal_id>")
def appeal_detail(appeal_id: int):
    return _render_detail(_load_own_appeal(appeal_id))


@bp.route("/appeals/<int:appeal_id>/submit", methods=["POST"])
def appeal_submit(appeal_id: int):
    appeal = _load_own_appeal(appeal_id)
    form = AppealSubmitForm()
    if not form.validate_on_submit():
        return _render_detail(appeal, form, 422)
    try:
        appeals.submit(
            appeal, form.note.data or "", actor=current_user._get_current_object(), now=now()
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return _render_detail(_load_own_appeal(appeal_id), form, 422)
    flash(_("Sent to the administrators. Their decision will show here."), "success")
    return redirect(url_for("sharer.appeal_detail", appeal_id=appeal.id), code=303)
