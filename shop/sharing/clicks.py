"""Recording a follow of a share link: who (an anonymous visitor id), from where (a hashed
address, a device family, a referrer host) and whether it counts."""

import atexit
import hashlib
import hmac
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache, lru_cache
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import bindparam, insert, select

from shop.platform import db as dbsetup
from shop.platform.extensions import db
from shop.sharing import rollup
from shop.sharing.links import LinkTarget
from shop.sharing.models import Channel, Click, ShareLink

log = logging.getLogger(__name__)

DUPLICATE_WINDOW = timedelta(minutes=10)

#: Crawlers and link-preview fetchers (WeChat, QQ, Telegram, Slack, ...). Lower-case
#: substrings of the User-Agent. A preview fetch happens when a link is pasted into a chat:
#: it is not a person following the link.
BOT_MARKERS = (
    "bot",
    "spider",
    "crawl",
    "slurp",
    "preview",
    "facebookexternalhit",
    "embedly",
    "whatsapp",
    "telegram",
    "slack",
    "discord",
    "skype",
    "bytespider",
    "baiduspider",
    "sogou",
    "yisou",
    "360spider",
    "petalbot",
    "headless",
    "phantomjs",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "httpx",
    "curl/",
    "wget/",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
    "scrapy",
    "feedfetcher",
    "mediapartners",
    "qq-url-manager",
    "wechatbot",
    "mmwebsdk-preview",
    "wxwork-preview",
)
_BOT_RE = re.compile("|".join(re.escape(marker) for marker in BOT_MARKERS))


@dataclass(frozen=True)
class RequestFacts:
    """What the web layer read from the request, as plain values."""

    method: str
    user_agent: str
    ip: str
    referrer: str
    #: Any of the Purpose / Sec-Purpose / X-Moz / X-Purpose headers, lower-cased.
    purpose: str


@lru_cache(maxsize=4096)  # a few user agents make up most traffic
def ua_family(user_agent: str) -> str:
    ua = user_agent.lower()
    if not ua or _BOT_RE.search(ua):
        return "bot"
    if "micromessenger" in ua:
        return "wechat"
    if " qq/" in ua or "mqqbrowser" in ua:
        return "qq"
    if "iphone" in ua or "ipad" in ua:
        return "ios"
    if "android" in ua:
        return "android"
    if "windows" in ua or "macintosh" in ua or "linux" in ua:
        return "desktop"
    return "other"


def bot_reason(facts: RequestFacts) -> str | None:
    """Why this request is not a person following the link, or None when it is."""
    if facts.method == "HEAD":
        return "head"
    if "prefetch" in facts.purpose or "preview" in facts.purpose:
        return "prefetch"
    if ua_family(facts.user_agent) == "bot":
        return "bot"
    return None


@lru_cache(maxsize=4096)  # a burst follows links from the same addresses again and again
def hash_ip(ip: str, secret: str) -> str:
    mac = _ip_mac(secret).copy()  # the key's padding and first blocks hashed once
    mac.update(ip.encode())
    return mac.hexdigest()[:32]


@lru_cache(maxsize=8)
def _ip_mac(secret: str) -> hmac.HMAC:
    return hmac.new(secret.encode(), digestmod=hashlib.sha256)


def referrer_host(referrer: str) -> str:
    try:
        return (urlsplit(referrer).hostname or "")[:100]
    except ValueError:
        return ""


# Built once: each request only binds parameters to a statement compiled on first use.
_clicks = Click.__table__
_INSERT = insert(_clicks)
_RECENT_COUNTED = (
    select(_clicks.c.id)
    .where(
        _clicks.c.visitor_id == bindparam("visitor_id"),
        _clicks.c.link_id == bindparam("link_id"),
        _clicks.c.clicked_at >= bindparam("since"),
        _clicks.c.uncounted_reason.is_(None),
    )
    .limit(1)
)


def record_click(
    link: "ShareLink | LinkTarget",
    facts: RequestFacts,
    *,
    visitor_id: str,
    ip_secret: str,
    flooded: bool,
    now: datetime,
    new_visitor: bool = False,
    writer: "ClickWriter | None" = None,
    ip_hash: str | None = None,
) -> str | None:
    """Record the click and return why it does not count (None when it counts).

    At most one indexed read (the duplicate check, skipped for a visitor id minted for this
    request: it has no earlier clicks) and one insert, through SQLAlchemy Core: this runs on
    every share-link follow. Without a ``writer`` the insert joins the session's transaction
    and the caller commits; with one, the row is handed to it and written within its interval.
    ``ip_hash``, when the caller has it, must be ``hash_ip(facts.ip, ip_secret)``.
    """
    reason = bot_reason(facts)
    if reason is None and flooded:
        reason = "flood"
    if reason is None and not new_visitor:
        seen = writer is not None and writer.has_pending(visitor_id, link.id)
        if not seen:
            seen = (
                db.session.execute(
                    _RECENT_COUNTED,
                    {"visitor_id": visitor_id, "link_id": link.id, "since": now - DUPLICATE_WINDOW},
                ).first()
                is not None
            )
        if seen:
            reason = "duplicate"
    row = {
        "link_id": link.id,
        "clicked_at": now,
        "visitor_id": visitor_id,
        "ip_hash": ip_hash or hash_ip(facts.ip, ip_secret),
        "ua_family": ua_family(facts.user_agent),
        "referrer_host": referrer_host(facts.referrer),
        "is_scan": link.channel == Channel.POSTER,
        "uncounted_reason": reason,
    }
    if writer is not None:
        writer.submit(row)
    else:
        connection = db.session.connection()  # Core on the session's transaction
        connection.execute(_INSERT, row)
        known = {link.id: (link.sharer_id, link.product_id, Channel(link.channel).value)}
        rollup.add_clicks(connection, [row], links=known)
    return reason


