"""Public pages of personal shops, and following a share link (/r/<code>)."""

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
from contextlib import nullcontext
from functools import lru_cache

from flask import (
    Response,
    abort,
    current_app,
    g,
    render_template,
    request,
)
from limits import parse

from shop.catalog import catalog
from shop.catalog.models import Product, ProductStatus
from shop.platform import counters
from shop.platform import db as dbsetup
from shop.platform.extensions import db, limiter
from shop.platform.inputs import secrets_equal
from shop.sharing import clicks, links, shops
from shop.web.common import now
from shop.web.hooks import cookie_secure
from shop.web.storefront import bp, cart, landing

log = logging.getLogger(__name__)

VISITOR_COOKIE_AGE = 2 * 365 * 24 * 3600
#: Things a page about a product that is gone offers instead.
SIMILAR_COUNT = 4
#: The environ key under which the thin /r/ path hands over a request it already counted.
fastpath_counted_key = "shop.click_limits"
_VISITOR_RE = re.compile(r"[0-9a-f]{32}")


def _visitor_key() -> hmac.HMAC:
    """The visitor cookie's MAC before its message (its key's blocks hashed once per app)."""
    key = current_app.extensions.get("visitor_key")
    if key is None:  # derived once per app: the secret is never used directly
        secret = current_app.config["SECRET_KEY"].encode()
        derived = hmac.new(secret, b"fenxiang visitor id", hashlib.sha256).digest()
        key = hmac.new(derived, digestmod=hashlib.sha256)
        current_app.extensions["visitor_key"] = key
    return key


def _visitor_mac(visitor: str) -> str:
    mac = _visitor_key().copy()
    mac.update(visitor.encode("ascii"))
    return base64.urlsafe_b64encode(mac.digest()[:18]).decode("ascii")  # 144 bits, 24 chars


def visitor_cookie_value(visitor: str) -> str:
    """``<visitor id>.<MAC>``: the cookie holds a random id and proof that we issued it."""
    return f"{visitor}.{_visitor_mac(visitor)}"


def visitor_id_from_cookie() -> str | None:
    """The visitor id in the signed cookie; a forged or malformed cookie counts as none."""
    return visitor_id_from(request.cookies.get(current_app.config["VISITOR_COOKIE"], ""))


def visitor_id_from(raw: str) -> str | None:
    """The visitor id in a visitor cookie's value, when its MAC is ours."""
    visitor, _, mac = raw.partition(".")
    if not _VISITOR_RE.fullmatch(visitor) or len(mac) != 24:
        return None
    return visitor if secrets_equal(_visitor_mac(visitor), mac) else None


@lru_cache(maxsize=16)
def _limit(text: str) -> tuple[int, int]:
    """(hits, seconds) of a limit's text ("20 per minute")."""
    item = parse(text)
    return item.amount, item.get_expiry()


#: After the shared rate-limit storage failed, this process counts on its own for this many
#: seconds before it tries the storage again (a hung Redis would cost each click its timeout).
STORAGE_RETRY_SECONDS = 30


def _window(setting: str, key: str) -> counters.Window:
    text = current_app.config[setting]
    return counters.Window(f"{setting}/{text}/{key}", *_limit(text))


def _click_counters() -> dict:
    """This app's counters: ``shared`` (Redis when the limiter's storage is Redis, else this
    process's memory), ``local`` (this process, while the shared one is down)."""
    state = current_app.extensions.get("sharing_limits")
    if state is None:
        config = current_app.config
        client = counters.redis_client_for(
            config.get("RATELIMIT_STORAGE_URI") or "memory://",
            config.get("RATELIMIT_STORAGE_OPTIONS"),
        )
        local = counters.MemoryCounter()
        shared = counters.RedisCounter(client) if client is not None else local
        state = {"shared": shared, "local": local, "down_until": 0.0}
        state = current_app.extensions.setdefault("sharing_limits", state)
    return state


def _counted(count):
    """``count(counter)`` on the shared counter; while it cannot be reached, on this process's
    own (a click must never fail for it)."""
    state = _click_counters()
    if time.monotonic() >= state["down_until"]:
        try:
            return count(state["shared"])
        except Exception as error:  # noqa: BLE001 - any storage failure (redis, network)
            log.warning("rate-limit storage unreachable, counting in this process: %s", error)
            state["down_until"] = time.monotonic() + STORAGE_RETRY_SECONDS
    return count(state["local"])


