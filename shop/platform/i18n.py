"""Which language a request is shown in: the user's setting, then the switcher's cookie,
then the browser's Accept-Language, then Simplified Chinese."""

from flask import current_app, g, has_request_context, request, session
from flask_login import current_user


def normalize_locale(tag: str | None) -> str | None:
    """Map a language tag from a browser or a cookie onto a language we ship, or None."""
    if not tag:
        return None
    tag = tag.replace("-", "_").lower()
    if tag.startswith("zh"):
        return "zh_Hans_CN"
    if tag.startswith("en"):
        return "en"
    return None


def _may_have_user() -> bool:
    """False when this request cannot have a signed-in user (no user id in the session, no
    remember-me cookie): then no user is loaded just to choose the language."""
    if "_login_user" in g or "_user_id" in session:
        return True
    return current_app.config.get("REMEMBER_COOKIE_NAME", "remember_token") in request.cookies


def select_locale() -> str:
    if not has_request_context():  # CLI commands and service tests
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if _may_have_user():
        user = current_user
        if user and user.is_authenticated and user.locale in current_app.config["LANGUAGES"]:
            return user.locale
    return visitor_locale(
        request.cookies.get(current_app.config["LANGUAGE_COOKIE"]),
        (tag for tag, _quality in request.accept_languages),
        current_app.config["BABEL_DEFAULT_LOCALE"],
    )


def visitor_locale(cookie: str | None, accepted, default: str) -> str:
    """The language of a visitor without a signed-in user: the language cookie's, else the first
    of the browser's languages (``accepted``, best first) that we ship, else ``default``. The
    kept-page thin path chooses with this too, so both always agree."""
    found = normalize_locale(cookie)
    if found:
        return found
    for tag in accepted:
        found = normalize_locale(tag)
        if found:
            return found
    return default
