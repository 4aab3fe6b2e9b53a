"""The second step of a staff sign-in (TOTP or a recovery code), setting it up, and new
recovery codes.

Between the password and the code the browser is NOT signed in: the Flask session holds only
a pending marker (user id, the user's ``password_changed_at``, an expiry of
SECOND_FACTOR_PENDING_SECONDS and where to go next). ``gate`` is called by the one function
every sign-in goes through (``views._sign_in``); when the user needs a second step it sets the
marker and answers with a redirect to the code page (or, for an administrator who must but
has not set it up, to the set-up page) instead of signing in."""

import time

from flask import (
    abort,
    current_app,
    flash,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from shop.accounts import totp
from shop.accounts.models import User
from shop.catalog import merchants
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db, limiter
from shop.web.auth import bp
from shop.web.common import SESSIONLESS_ENDPOINTS, now, safe_next, show_domain_error
from shop.web.forms import FlaskForm

PENDING_KEY = "second_step"
#: Endpoints an administrator who must set up the second factor may still reach.
SETUP_ALLOWED = frozenset(
    {
        "static",
        "auth.second_factor_setup",
        "auth.second_factor_start",
        "auth.signout",
        "auth.language_set",
    }
)


class CodeForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[DataRequired(_l("Enter the code.")), Length(max=20)],
        render_kw={
            "autocomplete": "one-time-code",
            "inputmode": "text",
            "autocapitalize": "off",
            "spellcheck": "false",
        },
        description=_l("6 digits from your authenticator app, or one of your recovery codes."),
    )


class SetupCodeForm(FlaskForm):
    code = StringField(
        _l("Code from the app"),
        validators=[DataRequired(_l("Enter the code.")), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
        description=_l("The 6 digits the app shows for this account."),
    )


# --- the pending marker ---------------------------------------------------------------------


def admins_required() -> bool:
    return bool(current_app.config["STAFF_TOTP_REQUIRED"])


def may_enrol(user: User) -> bool:
    """Staff may set up a second factor: administrators and merchants."""
    return user.is_admin or merchants.merchant_of(user) is not None


@bp.app_template_global()
def second_factor_offered() -> bool:
    """Whether the account page links to the second factor: staff only (or anyone who has it)."""
    if not current_user.is_authenticated:
        return False
    user = current_user._get_current_object()
    return may_enrol(user) or totp.is_enrolled(user)


def gate(user: User, *, next_target: str | None = None) -> None:
    """Called before a sign-in completes. Returns when no second step is needed; otherwise
    commits what the sign-in wrote so far, leaves the browser signed out with a pending marker
    and aborts with a redirect to the second step."""
    if not totp.required_for(user, admins_required=admins_required()):
        return
    db.session.commit()
    target = safe_next(next_target or request.form.get("next") or request.args.get("next"))
    session[PENDING_KEY] = {
        "uid": user.id,
        "pca": user.password_changed_at.isoformat(),
        "exp": int(time.time()) + int(current_app.config["SECOND_FACTOR_PENDING_SECONDS"]),
        "next": target,
    }
    endpoint = "auth.second_factor_verify" if totp.is_enrolled(user) else "auth.second_factor_setup"
    abort(redirect(url_for(endpoint)))


def pending_user() -> User | None:
    """The user whose password was accepted and who owes the second step, or None (no
    marker, expired, or the password changed since)."""
    marker = session.get(PENDING_KEY)
    if not isinstance(marker, dict) or int(marker.get("exp", 0)) < time.time():
        return None
    user = db.session.get(User, marker.get("uid"))
    if user is None or user.password_changed_at.isoformat() != marker.get("pca"):
        return None
    return user


def _finish_pending(user: User) -> str:
    """Complete the sign-in of the pending ``user``; returns where to go."""
    from shop.web.auth.views import _after_signin_target, _sign_in

    target = _after_signin_target(session.pop(PENDING_KEY, {}).get("next"))
    _sign_in(user, second_factor_checked=True)
    return target


def _key() -> str:
    marker = session.get(PENDING_KEY) or {}
    uid = getattr(current_user, "id", None) or marker.get("uid") or request.remote_addr
    return f"second-factor:{uid}"


#: Wrong codes per account, wherever typed (SECOND_FACTOR_LIMIT_PER_ACCOUNT); a view sets
#: ``g.code_failed`` when the code was wrong.
code_limit = limiter.shared_limit(
    lambda: current_app.config["SECOND_FACTOR_LIMIT_PER_ACCOUNT"],
    scope="second-factor",
    key_func=_key,
    methods=["POST"],
    deduct_when=lambda _response: bool(g.get("code_failed")),
)


def _expired():
    session.pop(PENDING_KEY, None)
    flash(_("The sign-in took too long or was interrupted. Please sign in again."), "info")
    return redirect(url_for("auth.signin"))


# --- the second step ------------------------------------------------------------------------


@bp.route("/second-factor", methods=["GET", "POST"])
@code_limit
def second_factor_verify():
    user = pending_user()
    if user is None:
        return _expired()
    if not totp.is_enrolled(user):
        return redirect(url_for("auth.second_factor_setup"))
    form = CodeForm()
    if form.validate_on_submit():
        try:
            kind = totp.verify(user, form.code.data, now=now())
        except ValidationError as error:
            db.session.rollback()
            g.code_failed = True
            show_domain_error(form, error)
        else:
            left = totp.unused_recovery_codes(user) if kind == "recovery" else None
            target = _finish_pending(user)
            if left is not None:
                flash(
                    _(
                        "You used a recovery code; %(n)d left. Make new ones in your account.",
                        n=left,
                    ),
                    "info",
                )
            return redirect(target)
    return render_template("auth/second_factor.html", form=form)


# --- setting it up --------------------------------------------------------------------------


def _subject() -> tuple[User | None, bool]:
    """Who is setting up the second factor: the pending sign-in's user (forced, not signed in
    yet) or the signed-in staff member; and whether it is the pending one."""
    user = pending_user()
    if user is not None:
        return user, True
    if current_user.is_authenticated and may_enrol(current_user):
        return current_user._get_current_object(), False
    return None, False


@bp.route("/second-factor/setup", methods=["GET", "POST"])
@code_limit
def second_factor_setup():
    user, pending = _subject()
    if user is None:
        if current_user.is_authenticated:
            abort(403)
        return _expired()
    if totp.is_enrolled(user):
        return redirect(
            url_for("auth.second_factor_manage" if not pending else "auth.second_factor_verify")
        )
    factor = totp.factor_of(user)
    form = SetupCodeForm()
    if factor is not None and form.validate_on_submit():
        try:
            codes = totp.confirm_enrolment(user, form.code.data, now=now())
        except ValidationError as error:
            db.session.rollback()
            g.code_failed = True
            show_domain_error(form, error)
            factor = totp.factor_of(user)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("auth.second_factor_setup"))
        else:
            if pending:
                target = _finish_pending(user)
            else:
                db.session.commit()
                target = url_for("auth.second_factor_manage")
            return _codes_page(codes, target, first=True)
    context = {"form": form, "factor": factor, "pending": pending, "user": user}
    if factor is not None:
        uri = totp.provisioning_uri(user, factor, issuer=current_app.config["STAFF_TOTP_ISSUER"])
        context |= {"qr": totp.qr_data_uri(uri), "secret": _grouped(factor.secret)}
    response = make_response(render_template("auth/second_factor_setup.html", **context))
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/second-factor/setup/start", methods=["POST"])
def second_factor_start():
    user, _pending = _subject()
    if user is None:
        return _expired()
    form = FlaskForm()
    if form.validate_on_submit():
        try:
            totp.begin_enrolment(user, now=now())
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            db.session.commit()
    return redirect(url_for("auth.second_factor_setup"))


