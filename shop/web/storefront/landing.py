"""The page a share link lands on (/s/<slug>/p/<id>?ref=), kept whole for visitors who are
not signed in: a burst of shares is many new phones asking for the same few pages.

What an anonymous visitor's page depends on is the URL, the language, the cart badge, whether it
is WeChat's browser, and the data of the shop, the product (its SKUs, materials, shipping
template) and its reviews; the one part made per request is the CSRF token
of its add-to-cart form. So the page is rendered once, the token replaced by a mark, and kept
per process for LANDING_CACHE_SECONDS (0: off); each later visitor gets it with a fresh token,
with no query and no template. Not kept or served: signed-in visitors (their name, the sharer's
rebate, "add to my shop"), a session with messages to show, error pages.

Invalidated as the review preview is: a commit in this process that changed a product (or
anything of a product: its images, shop items, reviews, order lines, coupons and the coupons
sharers attach to it) drops that product's pages; a whole-shop coupon drops them all;
one that changed a shop, a user, a merchant or a category drops them all. Other processes catch
up within LANDING_CACHE_SECONDS; stock changed by a guarded UPDATE too ("only 3 left" may be
that old; checkout checks the stock itself).
"""

import threading
import time

from flask import current_app, g, has_app_context, request, session
from flask_babel import get_locale
from flask_wtf.csrf import generate_csrf
from sqlalchemy import event
from sqlalchemy.orm import Session

from shop.accounts.models import User
from shop.catalog.models import Category, Merchant, Product, ShippingTemplate
from shop.orders.models import Coupon
from shop.sharing.models import Shop
from shop.web.common import may_be_signed_in

#: Stands for the CSRF token in a kept page; a NUL never reaches a rendered page.
TOKEN_MARK = "\x00csrf-token\x00"
_STALE = "stale_landing_pages"
_EVERYTHING = (Shop, User, Merchant, Category, ShippingTemplate)


class PageCache:
    """Rendered pages by product id and key, each kept ``ttl`` seconds, at most ``size``."""

    def __init__(self, ttl: float, size: int = 2_000):
        self.ttl, self.size = ttl, size
        self._pages: dict[int, dict[tuple, tuple[float, str]]] = {}
        self._count = 0
        self._lock = threading.Lock()

    def get(self, product_id: int, key: tuple) -> str | None:
        found = self._pages.get(product_id, {}).get(key)
        if found is None or found[0] <= time.monotonic():
            return None
        return found[1]

    def put(self, product_id: int, key: tuple, page: str) -> None:
        with self._lock:
            if self._count >= self.size:
                self._pages, self._count = {}, 0
            pages = self._pages.setdefault(product_id, {})
            self._count += key not in pages
            pages[key] = (time.monotonic() + self.ttl, page)

    def forget(self, product_ids=None) -> None:
        """Drop the pages of ``product_ids``; every page when None."""
        with self._lock:
            if product_ids is None:
                self._pages, self._count = {}, 0
                return
            for product_id in product_ids:
                self._count -= len(self._pages.pop(product_id, {}))


def _cache() -> PageCache | None:
    cache = current_app.extensions.get("landing_pages")
    if cache is None:
        ttl = float(current_app.config["LANDING_CACHE_SECONDS"])
        cache = current_app.extensions.setdefault("landing_pages", PageCache(ttl))
    return cache if cache.ttl > 0 else None


def page_key(cart_count) -> tuple | None:
    """This request's key, or None when its page may not be kept or served from the cache."""
    if may_be_signed_in() or "_flashes" in session:
        return None
    # Inside WeChat the page loads WeChat's share-card script (when configured): kept apart.
    in_wechat = "MicroMessenger" in request.headers.get("User-Agent", "")
    return (request.full_path, str(get_locale()), cart_count(), in_wechat)


def kept_page(product_id: int, key: tuple | None) -> str | None:
    """The kept page for this request, with a fresh CSRF token; None when there is none."""
    cache = _cache() if key is not None else None
    page = cache.get(product_id, key) if cache is not None else None
    if page is not None and TOKEN_MARK in page:
        page = page.replace(TOKEN_MARK, generate_csrf())
    return page


def keep_page(product_id: int, key: tuple | None, page: str) -> None:
    cache = _cache() if key is not None else None
    if cache is None:
        return
    token = g.get("csrf_token")  # where Flask-WTF keeps the token this request rendered
    cache.put(product_id, key, page.replace(token, TOKEN_MARK) if token else page)


@event.listens_for(Session, "after_flush")
def _note_changes(session: Session, _context) -> None:
    stale = session.info.setdefault(_STALE, set())
    for row in (*session.new, *session.dirty, *session.deleted):
        if isinstance(row, _EVERYTHING):
            stale.add(None)
        elif isinstance(row, Product):
            stale.add(row.id)
        elif isinstance(row, Coupon) and row.product_id is None:
            stale.add(None)  # a whole-shop coupon may be on any of the merchant's pages
        else:
            product_id = getattr(row, "product_id", None)
            if isinstance(product_id, int):
                stale.add(product_id)
    if not stale:
        session.info.pop(_STALE, None)


@event.listens_for(Session, "after_commit")
def _drop_stale_pages(session: Session) -> None:
    stale = session.info.pop(_STALE, None)
    if not stale or not has_app_context():
        return
    cache = current_app.extensions.get("landing_pages")
    if cache is not None:
        cache.forget(None if None in stale else stale)


@event.listens_for(Session, "after_rollback")
def _keep_on_rollback(session: Session) -> None:
    session.info.pop(_STALE, None)
