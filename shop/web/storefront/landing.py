"""The page a share link lands on (/s/<slug>/p/<id>?ref=), kept whole for visitors who are
not signed in: a burst of shares is many new phones asking for the same few pages. The product
page (/p/<id>) is kept the same way under the same stamps, and the shop page (/s/<slug>) with
the helpers here (shop.web.storefront.shoppage).

What an anonymous visitor's page depends on is the host (its share card's URLs are absolute),
the URL, the language, the cart badge, whether it is WeChat's browser, and the data of the shop,
the product (its SKUs, materials, shipping template) and its reviews; the one part made per
request is the CSRF token of its add-to-cart form. So the page is rendered once, the token
replaced by a mark, and kept per process for LANDING_CACHE_SECONDS (0: off); each later
visitor gets it with a fresh token, with no query and no template. Its stock numbers are cut
out too and filled in per request (shop.web.storefront.stockparts: a stock move costs the next
visit one light query, not a render). Not kept or served:
signed-in visitors (their name, the sharer's rebate, "add to my shop"), a session with messages
to show, error pages.

Invalidated as the review preview is, by change stamps shared by every worker of the host
(shop.platform.stamps): a page is kept with the stamps of its product and of "everything" read
before it was rendered, and served only while both are unchanged. A commit that changed a
product (or anything of a product: its SKUs, images, shop items, reviews, order lines, coupons
and the coupons sharers attach to it; the listener below marks them) bumps that product's stamp,
as do the Core UPDATEs the listener never sees (stock crossing sold out, a status transition,
a review decision: each marks its product itself; a stock move that leaves it on sale bumps
only its stock stamp, which the kept numbers follow); a
change to a shop, a user's name, a merchant (its suspension too), a category, a shipping
template or a whole-shop coupon bumps the stamp for everything. So every worker renders the page
afresh on its next visit, and a page may be kept long (LANDING_CACHE_SECONDS, 300 s): the time
bounds only what a stamp cannot tell (another host's changes, the merchant's credit; a page is
also kept no longer than until one of the merchant's coupons starts or ends). When the stamp
folder cannot be written, pages are kept at most UNSTAMPED_SECONDS (the old 10 s).

A kept page in the last tenth of its time is rendered again after the answer to the request that
found it (that request gets the kept page, still within its time): a page asked for steadily is
then never rendered while a visitor waits, which was the page's tail latency (bench/README.md).
A page nobody asked for in that tenth expires and is rendered by the next visitor, as before.
"""

import logging
import random
import threading
import time
from collections.abc import Callable

from flask import after_this_request, current_app, g, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from sqlalchemy import case, event, func, inspect, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from shop.accounts.models import User
from shop.catalog.models import Category, Merchant, Product, ShippingTemplate
from shop.orders.models import Coupon, OrderItem
from shop.platform import stamps
from shop.platform.extensions import db, login_manager
from shop.sharing import links
from shop.sharing.models import Shop, ShopItem
from shop.web.common import now
from shop.web.hooks import may_be_signed_in
from shop.web.storefront import stockparts, wechat

#: Stands for the CSRF token in a kept page; a NUL never reaches a rendered page.
TOKEN_MARK = "\x00csrf-token\x00"
#: How long a page is kept when the stamps are this process's only (the folder is unusable).
UNSTAMPED_SECONDS = 10.0
#: Where ``kept_page`` leaves the stamps it read for ``keep_page`` (read before the render).
_READ = "landing_stamps"
_EVERYTHING = (Shop, User, Merchant, Category, ShippingTemplate)
#: What pages show of a row of these (any other column of the row changes no page).
_SHOWN = {User: ("display_name",)}
#: Each page is kept between (1 - SPREAD) x ttl and ttl seconds, at random: pages rendered
#: together (every worker's, after a start or a change) would otherwise all expire together
#: and be rendered again together, every ttl seconds, stalling every worker at once
#: (bench/README.md: that was the landing page's p99).
SPREAD = 0.1
#: A page is rendered again after an answer once this share of its time has passed.
REFRESH_AFTER = 0.9
#: Set in ``g`` while a page is rendered after an answer: that is no request (no log line).
AFTER_ANSWER = "after_answer"
log = logging.getLogger(__name__)