def count_click_limits(ip_hash: str) -> counters.PairResult:
    """Count a follow of a share link from this (hashed) address against CLICK_HARD_LIMIT
    and, within it, CLICK_FLOOD_LIMIT: one storage round trip for both."""
    outer = _window("CLICK_HARD_LIMIT", ip_hash)
    inner = _window("CLICK_FLOOD_LIMIT", ip_hash)
    return _counted(lambda counter: counter.count_pair(outer, inner))


def _flooded(ip_hash: str) -> bool:
    window = _window("CLICK_FLOOD_LIMIT", ip_hash)
    return _counted(lambda counter: counter.exceeded(window))


@lru_cache(maxsize=4096)
def landing_path(link: links.LinkTarget, script_root: str) -> str:
    """Where a link lands: the product (or the shop) in the sharer's shop, the code in the URL
    (WeChat's browser often loses cookies). Kept per target (the slug is part of it); built
    from the URL map, so the thin path (fastpath.py) needs no request context."""
    adapter = current_app.url_map.bind("localhost", script_name=script_root or "/")
    if link.product_id is not None:
        return adapter.build(
            "storefront.shop_product",
            {"slug": link.shop_slug, "product_id": link.product_id, "ref": link.code},
        )
    return adapter.build("storefront.shop_page", {"slug": link.shop_slug, "ref": link.code})


def request_facts(method: str, header, ip: str) -> clicks.RequestFacts:
    """The click's facts from a request: ``header(name)`` gives a header's value or ""."""
    return clicks.RequestFacts(
        method=method,
        user_agent=header("User-Agent")[:500],
        ip=ip,
        referrer=header("Referer")[:500],
        purpose=" ".join(
            header(name) for name in ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")
        ).lower(),
    )


def store_arrival(
    link: links.LinkTarget,
    facts: clicks.RequestFacts,
    ip_hash: str,
    visitor: str,
    *,
    new_visitor: bool,
    writer,
    flooded: bool,
) -> None:
    """Record the click (see :func:`record_arrival`). A new visitor's click with a writer is
    only queued (no earlier click to look up, nothing written here), so it asks for no write
    transaction; the writer's flush takes one itself."""
    queued_only = writer is not None and new_visitor
    with nullcontext() if queued_only else dbsetup.writing():
        clicks.record_click(
            link,
            facts,
            visitor_id=visitor,
            ip_secret=current_app.config["SECRET_KEY"],
            flooded=flooded,
            now=now(),
            new_visitor=new_visitor,
            writer=writer,
            ip_hash=ip_hash,
        )
        if writer is None:
            db.session.flush()


def record_arrival(
    link: links.LinkTarget, ip_hash: str, *, writer, flooded: bool | None = None
) -> tuple[str, bool]:
    """Record this request as a click on ``link`` for the visitor in the cookie (a new visitor
    id when there is none); returns (visitor id, whether it is new). With ``writer`` None the
    click is added to the caller's transaction and committed by the caller. ``flooded``: what
    the caller's count of CLICK_FLOOD_LIMIT said (counted here when None)."""
    visitor = visitor_id_from_cookie()
    new_visitor = visitor is None
    if new_visitor:
        visitor = secrets.token_hex(16)
    facts = request_facts(
        request.method, lambda name: request.headers.get(name, ""), request.remote_addr or ""
    )
    store_arrival(
        link,
        facts,
        ip_hash,
        visitor,
        new_visitor=new_visitor,
        writer=writer,
        flooded=_flooded(ip_hash) if flooded is None else flooded,
    )
    return visitor, new_visitor


def visitor_cookie_header(visitor: str, secure: bool) -> str:
    return (
        f"{current_app.config['VISITOR_COOKIE']}={visitor_cookie_value(visitor)}; "
        f"Max-Age={VISITOR_COOKIE_AGE}; Path=/; HttpOnly; SameSite=Lax"
        + ("; Secure" if secure else "")
    )


def set_visitor_cookie(response: Response, visitor: str) -> None:
    response.headers.add("Set-Cookie", visitor_cookie_header(visitor, cookie_secure()))


