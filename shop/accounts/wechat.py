"""微信授权登录: OAuth2 web authorization of an official account (网页授权), inside WeChat.

The documented protocol (developers.weixin.qq.com, 网页授权):
1. the browser goes to ``{authorize_url}?appid=&redirect_uri=&response_type=code&scope=
   snsapi_base|snsapi_userinfo&state=#wechat_redirect``; WeChat sends it back to
   ``redirect_uri?code=CODE&state=STATE`` (only ``state`` when the user refused);
2. the server exchanges the code (valid once, 5 minutes) at ``{api_base}/sns/oauth2/
   access_token?appid=&secret=&code=&grant_type=authorization_code`` for ``{access_token,
   expires_in, refresh_token, openid, scope, unionid?, is_snapshotuser?}``;
3. with snsapi_userinfo, ``{api_base}/sns/userinfo?access_token=&openid=&lang=zh_CN`` gives
   ``{openid, nickname, sex, province, city, country, headimgurl, privilege, unionid?}``.
Errors come back as ``{"errcode": N, "errmsg": "..."}`` (40029 invalid code, 40163 code been
used, ...). ``WECHAT_APP_ID``, ``WECHAT_APP_SECRET``, ``WECHAT_OAUTH_SCOPE`` and the two base
URLs are settings; without the AppID and secret the whole feature is off."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from shop.accounts.models import User
from shop.accounts.signin_models import WeChatIdentity
from shop.platform.errors import Conflict, DomainError
from shop.platform.extensions import db

SCOPES = ("snsapi_base", "snsapi_userinfo")
#: errcode of a code redeemed before (a replayed callback, or the back button).
CODE_USED = 40163
CODE_INVALID = 40029
RESPONSE_LIMIT = 64 * 1024


class WeChatError(DomainError):
    """WeChat refused or could not be reached. ``errcode`` is WeChat's number, when it sent
    one; ``gateway`` is True when WeChat could not be reached or answered something that is
    not the documented JSON (the user can only try again later)."""

    def __init__(self, message, errcode: int | None = None, *, gateway: bool = False):
        super().__init__(message)
        self.errcode = errcode
        self.gateway = gateway


@dataclass(frozen=True)
class Settings:
    app_id: str
    secret: str
    scope: str
    authorize_url: str
    api_base: str
    timeout: float

    @classmethod
    def from_config(cls, config) -> Settings | None:
        """The settings when WeChat sign-in is configured (AppID and secret set), else None."""
        app_id, secret = config.get("WECHAT_APP_ID"), config.get("WECHAT_APP_SECRET")
        if not app_id or not secret:
            return None
        scope = config.get("WECHAT_OAUTH_SCOPE") or "snsapi_base"
        if scope not in SCOPES:
            raise ValueError(f"WECHAT_OAUTH_SCOPE must be one of {SCOPES}, not {scope!r}")
        return cls(
            app_id=app_id,
            secret=secret,
            scope=scope,
            authorize_url=config["WECHAT_OAUTH_AUTHORIZE_URL"],
            api_base=config["WECHAT_API_BASE"].rstrip("/"),
            timeout=float(config.get("WECHAT_API_TIMEOUT_SECONDS", 5)),
        )


@dataclass(frozen=True)
class WeChatUser:
    """Who WeChat says signed in: verified by the server-to-server code exchange."""

    openid: str
    unionid: str | None = None
    nickname: str | None = None


def authorize_url(settings: Settings, *, redirect_uri: str, state: str) -> str:
    query = urlencode(
        {
            "appid": settings.app_id,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "scope": settings.scope,
            "state": state,
        }
    )
    return f"{settings.authorize_url}?{query}#wechat_redirect"


def _get_json(settings: Settings, path: str, params: dict) -> dict:
    url = f"{settings.api_base}{path}?{urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=settings.timeout) as response:  # noqa: S310
            body = response.read(RESPONSE_LIMIT + 1)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise WeChatError(
            _l("WeChat could not be reached. Please try again."), gateway=True
        ) from error
    try:
        answer = json.loads(body[:RESPONSE_LIMIT].decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise WeChatError(
            _l("WeChat sent an answer we could not read. Please try again."), gateway=True
        ) from error
    if not isinstance(answer, dict):
        raise WeChatError(
            _l("WeChat sent an answer we could not read. Please try again."), gateway=True
        )
    errcode = answer.get("errcode")
    if errcode not in (None, 0):
        if errcode == CODE_USED:
            message = _l("This WeChat sign-in link was already used. Please start again.")
        elif errcode == CODE_INVALID:
            message = _l("This WeChat sign-in has expired. Please start again.")
        else:
            message = _l(
                "WeChat refused the sign-in (error %(code)s). Please try again.", code=errcode
            )
        raise WeChatError(message, errcode=int(errcode) if isinstance(errcode, int) else None)
    return answer


def _text(answer: dict, key: str, limit: int = 64) -> str | None:
    value = answer.get(key)
    return value[:limit] if isinstance(value, str) and value else None


def fetch_user(settings: Settings, code: str) -> WeChatUser:
    """Exchange the callback's ``code`` (and, with snsapi_userinfo, read the profile).
    Raises WeChatError."""
    token = _get_json(
        settings,
        "/sns/oauth2/access_token",
        {
            "appid": settings.app_id,
            "secret": settings.secret,
            "code": code,
            "grant_type": "authorization_code",
        },
    )
    openid = _text(token, "openid")
    if openid is None or not isinstance(token.get("access_token"), str):
        raise WeChatError(
            _l("WeChat sent an answer we could not read. Please try again."), gateway=True
        )
    if token.get("is_snapshotuser") == 1:
        # 快照页模式: a virtual account from a page preview, not a real person to bind.
        raise WeChatError(_l("Open the page in WeChat (not the preview) to sign in."))
    unionid = _text(token, "unionid")
    nickname = None
    if settings.scope == "snsapi_userinfo":
        profile = _get_json(
            settings,
            "/sns/userinfo",
            {"access_token": token["access_token"], "openid": openid, "lang": "zh_CN"},
        )
        if profile.get("openid") != openid:
            raise WeChatError(
                _l("WeChat sent an answer we could not read. Please try again."), gateway=True
            )
        nickname = _text(profile, "nickname", 40)
        unionid = _text(profile, "unionid") or unionid
    return WeChatUser(openid=openid, unionid=unionid, nickname=nickname)


def find_identity(app_id: str, who: WeChatUser) -> WeChatIdentity | None:
    """The bound identity of this WeChat user: by openid of the app, else by unionid."""
    found = db.session.execute(
        select(WeChatIdentity).where(
            WeChatIdentity.app_id == app_id, WeChatIdentity.openid == who.openid
        )
    ).scalar_one_or_none()
    if found is None and who.unionid:
        found = db.session.execute(
            select(WeChatIdentity).where(WeChatIdentity.unionid == who.unionid)
        ).scalar_one_or_none()
    return found


def bind(user: User, app_id: str, who: WeChatUser, *, now: datetime) -> WeChatIdentity:
    """Bind this WeChat user to ``user`` (or refresh the binding that exists). Conflict when
    the openid or unionid is already bound to another account: nothing changes."""
    identity = find_identity(app_id, who)
    if identity is not None and identity.user_id != user.id:
        raise Conflict(_l("This WeChat account is already linked to another account."))
    if identity is None or identity.app_id != app_id:
        # An identity of another app found by unionid keeps its row; this app's openid gets its
        # own, without the unionid (unique: one row names the person across apps).
        identity = WeChatIdentity(
            user_id=user.id,
            app_id=app_id,
            openid=who.openid,
            unionid=who.unionid if identity is None else None,
            created_at=now,
        )
        db.session.add(identity)
    elif who.unionid and identity.unionid is None:
        identity.unionid = who.unionid
    if who.nickname:
        identity.nickname = who.nickname
    identity.last_signin_at = now
    db.session.flush()
    return identity


def openid_for(user: User, app_id: str) -> str | None:
    """The openid bound to ``user`` for the official account ``app_id`` (WeChat Pay JSAPI
    needs it as the payer), or None when the user never signed in through that app."""
    return db.session.execute(
        select(WeChatIdentity.openid).where(
            WeChatIdentity.user_id == user.id, WeChatIdentity.app_id == app_id
        )
    ).scalar_one_or_none()


def identities_of(user: User) -> list[WeChatIdentity]:
    return list(
        db.session.execute(
            select(WeChatIdentity).where(WeChatIdentity.user_id == user.id)
        ).scalars()
    )