class PageCache:
    """Rendered pages by product id and key, each kept about ``ttl`` seconds while its stamps
    are unchanged, at most ``size``."""

    def __init__(self, ttl: float, size: int = 2_000):
        self.ttl, self.size = ttl, size
        #: product id -> key -> (expires, refresh from, stamps, page)
        self._pages: dict[int, dict[tuple, tuple[float, float, tuple, str]]] = {}
        self._count = 0
        self._lock = threading.Lock()
        #: (product id, key) of the pages being rendered again after an answer
        self._refreshing: set[tuple[int, tuple]] = set()

    def get(self, product_id: int, key: tuple, stamps_now: tuple = ()) -> str | None:
        return self.lookup(product_id, key, stamps_now)[0]

    def lookup(
        self, product_id: int, key: tuple, stamps_now: tuple = ()
    ) -> tuple[str | None, bool]:
        """The page (None when none is kept, it expired or its stamps are not ``stamps_now``)
        and whether it is due to be rendered again (and no one is doing it yet: the caller now
        is)."""
        found = self._pages.get(product_id, {}).get(key)
        now = time.monotonic()
        if found is None or found[0] <= now or found[2] != stamps_now:
            return None, False
        due = found[1] <= now and (product_id, key) not in self._refreshing
        if due:
            self._refreshing.add((product_id, key))
        return found[3], due

    def holds(self, product_id) -> bool:
        """Whether any page of ``product_id`` is kept (fresh or not)."""
        return bool(self._pages.get(product_id))

    def peek(self, product_id: int, key: tuple, stamps_now: tuple = ()) -> str | None:
        """The page when it is kept with ``stamps_now`` and not yet due to be rendered again
        (``lookup`` without its side effect: the thin path leaves a due page to Flask)."""
        found = self._pages.get(product_id, {}).get(key)
        if found is None or found[1] <= time.monotonic() or found[2] != stamps_now:
            return None
        return found[3]

    def refreshed(self, product_id: int, key: tuple) -> None:
        self._refreshing.discard((product_id, key))

    def put(
        self,
        product_id: int,
        key: tuple,
        page: str,
        stamps_then: tuple = (),
        at_most: float | None = None,
    ) -> None:
        """Keep ``page`` (rendered after ``stamps_then`` were read), ``at_most`` seconds when
        given (what it shows changes then: a coupon starts or ends)."""
        if at_most is not None and at_most <= 0:
            return
        with self._lock:
            while self._count >= self.size and self._pages:
                # The oldest product's pages go first, not every page at once.
                oldest = next(iter(self._pages))
                self._count -= len(self._pages.pop(oldest))
            pages = self._pages.setdefault(product_id, {})
            self._count += key not in pages
            now = time.monotonic()
            kept_for = self.ttl * (1 - SPREAD * random.random())
            if at_most is not None:
                kept_for = min(kept_for, at_most)
            pages[key] = (now + kept_for, now + kept_for * REFRESH_AFTER, stamps_then, page)

    def forget(self, product_ids=None, key: tuple | None = None) -> None:
        """Drop the pages of ``product_ids`` (only ``key``'s, when given); every page when
        None."""
        with self._lock:
            if product_ids is None:
                self._pages, self._count = {}, 0
                return
            for product_id in product_ids:
                if key is None:
                    self._count -= len(self._pages.pop(product_id, {}))
                elif self._pages.get(product_id, {}).pop(key, None) is not None:
                    self._count -= 1


#: The app extension that holds the kept landing and product pages.
CACHE = "landing_pages"


def page_cache(name: str = CACHE) -> PageCache | None:
    """This app's kept pages of one kind (None: keeping is off), kept LANDING_CACHE_SECONDS."""
    cache = current_app.extensions.get(name)
    if cache is None:
        ttl = float(current_app.config["LANDING_CACHE_SECONDS"])
        if ttl > 0 and not stamps.current().shared:
            ttl = min(ttl, UNSTAMPED_SECONDS)
        cache = current_app.extensions.setdefault(name, PageCache(ttl))
    return cache if cache.ttl > 0 else None