#: Links whose sharer, product and channel a click writer keeps between batches.
LINKS_KEPT = 10_000


@cache
def _batch_insert(dialect: str, columns: tuple[str, ...]):
    return rollup.rows_insert(dialect, Click, columns)


class ClickWriter:
    """Clicks of this process, inserted in batches by a background thread.

    Following a share link then costs no write transaction: on SQLite every write takes the one
    database lock, and workers queueing for it per click cut the redirect's throughput to about
    0.4x of a bare redirect (bench/bench_http.py). Rows wait at most ``interval`` seconds, or
    less once ``batch`` of them are waiting.

    What can be lost: nothing on a normal stop (``close`` runs at interpreter exit, which is how
    gunicorn workers end on SIGTERM, SIGINT and SIGQUIT); on a crash or SIGKILL, the clicks of
    the last ``interval`` seconds of that process. A database failure keeps the rows and retries;
    once ``limit`` rows wait, requests write synchronously and fail loudly rather than drop.
    """

    def __init__(self, engine, *, interval: float, batch: int = 500, limit: int = 20_000):
        self.engine, self.interval, self.batch, self.limit = engine, interval, batch, limit
        self._pending: list[dict] = []
        self._inflight: list[dict] = []
        self._cond = threading.Condition()
        self._write_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._closed = False
        self._atexit_pid = 0  #: the process whose exit writes what is left
        #: rollup.link_facts' answers, kept between batches (at most LINKS_KEPT links).
        self._links: dict[int, tuple[int, int | None, str]] = {}

    def submit(self, row: dict) -> None:
        self._ensure_thread()
        with self._cond:
            self._pending.append(row)
            size = len(self._pending)
            if size >= self.batch:
                self._cond.notify()
        if size >= self.limit:  # the writer thread is failing: make the caller see why
            self.flush()

    def has_pending(self, visitor_id: str, link_id: int) -> bool:
        """True when a counted click of this visitor on this link waits to be written."""
        with self._cond:
            rows = self._inflight + self._pending
        return any(
            row["visitor_id"] == visitor_id
            and row["link_id"] == link_id
            and row["uncounted_reason"] is None
            for row in rows
        )

    def flush(self) -> int:
        """Write every waiting row now, in the calling thread; returns how many. On a database
        error the rows go back to the front of the queue and the error is raised."""
        with self._write_lock:
            with self._cond:
                rows, self._pending = self._pending, []
                self._inflight = rows
            try:
                if rows:
                    with dbsetup.writing(), self.engine.begin() as connection:
                        self._store(connection, rows)
            except Exception:
                with self._cond:
                    self._pending = rows + self._pending
                raise
            finally:
                with self._cond:
                    self._inflight = []
        return len(rows)

    def _store(self, connection, rows: list[dict]) -> None:
        """Insert ``rows`` and add them to the rollups, on ``connection``'s transaction: on
        PostgreSQL in one statement each (rollup.rows_insert), on SQLite by executemany. The
        links' sharer, product and channel are read once per process, not once per batch."""
        dialect = connection.dialect.name
        if dialect == "postgresql":
            columns = tuple(rows[0])  # every row has the keys record_click gives it
            connection.execute(_batch_insert(dialect, columns), rollup.json_rows(rows))
        else:
            connection.execute(_INSERT, rows)
        if len(self._links) > LINKS_KEPT:
            self._links = {}
        links = rollup.link_facts(connection, {row["link_id"] for row in rows}, kept=self._links)
        rollup.add_clicks(connection, rows, links=links)  # same transaction

    def close(self) -> None:
        """Stop the thread and write what is left (also registered to run at exit)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
        thread = self._thread
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout=10)
        try:
            self.flush()
        except Exception:
            log.exception("could not write %d clicks at exit", len(self._pending))

    def _ensure_thread(self) -> None:
        # Started by the first click of each process: a thread does not survive a fork, so a
        # writer made before gunicorn forks its workers starts anew in each.
        if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
            return
        with self._cond:
            if self._pid == os.getpid() and self._thread is not None and self._thread.is_alive():
                return
            self._pid, self._closed = os.getpid(), False
            if os.getpid() != self._atexit_pid:
                atexit.register(self.close)
                self._atexit_pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name="click-writer", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closed and len(self._pending) < self.batch:
                    self._cond.wait(self.interval)
                if self._closed:
                    return
            try:
                self.flush()
            except Exception:
                log.exception("click batch not written; retrying in %.1f s", self.interval)
                time.sleep(self.interval)


def writer_for_app() -> ClickWriter | None:
    """This app's click writer; None when CLICK_BATCH_SECONDS is 0 (insert in the request)."""
    interval = float(current_app.config["CLICK_BATCH_SECONDS"])
    if interval <= 0:
        return None
    writer = current_app.extensions.get("click_writer")
    if writer is None:
        writer = current_app.extensions.setdefault(
            "click_writer", ClickWriter(db.engine, interval=interval)
        )
    return writer
