"""View helpers shared by every blueprint: redirects, forms, formatting, error pages. What every
request passes through (session cookie, anonymous visitors, headers) is in shop.web.hooks."""

import re
import time
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from urllib.parse import urlsplit

from flask import (
    Flask,
    current_app,
    flash,
    g,
    has_request_context,
    render_template,
    request,
    url_for,
)
from flask_babel import format_date, get_locale, get_translations, ngettext, to_user_timezone
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from shop.accounts import accounts
from shop.catalog.catalog import rebate_cents
from shop.notify import inbox
from shop.platform.base import utcnow
from shop.platform.errors import DomainError
from shop.platform.extensions import db, limiter

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
#: Where /join/<code> keeps a live invite code until the sign-up it leads to binds it.
INVITE_SESSION_KEY = "invite_code"
#: Responses that are the same bytes for everyone (content-hashed images and static files):
#: they never read or write the session, so they carry no Set-Cookie and no Vary: Cookie, and a
#: shared cache keeps one copy for all visitors.
SESSIONLESS_ENDPOINTS = frozenset({"static", "storefront.media"})


#: Paths kept per app (``kept_url``) at most; when full, it starts again from empty.
KEPT_URLS_MAX = 4096


def kept_url(endpoint: str, **values) -> str:
    """``url_for(endpoint, **values)``, a path, kept per app and script root: the same
    arguments build the same path in every request (the app's url map and its url_defaults
    do not change; "static" is not kept: its version follows the file), and building one is
    a good part of a page's url_for cost (a checkout line's thumbnail, the address book link
    back to the page)."""
    if (
        endpoint == "static"
        or endpoint.startswith(".")
        # _external, _scheme, _method: the URL would follow the request's host or more;
        # only strings and whole numbers (True is 1 to a dict, not to url_for)
        or any(k.startswith("_") and k != "_anchor" for k in values)
        or any(type(v) not in (str, int) for v in values.values())
    ):
        return url_for(endpoint, **values)
    kept = current_app.extensions.setdefault("fenxiang.kept_urls", {})
    key = (request.script_root, endpoint, *sorted(values.items()))
    try:
        found = kept.get(key)
    except TypeError:  # a value that is not hashable (a list)
        return url_for(endpoint, **values)
    if found is None:
        if len(kept) >= KEPT_URLS_MAX:
            kept.clear()
        found = kept[key] = url_for(endpoint, **values)
    return found


def media_url(name: str) -> str:
    """``url_for("storefront.media", name=name)``, kept (``kept_url``)."""
    return kept_url("storefront.media", name=name)


def absolute_media_url(name: str) -> str:
    """A media file's absolute URL (share cards need one: og:image, the JS-SDK's imgUrl)."""
    return url_for("storefront.media", name=name, _external=True)


def page_translations():
    """``flask_babel.get_translations()``, looked up once per request (templates, form
    labels): it resolves the domain and the locale on every call, and a page calls it for
    every string."""
    if not has_request_context():
        return get_translations()
    found = g.get("_page_translations")
    if found is None:
        found = g._page_translations = get_translations()
    return found


def now():
    """The time a request acts at (naive UTC), one value for the whole request."""
    if "now" not in g:
        g.now = utcnow()
    return g.now


#: Methods whose pages read the unread badge with the user (``unread_badge``).
_READS = frozenset({"GET", "HEAD"})


def load_user_from_session(token: str):
    """Flask-Login's user loader. Runs only for a request whose cookie names a session:
    anonymous visitors pay nothing. A GET reads the layout's unread badge in the same
    statement (``unread_badge``)."""
    reads = request.method in _READS
    user = accounts.load_session_user(
        token,
        now=now(),
        seen_minutes=int(current_app.config["SESSION_SEEN_MINUTES"]),
        also=inbox.unread_with_user() if reads else None,
    )
    if user is not None and reads:
        g.unread_with_user = (user.id, user.loaded_also[0])
    return user


def unread_badge(user_id: int) -> int:
    """The signed-in user's unread messages for the layout's badge: as read with the user at
    the start of a GET (nothing in a GET marks a message read or adds one: the worker adds
    them, a POST marks them), else counted now (a POST's page, after what it changed)."""
    found = g.get("unread_with_user")
    if found is not None and found[0] == user_id and request.method in _READS:
        return found[1]
    return inbox.unread_count(user_id)


