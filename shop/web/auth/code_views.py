"""Sign-in (and sign-up) by SMS code, and the password reset by SMS code.

Each form has two buttons: "send" (a normal POST: the form comes back with what was typed, a
countdown and, in the demo, the code) and the action itself. Sending checks the limits and
stores the code in one short write, calls the provider outside the write lock, and takes the
code back when the provider fails, so a failed send uses up nothing."""

import logging
import unicodedata

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from shop.accounts import codes, sms
from shop.accounts.phones import mask, normalize_phone
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.teams import teams
from shop.web.auth import bp
from shop.web.auth.forms import CodeSignInForm, PasswordResetForm
from shop.web.auth.views import (
    _after_signin_target,
    _sign_in,
    render_code_signin,
    sms_enabled,
)
from shop.web.common import INVITE_SESSION_KEY, now, safe_next, show_domain_error

log = logging.getLogger("shop.sms")

SEND_FAILED = _l("The text message could not be sent. Please try again later.")


def send_code(raw_phone: str, *, purpose: str, phone: str | None = None) -> dict:
    """Send a code for ``purpose`` to the number typed; returns what the page shows after a
    send (``countdown`` seconds, ``sent_to`` masked, ``demo_code`` in the demo). Raises
    ValidationError (field "phone") for a bad number, a send limit (SendRefused, with
    ``retry_after``) or a provider that failed."""
    phone = phone or normalize_phone(raw_phone)
    provider = sms.provider_for(current_app.config)
    if provider is None:
        raise ValidationError(SEND_FAILED, "phone")
    # The limits are checked and the code stored in one short write (the phone's lock held),
    # committed before the gateway is called: its network time is outside the write lock.
    code = codes.new_code()
    row = codes.reserve_code(phone, code, purpose=purpose, address=request.remote_addr, now=now())
    row_id = row.id
    db.session.commit()
    try:
        provider.send_code(phone, code, purpose)
    except sms.SmsError as error:
        log.warning("SMS to %s failed (%s): %s", mask(phone), provider.name, error)
        codes.release_code(row_id)  # nothing used up: no slot, no valid code
        db.session.commit()
        raise ValidationError(SEND_FAILED, "phone") from None
    except Exception:  # a bug in an adapter: the code is taken back all the same
        codes.release_code(row_id)
        db.session.commit()
        raise
    shown = {
        "countdown": int(current_app.config["SMS_SEND_INTERVAL_SECONDS"]),
        "sent_to": mask(phone),
    }
    if current_app.config.get("DEMO_MODE") and provider.name == "console":
        shown["demo_code"] = code
    return shown


def wants_send(form) -> bool:
    """Whether this POST asks for a code rather than using one. Without JavaScript, Enter in
    the code field submits with the form's first button, "Get code": a form sent that way with
    six digits typed means "use this code" (static/js/sms.js marks its forms ``js=1`` and sends
    Enter with the main button itself)."""
    if request.form.get("action") != "send":
        return False
    typed = "".join(unicodedata.normalize("NFKC", form.code.data or "").split())
    return request.form.get("js") == "1" or not (len(typed) == 6 and typed.isdigit())


def send_step(form, *, purpose: str, phone: str | None = None) -> dict:
    """The "send" button of a form: sends, or puts the reason on the phone field."""
    try:
        return send_code(form.phone.data, purpose=purpose, phone=phone)
    except codes.SendRefused as error:
        db.session.rollback()
        show_domain_error(form, error)
        return {"countdown": min(error.retry_after, 3600)}
    except ValidationError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return {}


def _sms_on():
    if not sms_enabled():
        return redirect(url_for("auth.signin", method="password"))
    return None


@bp.route("/code", methods=["GET", "POST"])
def code_signin():
    if current_user.is_authenticated:
        return redirect(url_for("storefront.home"))
    off = _sms_on()
    if off is not None:
        return off
    if request.method == "GET":
        return redirect(url_for("auth.signin", next=safe_next(request.args.get("next"))))
    form = CodeSignInForm()
    if not form.validate_on_submit():
        return render_code_signin(form)
    if wants_send(form):
        return render_code_signin(form, **send_step(form, purpose="signin"))
    try:
        user, created = codes.sign_in_or_up(form.phone.data, form.code.data, now=now())
    except ValidationError as error:
        db.session.commit()  # a wrong code counts against the code's tries
        show_domain_error(form, error)
        return render_code_signin(form)
    if created:
        # A new account joins the team of the invite it came through (as the sign-up form does).
        teams.bind(user, session.pop(INVITE_SESSION_KEY, None), now=now())
        g.signed_up = True
    _sign_in(user)
    if created:
        flash(
            _(
                "Welcome! Your account is ready. We named you %(name)s: change it on the "
                "“Me” page whenever you like.",
                name=user.display_name,
            ),
            "success",
        )
    return redirect(_after_signin_target(form.next.data))


@bp.route("/reset", methods=["GET", "POST"])
def password_reset():
    off = _sms_on()
    if off is not None:
        return off
    form = PasswordResetForm()
    shown = {}
    if request.method == "GET":
        form.phone.data = session.get("last_phone", "")
    elif form.validate_on_submit():
        if wants_send(form):
            shown = _send_reset(form)
        else:
            done = _reset(form)
            if done is not None:
                return done
    return render_template("auth/reset.html", form=form, **shown)


def _send_reset(form) -> dict:
    try:
        phone = normalize_phone(form.phone.data)
    except ValidationError as error:
        show_domain_error(form, error)
        return {}
    if codes.accounts.find_user_by_account("phone", phone) is None:
        form.phone.errors = [
            _("No account uses this mobile number. Sign in with a code to create one.")
        ]
        return {}
    return send_step(form, purpose="reset", phone=phone)


def _reset(form):
    if not form.new_password.data:
        form.new_password.errors = [_("This field is required.")]
        return None
    try:
        user = codes.reset_password(
            form.phone.data, form.code.data, form.new_password.data, now=now()
        )
    except ValidationError as error:
        db.session.commit()  # a wrong code counts against the code's tries
        show_domain_error(form, error)
        return None
    _sign_in(user)
    flash(_("Your password is reset. Every other device has been signed out."), "success")
    return redirect(url_for("auth.account"))
