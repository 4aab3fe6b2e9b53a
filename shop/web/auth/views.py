from flask import (
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
from flask_login import current_user, login_required, login_user, logout_user

from shop.accounts import accounts, codes, devices
from shop.accounts.models import User
from shop.platform import db as dbsetup
from shop.platform.errors import ValidationError
from shop.platform.extensions import csrf, db, limiter
from shop.platform.i18n import normalize_locale
from shop.teams import teams
from shop.web.auth import bp, limits, second_factor, wechat
from shop.web.auth.forms import (
    CodeSignInForm,
    EmptyForm,
    LanguageForm,
    PasswordChangeForm,
    SignInForm,
    SignUpForm,
)
from shop.web.common import (
    INVITE_SESSION_KEY,
    now,
    reauth_limit,
    retry_after_seconds,
    safe_next,
    show_domain_error,
    wait_text,
)
from shop.web.hooks import cookie_secure


def _after_signin_target(form_next: str | None) -> str:
    return safe_next(form_next) or url_for("storefront.home")


def _renew_csrf_token() -> None:
    """Drop the CSRF secret of the session, so the signed-in session gets a fresh one: a token
    seen before signing in (on a shared phone, in a page someone kept) is refused after it."""
    field = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(field, None)
    g.pop(field, None)


#: The phone last signed in on this browser (kept through sign-out): the sign-in page fills it
#: in, so a returning buyer only asks for a code and types it.
LAST_PHONE_KEY = "last_phone"


def _sign_in(user, *, second_factor_checked: bool = False, next_target: str | None = None) -> None:
    """Every sign-in ends here (password, SMS code, sign-up, password reset, WeChat, any other
    way), on this device. A user who owes a second step is sent to it instead
    (``second_factor.gate`` aborts with a redirect); a WeChat identity verified before this
    sign-in is bound to the account."""
    if not second_factor_checked:
        second_factor.gate(user, next_target=next_target)
    accounts.start_session(
        user,
        now=now(),
        device=devices.device_family(request.user_agent.string),
        address_hash=codes.address_hash(request.remote_addr),
    )
    wechat.bind_pending(user)
    db.session.commit()
    login_user(user, remember=False)
    _renew_csrf_token()
    session.permanent = True
    # An invite binds only the account its sign-up makes; an existing account drops it.
    session.pop(INVITE_SESSION_KEY, None)
    if user.phone:
        session[LAST_PHONE_KEY] = user.phone


def _check_password(account: str, password: str) -> User | None:
    """The user whose account and password these are, or None; checked before the sign-in
    takes SQLite's write lock.

    A POST takes the lock at its first query (shop.web.common), and Argon2 would hold it for a tenth
    of a second or more of CPU: every writer (click batches, checkouts) waited, and a few
    sign-ins at once pushed the last past the busy timeout ("database is locked",
    bench/bench_load.py). So the password is checked in a read transaction, which ends before
    the write one begins (a read transaction turned into a write one fails at once with
    SQLITE_BUSY when another worker wrote meanwhile)."""
    db.session.rollback()  # nothing is written yet; ends what a session lookup began
    dbsetup.end_writes()
    user = accounts.authenticate(account=account, password=password)
    if user is None:
        return None
    user_id, checked_hash = user.id, user.password_hash
    new_hash = accounts.rehash(user, password)
    db.session.rollback()
    dbsetup.begin_writes()
    user = db.session.get(User, user_id)
    if user is None or not accounts.store_rehash(
        user, checked_hash=checked_hash, new_hash=new_hash
    ):
        return None
    return user


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(limits.signup_limit, methods=["POST"], deduct_when=limits.signed_up)
def signup():
    if current_user.is_authenticated:
        return redirect(url_for("storefront.home"))
    form = SignUpForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
    if form.validate_on_submit():
        try:
            user = accounts.register_user(
                account=form.account.data,
                display_name=form.display_name.data,
                password=form.password.data,
                now=now(),
            )
        except ValidationError as error:
            db.session.rollback()
            show_domain_error(form, error)
        else:
            # A new account joins the team of the invite it came through, in the sign-up's
            # own transaction (committed by _sign_in); the code is used once.
            teams.bind(user, session.pop(INVITE_SESSION_KEY, None), now=now())
            _sign_in(user)
            g.signed_up = True
            flash(_("Welcome, %(name)s! Your account is ready.", name=user.display_name), "success")
            return redirect(_after_signin_target(form.next.data))
    return _render_signup(form)


def _render_signup(form, form_error: str | None = None, status: int = 200):
    invite = teams.leader_by_code(session.get(INVITE_SESSION_KEY))
    inviter = invite.user if invite is not None else None
    return render_template(
        "auth/signup.html", form=form, inviter=inviter, form_error=form_error
    ), status


@bp.route("/signin", methods=["GET", "POST"])
@limiter.limit(limits.login_limit_ip, methods=["POST"], deduct_when=limits.signin_failed)
@limiter.limit(
    limits.login_limit_account_and_ip,
    key_func=limits.account_and_address_key,
    methods=["POST"],
    deduct_when=limits.signin_failed,
)
@limiter.limit(
    limits.login_limit_account,
    key_func=limits.account_key,
    methods=["POST"],
    deduct_when=limits.signin_failed,
)
def signin():
    if current_user.is_authenticated:
        return redirect(url_for("storefront.home"))
    form = SignInForm()
    if request.method == "GET":
        form.next.data = safe_next(request.args.get("next")) or ""
        if request.args.get("next") and not form.next.data:
            flash(_("The link you followed pointed outside this site; it was ignored."), "info")
        if sms_enabled() and request.args.get("method") != "password":
            code_form = CodeSignInForm(formdata=None)
            code_form.next.data = form.next.data
            code_form.phone.data = session.get(LAST_PHONE_KEY, "")
            return render_code_signin(code_form)
    if form.validate_on_submit():
        user = _check_password(form.account.data, form.password.data)
        if user is None:
            g.signin_failed = True
            form.password.errors = [_("The account or password is wrong.")]
            return render_signin(form), 200
        _sign_in(user)
        return redirect(_after_signin_target(form.next.data))
    return render_signin(form)


def sms_enabled() -> bool:
    return bool(current_app.config.get("SMS_PROVIDER"))


def render_signin(form, form_error: str | None = None):
    """The password sign-in (the second way when codes are on)."""
    return render_template(
        "auth/signin.html",
        mode="password",
        form=form,
        form_error=form_error,
        sms_enabled=sms_enabled(),
    )


def render_code_signin(form, **context):
    """The sign-in page's first way: phone and SMS code (signs up a new number)."""
    return render_template("auth/signin.html", mode="code", form=form, sms_enabled=True, **context)


@bp.route("/signout", methods=["POST"])
def signout():
    form = EmptyForm()
    if form.validate_on_submit() and current_user.is_authenticated:
        accounts.end_session(current_user.session_token, now=now())
        db.session.commit()
        logout_user()
        flash(_("You have signed out."), "info")
    return redirect(url_for("storefront.home"))


@bp.route("/password", methods=["GET", "POST"])
@reauth_limit  # wrong current passwords, per user id (shared with the payout account form)
@login_required
def password_change():
    form = PasswordChangeForm()
    has_password = current_user.has_password
    if not has_password:
        del form.current_password  # an account made by a code sets its first password
    valid = form.validate_on_submit()
    if valid and has_password and not form.current_password.data:
        form.current_password.errors = [_("This field is required.")]
        valid = False
    if valid:
        try:
            accounts.change_password(
                current_user._get_current_object(),
                current_password=form.current_password.data if has_password else None,
                new_password=form.new_password.data,
                now=now(),
            )
        except ValidationError as error:
            db.session.rollback()
            g.reauth_failed = error.field == "current_password"
            show_domain_error(form, error)
        else:
            # Every session ended: a fresh one (this person passed any second step already).
            _sign_in(current_user._get_current_object(), second_factor_checked=True)
            flash(_("Password changed. Other devices have been signed out."), "success")
            return redirect(url_for("storefront.home"))
    return render_template("auth/password.html", form=form, has_password=has_password)


@bp.errorhandler(429)
def _too_many(error):
    """A limit of these forms was reached: the same form again, with what was typed (never a
    password) and a form-level message saying how long to wait, instead of the bare 429 page."""
    seconds = retry_after_seconds() or 60
    wait = wait_text(seconds)
    if request.endpoint == "auth.signup":
        message = _("Too many accounts were created from this network; %(wait)s", wait=wait)
        body, _status = _render_signup(SignUpForm(), message)
    elif request.endpoint.startswith("auth.second_factor"):
        message = _("Too many wrong codes. To protect your account, %(wait)s", wait=wait)
        body = second_factor.too_many(message)
    elif request.endpoint == "auth.password_change":
        message = _("Too many wrong passwords. To protect your account, %(wait)s", wait=wait)
        body = render_template(
            "auth/password.html", form=PasswordChangeForm(), form_error=message, has_password=True
        )
    else:
        message = _("Too many failed sign-ins. To protect the account, %(wait)s", wait=wait)
        if sms_enabled():
            # Password failures never stop a code: the owner gets in with the phone.
            message += " " + _("You can still sign in now with a text message code.")
        body = render_signin(SignInForm(), message)
    return body, 429, {"Retry-After": str(seconds)}


@bp.route("/language", methods=["POST"])
@csrf.exempt
def language_set():
    # Signed out, the switch only sets a cookie in the visitor's own browser, so the form carries
    # no CSRF token: an anonymous page then stores nothing in the session and sets no session
    # cookie. Signed in, it changes the account, and the token is required.
    form = LanguageForm(meta={} if current_user.is_authenticated else {"csrf": False})
    target = safe_next(form.next.data) or url_for("storefront.home")
    locale = normalize_locale(form.language.data)
    if not form.validate_on_submit() or locale is None:
        return redirect(target)
    if current_user.is_authenticated:
        accounts.set_locale(current_user._get_current_object(), locale)
        db.session.commit()
    response = make_response(redirect(target))
    response.set_cookie(
        current_app.config["LANGUAGE_COOKIE"],
        locale,
        max_age=365 * 24 * 3600,
        samesite="Lax",
        httponly=True,
        secure=cookie_secure(),
    )
    return response
