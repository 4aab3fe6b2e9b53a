"""A thin WSGI path in front of Flask for the ordinary follow of a share link.

``GET /r/<code>`` is most of a share burst's requests, and what it does is small: count the two
click limits, find the link in the worker's cache, queue a click row, answer 303 with a cookie.
Through Flask the same answer paid for a request context, the session and user loading, the
limiter's and the locale's hooks, and building the security headers: most of its time (see
bench/README.md). This path answers that ordinary case itself, in an app context, with the same
headers, cookie and request-log line as the Flask view (``sharing.follow_link``), and hands every
other case to Flask unchanged:

- a method other than GET/HEAD, a query string, a path that is not a well-formed code, a session
  cookie (a signed-in visitor: the view's user handling applies), a host not in TRUSTED_HOSTS;
- beyond the hard limit (the 429 page), an unknown code (404), a gone product (410): the limits
  are counted once, here, and handed over in the environ, so Flask does not count them again;
- any error here before the click was queued (Flask then serves the request from the start).
"""

import logging
import os
import time

from flask import Flask
from werkzeug.exceptions import SecurityError
from werkzeug.http import parse_cookie
from werkzeug.sansio.utils import get_host

from shop.platform import ops
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.web.hooks import HSTS, security_headers
from shop.web.storefront import sharing

log = logging.getLogger(__name__)
PREFIX = "/r/"
_PURPOSE_HEADERS = {
    "User-Agent": "HTTP_USER_AGENT",
    "Referer": "HTTP_REFERER",
    "Purpose": "HTTP_PURPOSE",
    "Sec-Purpose": "HTTP_SEC_PURPOSE",
    "X-Purpose": "HTTP_X_PURPOSE",
    "X-Moz": "HTTP_X_MOZ",
}


class ShareLinkPath:
    """WSGI middleware: answers ordinary share-link follows, passes the rest to ``inner``."""

    def __init__(self, app: Flask, inner):
        self.app, self.inner = app, inner
        config = app.config
        self.session_cookie = config["SESSION_COOKIE_NAME"]
        self.visitor_cookie = config["VISITOR_COOKIE"]
        self.trusted_hosts = config.get("TRUSTED_HOSTS")
        self.log_requests = bool(config.get("REQUEST_LOG"))
        self.secure_cookies = bool(config["SESSION_COOKIE_SECURE"])
        # What every answer of this path carries besides its Location and cookie, built once.
        self.fixed_headers = [
            ("Content-Type", "text/html; charset=utf-8"),
            ("Content-Length", "0"),
            ("Cache-Control", "no-store"),
            ("Vary", "Accept-Encoding, Cookie"),  # as Flask-Compress and the session add
            *security_headers(config),
        ]

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if (
            not path.startswith(PREFIX)
            or environ.get("REQUEST_METHOD") not in ("GET", "HEAD")
            or environ.get("QUERY_STRING")
            or not links.is_well_formed(path[len(PREFIX) :])
        ):
            return self.inner(environ, start_response)
        cookies = environ.get("HTTP_COOKIE", "")
        if self.session_cookie in cookies and self.session_cookie in parse_cookie(cookies):
            return self.inner(environ, start_response)
        if not host_trusted(environ, self.trusted_hosts):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        try:
            with self.app.app_context():
                answer = self._follow(environ, path[len(PREFIX) :], cookies)
        except Exception:
            log.exception("share-link fast path failed; Flask serves the request")
            answer = None
        if answer is None:
            return self.inner(environ, start_response)
        request_id = request_id_of(environ)
        headers = answer + [(ops.REQUEST_ID_HEADER, request_id)]
        start_response("303 SEE OTHER", headers)
        if self.log_requests:
            ops.log_thin_request(
                path, request_id, started, status=303, method=environ["REQUEST_METHOD"]
            )
        return [b""]

    def _follow(self, environ, code: str, cookies: str) -> list | None:
        """The answer's headers, or None to hand the request to Flask."""
        ip = environ.get("REMOTE_ADDR") or ""
        ip_hash = clicks.hash_ip(ip, self.app.config["SECRET_KEY"])
        limits = sharing.count_click_limits(ip_hash)
        environ[sharing.fastpath_counted_key] = limits  # Flask must not count them again
        if limits.retry_after is not None:
            return None
        link = links.resolve_cached(code)
        if link is None or link.gone:
            return None
        # As the view does: the lookup's read transaction ends before the click's write.
        if db.session.registry.has() and db.session().in_transaction():
            db.session.rollback()
        writer = clicks.writer_for_app()
        visitor = None
        if self.visitor_cookie in cookies:
            visitor = sharing.visitor_id_from(parse_cookie(cookies).get(self.visitor_cookie, ""))
        new_visitor = visitor is None
        if new_visitor:
            visitor = os.urandom(16).hex()  # (secrets.token_hex(16), without its calls)
        facts = sharing.request_facts(
            environ["REQUEST_METHOD"],
            lambda name: environ.get(_PURPOSE_HEADERS[name], ""),
            ip,
        )
        sharing.store_arrival(
            link,
            facts,
            ip_hash,
            visitor,
            new_visitor=new_visitor,
            writer=writer,
            flooded=limits.inner_exceeded,
        )
        if writer is None:  # CLICK_BATCH_SECONDS = 0: the row is in the session's transaction
            db.session.commit()
        secure = environ.get("wsgi.url_scheme") == "https"
        headers = [("Location", sharing.landing_path(link, environ.get("SCRIPT_NAME", "")))]
        headers += self.fixed_headers
        if secure:
            headers.append(HSTS)
        if new_visitor:
            cookie = sharing.visitor_cookie_header(visitor, self.secure_cookies or secure)
            headers.append(("Set-Cookie", cookie))
        return headers


request_id_of = ops.thin_request_id


def install(app: Flask) -> None:
    app.wsgi_app = ShareLinkPath(app, app.wsgi_app)


def host_trusted(environ, trusted_hosts) -> bool:
    """Whether the request's host is one of TRUSTED_HOSTS (always, when none are set): a thin
    path answers only such requests and leaves the others to Flask, which refuses them."""
    if not trusted_hosts:
        return True
    try:
        get_host(
            environ["wsgi.url_scheme"],
            environ.get("HTTP_HOST"),
            (environ.get("SERVER_NAME", ""), environ.get("SERVER_PORT")),
            trusted_hosts,
        )
    except SecurityError:
        return False
    return True
