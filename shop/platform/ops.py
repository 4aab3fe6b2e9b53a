"""What running in production needs from the app, registered by ``create_app``: request ids,
the structured request log, ``/healthz``, werkzeug's ProxyFix from settings, the host names
trusted (``TRUSTED_HOSTS``), and the rate-limit storage taken from ``REDIS_URL``.

The request log is one JSON line per request on the logger ``shop.request``: time, request id,
method, path (never the query string: the app puts nothing secret there today, but a query is
where a future token or a pasted phone number would land), status, duration in ms, the signed-in
user's id, and the exception's class for a request that ended in a 500. Form bodies are never
logged, and neither are addresses (the click table keeps only hashed ones). Successful
``/healthz`` checks are left out: a load balancer asks every few seconds.
"""

import json
import logging
import os
import re
import sys
import time

from flask import Flask, current_app, g, jsonify, request
from flask_babel import get_locale
from flask_babel import gettext as _
from markupsafe import escape
from sqlalchemy import inspect, text
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix

from shop.platform import ratestore  # noqa: F401 - registers the fenxiang+redis storage scheme
from shop.platform.extensions import db, limiter

REQUEST_ID_HEADER = "X-Request-ID"
#: An incoming X-Request-ID (from a proxy or load balancer) is kept only if it looks like an
#: id: UUIDs, nginx's $request_id, AWS's "Root=1-..." all match; anything else is replaced.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:=+/-]{8,128}")
#: Paths longer than this are cut in the log line (a crafted URL can be kilobytes long).
MAX_LOGGED_PATH = 512
#: A path JSON writes as it is (no escapes).
_PLAIN_PATH = re.compile(r"[A-Za-z0-9/._~%=&?:@+,;!*'()$-]*")
PROXY_SETTINGS = ("x_for", "x_proto", "x_host", "x_port", "x_prefix")

request_log = logging.getLogger("shop.request")


def register(app: Flask) -> None:
    install_proxy_fix(app)
    app.register_error_handler(SecurityError, untrusted_host)
    install_request_ids(app)
    if app.config["REQUEST_LOG"]:
        install_request_log(app)
    app.add_url_rule("/healthz", "healthz", limiter.exempt(healthz), methods=["GET"])


# --- rate-limit storage --------------------------------------------------------------------


def limiter_storage_uri(redis_url: str) -> str:
    """The Flask-Limiter (``limits``) storage URI for a redis-py style URL: ``redis://`` and
    ``unix:///path`` (or ``redis+unix://``) as the storage on this project's own Redis client
    (``fenxiang+redis://``, ``fenxiang+redis+unix://``: shop.platform.ratestore), ``rediss://``
    (TLS) as ``limits``' RedisStorage over redis-py."""
    if redis_url.startswith("unix://"):
        return "fenxiang+redis+unix://" + redis_url.removeprefix("unix://")
    if redis_url.startswith(("redis://", "redis+unix://")):
        return "fenxiang+" + redis_url
    if redis_url.startswith("rediss://"):
        return redis_url
    raise ValueError(f"REDIS_URL must start with redis://, rediss:// or unix://: {redis_url!r}")


def configure_rate_limit_storage(config) -> None:
    """Count rate limits in Redis when ``REDIS_URL`` is set and no other storage was chosen.

    Redis calls get short timeouts, and an unreachable Redis falls back to counting in the
    process (what the single-process default does anyway) instead of failing the request;
    Flask-Limiter goes back to Redis once it answers again."""
    redis_url = config.get("REDIS_URL")
    if not redis_url or config.get("RATELIMIT_STORAGE_URI") not in (None, "", "memory://"):
        return
    config["RATELIMIT_STORAGE_URI"] = limiter_storage_uri(redis_url)
    config.setdefault(
        "RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1, "socket_timeout": 1}
    )
    config.setdefault("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", True)


# --- proxies and hosts ---------------------------------------------------------------------


