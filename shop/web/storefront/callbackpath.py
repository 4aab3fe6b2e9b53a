"""A thin WSGI path in front of Flask for WeChat Pay's payment callbacks.

A verified ``TRANSACTION.*`` callback does little: check the signature, decrypt, write one
outbox row (``received.record``), answer 204. Through Flask the same answer paid for a request
context, the session and user hooks, the limiter's and the locale's hooks and the response
hooks: most of its time (bench/README.md, the callback bench). This path answers that case
itself, in an app context, with the same security headers and request-log line as Flask, and
hands every other case to Flask unchanged (the body put back for it to read):

- another path or method, a query string, no or too long a body, a host not in TRUSTED_HOSTS,
  WeChat Pay not configured;
- a callback that does not verify (Flask refuses it with 401 and logs why), a refund callback
  (recorded inline by the view), a trade state the shop does not act on;
- any error while recording (Flask then serves the request from the start; a second row of
  the same trade would be a replay for the worker).
"""

import io
import logging
import time
from datetime import UTC, datetime

from flask import Flask

from shop.orders.gateways import providers, received
from shop.orders.gateways.base import TradeState
from shop.orders.gateways.wechatpay import BadCallback
from shop.platform import db as dbsetup
from shop.platform import faults, ops, outbox
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.web.hooks import HSTS, security_headers
from shop.web.storefront.fastpath import host_trusted, request_id_of

log = logging.getLogger(__name__)
PATH = "/payments/wechatpay/notify"


class PaymentCallbackPath:
    """WSGI middleware: answers verified WeChat Pay payment callbacks, passes the rest on."""

    def __init__(self, app: Flask, inner):
        self.app, self.inner = app, inner
        config = app.config
        self.trusted_hosts = config.get("TRUSTED_HOSTS")
        self.log_requests = bool(config.get("REQUEST_LOG"))
        self.max_length = config.get("MAX_CONTENT_LENGTH") or 1 << 20
        self.fixed_headers = [("Content-Length", "0"), *security_headers(config)]
        self.engine = None  # the app's engine and its prepared INSERT, on first use
        self.insert: outbox.DirectInsert | None = None

    def __call__(self, environ, start_response):
        if (
            environ.get("PATH_INFO") != PATH
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("QUERY_STRING")
        ):
            return self.inner(environ, start_response)
        length = environ.get("CONTENT_LENGTH") or ""
        if not length.isdigit() or not 0 < int(length) <= self.max_length:
            return self.inner(environ, start_response)
        if not host_trusted(environ, self.trusted_hosts):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        body = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(body)  # whoever serves it next reads it again
        if not self._record(environ, body):
            return self.inner(environ, start_response)
        request_id = request_id_of(environ)
        headers = [*self.fixed_headers, (ops.REQUEST_ID_HEADER, request_id)]
        if environ.get("wsgi.url_scheme") == "https":
            headers.append(HSTS)
        start_response("204 NO CONTENT", headers)
        if self.log_requests:
            self._log(request_id, started)
        return [b""]

    def _record(self, environ, body: bytes) -> bool:
        """True when the verified paid trade is committed as its outbox row."""
        try:
            adapter = providers.for_app(self.app).get("wechatpay")
            if adapter is None:
                return False
            event = adapter.parse_callback(_signed_headers(environ), body)
        except BadCallback:
            return False  # Flask refuses it, with the reason in its log
        except Exception:
            log.exception("payment callback fast path failed; Flask serves the request")
            return False
        if not isinstance(event, TradeState):
            return False
        payload = received.payload_of(event)
        if payload is None:
            return False
        try:
            self._insert(payload)
            return True
        except Exception:
            log.exception("payment callback fast path failed; Flask serves the request")
            return False

    def _insert(self, payload: dict) -> None:
        """Commit the payment's outbox row on a pooled connection, as one prepared INSERT in
        its own transaction (on SQLite ``BEGIN IMMEDIATE``, as ``dbsetup.writing`` does):
        no session, no ORM, no app context (bench/README.md, the callback bench)."""
        if self.engine is None:
            with self.app.app_context():
                engine = db.engine
            self.insert = outbox.direct_insert(engine)
            self.engine = engine
        raw = self.engine.raw_connection()
        try:
            if self.engine.dialect.name == "sqlite":
                begin = "BEGIN IMMEDIATE"
            else:  # psycopg runs in autocommit (dbsetup.begin_when_needed): begin here
                begin = "BEGIN" if getattr(raw.driver_connection, "autocommit", False) else None
            cursor = raw.cursor()
            try:
                with dbsetup.writer_turn(self.engine):  # SQLite: queue, do not poll
                    if begin:
                        cursor.execute(begin)
                    self.insert(cursor, received.TOPIC, "wechatpay", payload, utcnow())
                    faults.hit("callback.after_record")  # written, not committed
                    raw.commit()
            finally:
                cursor.close()
        except Exception:
            try:
                raw.rollback()
            except Exception:
                raw.invalidate()  # the pool makes a new connection instead of this one
            raise
        finally:
            raw.close()  # back to the pool

    def _log(self, request_id: str, started: float) -> None:
        """The request-log line the Flask path writes (shop.platform.ops.request_record)."""
        try:
            ops.request_log.info(
                '{"time": "%sZ", "request_id": "%s", "method": "POST", "path": "%s", '
                '"status": 204, "duration_ms": %.1f, "user_id": null}',
                datetime.now(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds"),
                request_id,
                PATH,
                (time.perf_counter() - started) * 1000,
            )
        except Exception:  # the log must never turn a served request into an error
            log.exception("request log line failed")


def _signed_headers(environ) -> dict:
    """The headers the signature check reads, straight from the environ (not every header
    through werkzeug's EnvironHeaders)."""
    return {name: environ.get(key, "") for name, key in _SIGNATURE_HEADERS}


_SIGNATURE_HEADERS = tuple(
    (name, "HTTP_" + name.upper().replace("-", "_"))
    for name in (
        "Wechatpay-Timestamp",
        "Wechatpay-Nonce",
        "Wechatpay-Signature",
        "Wechatpay-Serial",
    )
)


def install(app: Flask) -> None:
    app.wsgi_app = PaymentCallbackPath(app, app.wsgi_app)
