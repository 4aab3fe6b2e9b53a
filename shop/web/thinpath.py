"""What the thin WSGI paths in front of Flask that answer with Flask's own bytes (kept pages,
shop.web.storefront.keptpath; a sharer's poster, shop.web.sharer.posterpath) read from the app
once: the session cookie, its signing and attributes, trusted hosts, the security headers, and
the language Flask would choose."""

from babel import Locale
from flask import Flask
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from shop.platform import i18n
from shop.web.hooks import security_headers

#: Visitors' languages kept per (language cookie, Accept-Language), at most this many.
KEPT_LOCALES = 1024


class ThinPath:
    """WSGI middleware's common part: ``inner`` is the app it passes the rest to."""

    def __init__(self, app: Flask, inner):
        self.app, self.inner = app, inner
        config = app.config
        interface = app.session_interface
        self.session_cookie = interface.get_cookie_name(app)
        self.remember_cookie = config.get("REMEMBER_COOKIE_NAME", "remember_token")
        self.language_cookie = config["LANGUAGE_COOKIE"]
        self.languages = config["LANGUAGES"]
        self.default_locale = config["BABEL_DEFAULT_LOCALE"]
        self.trusted_hosts = config.get("TRUSTED_HOSTS")
        self.log_requests = bool(config.get("REQUEST_LOG"))
        self.secure_cookies = bool(config["SESSION_COOKIE_SECURE"])
        self.session_serializer = interface.get_signing_serializer(app)
        self.session_max_age = int(app.permanent_session_lifetime.total_seconds())
        # The cookie's attributes as the session interface sets them (``secure`` per request).
        self.cookie = {
            "domain": interface.get_cookie_domain(app),
            "path": interface.get_cookie_path(app),
            "httponly": interface.get_cookie_httponly(app),
            "samesite": interface.get_cookie_samesite(app),
            "partitioned": interface.get_cookie_partitioned(app),
        }
        self.max_cookie_size = config["MAX_COOKIE_SIZE"]
        self.security_headers = list(security_headers(config))
        self.locales = {
            name: str(Locale.parse(name)) for name in (*self.languages, self.default_locale)
        }
        self.visitor_locales: dict[tuple, str] = {}

    def locale(self, cookies, accept_language: str | None, user_locale: str | None = None):
        """As shop.platform.i18n.select_locale chooses: a signed-in user's own language when we
        ship it, else a visitor's (the language cookie, the browser's, the default). A
        visitor's is kept per (language cookie, Accept-Language): parsing the header was 10 us
        of each request, and phones send a handful of different ones."""
        if user_locale in self.languages:
            return self.locales.get(user_locale) or str(Locale.parse(user_locale))
        key = (cookies.get(self.language_cookie), accept_language)
        found = self.visitor_locales.get(key)
        if found is None:
            found = i18n.visitor_locale(
                key[0],
                (tag for tag, _quality in parse_accept_header(accept_language, LanguageAccept)),
                self.default_locale,
            )
            found = self.locales.get(found) or str(Locale.parse(found))
            if len(self.visitor_locales) >= KEPT_LOCALES:
                self.visitor_locales.clear()
            self.visitor_locales[key] = found
        return found
