"""What every request passes through: the session cookie, telling anonymous visitors apart
without a query, the security headers, and the helpers every template gets (split from
shop.web.common, which keeps the view helpers)."""

import copy
import time

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_babel import get_locale
from flask_login import current_user
from itsdangerous import BadSignature
from jinja2 import pass_eval_context
from markupsafe import Markup

from shop.catalog import products
from shop.orders import states
from shop.platform import db as dbsetup
from shop.platform.extensions import login_manager
from shop.reviews import rules as review_rules
from shop.sharing.rollup import CHINA
from shop.web import kept
from shop.web.common import (
    SESSIONLESS_ENDPOINTS,
    UNSAFE_METHODS,
    absolute_media_url,
    dateformat,
    html_lang,
    kept_url,
    media_url,
    money,
    page_translations,
    rebate_for,
    short_count,
)
from shop.web.forms import choice_label, csrf_token

# --- cookies and sessions ------------------------------------------------------------------


#: Session cookies a worker keeps verified (``SessionInterface.open_session``) at most; when
#: full, it starts again from empty.
VERIFIED_COOKIES_MAX = 1024


class SessionInterface(SecureCookieSessionInterface):
    """Adds ``Secure`` to the session cookie whenever the request came over HTTPS, and leaves
    the sessionless endpoints without a cookie or ``Vary: Cookie`` (Flask-Login's own
    after-request hook reads the session on every response)."""

    _signing: tuple | None = None

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)

    def get_signing_serializer(self, app: Flask):
        """Flask's serializer, made once per key set instead of twice per request."""
        return self._signing_for(app)[1]

    def _signing_for(self, app: Flask) -> tuple:
        """(keys, serializer, the cookies verified with them): made again when the keys change,
        so a cookie verified with a key that is no longer the app's is never taken from it."""
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._signing
        if made is None or made[0] != keys:
            made = self._signing = (keys, super().get_signing_serializer(app), {})
        return made

    def open_session(self, app: Flask, request):
        """Flask's, also noting when the cookie was signed (``issued``, epoch seconds).

        A cookie value verified once is kept with its contents and signing time (per worker,
        ``VERIFIED_COOKIES_MAX`` at most): the same cookie again (a signed-in user's next
        request) is checked for its age as itsdangerous checks it and given a copy of its
        contents, without verifying the signature and decoding it again (most of what opening
        a session cost)."""
        _keys, serializer, verified = self._signing_for(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        found = verified.get(value)
        if found is not None:
            data, signed = found
            age = int(time.time()) - signed
            if 0 <= age <= max_age:  # what TimestampSigner.unsign accepts
                session = self.session_class(copy.deepcopy(data))
                session.issued = float(signed)
                return session
            verified.pop(value, None)
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        signed = int(signed_at.timestamp())
        if len(verified) >= VERIFIED_COOKIES_MAX:
            verified.clear()
        verified[value] = (copy.deepcopy(data), signed)
        session = self.session_class(data)
        session.issued = float(signed)
        return session

    def should_set_cookie(self, app: Flask, session) -> bool:
        """A changed session is sent back at once; an unchanged permanent one (a signed-in
        user's) is signed again, its lifetime starting anew, at most once per
        ``SESSION_REFRESH_MINUTES`` instead of on every response (signing is most of what an
        unchanged session costs a request)."""
        if session.modified:
            return True
        if not (session.permanent and app.config["SESSION_REFRESH_EACH_REQUEST"]):
            return False
        issued = getattr(session, "issued", None)
        every = app.config.get("SESSION_REFRESH_MINUTES", 0) * 60
        return issued is None or time.time() - issued >= every

    def save_session(self, app: Flask, session, response) -> None:
        if request.endpoint in SESSIONLESS_ENDPOINTS and not session.modified:
            return
        super().save_session(app, session, response)


def _has_user_marks() -> bool:
    """Whether the request carries what a signed-in user's request carries (a user id in the
    session, a remember-me cookie, a user already loaded); loads nothing."""
    from flask import session

    return (
        "_login_user" in g
        or "_user_id" in session
        or current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies
    )


def may_be_signed_in() -> bool:
    """Whether this request has a signed-in user, loading one only if it can: a visitor whose
    session holds no user id (and who sent no remember-me cookie) is anonymous without a
    query (Flask-Login would build an anonymous user and look for the cookie each time)."""
    if "_login_user" in g:
        return g._login_user.is_authenticated
    if not _has_user_marks():
        return False
    return current_user.is_authenticated


def cookie_secure() -> bool:
    return bool(current_app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


# --- hooks ---------------------------------------------------------------------------------


def china_time(moment, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored (naive UTC) time as China time (UTC+8), as every page and export shows it."""
    return "" if moment is None else (moment + CHINA).strftime(fmt)


def percent(bps: int | None) -> str:
    """A rate in basis points as a percent ("12.5%"), or "–" when there is none."""
    return "–" if bps is None else f"{products.format_bps(bps)}%"


_page_translations = page_translations


#: (catalogue, string) -> the HTML of a string without variables, per process (bounded: a
#: template may translate a value, not only its own literals).
_TRANSLATED: dict[tuple, Markup] = {}
_TRANSLATED_MAX = 5000


@pass_eval_context
def _template_gettext(eval_ctx, string: str, /, **variables):
    """What jinja2's newstyle ``gettext`` does: the translation, escaped in HTML templates and
    always %-formatted (escaping the variables), so ``%%`` reads the same with or without."""
    translations = _page_translations()
    if (
        eval_ctx.autoescape
        and type(string) is str
        and all(type(value) is int for value in variables.values())
    ):
        # Without variables, or with whole numbers only (a count, a number of minutes): the
        # same HTML for the same values.
        key = (translations, string, *sorted(variables.items()))
        found = _TRANSLATED.get(key)
        if found is None:
            if len(_TRANSLATED) >= _TRANSLATED_MAX:
                _TRANSLATED.clear()
            found = _TRANSLATED[key] = Markup(translations.ugettext(string)) % variables
        return found
    found = translations.ugettext(string)
    if eval_ctx.autoescape:
        found = Markup(found)
    return found % variables


def security_headers(config) -> tuple[tuple[str, str], ...]:
    """The headers every response of the app carries (unless it set its own), built once per
    app; Strict-Transport-Security is added to answers over HTTPS."""
    return (
        ("Content-Security-Policy", config["CONTENT_SECURITY_POLICY"]),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    )


HSTS = ("Strict-Transport-Security", "max-age=31536000")


def install_request_hooks(app: Flask) -> None:
    app.jinja_env.install_gettext_callables(
        gettext=lambda text: _page_translations().ugettext(text),
        ngettext=lambda one, many, n: _page_translations().ungettext(one, many, n),
        pgettext=lambda context, text: _page_translations().upgettext(context, text),
        npgettext=lambda context, one, many, n: _page_translations().unpgettext(
            context, one, many, n
        ),
        newstyle=True,
    )
    # ``_`` and ``gettext`` in one call (jinja2's newstyle ones go three times through the
    # template context: a tenth of a page's render).
    app.jinja_env.globals.update(_=_template_gettext, gettext=_template_gettext)
    kept.init_app(app)
    app.session_interface = SessionInterface()
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["short_count"] = short_count
    app.jinja_env.filters["dateformat"] = dateformat  # Flask-Babel's, without its locale data
    app.jinja_env.filters["china_time"] = china_time
    app.jinja_env.filters["percent"] = percent
    app.jinja_env.globals["html_lang"] = html_lang
    app.jinja_env.globals["absolute_media_url"] = absolute_media_url
    app.jinja_env.globals["media_url"] = media_url
    app.jinja_env.globals["kept_url"] = kept_url
    app.jinja_env.globals["format_bps"] = products.format_bps
    app.jinja_env.globals["product_status_label"] = products.status_label
    app.jinja_env.globals["rebate_for"] = rebate_for
    app.jinja_env.globals["lazy_text"] = choice_label
    # Flask-WTF's csrf_token(), the signed token kept per session token (shop.web.forms).
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["order_status_label"] = states.status_label
    app.jinja_env.globals["review_disclosure_label"] = review_rules.DISCLOSURE_LABELS.get
    app.jinja_env.globals["review_status_label"] = review_rules.STATUS_LABELS.get
    app.jinja_env.globals["hold_rule_label"] = review_rules.RULE_LABELS.get

    @app.context_processor
    def _template_globals():
        return {"current_locale": str(get_locale())}

    @app.before_request
    def _no_user_to_load():
        # A visitor with no user id in the session is anonymous: said once, so neither the
        # templates, the language nor the headers make Flask-Login work it out again.
        # Nothing is loaded here: a query before _writes_take_the_lock would start SQLite's
        # read transaction, which a POST's first write could then not upgrade.
        if request.endpoint not in SESSIONLESS_ENDPOINTS and not _has_user_marks():
            g._login_user = login_manager.anonymous_user()

    @app.before_request
    def _writes_take_the_lock():
        if request.method in UNSAFE_METHODS:
            dbsetup.begin_writes()

    @app.teardown_request
    def _reset_write_intent(_exc):
        dbsetup.end_writes()

    fixed_headers = security_headers(app.config)

    @app.after_request
    def _security_headers(response):
        headers = response.headers
        present = {name.lower() for name, _value in headers.to_wsgi_list()}
        wanted = fixed_headers + (HSTS,) if request.is_secure else fixed_headers
        headers.extend([pair for pair in wanted if pair[0].lower() not in present])
        if request.endpoint not in SESSIONLESS_ENDPOINTS and may_be_signed_in():
            # Pages with a person's data are never kept by shared caches.
            headers.setdefault("Cache-Control", "private, no-store")
        return response
