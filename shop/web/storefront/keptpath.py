"""A thin WSGI path in front of Flask for kept pages, as ``/r/`` has (shop.web.storefront.fastpath).

A kept product page (``/p/<id>``), landing page (``/s/<slug>/p/<id>``) or shop page
(``/s/<slug>``) for a visitor who is not signed in costs no query and no template
(shop.web.storefront.landing), yet through Flask it still paid for a request context, the
session, the hooks and the locale: most of its time (bench/README.md). This path answers that
ordinary case itself, in an app context, with the bytes and headers the Flask path gives: the
same kept page (its stock numbers filled in, shop.web.storefront.stockparts) with a fresh CSRF
token, the security headers, ``Vary``, the session cookie that carries the token (signed by the
app's session interface, set only when the session is new, as Flask does), the language chosen
as ``shop.platform.i18n`` chooses it, compression as Flask-Compress does it, the request id and
the request-log line. Everything else goes to Flask unchanged:

- a method other than GET, a path or query string other than the plain ones a kept page is
  kept under (``landing.plain_pairs``, written without escapes), a SCRIPT_NAME, a Range or
  conditional request, a host not in TRUSTED_HOSTS;
- a visitor who may be signed in (a user id in the session, a remember-me cookie), a session
  holding anything but a CSRF token (a cart, messages), a session cookie that does not verify;
- a page not kept, kept under other stamps, in the last tenth of its time (Flask renders it
  again after its answer), whose numbers now give another state, or that loads WeChat's
  share-card script (its CSP differs);
- any error here (Flask then serves the request from the start).

Compression uses Flask-Compress's own choice of algorithm and its own compressor (private
names, pinned in constraints.txt): tests/web/test_kept_path.py compares this path's answers with
Flask's, compressed too, so an upgrade that changes either shows there.
"""

import hashlib
import hmac
import logging
import os
import re
import time
import zlib

from flask import Flask
from flask_compress.flask_compress import _choose_algorithm, _compress_data
from itsdangerous import BadSignature, Serializer, URLSafeTimedSerializer
from itsdangerous.encoding import base64_encode, int_to_bytes, want_bytes
from itsdangerous.signer import HMACAlgorithm
from itsdangerous.url_safe import URLSafeSerializerMixin
from werkzeug.exceptions import SecurityError
from werkzeug.http import dump_cookie, http_date, parse_cookie
from werkzeug.sansio.utils import get_host

from shop.platform import delivery, ops
from shop.platform.inputs import MAX_ID
from shop.web.hooks import HSTS
from shop.web.storefront import landing, shoppage, stockparts, wechat
from shop.web.storefront.fastpath import request_id_of
from shop.web.thinpath import ThinPath

log = logging.getLogger(__name__)
_ID = r"([1-9][0-9]{0,9})"
_SLUG = r"([a-z0-9][a-z0-9-]{1,30}[a-z0-9])"
PRODUCT = re.compile(rf"/p/{_ID}")
LANDING = re.compile(rf"/s/{_SLUG}/p/{_ID}")
SHOP = re.compile(rf"/s/{_SLUG}")
#: What a kept page's query string may be written with: no escapes, so it reads one way only.
_QUERY = re.compile(r"[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]*(?:&[A-Za-z0-9_.-]+=[A-Za-z0-9_.-]*)*")
#: A token this path makes (sha1's hex digest of random bytes): written in JSON as it is.
_NEW_TOKEN = re.compile(r"[0-9a-f]{40}")
_SAMPLE = "0123456789abcdef0123456789abcdef01234567"
#: Requests that make Flask's answer depend on more than the page (werkzeug's conditional and
#: range handling after compression).
_CONDITIONAL = (
    "HTTP_RANGE",
    "HTTP_IF_RANGE",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_MATCH",
    "HTTP_IF_UNMODIFIED_SINCE",
)


