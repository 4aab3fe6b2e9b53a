"""/admin/teams: sharers who lead a team, their members and settled overrides, and the switch
that stops (with a reason the sharer sees) or allows again a sharer's overrides. Audited by
the service in the same transaction."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.accounts.models import User
from shop.insights import teams as team_numbers
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.teams import teams
from shop.web.admin import bp
from shop.web.admin.forms import TeamOverridesForm
from shop.web.common import now, show_domain_error


def _teams_page(form: TeamOverridesForm | None = None, failed_id: int | None = None,
                status: int = 200):  # fmt: skip
    config = current_app.config
    return render_template(
        "admin/teams.html",
        teams=team_numbers.teams(),
        form=TeamOverridesForm(),
        failed_form=form,
        failed_id=failed_id,
        rate=teams.effective_rate(config["TEAM_OVERRIDE_BPS"], config["TEAM_OVERRIDE_MAX_BPS"]),
        max_rate=config["TEAM_OVERRIDE_MAX_BPS"],
    ), status


@bp.route("/teams")
def team_list():
    return _teams_page()


@bp.route("/teams/<int:user_id>/overrides", methods=["POST"])
def team_overrides_set(user_id: int):
    leader = db.session.get(User, user_id)
    if leader is None:
        abort(404)
    form = TeamOverridesForm()
    if not form.validate_on_submit():
        return _teams_page(form, leader.id, 422)
    stop = request.form.get("decision") == "stop"
    try:
        teams.set_overrides(
            leader,
            disabled=stop,
            reason=form.reason.data or "",
            actor=current_user._get_current_object(),
            now=now(),
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return _teams_page(form, leader.id, 422)
    name = leader.display_name
    if stop:
        flash(_("%(name)s's team overrides are stopped for new orders.", name=name), "success")
    else:
        flash(_("%(name)s's team overrides are allowed again.", name=name), "success")
    return redirect(url_for("admin.team_list", _anchor=f"team-{leader.id}"), code=303)