def _cache() -> PageCache | None:
    return page_cache()


def stamps_of(product_id: int) -> tuple:
    return stamps.current().read(product_id)


def page_key(cart_count) -> tuple | None:
    """This request's key, or None when its page may not be kept or served from the cache."""
    if may_be_signed_in() or "_flashes" in session or not _plain_query():
        return None
    # Inside WeChat the page loads WeChat's share-card script (when configured): kept apart.
    in_wechat = "micromessenger" in request.headers.get("User-Agent", "").lower()
    # The host and scheme too: the page's share card holds absolute URLs (og:url, og:image).
    return (
        request.scheme,
        request.host,
        request.full_path,
        str(get_locale()),
        cart_count(),
        in_wechat,
    )


# The query parameters a kept page may carry: the share code, and what WeChat adds to a link
# shared in a chat or the Moments. Any other query string is rendered and not kept, so the
# number of kept pages stays bounded by real links, not by what a visitor makes up.
_WECHAT_FROM = frozenset({"singlemessage", "groupmessage", "timeline"})


def _plain_query() -> bool:
    return plain_pairs(request.args.items(multi=True))


def plain_pairs(pairs) -> bool:
    """Whether a query string's (name, value) pairs are one a kept page may carry: each name
    once, each value as the rules above say (the thin path, shop.web.storefront.keptpath,
    asks this too)."""
    seen = set()
    for name, value in pairs:
        if name in seen:
            return False
        seen.add(name)
        if name == "ref":
            if not links.is_well_formed(value):
                return False
        elif name == "from":
            if value not in _WECHAT_FROM:
                return False
        elif name == "isappinstalled":
            if value not in ("0", "1"):
                return False
        else:
            return False
    return True


def kept_page(
    product_id: int, key: tuple | None, render: Callable[[], tuple] | None = None
) -> str | None:
    """The kept page for this request, with a fresh CSRF token; None when there is none.

    ``render`` makes the page again, as ``(page, status)``: given, a page due to be renewed is
    rendered by it after this request's answer has been sent."""
    cache = _cache() if key is not None else None
    if cache is None:
        return None
    stamps_now = stamps_of(product_id)
    g.setdefault(_READ, {})[product_id] = stamps_now  # for keep_page: read before the render
    stock_read = stockparts.read_before(product_id)
    page, due = cache.lookup(product_id, key, stamps_now)
    if isinstance(page, stockparts.StockPage):
        page = stockparts.fill(page, product_id, stock_read)  # None: its state changed
    if due and render is not None and page is not None:

        def again() -> None:
            g.setdefault(_READ, {})[product_id] = stamps_of(product_id)
            stockparts.read_before(product_id)
            _page, status, kept = stockparts.render_marked(render)
            if status == 200 and kept is not None:
                keep_page(product_id, key, kept)
            else:
                cache.forget([product_id], key)

        render_after_answer(cache, product_id, key, again)
    elif due:
        cache.refreshed(product_id, key)
    return with_token(page)


def render_and_keep(
    product_id: int, key: tuple | None, render: Callable[[], tuple]
) -> tuple[str, int]:
    """``render()`` (a product page: the page and its status), kept when it may be (after
    ``kept_page`` read the stamps), its stock numbers cut out (stockparts)."""
    if key is None or _cache() is None:
        return render()
    page, status, kept = stockparts.render_marked(render)
    if status == 200 and kept is not None:
        keep_page(product_id, key, kept)
    return page, status


def with_token(page: str | None) -> str | None:
    """A kept page with this request's CSRF token where the render's was."""
    if page is not None and TOKEN_MARK in page:
        page = page.replace(TOKEN_MARK, generate_csrf())
    if page is not None and wechat.SDK_TAG in page:
        # The render asked for WeChat's share-card script, and this answer's CSP must allow
        # it as the render's did (the kept page is not rendered again).
        g.wechat_sdk = True
    return page


def without_token(page: str) -> str:
    """A page just rendered, its CSRF token replaced by the mark (to be kept)."""
    token = g.get("csrf_token")  # where Flask-WTF keeps the token this request rendered
    return page.replace(token, TOKEN_MARK) if token else page