class _Signing:
    """``serializer.dumps`` (itsdangerous, as Flask's session and Flask-WTF's token sign) with
    its signer made and its key derived once, not at every call: the same bytes. Two of its
    costs are cut: the HMAC starts from a copy of one keyed once, and whether the payload is
    compressed (itsdangerous keeps zlib's output when it is at least 2 bytes shorter) is
    found with a small compressor, 5 us instead of the 35-60 us of ``zlib.compress`` setting
    up its 256 KB state for a 57-byte payload. Its deflate is zlib.compress's for this path's
    payloads (a 40-hex token in JSON: the same bytes in 400,000 samples, never shorter than
    the payload) but not for every input: its small hash table can miss a match zlib finds,
    by 1-3 bytes. So it only answers "not compressed" with a margin (``SMALL_MARGIN`` bytes
    past the payload's length); anything closer is decided by ``zlib.compress`` itself, which
    also makes every compressed payload. (A wrong answer would only cost byte equality:
    itsdangerous loads a payload compressed or not.)"""

    def __init__(self, serializer: URLSafeTimedSerializer):
        self.serializer = serializer
        signer = serializer.make_signer()
        self.key, self.algorithm = signer.derive_key(), signer.algorithm
        self.sep = want_bytes(signer.sep)
        self.mac = None
        if type(self.algorithm) is HMACAlgorithm:
            self.mac = hmac.new(self.key, digestmod=self.algorithm.digest_method)
        # Only while itsdangerous' URL-safe payload is what it is today; else its own.
        self.own_payload = (
            getattr(type(serializer).dump_payload, "__code__", None)
            is URLSafeSerializerMixin.dump_payload.__code__
        )

    def payload(self, obj, json: bytes | None = None) -> bytes:
        """itsdangerous' payload of ``obj``; ``json``: its serializer's bytes, when known."""
        if not self.own_payload:
            return want_bytes(self.serializer.dump_payload(obj))
        if json is None:
            json = Serializer.dump_payload(self.serializer, obj)
        if len(json) < SMALL_WINDOW and len(_small_compress(json)) >= len(json) + SMALL_MARGIN:
            return base64_encode(json)
        compressed = zlib.compress(json)  # URLSafeSerializerMixin.dump_payload's own rule
        if len(compressed) < len(json) - 1:
            return b"." + base64_encode(compressed)
        return base64_encode(json)

    def dumps(self, obj, json: bytes | None = None) -> str:
        value = self.payload(obj, json)
        value += self.sep + base64_encode(int_to_bytes(int(time.time())))
        if self.mac is not None:
            mac = self.mac.copy()
            mac.update(value)
            signature = mac.digest()
        else:
            signature = self.algorithm.get_signature(self.key, value)
        return (value + self.sep + base64_encode(signature)).decode()


#: Only payloads shorter than this are tried with the small compressor (a 512-byte window).
SMALL_WINDOW = 120
#: How far past the payload's length the small compressor's output must be for "not
#: compressed" without zlib.compress (itsdangerous compresses at 2 bytes under the length; the
#: small compressor was seen at most 3 bytes longer than zlib.compress).
SMALL_MARGIN = 2


