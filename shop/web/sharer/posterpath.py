"""A thin WSGI path in front of Flask for a sharer's poster image (``/me/links/<id>/poster.jpg``),
as kept pages (shop.web.storefront.keptpath) and ``/r/`` (shop.web.storefront.fastpath) have.

A poster already drawn is a file on disk named by its key (a hash of everything drawn on it,
shop.sharing.poster_spec), yet through Flask each request paid for the session, Flask-Login's
user, the sharer's guard, seven queries to work the key out again (the link, its product, cover,
shop item, coupon...), ``send_file`` and the hooks: 3.5-3.9 ms of CPU on gunicorn
(bench/README.md). This path answers the ordinary case itself with one query for who is asking
and what they ask for (the live session, its user, their shop, the link, the shop item), the
coupon query, and the key Flask worked out last time for the same inputs, kept by this worker
while the change stamps (shop.platform.stamps) of the product, the shop's items and everything
are unchanged (shop.web.sharer.posterkeys). Both statements are built once and run on a
connection of the app's engine (no app context, no ORM session), and a session cookie's decoded
value is kept per worker (never past its max age). The answer is the bytes and headers the
Flask path gives: the file, its ETag, Last-Modified, ``Cache-Control: private, no-cache``, the
refreshed session cookie when it is due (shop.web.hooks.SessionInterface.should_set_cookie),
``Vary``, the security headers, the request id and the request-log line. Everything else goes
to Flask unchanged, which answers (or refuses) it as before:

- a method other than GET, a query string (``?download=1``), a SCRIPT_NAME, a Range or a
  condition other than ``If-None-Match``, an ``If-None-Match`` the key does not match (Flask's
  200), a host not in TRUSTED_HOSTS, no Host header;
- no session cookie, one that does not verify, without a user's session token, or holding
  what Flask or Flask-Login would change at this request (``_remember``, a session identifier
  that does not match this client under session protection, a session that is not permanent);
  a remember-me cookie;
- a session token that is unknown or ended (signed out, ended by a password change or from
  the account page), a session whose last-seen time is due to move (Flask moves it), an
  administrator (the second-factor gate), a user without a shop, a link that is not in their
  shop (Flask's 404);
- a key not kept for these inputs (the first request, a change since: Flask works it out and
  keeps it), a poster not on disk (Flask draws it);
- any error here (Flask then serves the request from the start).
"""

import logging
import os
import re
import time
from datetime import UTC, datetime, timedelta
from hashlib import sha512
from pathlib import Path

from flask import Flask
from itsdangerous import BadSignature
from sqlalchemy import bindparam, select
from werkzeug.exceptions import SecurityError
from werkzeug.http import (
    dump_cookie,
    http_date,
    parse_cookie,
    parse_etags,
)
from werkzeug.sansio.utils import get_host
from werkzeug.wsgi import wrap_file

from shop.accounts.accounts import token_hash
from shop.accounts.models import User, UserSession
from shop.platform import ops
from shop.platform.base import utcnow
from shop.platform.extensions import db, login_manager
from shop.platform.inputs import MAX_ID
from shop.sharing.models import ShareLink, Shop, ShopItem
from shop.web.hooks import HSTS
from shop.web.sharer.posterkeys import (
    CACHE,
    COUPON_FIELDS,
    LINK_FIELDS,
    SHOP_FIELDS,
    chosen_coupon,
    eligible,
    poster_inputs,
    read_stamps,
    with_shown_coupons,
)
from shop.web.thinpath import ThinPath

log = logging.getLogger(__name__)
POSTER = re.compile(r"/me/links/([1-9][0-9]{0,9})/poster\.jpg")


# --- the path ------------------------------------------------------------------------------


def _who_asks():
    """Who asks for which link: the live session's user, their shop, the link in that shop and
    its shop item, and the coupons its poster could show (posterkeys.with_shown_coupons), in
    one query (built once)."""
    statement = (
        select(
            User.id.label("user_id"),
            User.display_name,
            User.locale,
            User.is_admin,
            UserSession.last_seen_at,
            Shop.id.label("shop_id"),
            Shop.name,
            Shop.intro,
            Shop.avatar_image_id,
            ShareLink.id.label("link_id"),
            ShareLink.code,
            ShareLink.product_id,
            ShareLink.poster_template,
            ShopItem.id.label("item_id"),
        )
        .select_from(UserSession)
        .join(User, User.id == UserSession.user_id)
        .join(Shop, Shop.user_id == User.id)
        .join(ShareLink, (ShareLink.id == bindparam("link_id")) & (ShareLink.shop_id == Shop.id))
        .outerjoin(
            ShopItem,
            (ShopItem.shop_id == Shop.id) & (ShopItem.product_id == ShareLink.product_id),
        )
        .where(UserSession.token_hash == bindparam("token_hash"), UserSession.revoked_at.is_(None))
    )
    return with_shown_coupons(statement, ShareLink, ShopItem)


#: Where the coupons' columns start in a row of _who_asks (the attachment's link id ends it).
_COUPON_AT = len(_who_asks().selected_columns) - len(COUPON_FIELDS) - 1