@bp.route("/second-factor/cancel", methods=["POST"])
def second_factor_cancel():
    """Give up a sign-in waiting for its second step (the browser was never signed in)."""
    if FlaskForm().validate_on_submit():
        session.pop(PENDING_KEY, None)
    return redirect(url_for("auth.signin"))


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _codes_page(codes: list[str], target: str, *, first: bool):
    """The recovery codes, shown this once (never stored in clear, never cached)."""
    response = make_response(
        render_template("auth/recovery_codes.html", codes=codes, target=target, first=first)
    )
    response.headers["Cache-Control"] = "no-store"
    return response


# --- managing it ----------------------------------------------------------------------------


@bp.route("/second-factor/manage")
def second_factor_manage():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.signin", next=request.path))
    user = current_user._get_current_object()
    return render_template(
        "auth/second_factor_manage.html",
        enrolled=totp.is_enrolled(user),
        may_enrol=may_enrol(user),
        required=totp.required_for(user, admins_required=admins_required()),
        unused=totp.unused_recovery_codes(user),
        form=SetupCodeForm(),
    )


@bp.route("/second-factor/recovery-codes", methods=["POST"])
@code_limit
def second_factor_recovery_codes():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.signin"))
    user = current_user._get_current_object()
    form = SetupCodeForm()
    if form.validate_on_submit():
        try:
            codes = totp.regenerate_recovery_codes(user, form.code.data, now=now())
        except ValidationError as error:
            db.session.rollback()
            g.code_failed = True
            show_domain_error(form, error)
        except DomainError as error:
            db.session.rollback()
            flash(error.message, "error")
            return redirect(url_for("auth.second_factor_manage"))
        else:
            db.session.commit()
            return _codes_page(codes, url_for("auth.second_factor_manage"), first=False)
    return render_template(
        "auth/second_factor_manage.html",
        enrolled=True,
        may_enrol=True,
        required=True,
        unused=totp.unused_recovery_codes(user),
        form=form,
    ), 200


def too_many(message: str):
    """The page of a second-factor form whose limit was reached, with the wait."""
    if request.endpoint == "auth.second_factor_verify":
        return render_template("auth/second_factor.html", form=CodeForm(), form_error=message)
    return render_template("auth/message.html", title=_("Too many wrong codes"), message=message)


@bp.before_app_request
def _setup_first():
    """An administrator who must use a second factor and has none (signed in before the
    requirement was turned on) can do nothing else until it is set up."""
    if (
        request.endpoint in SETUP_ALLOWED
        or request.endpoint in SESSIONLESS_ENDPOINTS  # never read the session there
        or not admins_required()
        or not current_user.is_authenticated
        or not current_user.is_admin
        or totp.is_enrolled(current_user)
    ):
        return None
    return redirect(url_for("auth.second_factor_setup"))