def configure_trusted_hosts(config) -> None:
    """``TRUSTED_HOSTS`` as the list Flask wants: "a.cn, b.cn" from the environment becomes
    ["a.cn", "b.cn"]; empty becomes None (every host, Flask's default)."""
    hosts = config.get("TRUSTED_HOSTS")
    if isinstance(hosts, str):
        hosts = [name.strip() for name in hosts.split(",")]
    hosts = [name for name in hosts or () if name]
    config["TRUSTED_HOSTS"] = hosts or None


def untrusted_host(error: SecurityError):
    """The 400 for a Host not in ``TRUSTED_HOSTS``. A page of its own: with no trusted host
    Flask builds no URL adapter, so the site's error page (links, stylesheet) cannot be
    built, and nothing here names the host the request gave."""
    title = _("Bad request")
    message = _("This site does not answer to the address in this request.")
    body = (
        f'<!doctype html><html lang="{escape(str(get_locale()))}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head><body><h1>{escape(title)}</h1>"
        f"<p>{escape(message)}</p></body></html>"
    )
    return body, 400, {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store"}


def install_proxy_fix(app: Flask) -> None:
    """Trust X-Forwarded-* only as far as the settings say (werkzeug's ProxyFix); with every
    count at 0 nothing is installed and the headers are ignored."""
    config = app.config
    counts = {name: int(config.get(f"PROXY_FIX_{name.upper()}") or 0) for name in PROXY_SETTINGS}
    if any(counts.values()):
        app.wsgi_app = ProxyFix(app.wsgi_app, **counts)


# --- request ids and the request log -------------------------------------------------------


def new_request_id() -> str:
    """A new request id: 128 random bits as 32 hex digits (as uuid4().hex, without its
    version bits and its UUID object)."""
    return os.urandom(16).hex()


def request_id() -> str:
    """This request's id: the incoming X-Request-ID when it is safe, else a new one."""
    if "request_id" not in g:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        g.request_id = incoming if SAFE_REQUEST_ID.fullmatch(incoming) else new_request_id()
    return g.request_id


def install_request_ids(app: Flask) -> None:
    @app.after_request
    def _echo_request_id(response):
        response.headers[REQUEST_ID_HEADER] = request_id()
        return response


def install_request_log(app: Flask) -> None:
    """One line per request, written when the request context ends (``teardown_request``), so
    a request is logged once whatever happened: a normal response, an error page, or an
    exception that became a 500 (even one raised by another after_request hook)."""
    global _plain_handler
    request_log.setLevel(logging.INFO)
    if not request_log.handlers:
        # Nobody configured this logger (gunicorn configures only its own): write plain lines
        # to stderr, and don't also pass them to the app's logger with its own format.
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_PLAIN)
        request_log.addHandler(handler)
        request_log.propagate = False
        _plain_handler = handler

    # First of the before_request hooks, so the duration covers the others too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)

    @app.after_request
    def _note_status(response):
        g.response_status = response.status_code
        return response

    @app.teardown_request
    def _log_request(error):
        if request.endpoint == "healthz" and error is None and g.get("response_status") == 200:
            return  # a load balancer asks every few seconds: only failed checks are news
        if g.get("after_answer"):
            return  # work done after a request's answer (a page kept again): not a request
        try:
            write_request_line(json.dumps(request_record(error), ensure_ascii=False))
        except Exception:  # the log must never turn a served request into an error
            logging.getLogger(__name__).exception("request log line failed")


#: The handler install_request_log adds when nobody configured the logger, and its format.
_plain_handler: logging.StreamHandler | None = None
_PLAIN = logging.Formatter("%(message)s")