def _small_compress(data: bytes) -> bytes:
    """zlib's deflate of ``data`` at zlib.compress's level, in a 512-byte window and a small
    hash table: for fewer than SMALL_WINDOW bytes, zlib.compress's output but for the header."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 9, 1)
    return compressor.compress(data) + compressor.flush()


class KeptPagePath(ThinPath):
    """WSGI middleware: answers the ordinary visit of a kept page, passes the rest to
    ``inner``."""

    def __init__(self, app: Flask, inner):
        super().__init__(app, inner)
        config = app.config
        self.token_field = config.get("WTF_CSRF_FIELD_NAME") or "csrf_token"
        self.token_serializer = URLSafeTimedSerializer(
            config.get("WTF_CSRF_SECRET_KEY") or app.secret_key, salt="wtf-csrf-token"
        )
        if self.session_serializer is not None:
            self.session_signing = _Signing(self.session_serializer)
            self.token_signing = _Signing(self.token_serializer)
        self.token_session = self._token_session_json()
        self.token_json = Serializer.dump_payload(self.token_serializer, _SAMPLE) == (
            b'"' + _SAMPLE.encode() + b'"'
        )
        self.compress_min_size = config["COMPRESS_MIN_SIZE"]
        self.compress_dates = bool(config["COMPRESS_EVALUATE_CONDITIONAL_REQUEST"])
        # What would make Flask's answer differ from a kept page's for every visitor: then
        # this path answers nothing.
        self.enabled = (
            self.session_serializer is not None
            and not config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST")
            and config.get("COMPRESS_CACHE_BACKEND") is None
        )

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if (
            not self.enabled
            or not path.startswith(("/p/", "/s/"))
            or environ.get("REQUEST_METHOD") != "GET"
        ):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        try:
            answer = self._answer(environ, path)
        except Exception:
            log.exception("kept-page thin path failed; Flask serves the request")
            answer = None
        if answer is None:
            return self.inner(environ, start_response)
        headers, body = answer
        request_id = request_id_of(environ)
        headers.insert(2, (ops.REQUEST_ID_HEADER, request_id))
        start_response("200 OK", headers)
        if self.log_requests:
            ops.log_thin_request(path, request_id, started)
        return [body]

    # --- the request ---------------------------------------------------------------------

    def _answer(self, environ, path: str) -> tuple[list, bytes] | None:
        """The answer's headers and body, or None to hand the request to Flask."""
        route = _route(path)
        if route is None or environ.get("SCRIPT_NAME") or not self._may_be_kept(route):
            return None
        query = environ.get("QUERY_STRING", "")
        if query and not _plain_query(query):
            return None
        if any(environ.get(name) for name in _CONDITIONAL):
            return None
        scheme = environ.get("wsgi.url_scheme", "http")
        if not environ.get("HTTP_HOST"):  # (HTTP/1.0: Flask's host from the server's name)
            return None
        try:
            host = get_host(scheme, environ["HTTP_HOST"], None, self.trusted_hosts)
        except SecurityError:
            return None
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        if self.remember_cookie in cookies:
            return None
        session = self._session(cookies)
        if session is None:
            return None
        user_agent = environ.get("HTTP_USER_AGENT", "")
        in_wechat = "micromessenger" in user_agent.lower()
        locale = self.locale(cookies, environ.get("HTTP_ACCEPT_LANGUAGE"))
        key = (scheme, host, f"{path}?{query}", locale, 0, in_wechat)
        page = self._kept(route, key)
        if page is None or wechat.SDK_TAG in page:
            return None
        secure = scheme in ("https", "wss")
        cookie = None
        if landing.TOKEN_MARK in page:
            raw = session.get(self.token_field)
            if raw is None:
                raw = hashlib.sha1(os.urandom(64)).hexdigest()
                cookie = self._session_cookie({self.token_field: raw}, secure)
            json = None  # (the token serializer's bytes, when a sample says they are these)
            if self.token_json and _NEW_TOKEN.fullmatch(raw):
                json = b'"' + raw.encode() + b'"'
            page = page.replace(landing.TOKEN_MARK, self.token_signing.dumps(raw, json))
        return self._response(
            page.encode(), environ.get("HTTP_ACCEPT_ENCODING", ""), secure, cookie
        )

    def _session(self, cookies) -> dict | None:
        """The visitor's session when it holds nothing but a CSRF token ({} for none); None
        when it holds more or does not verify (Flask's business)."""
        value = cookies.get(self.session_cookie)
        if not value:
            return {}
        try:
            data = self.session_serializer.loads(value, max_age=self.session_max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or set(data) - {self.token_field}:
            return None
        if not isinstance(data.get(self.token_field, ""), str):
            return None
        return data

    def _may_be_kept(self, route: tuple) -> bool:
        """Whether this worker keeps any page of the route's product or shop (a cheap look
        before the request is read: a page never kept costs the visit next to nothing)."""
        kind, slug, product_id = route
        if kind == "shop":
            cache = self.app.extensions.get(shoppage.CACHE)
            return cache is not None and cache.holds(slug)
        cache = self.app.extensions.get(landing.CACHE)
        return cache is not None and cache.holds(product_id)

    def _kept(self, route: tuple, key: tuple) -> str | None:
        """The kept page for ``key``, its numbers filled in (the token's mark still in it);
        None when there is none Flask would serve as it is. What Flask made on its first
        requests (the caches, the stamps) is taken from the app: no context is needed unless
        the numbers must be read (an app context for the query)."""
        app = self.app
        kind, slug, product_id = route
        found = app.extensions.get("change_stamps")
        if found is None:
            return None
        if kind == "shop":
            cache = app.extensions.get(shoppage.CACHE)
            read = shoppage.read_stamps(cache, slug, found) if cache is not None else None
            return None if read is None else cache.peek(slug, key, read)
        cache = app.extensions.get(landing.CACHE)
        if cache is None:
            return None
        page = cache.peek(product_id, key, found.read(product_id))
        if isinstance(page, stockparts.StockPage):
            read = found.read_stock(product_id)
            numbers = stockparts.kept_numbers(app, product_id, read)
            if numbers is None:
                with app.app_context():  # its session's transaction begins after ``read``
                    numbers = stockparts.numbers(product_id, read)
            page = stockparts.fill_with(page, numbers)
        return page

    # --- the answer ----------------------------------------------------------------------

    def _token_session_json(self) -> bytes | None:
        """``%``-format of the session serializer's bytes for a session holding only a new
        token (40 hex digits, written as they are), when the serializer writes that sample so;
        None: the serializer writes every session."""
        if self.session_serializer is None or not re.fullmatch(r"\w+", self.token_field):
            return None
        form = b'{"' + self.token_field.encode() + b'":"%s"}'
        made = Serializer.dump_payload(self.session_serializer, {self.token_field: _SAMPLE})
        return form if made == form % _SAMPLE.encode() else None

    def _session_cookie(self, session: dict, secure: bool) -> str:
        json = None
        token = session.get(self.token_field)
        if self.token_session is not None and len(session) == 1 and _NEW_TOKEN.fullmatch(token):
            json = self.token_session % token.encode()
        return dump_cookie(
            self.session_cookie,
            self.session_signing.dumps(session, json),
            max_age=None,
            expires=None,
            path=self.cookie["path"],
            domain=self.cookie["domain"],
            secure=self.secure_cookies or secure,
            httponly=self.cookie["httponly"],
            max_size=self.max_cookie_size,
            samesite=self.cookie["samesite"],
            partitioned=self.cookie["partitioned"],
        )

    def _response(
        self, body: bytes, accept_encoding: str, secure: bool, cookie: str | None
    ) -> tuple[list, bytes]:
        """The headers in the order Flask's hooks write them (the request id goes third)."""
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", "")]
        headers.append(("Vary", "Accept-Encoding, Cookie"))
        compress = delivery.compress  # as Flask-Compress reads them, at each answer
        algorithm = _choose_algorithm(compress.enabled_algorithms, accept_encoding)
        if (
            algorithm is not None
            and "text/html" in compress.compress_mimetypes_set
            and len(body) >= self.compress_min_size
        ):
            body = _compress_data(self.app, body, algorithm)
            headers.append(("Content-Encoding", algorithm))
            if self.compress_dates:  # Flask-Compress's make_conditional adds it
                headers.append(("Date", http_date()))
        headers[1] = ("Content-Length", str(len(body)))
        headers += self.security_headers
        if secure:
            headers.append(HSTS)
        if cookie is not None:
            headers.append(("Set-Cookie", cookie))
        return headers, body


def _route(path: str) -> tuple[str, str | None, int | None] | None:
    """("product" | "landing" | "shop", the slug, the product id) of a kept page's path."""
    if found := PRODUCT.fullmatch(path):
        product_id = int(found[1])
        return ("product", None, product_id) if product_id <= MAX_ID else None
    if found := LANDING.fullmatch(path):
        product_id = int(found[2])
        return ("landing", found[1], product_id) if product_id <= MAX_ID else None
    if found := SHOP.fullmatch(path):
        return "shop", found[1], None
    return None


def _plain_query(query: str) -> bool:
    if not _QUERY.fullmatch(query):
        return False
    return landing.plain_pairs(part.split("=", 1) for part in query.split("&"))


def install(app: Flask) -> None:
    app.wsgi_app = KeptPagePath(app, app.wsgi_app)