# --- redirects -----------------------------------------------------------------------------

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a same-site path ("/me", "/p/3?x=1"), else None.

    Refuses absolute URLs, scheme-relative ``//host``, backslashes (browsers read ``/\\host``
    as ``//host``) and control characters.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or _CONTROL.search(target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


def safe_referrer() -> str | None:
    """The Referer's path (and query) when it is a page of this site, else None: a "go back"
    redirect must not follow a Referer that names another site or a ``javascript:`` URL."""
    parts = urlsplit(request.referrer or "")
    if parts.scheme not in ("http", "https") or parts.netloc != request.host:
        return None
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""))


# --- forms ---------------------------------------------------------------------------------


def show_domain_error(form, error: DomainError) -> None:
    """Put a service's error on the form field it names, or flash it when it names none."""
    field = getattr(form, error.field, None) if error.field else None
    if field is not None:
        field.errors = [*field.errors, error.message]
    else:
        flash(error.message, "error")


def _reauth_key() -> str:
    return f"reauth:{getattr(current_user, 'id', None) or 'anonymous'}"


def _reauth_failed(_response) -> bool:
    return bool(g.get("reauth_failed"))


#: Wrong passwords typed by a signed-in account (the password change, the payout account
#: form): one budget per user id across those forms, sessions and devices
#: (REAUTH_LIMIT_PER_ACCOUNT). A view sets ``g.reauth_failed`` when the password was wrong.
reauth_limit = limiter.shared_limit(
    lambda: current_app.config["REAUTH_LIMIT_PER_ACCOUNT"],
    scope="reauth",
    key_func=_reauth_key,
    methods=["POST"],
    deduct_when=_reauth_failed,
)


def uploaded_files() -> int:
    """How many files this request carries (a form's empty file input sends no name)."""
    return sum(1 for _name, upload in request.files.items(multi=True) if upload.filename)


#: Images one account may upload (UPLOAD_LIMIT_PER_ACCOUNT), each file counted, across every
#: form that takes images (products, the merchant logo, shop avatars, review photos). Decoding
#: an image is the most CPU a request can ask for; a request without a file is not counted.
upload_limit = limiter.shared_limit(
    lambda: current_app.config["UPLOAD_LIMIT_PER_ACCOUNT"],
    scope="upload",
    key_func=lambda: f"upload:{getattr(current_user, 'id', None) or request.remote_addr}",
    methods=["POST"],
    exempt_when=lambda: uploaded_files() == 0,
    cost=uploaded_files,
)


# --- formatting ----------------------------------------------------------------------------


def money(cents: int | None) -> str:
    """Fen as yuan with two decimals, e.g. 12900 -> "129.00". The only place money is
    formatted, so templates never divide."""
    if cents is None:
        return ""
    sign = "-" if cents < 0 else ""
    cents = abs(int(cents))
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def short_count(n: int) -> str:
    """Counts the way Chinese apps show them: 12345 -> "1.2万" in Chinese, "12.3k" in English."""
    if str(get_locale()).startswith("zh"):
        if n >= 10000:
            return f"{_one_decimal(n / 10000)}万"
        return str(n)
    if n >= 1000:
        return f"{_one_decimal(n / 1000)}k"
    return str(n)


def _one_decimal(value: float) -> str:
    """``value`` as Babel's ``format_decimal(value, format="#.#")`` writes it in both our
    languages (the point, at most one decimal, half to even, no grouping), without loading
    Babel's locale data for it: 4.6 MB (Chinese) and 1.4 MB (English) in every worker that
    showed a count of 1,000 or more (bench/README.md, worker memory)."""
    shown = Decimal(str(value)).quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    text = f"{shown:f}"
    return text.removesuffix(".0")


#: CLDR's medium date ("y年M月d日", "MMM d, y") of our two languages, and English's months.
_MEDIUM_DATES = {"zh_Hans_CN": "{year}年{month}月{day}日", "en": "{month_name} {day}, {year}"}
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def dateformat(value=None, format=None, rebase=True) -> str:
    """Flask-Babel's ``dateformat`` filter, written without Babel's locale data for the medium
    date in our two languages (a review's date on every product page): loading that data
    put 4.2 MB (Chinese) and 1.3 MB (English) into every worker that showed one
    (bench/README.md, worker memory). The same text as Babel's (tested for every day of
    several years); any other format, language or value goes to Flask-Babel."""
    template = _MEDIUM_DATES.get(str(get_locale()))
    if template is None or format not in (None, "medium") or not isinstance(value, date):
        return format_date(value, format, rebase)
    if rebase and isinstance(value, datetime):
        value = to_user_timezone(value)
    return template.format(
        year=value.year, month=value.month, day=value.day, month_name=_MONTHS[value.month - 1]
    )


