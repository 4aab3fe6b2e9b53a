"""/join/<code>: the page a sharer's invite link and poster lead to. It says who invites, the
rules in plain words, and remembers the code for the sign-up that binds the new account to
the inviter. An account that exists already is never bound, so a signed-in visitor is only
told so."""

from flask import abort, current_app, render_template, session, url_for
from flask_login import current_user

from shop.sharing import shops
from shop.teams import teams
from shop.web.common import INVITE_SESSION_KEY
from shop.web.storefront import bp


def platform_rate() -> int:
    """The team override rate in force (basis points of the member's rebate); 0 is off."""
    config = current_app.config
    return teams.effective_rate(config["TEAM_OVERRIDE_BPS"], config["TEAM_OVERRIDE_MAX_BPS"])


@bp.route("/join/<string:code>")
def join(code: str):
    invite = teams.leader_by_code(code)
    if invite is None:
        abort(404)
    inviter = invite.user
    signed_in = current_user.is_authenticated
    if not signed_in:
        # Only a live code reaches the session; sign-up binds with it and drops it.
        session[INVITE_SESSION_KEY] = invite.invite_code
    rate = platform_rate()
    return render_template(
        "storefront/join.html",
        inviter=inviter,
        shop=shops.shop_of(inviter),
        rate=rate,
        inviter_stopped=invite.overrides_disabled,
        signed_in=signed_in,
        is_own=signed_in and current_user.id == inviter.id,
        signup_url=url_for("auth.signup", next=url_for("sharer.shop_settings")),
    )
