"""The account page: profile and menu, the display name, the phone (changed by a code sent to
the new number), the live sessions by device, and signing out the other sessions."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user, login_required

from shop.accounts import accounts, codes
from shop.accounts.devices import device_label
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.web.auth import bp
from shop.web.auth.code_views import send_step, wants_send
from shop.web.auth.forms import DisplayNameForm, EmptyForm, PhoneChangeForm
from shop.web.auth.views import sms_enabled
from shop.web.common import now, show_domain_error


def _sessions():
    user = current_user._get_current_object()
    here = codes.address_hash(request.remote_addr)
    rows = []
    for row in accounts.live_sessions(user):
        rows.append(
            {
                "id": row.id,
                "device": device_label(row.device),
                "created_at": row.created_at,
                "last_seen_at": row.last_seen_at,
                "is_current": row.id == user.session_id,
                "same_network": row.address_hash is not None and row.address_hash == here,
            }
        )
    return rows


def _render(name_form=None, status=200):
    name_form = name_form or DisplayNameForm(formdata=None, display_name=current_user.display_name)
    return render_template(
        "auth/account.html",
        name_form=name_form,
        sessions=_sessions(),
        end_form=EmptyForm(),
        sms_enabled=sms_enabled(),
    ), status


@bp.route("/account")
@login_required
def account():
    return _render()


@bp.route("/account/name", methods=["POST"])
@login_required
def name_change():
    form = DisplayNameForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        try:
            name = accounts.check_display_name(form.display_name.data)
            accounts.check_public_name(name, field="display_name", by_admin=user.is_admin)
        except ValidationError as error:
            show_domain_error(form, error)
        else:
            user.display_name = name
            db.session.commit()
            flash(_("Your display name is now %(name)s.", name=name), "success")
            return redirect(url_for("auth.account"))
    db.session.rollback()
    return _render(form, 200)


@bp.route("/account/sessions/end-others", methods=["POST"])
@login_required
def sessions_end_others():
    form = EmptyForm()
    if form.validate_on_submit():
        ended = codes.end_all_sessions(
            current_user._get_current_object(),
            now=now(),
            keep_token=current_user.session_token,
        )
        db.session.commit()
        flash(
            ngettext(
                "Signed out on %(num)d other device.", "Signed out on %(num)d other devices.", ended
            ),
            "success",
        )
    return redirect(url_for("auth.account"))


@bp.route("/account/phone", methods=["GET", "POST"])
@login_required
def phone_change():
    if not sms_enabled():
        return redirect(url_for("auth.account"))
    form = PhoneChangeForm()
    shown = {}
    user = current_user._get_current_object()
    if form.validate_on_submit():
        if wants_send(form):
            try:
                phone = codes.check_new_phone(user, form.phone.data)
            except ValidationError as error:
                show_domain_error(form, error)
            else:
                shown = send_step(form, purpose="change_phone", phone=phone)
        else:
            try:
                phone = codes.change_phone(user, form.phone.data, form.code.data, now=now())
            except ValidationError as error:
                db.session.commit()  # a wrong code counts against the code's tries
                show_domain_error(form, error)
            else:
                db.session.commit()
                flash(_("Your mobile number is now %(phone)s.", phone=phone), "success")
                return redirect(url_for("auth.account"))
    return render_template("auth/phone.html", form=form, **shown)