def rebate_for(product) -> int:
    """The sharer's rebate on one unit, in fen (for "earn ¥X" labels; never shown to buyers)."""
    return rebate_cents(product.price_cents, product.rebate_bps)


def html_lang() -> str:
    return "zh-CN" if str(get_locale()).startswith("zh") else "en"


# --- error pages ---------------------------------------------------------------------------

ERROR_TEXT = {
    400: (_l("Bad request"), _l("The request could not be understood. Please try again.")),
    403: (_l("Not allowed"), _l("You do not have permission to see this page.")),
    404: (
        _l("Page not found"),
        _l("This page does not exist. It may have been moved or the link is mistyped."),
    ),
    405: (_l("Method not allowed"), _l("This page cannot be used that way.")),
    410: (_l("No longer available"), _l("This item is no longer available.")),
    413: (
        _l("Upload too large"),
        _l("What you sent is larger than %(mb)d MB. Please choose a smaller file."),
    ),
    429: (_l("Too many attempts"), _l("Please wait a moment and try again.")),
    500: (
        _l("Something went wrong"),
        _l("An error occurred on our side. It has been logged; please try again later."),
    ),
}


def render_error(code: int, message: str | None = None, retry_after: int | None = None):
    title, default_message = ERROR_TEXT.get(code, ERROR_TEXT[500])
    if code == 413:
        default_message = _l(
            "What you sent is larger than %(mb)d MB. Please choose a smaller file.",
            mb=max(1, current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)),
        )
    response = render_template(
        "errors/error.html",
        code=code,
        title=title,
        message=message or default_message,
        retry_after=retry_after,
    )
    return response, code


def retry_after_seconds() -> int | None:
    """Seconds until the breached rate limit of this request resets, if one was breached."""
    if "retry_after" in g:  # set by a view that counts a limit itself
        return g.retry_after
    limit = limiter.current_limit
    if limit is None:
        return None
    return max(1, int(limit.reset_at - time.time()))


def wait_text(seconds: int) -> str:
    """How long to wait, in the reader's language ("try again in 5 minutes."), rounded up to
    whole minutes from a minute on; it completes a sentence of the caller's."""
    if seconds >= 60:
        minutes = (seconds + 59) // 60
        return ngettext("try again in %(num)d minute.", "try again in %(num)d minutes.", minutes)
    return ngettext("try again in %(num)d second.", "try again in %(num)d seconds.", seconds)


def too_many_page():
    """The 429 page, with Retry-After when the limit's reset is known."""
    seconds = retry_after_seconds()
    response, code = render_error(429, retry_after=seconds)
    headers = {"Retry-After": str(seconds)} if seconds else {}
    return response, code, headers


def register_error_pages(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error):
        return render_error(
            400, _l("This form has expired or was not sent from this site. Please try again.")
        )

    @app.errorhandler(429)
    def _too_many(error):
        return too_many_page()

    @app.errorhandler(HTTPException)
    def _http(error):
        if error.code in ERROR_TEXT:
            return render_error(error.code)
        return error

    @app.errorhandler(500)
    def _server_error(error):
        db.session.rollback()
        return render_error(500)


# --- confirming what cannot be undone ------------------------------------------------------


def confirm_first(question: str, confirm_label: str, back_url: str, detail: str = ""):
    """A page asking ``question`` before a one-tap action that cannot be undone, unless the
    form says it was confirmed (``confirmed=1``: the page's own button, or the dialog of
    static/js/confirm.js). Returns the page to answer with, or None to go ahead. The page
    posts every field of this form again, so nothing the person chose is lost."""
    if request.form.get("confirmed") == "1":
        return None
    fields = [(k, v) for k, v in request.form.items(multi=True) if k != "confirmed"]
    return render_template(
        "confirm.html",
        question=question,
        detail=detail,
        confirm_label=confirm_label,
        action=request.path,
        fields=fields,
        back_url=back_url,
    )
