"""微信授权登录 inside WeChat (shop.accounts.wechat has the protocol).

GET /auth/wechat sends the browser to WeChat's authorize page with a random ``state`` kept in
the Flask session; WeChat sends it back to /auth/wechat/callback with a ``code``. The state is
used once and compared in constant time; a wrong or missing one shows a message page and
changes nothing. The code is exchanged server to server for the openid (and unionid).

A bound identity signs its account in (through ``views._sign_in``, so a staff member still
owes the second step). The first time, a signed-in user gets the identity bound at once;
otherwise it waits in the session (WECHAT_PENDING_SECONDS) while the person signs in or signs
up, and ``bind_pending`` (called by ``_sign_in``) binds it to whichever account that is."""

import secrets
import time

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.accounts import wechat
from shop.accounts.models import User
from shop.platform import db as dbsetup
from shop.platform.errors import Conflict
from shop.platform.extensions import db
from shop.platform.inputs import secrets_equal
from shop.web.auth import bp
from shop.web.common import now, safe_next

STATE_KEY = "wechat_oauth"
PENDING_KEY = "wechat_pending"
#: How long a verified WeChat identity waits in the session for a sign-in or sign-up.
PENDING_SECONDS = 600
#: A started WeChat sign-in is answered within this many seconds or its state is refused.
STATE_SECONDS = 600


def settings() -> wechat.Settings | None:
    return wechat.Settings.from_config(current_app.config)


def in_wechat() -> bool:
    return "MicroMessenger" in (request.headers.get("User-Agent") or "")


@bp.app_template_global()
def wechat_signin_available() -> bool:
    """Whether to show the WeChat sign-in button: configured, inside WeChat's browser (the
    only place its authorize page works), and no verified WeChat identity waiting already."""
    return settings() is not None and in_wechat() and pending_identity() is None


def _message(title: str, message: str, status: int):
    again = session.get("wechat_last_next")
    return (
        render_template(
            "auth/message.html",
            title=title,
            message=message,
            retry_url=url_for("auth.wechat_start", next=again)
            if wechat_signin_available()
            else None,
        ),
        status,
    )


@bp.route("/wechat")
def wechat_start():
    config = settings()
    if config is None:
        return _message(
            _("WeChat sign-in is not available"),
            _("WeChat sign-in is not set up on this site. Sign in with your account instead."),
            404,
        )
    target = safe_next(request.args.get("next"))
    state = secrets.token_hex(16)  # WeChat allows a-zA-Z0-9, up to 128 bytes
    session[STATE_KEY] = {"state": state, "next": target, "exp": int(time.time()) + STATE_SECONDS}
    session["wechat_last_next"] = target
    redirect_uri = url_for("auth.wechat_callback", _external=True)
    return redirect(wechat.authorize_url(config, redirect_uri=redirect_uri, state=state))


@bp.route("/wechat/callback")
def wechat_callback():
    config = settings()
    if config is None:
        return wechat_start()
    started = session.pop(STATE_KEY, None)
    state = request.args.get("state", "")
    if (
        not isinstance(started, dict)
        or int(started.get("exp", 0)) < time.time()
        or not state
        or not secrets_equal(str(started.get("state", "")), state)
    ):
        return _message(
            _("This WeChat sign-in cannot be used"),
            _(
                "The sign-in did not start from this page, or it was already used or too "
                "old. Nothing was changed. Tap the button to sign in with WeChat again."
            ),
            400,
        )
    code = request.args.get("code", "")
    if not code:
        return _message(
            _("WeChat sign-in was cancelled"),
            _("You did not allow the sign-in in WeChat. Nothing was changed."),
            400,
        )
    try:
        who = wechat.fetch_user(config, code[:128])
    except wechat.WeChatError as error:
        status = 502 if error.gateway else 400
        return _message(_("WeChat sign-in did not work"), error.message, status)
    # The calls to WeChat are done: only now take the write lock (SQLite), for a short time.
    db.session.rollback()
    dbsetup.begin_writes()
    return _signed_in_with(config, who, safe_next(started.get("next")))


def _signed_in_with(config: wechat.Settings, who: wechat.WeChatUser, target: str | None):
    from shop.web.auth.views import _after_signin_target, _sign_in

    identity = wechat.find_identity(config.app_id, who)
    signed_in = current_user.is_authenticated
    if identity is not None and (not signed_in or identity.user_id == current_user.id):
        user = db.session.get(User, identity.user_id)
        wechat.bind(user, config.app_id, who, now=now())  # this app's openid, when found by unionid
        if signed_in:
            db.session.commit()
        else:
            _sign_in(user, next_target=target)
        return redirect(_after_signin_target(target))
    if signed_in:
        try:
            wechat.bind(current_user._get_current_object(), config.app_id, who, now=now())
        except Conflict as error:
            db.session.rollback()
            return _message(_("WeChat is linked to another account"), error.message, 409)
        db.session.commit()
        flash(_("Your WeChat is now linked to this account."), "success")
        return redirect(_after_signin_target(target))
    session[PENDING_KEY] = {
        "app_id": config.app_id,
        "openid": who.openid,
        "unionid": who.unionid,
        "nickname": who.nickname,
        "exp": int(time.time()) + PENDING_SECONDS,
    }
    flash(
        _(
            "Sign in or create an account once to link your WeChat. "
            "Next time, WeChat signs you in directly."
        ),
        "info",
    )
    return redirect(url_for("auth.signin", next=target))


def pending_identity() -> wechat.WeChatUser | None:
    pending = session.get(PENDING_KEY)
    config = settings()
    if (
        not isinstance(pending, dict)
        or config is None
        or pending.get("app_id") != config.app_id
        or int(pending.get("exp", 0)) < time.time()
    ):
        return None
    return wechat.WeChatUser(
        openid=pending["openid"], unionid=pending.get("unionid"), nickname=pending.get("nickname")
    )


def bind_pending(user: User) -> None:
    """Bind the WeChat identity verified before this sign-in (if any) to ``user``; part of the
    sign-in's transaction. An identity another account took meanwhile is left alone."""
    who = pending_identity()
    session.pop(PENDING_KEY, None)
    if who is None:
        return
    try:
        with db.session.begin_nested():
            wechat.bind(user, settings().app_id, who, now=now())
    except Conflict as error:
        flash(error.message, "error")
    else:
        flash(_("Your WeChat is now linked to this account."), "success")