@bp.route("/r/<string:code>", methods=["GET", "HEAD"])
@limiter.exempt  # counts its own limits, both in one storage call, keyed by the hashed address
def follow_link(code: str):
    secret = current_app.config["SECRET_KEY"]
    ip = request.remote_addr or ""
    ip_hash = clicks.hash_ip(ip, secret)
    # Beyond the hard limit nothing is looked up or recorded; beyond the flood limit the
    # click is recorded as a flood (kept for audit, not counted). The thin path in front of
    # Flask (fastpath.py) may have counted this request already and handed it over.
    limits = request.environ.get(fastpath_counted_key) or count_click_limits(ip_hash)
    if limits.retry_after is not None:
        g.retry_after = limits.retry_after
        abort(429)
    link = links.resolve_cached(code)
    if link is None:
        abort(404)
    if link.gone:
        shop = shops.find_by_slug(link.shop_slug)
        product = db.session.get(Product, link.product_id)
        if shop is None or product is None:
            abort(410)
        return gone_page(shop, product, link.code)
    # End the lookup's read transaction (when the cache missed): an insert made in the request
    # then starts a transaction of its own that takes SQLite's write lock at BEGIN (a read
    # transaction upgraded to a write fails with "database is locked" if another worker wrote).
    if db.session.registry.has() and db.session().in_transaction():
        db.session.rollback()
    writer = clicks.writer_for_app()
    visitor, new_visitor = record_arrival(
        link, ip_hash, writer=writer, flooded=limits.inner_exceeded
    )
    if writer is None:
        db.session.commit()
    # A bare 303: no HTML body, and the cookie header written directly (werkzeug's general
    # cookie writer was a tenth of this route's time).
    response = Response(status=303)
    response.headers["Location"] = landing_path(link, request.script_root)
    response.headers["Cache-Control"] = "no-store"
    if new_visitor:
        set_visitor_cookie(response, visitor)
    return response


def gone_page(shop, product, ref: str | None):
    """A product that can no longer be bought, reached through a sharer's link or shop: the
    words first, then the way on (the sharer's shop and similar things). Still a 410."""
    others = [i.product for i in shops.public_items(shop) if i.product_id != product.id]
    similar = others[:SIMILAR_COUNT]
    if len(similar) < SIMILAR_COUNT:
        seen = {p.id for p in similar} | {product.id}
        query = (
            catalog.visible_products()
            .where(Product.category_id == product.category_id, Product.id.not_in(seen))
            .limit(SIMILAR_COUNT - len(similar))
        )
        similar += list(db.session.execute(query).unique().scalars())
    in_shop = {p.id for p in others}
    page = render_template(
        "storefront/gone.html",
        shop=shop,
        # A draft was never public: its title is not told.
        title=product.title if product.status != ProductStatus.DRAFT else None,
        similar=similar,
        in_shop=in_shop,
        ref=ref,
    )
    return page, 410


def _ref() -> str | None:
    """The share code carried in the URL (WeChat's browser often loses cookies)."""
    ref = request.args.get("ref", "")
    return ref if links.is_well_formed(ref) else None


@bp.route("/s/<string:slug>/p/<int:product_id>")
def shop_product(slug: str, product_id: int):
    key = landing.page_key(cart.cart_count)
    page = landing.kept_page(product_id, key, lambda: _landing_page(slug, product_id))
    if page is not None:
        return page
    return landing.render_and_keep(product_id, key, lambda: _landing_page(slug, product_id))


def _landing_page(slug: str, product_id: int) -> tuple[str, int]:
    found = shops.find_with_item(slug, product_id)
    if found is None:
        abort(404)
    shop, item = found
    product = catalog.product_for_page(product_id)
    if product is None:
        abort(404)
    if shops.is_gone(product):
        return gone_page(shop, product, _ref())
    from shop.web.storefront.buying import render_product

    return render_product(product, shop=shop, item=item, ref=_ref())


def visitor_for_order(ref: str) -> tuple[str | None, bool]:
    """The visitor whose clicks decide the order's attribution, and whether it is new.

    A buyer who tapped a link inside WeChat and then chose "open in browser" arrives without
    WeChat's cookies, but with the share code still in the URL (``?ref=``) and carried through
    checkout. For such a buyer the code counts as following the link now: one click is recorded
    (checked for robots, floods and repeats like any other) under a new visitor id, so the
    order is attributed by the same rule as every other. A buyer who has a visitor cookie is
    attributed from their own clicks only; the code in the URL changes nothing for them.
    """
    visitor = visitor_id_from_cookie()
    if visitor is not None or not links.is_well_formed(ref):
        return visitor, False
    link = links.resolve_cached(ref)
    if link is None or link.gone:
        return None, False
    ip_hash = clicks.hash_ip(request.remote_addr or "", current_app.config["SECRET_KEY"])
    visitor, _new = record_arrival(link, ip_hash, writer=None)
    return visitor, True