def write_request_line(line: str) -> None:
    """Write one line of the request log. While the logger is as install_request_log left it
    (its own stderr handler alone, no filter, not propagating, INFO on), the line goes straight
    to that handler's stream as the handler writes it (the line, a newline, a flush), without
    the LogRecord, the formatting and the locks of the logging call (a tenth of a thin path's
    time); otherwise through the logger, to whatever was configured."""
    handler = _plain_handler
    handlers = request_log.handlers
    if (
        handler is not None
        and len(handlers) == 1
        and handlers[0] is handler
        and handler.formatter is _PLAIN
        and not handler.filters
        and not request_log.filters
        and not request_log.propagate
        and handler.level <= logging.INFO
        and request_log.isEnabledFor(logging.INFO)
    ):
        stream = handler.stream
        with handler.lock:
            stream.write(line + handler.terminator)
            stream.flush()
        return
    request_log.info(line)


_second: tuple[int, str] = (0, "")


def log_time() -> str:
    """Now as the request log writes it (``2026-12-07T01:02:03.456Z``, UTC, milliseconds);
    the part up to the second is formatted once per second."""
    global _second
    now = time.time()
    second = int(now)
    found = _second
    if found[0] != second:
        found = _second = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)))
    return f"{found[1]}.{int((now - second) * 1000):03d}Z"


def _start_timer() -> None:
    g.request_started = time.perf_counter()


def thin_request_id(environ) -> str:
    """A thin WSGI path's request id (as ``g.request_id`` is made): the caller's when safe."""
    incoming = environ.get("HTTP_X_REQUEST_ID", "")
    return incoming if SAFE_REQUEST_ID.fullmatch(incoming) else new_request_id()


def log_thin_request(
    path: str,
    request_id: str,
    started: float,
    *,
    status: int = 200,
    user_id: int | None = None,
    method: str = "GET",
) -> None:
    """The request-log line a request answered by a thin WSGI path writes (the fields and
    order of :func:`request_record`'s); never raises."""
    try:
        # json.dumps of request_record's fields, formatted directly: the id matched
        # SAFE_REQUEST_ID or is hex, the method is a token, only a path that is not plain
        # (the thin paths' are) needs escaping.
        path = path[:MAX_LOGGED_PATH]
        if not _PLAIN_PATH.fullmatch(path):
            path = json.dumps(path, ensure_ascii=False)[1:-1]
        write_request_line(
            f'{{"time": "{log_time()}", "request_id": "{request_id}", "method": "{method}", '
            f'"path": "{path}", '
            f'"status": {int(status)}, '
            f'"duration_ms": {round((time.perf_counter() - started) * 1000, 1)!r}, '
            f'"user_id": {"null" if user_id is None else int(user_id)}}}'
        )
    except Exception:  # the log must never turn a served request into an error
        logging.getLogger(__name__).exception("request log line failed")


def request_record(error: BaseException | None) -> dict:
    """The fields of this request's log line (see the module docstring)."""
    started = g.get("request_started")
    # An exception reaching teardown is one Flask turned into a 500, whatever was noted before.
    status = 500 if error is not None else g.get("response_status")
    record = {
        "time": log_time(),
        "request_id": request_id(),
        "method": request.method,
        "path": request.path[:MAX_LOGGED_PATH],
        "status": status,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "user_id": _signed_in_user_id(),
    }
    if error is not None:
        record["error"] = type(error).__name__
    return record


def _signed_in_user_id() -> int | None:
    """The id of the user this request already loaded, without loading one (no query; the
    identity key survives the rollback an error page does)."""
    user = g.get("_login_user")  # where Flask-Login keeps the user it loaded
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    try:
        identity = inspect(user).identity
    except Exception:
        return None
    return identity[0] if identity else None


# --- health --------------------------------------------------------------------------------


def healthz():
    """200 when the database answers ``SELECT 1``, else 503. For load balancers and uptime
    checks: no rate limit, no cookie, never cached, no detail beyond "unreachable"."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except Exception as error:
        db.session.rollback()
        current_app.logger.warning("healthz: database check failed: %r", error)
        status, body = 503, {"status": "error", "database": "unreachable"}
    else:
        status, body = 200, {"status": "ok", "database": "ok"}
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response
