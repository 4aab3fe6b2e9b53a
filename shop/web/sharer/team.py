"""/me/team: a sharer's invite link and poster, the members who joined through it with what
they settled and the override it earned the sharer; and, for a member, who their leader is
(their display name only)."""

from flask import current_app, g, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.accounts.models import User
from shop.catalog import images
from shop.insights import stats
from shop.insights import teams as team_numbers
from shop.platform import db as dbsetup
from shop.platform.extensions import db
from shop.sharing import poster_spec, shops
from shop.teams import teams
from shop.teams.models import TeamLeader
from shop.web.common import now
from shop.web.sharer import bp
from shop.web.sharer.sheet import send_poster

#: The periods the members table offers (China days ending today); the first is the default.
PERIOD_DAYS = {"30d": 30, "7d": 7}


def _rate() -> int:
    config = current_app.config
    return teams.effective_rate(config["TEAM_OVERRIDE_BPS"], config["TEAM_OVERRIDE_MAX_BPS"])


def _own_invite() -> TeamLeader:
    """The signed-in sharer's invite, made on their first visit. Only a sharer with a shop
    gets here. Making it is a write on a GET: it runs in a transaction of its own that takes
    SQLite's write lock at BEGIN (a read transaction turned into a write one fails at once
    when another worker wrote meanwhile)."""
    invite = db.session.get(TeamLeader, current_user.id)
    if invite is not None:
        return invite
    user_id = current_user.id
    db.session.rollback()
    with dbsetup.writing():
        invite = teams.invite_of(db.session.get(User, user_id), now=now())
        db.session.commit()
    return invite


def _invite_url(invite: TeamLeader) -> str:
    return url_for("storefront.join", code=invite.invite_code, _external=True)


@bp.route("/team")
def team_page():
    user = current_user._get_current_object()
    leader = teams.leader_of(user.id)
    context = {
        "shop": g.shop,
        "my_leader_name": leader.display_name if leader is not None else None,
        "rate": _rate(),
    }
    if g.shop is None:
        return render_template("sharer/team.html", **context)
    invite = _own_invite()
    key = request.args.get("period", "")
    key = key if key in PERIOD_DAYS else next(iter(PERIOD_DAYS))
    period = stats.last_days(PERIOD_DAYS[key], now=now())
    lines = team_numbers.members(user.id, since=period.starts_at, until=period.ends_at)
    return render_template(
        "sharer/team.html",
        **context,
        invite=invite,
        invite_url=_invite_url(invite),
        period=period,
        period_key=key,
        lines=lines,
        totals={
            "settled": sum(line.settled_cents for line in lines),
            "override": sum(line.override_cents for line in lines),
            "pending": sum(line.pending_override_cents for line in lines),
        },
        in_wechat="micromessenger" in request.headers.get("User-Agent", "").lower(),
    )


@bp.route("/team/poster.jpg")
def team_poster():
    """The signed-in sharer's own invite poster (there is no way to ask for another's)."""
    shop = g.shop
    invite = _own_invite()
    avatar = images.media_file(images.image_url_name(shop.avatar, "t")) if shop.avatar else None
    # The picture: the shop's own, else the cover of the first product it shows (a grey
    # placeholder only for an empty shop without a picture).
    picture = shop.avatar
    if picture is None:
        first = next(iter(shops.public_items(shop)), None)
        picture = first.product.cover if first is not None else None
    name = current_user.display_name
    content = poster_spec.PosterContent(
        url=_invite_url(invite),
        title=shop.name,
        price_cents=None,
        original_price_cents=None,
        image_path=images.poster_source(picture) if picture is not None else None,
        sharer_name=name,
        avatar_path=avatar,
        headline=_("%(name)s invites you to open a shop together", name=name),
        hint=_("Long-press to scan"),
        subtitle=_("Pick good things and share them with friends"),
    )
    return send_poster(content, f"invite-{invite.invite_code}.jpg")