def render_after_answer(cache: PageCache, entry: object, key: tuple, again) -> None:
    """Run ``again()`` (read the stamps, render the page, keep it or forget it) once this
    request's answer is sent (gunicorn closes the answer after writing it, then runs this), in
    a request context of its own made from this request's environ: the same URL, language and
    cookies, so the same key. A 404 or 410 raised by the render forgets the page."""
    app = current_app._get_current_object()
    environ = {name: value for name, value in request.environ.items() if "werkzeug" not in name}

    def render_again() -> None:
        try:
            with app.request_context(environ):
                setattr(g, AFTER_ANSWER, True)
                g._login_user = login_manager.anonymous_user()  # page_key said: no user
                try:
                    again()
                except HTTPException:  # 404: the item left the shop meanwhile
                    cache.forget([entry], key)
        except Exception:  # the answer is sent; the kept page stays until it expires
            log.exception("rendering a kept page again failed")
        finally:
            cache.refreshed(entry, key)

    @after_this_request
    def _after_answer(response):
        response.call_on_close(render_again)
        return response


def keep_page(product_id: int, key: tuple | None, page: "str | stockparts.StockPage") -> None:
    cache = _cache() if key is not None else None
    if cache is None:
        return
    read = g.get(_READ, {}).get(product_id)
    if read is None:  # no kept_page before the render: no stamps known from before it
        return
    if isinstance(page, stockparts.StockPage):
        page = stockparts.StockPage(tuple(map(without_token, page.parts)), page.slots, page.state)
    else:
        page = without_token(page)
    cache.put(product_id, key, page, read, _until_a_coupon_changes(product_id))


def _until_a_coupon_changes(product_id: int) -> float | None:
    """Seconds until a coupon of the product's merchant starts or ends (None: none will): a
    time passing bumps no stamp, so a page showing (or not yet showing) a coupon is kept no
    longer than that. One query, on a render only."""
    at = now()
    merchant = select(Product.merchant_id).where(Product.id == product_id).scalar_subquery()
    soonest = db.session.execute(
        select(
            func.min(case((Coupon.starts_at > at, Coupon.starts_at), else_=Coupon.ends_at))
        ).where(Coupon.merchant_id == merchant, Coupon.is_active.is_(True), Coupon.ends_at > at)
    ).scalar()
    return None if soonest is None else (soonest - at).total_seconds()


def _shown_change(session: Session, row) -> bool:
    """Whether the flush changed what a page shows of ``row`` (of a user only the name is
    shown: a new password or language changes no page)."""
    shown = _SHOWN.get(type(row))
    if shown is None:
        return session.is_modified(row, include_collections=False)
    attributes = inspect(row).attrs
    return any(attributes[name].history.has_changes() for name in shown)


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _context) -> None:
    """Mark stale (shop.platform.stamps) the products whose pages the flushed rows change.
    A new shop, user, merchant, category or template is on no kept page yet: only changed
    and deleted ones make every page stale."""
    for row in session.dirty:
        if isinstance(row, _EVERYTHING) and _shown_change(session, row):
            stamps.mark_stale(None, session)
    if any(isinstance(row, _EVERYTHING) for row in session.deleted):
        stamps.mark_stale(None, session)
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, _EVERYTHING):
            continue
        if isinstance(row, Product):
            stamps.mark_stale(row.id, session)
            continue
        if isinstance(row, ShopItem):  # the shop's list of items (shop pages) changed
            stamps.mark_stale(stamps.shop_stamp(row.shop_id), session)
        if isinstance(row, Coupon) and row.product_id is None:
            stamps.mark_stale(None, session)  # a whole-shop coupon: on any of the merchant's
        else:
            product_id = getattr(row, "product_id", None)
            if isinstance(row, OrderItem) and isinstance(product_id, int):
                # An order line: no page shows it; its stock moves with it (and marks itself),
                # so at most the kept numbers are read again.
                stamps.mark_stale(stamps.stock_stamp(product_id), session)
            elif isinstance(product_id, int):
                stamps.mark_stale(product_id, session)
