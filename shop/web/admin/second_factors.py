"""The staff with a second factor, and its reset (a lost phone and lost recovery codes):
another administrator removes it, with a reason kept in the audit log; the person sets it up
again at the next sign-in."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from shop.accounts import totp
from shop.accounts.models import User
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.admin import bp
from shop.web.common import now, show_domain_error
from shop.web.forms import FlaskForm


class ResetForm(FlaskForm):
    reason = StringField(
        _l("Reason (kept in the audit log)"),
        validators=[DataRequired(_l("Say why.")), Length(max=500)],
        render_kw={"autocomplete": "off"},
    )


def _page(forms: dict[int, ResetForm] | None = None, status: int = 200):
    rows = totp.enrolled_users()
    forms = forms or {}
    return render_template(
        "admin/second_factors.html",
        rows=rows,
        forms={user.id: forms.get(user.id) or ResetForm(prefix=f"u{user.id}") for user, _f in rows},
    ), status


@bp.route("/second-factors")
def second_factor_list():
    return _page()


@bp.route("/second-factors/<int:user_id>/reset", methods=["POST"])
def second_factor_reset(user_id: int):
    target = db.session.get(User, user_id)
    if target is None or totp.factor_of(target) is None:
        abort(404)
    form = ResetForm(prefix=f"u{user_id}")
    if form.validate_on_submit():
        try:
            totp.reset(target, actor=current_user._get_current_object(), reason=form.reason.data,
                       now=now())  # fmt: skip
        except DomainError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            db.session.commit()
            flash(
                _("Two-step verification of %(name)s was reset.", name=target.display_name),
                "success",
            )
            return redirect(url_for("admin.second_factor_list"))
    return _page({user_id: form}, 400)