#: Decoded session cookies kept by each worker (the value is signed: the same value always
#: decodes to the same data); at most this many, and never past the cookie's max age.
DECODED_MAX = 1024


class _Signed(dict):
    """A session's data and when its cookie was signed (``issued``, epoch seconds)."""

    issued = 0.0


class _Row:
    """The query's row read as the link, the shop (``poster_inputs`` takes either)."""

    def __init__(self, row, names: dict[str, str]):
        for name, column in names.items():
            setattr(self, name, getattr(row, column))


#: The query's columns for posterkeys' fields (a field added there without its column here
#: fails this path's lookups, logged, and every poster goes to Flask: never a wrong answer).
_LINK_COLUMNS = {name: "link_id" if name == "id" else name for name in LINK_FIELDS}
_SHOP_COLUMNS = {name: "shop_id" if name == "id" else name for name in SHOP_FIELDS}


class PosterPath(ThinPath):
    """WSGI middleware: answers the ordinary request of a sharer's poster already drawn, passes
    the rest to ``inner``."""

    def __init__(self, app: Flask, inner):
        super().__init__(app, inner)
        config = app.config
        self.lifetime = app.permanent_session_lifetime
        self.refresh_session = bool(config["SESSION_REFRESH_EACH_REQUEST"])
        self.refresh_every = config.get("SESSION_REFRESH_MINUTES", 0) * 60
        self.protection = config.get("SESSION_PROTECTION", login_manager.session_protection)
        self.seen_minutes = int(config["SESSION_SEEN_MINUTES"])
        self.instance = Path(app.instance_path)
        self.statement = _who_asks()
        self.engine = None  # the app's, taken at the first request (it needs an app context)
        self.decoded: dict[str, _Signed] = {}
        # What would make Flask's answer differ for every request: then this path answers
        # nothing.
        self.enabled = (
            bool(config["POSTER_KEY_SECONDS"])
            and self.session_serializer is not None
            and not config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST")
            and login_manager._user_callback is not None
            and login_manager._request_callback is None
        )

    def __call__(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        if (
            not self.enabled
            or not path.startswith("/me/links/")
            or environ.get("REQUEST_METHOD") != "GET"
        ):
            return self.inner(environ, start_response)
        started = time.perf_counter()
        try:
            answer = self._answer(environ, path)
        except Exception:
            log.exception("poster thin path failed; Flask serves the request")
            answer = None
        if answer is None:
            return self.inner(environ, start_response)
        headers, file, user_id = answer
        request_id = ops.thin_request_id(environ)
        # Where Flask's hooks put it: after send_file's headers, or a 304's ETag and
        # Cache-Control.
        headers.insert(2 if file is None else 9, (ops.REQUEST_ID_HEADER, request_id))
        status = 304 if file is None else 200
        start_response("304 NOT MODIFIED" if file is None else "200 OK", headers)
        if self.log_requests:
            ops.log_thin_request(path, request_id, started, status=status, user_id=user_id)
        return [] if file is None else wrap_file(environ, file)

    # --- the request ---------------------------------------------------------------------

    def _answer(self, environ, path: str):
        """The answer's headers, its open file and the user's id, or None for Flask."""
        found = POSTER.fullmatch(path)
        if found is None or int(found[1]) > MAX_ID or not eligible(environ):
            return None
        scheme = environ.get("wsgi.url_scheme", "http")
        if not environ.get("HTTP_HOST"):
            return None
        try:
            host = get_host(scheme, environ["HTTP_HOST"], None, self.trusted_hosts)
        except SecurityError:
            return None
        cookies = parse_cookie(environ.get("HTTP_COOKIE", ""))
        if self.remember_cookie in cookies:
            return None
        session = self._session(cookies, environ)
        if session is None:
            return None
        now = utcnow()
        app = self.app
        if self.engine is None:
            with app.app_context():
                self.engine = db.engine
        # A connection of the app's engine (its events: SQLite's BEGIN, PostgreSQL's BEGIN
        # only when needed) without an app context or the ORM: the statements name columns.
        with self.engine.connect() as connection:
            rows = connection.execute(
                self.statement,
                {
                    "link_id": int(found[1]),
                    "token_hash": token_hash(session["_user_id"]),
                    "now": now,
                },
            ).all()
            row = rows[0] if rows else None
            if row is None or row.is_admin:
                return None  # Flask's: signed out, not theirs, no shop, the admin's gate
            seen = row.last_seen_at
            if seen is None or seen < now - timedelta(minutes=self.seen_minutes):
                return None  # Flask moves the session's last-seen time
            found = app.extensions.get("change_stamps")
            if found is None:
                return None  # (made by Flask's first poster, which keeps its key too)
            read = read_stamps(found, row.product_id, row.shop_id)
        coupon = None  # a shop's poster shows none
        if row.product_id is not None:
            offered = [(tuple(r[_COUPON_AT:-1]), r[-1]) for r in rows if r.coupon_id is not None]
            coupon = chosen_coupon(offered, row.link_id, now)
        inputs = poster_inputs(
            _Row(row, _LINK_COLUMNS),
            _Row(row, _SHOP_COLUMNS),
            row.display_name,
            row.item_id,
            coupon,
            self.locale(cookies, environ.get("HTTP_ACCEPT_LANGUAGE"), row.locale),
            scheme,
            host,
        )
        user_id = row.user_id
        keys = app.extensions.get(CACHE)
        key = None if keys is None else keys.get(inputs, read)
        if key is None:
            return None
        if environ.get("HTTP_IF_NONE_MATCH"):
            if not parse_etags(environ["HTTP_IF_NONE_MATCH"]).contains(key):
                return None  # Flask's 200 (send_file weighs the condition again)
            return self._not_modified(key, scheme, session), None, user_id
        file_path = self.instance / "posters" / key[:2] / f"{key}.jpg"
        try:
            file = open(file_path, "rb")  # noqa: SIM115  (closed by the WSGI server)
        except OSError:
            return None  # Flask draws it
        try:
            found = os.fstat(file.fileno())
            headers = self._headers(key, found.st_size, found.st_mtime, scheme, session)
        except BaseException:
            file.close()
            raise
        return headers, file, user_id

    def _session(self, cookies, environ) -> dict | None:
        """The signed-in session, when this request changes nothing in it but its signature's
        time; None for Flask."""
        value = cookies.get(self.session_cookie)
        if not value:
            return None
        data = self.decoded.get(value)
        if data is not None:
            # As itsdangerous' max_age check (whole seconds) would say now.
            age = int(time.time()) - int(data.issued)
            if age < 0 or age > self.session_max_age:
                return None
        else:
            data = self._decode(value)
            if data is None:
                return None
        if self.protection in ("basic", "strong") and data.get("_id") != _identifier(environ):
            return None
        return data

    def _decode(self, value: str) -> "_Signed | None":
        """The session in a cookie's value, when it verifies and asks nothing of Flask; kept
        for the next request with the same value."""
        try:
            data, signed = self.session_serializer.loads(
                value, max_age=self.session_max_age, return_timestamp=True
            )
        except BadSignature:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("_user_id"), str):
            return None
        if "_remember" in data or data.get("_permanent") is not True:
            return None
        data = _Signed(data)
        data.issued = signed.timestamp()
        if len(self.decoded) >= DECODED_MAX:
            self.decoded.clear()
        self.decoded[value] = data
        return data

    # --- the answer ----------------------------------------------------------------------

    def _headers(self, key: str, size: int, mtime: float, scheme: str, session: dict) -> list:
        """The headers in the order the Flask path writes them (the request id goes tenth)."""
        now = http_date()
        headers = [
            ("Content-Disposition", f"inline; filename={key}.jpg"),
            ("Content-Type", "image/jpeg"),
            ("Content-Length", str(size)),
            ("Last-Modified", http_date(mtime)),
            ("Cache-Control", "private, no-cache"),
            ("Expires", now),
            ("ETag", f'"{key}"'),
            ("Date", now),
            ("Accept-Ranges", "bytes"),
            ("Vary", "Accept-Encoding, Cookie"),
            *self.security_headers,
        ]
        return self._secure_and_cookie(headers, scheme, session)

    def _not_modified(self, key: str, scheme: str, session: dict) -> list:
        """A 304's headers, as the Flask path writes them (the request id goes third)."""
        headers = [
            ("ETag", f'"{key}"'),
            ("Cache-Control", "private, no-cache"),
            ("Vary", "Accept-Encoding, Cookie"),
            *self.security_headers,
        ]
        return self._secure_and_cookie(headers, scheme, session)

    def _secure_and_cookie(self, headers: list, scheme: str, session: dict) -> list:
        secure = scheme in ("https", "wss")
        if secure:
            headers.append(HSTS)
        if self.refresh_session and time.time() - session.issued >= self.refresh_every:
            headers.append(("Set-Cookie", self._session_cookie(session, secure)))
        return headers

    def _session_cookie(self, session: dict, secure: bool) -> str:
        return dump_cookie(
            self.session_cookie,
            self.session_serializer.dumps(session),
            max_age=None,
            expires=datetime.now(UTC) + self.lifetime,
            path=self.cookie["path"],
            domain=self.cookie["domain"],
            secure=self.secure_cookies or secure,
            httponly=self.cookie["httponly"],
            max_size=self.max_cookie_size,
            samesite=self.cookie["samesite"],
            partitioned=self.cookie["partitioned"],
        )


def _identifier(environ) -> str:
    """Flask-Login's session identifier of this client (flask_login.utils._create_identifier:
    the first X-Forwarded-For address, else the remote one, and the User-Agent, as bytes)."""
    address = environ.get("HTTP_X_FORWARDED_FOR", environ.get("REMOTE_ADDR"))
    if address is not None:
        address = address.encode("utf-8").split(b",")[0].strip()
    agent = environ.get("HTTP_USER_AGENT")
    if agent is not None:
        agent = agent.encode("utf-8")
    return sha512(f"{address}|{agent}".encode()).hexdigest()


def install(app: Flask) -> None:
    app.wsgi_app = PosterPath(app, app.wsgi_app)
