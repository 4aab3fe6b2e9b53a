"""Public pages of personal shops, and following a share link (/r/<code>)."""

import secrets

from flask import abort, current_app, make_response, redirect, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeSerializer
from limits import parse

from shop.extensions import db, limiter
from shop.models import Product
from shop.services import catalog, clicks, links, shops
from shop.storefront import bp
from shop.storefront.views import viewer_is_sharer
from shop.web import cookie_secure, now

VISITOR_COOKIE_AGE = 2 * 365 * 24 * 3600


def _visitor_signer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="visitor-id")


def visitor_id_from_cookie() -> str | None:
    """The visitor id in the signed cookie; a forged or malformed cookie counts as none."""
    raw = request.cookies.get(current_app.config["VISITOR_COOKIE"])
    if not raw:
        return None
    try:
        value = _visitor_signer().loads(raw)
    except BadSignature:
        return None
    return value if isinstance(value, str) and len(value) == 32 else None


def _click_hard_limit() -> str:
    return current_app.config["CLICK_HARD_LIMIT"]


def _flooded(ip_hash: str) -> bool:
    """True once this address has passed the flood limit (counted in the limiter's storage,
    shared by all workers when that storage is Redis)."""
    item = parse(current_app.config["CLICK_FLOOD_LIMIT"])
    return not limiter.limiter.hit(item, "click-flood", ip_hash)


@bp.route("/r/<string:code>", methods=["GET", "HEAD"])
@limiter.limit(_click_hard_limit)
def follow_link(code: str):
    link = links.find_by_code(code)
    if link is None:
        abort(404)
    product = link.product
    if product is not None and shops.is_gone(product):
        abort(410)
    visitor = visitor_id_from_cookie()
    new_visitor = visitor is None
    if new_visitor:
        visitor = secrets.token_hex(16)
    facts = clicks.RequestFacts(
        method=request.method,
        user_agent=request.headers.get("User-Agent", "")[:500],
        ip=request.remote_addr or "",
        referrer=request.headers.get("Referer", "")[:500],
        purpose=" ".join(
            request.headers.get(name, "")
            for name in ("Purpose", "Sec-Purpose", "X-Purpose", "X-Moz")
        ).lower(),
    )
    secret = current_app.config["SECRET_KEY"]
    clicks.record_click(
        link,
        facts,
        visitor_id=visitor,
        ip_secret=secret,
        flooded=_flooded(clicks.hash_ip(facts.ip, secret)),
        now=now(),
    )
    db.session.commit()
    if product is not None:
        target = url_for(
            "storefront.shop_product", slug=link.shop.slug, product_id=product.id, ref=link.code
        )
    else:
        target = url_for("storefront.shop_page", slug=link.shop.slug, ref=link.code)
    response = make_response(redirect(target, code=303))
    if new_visitor:
        response.set_cookie(
            current_app.config["VISITOR_COOKIE"],
            _visitor_signer().dumps(visitor),
            max_age=VISITOR_COOKIE_AGE,
            httponly=True,
            samesite="Lax",
            secure=cookie_secure(),
        )
    response.headers["Cache-Control"] = "no-store"
    return response


def _load_shop(slug: str):
    shop = shops.find_by_slug(slug)
    if shop is None:
        abort(404)
    return shop


@bp.route("/s/<string:slug>")
def shop_page(slug: str):
    shop = _load_shop(slug)
    return render_template(
        "storefront/shop.html", shop=shop, items=shops.public_items(shop), ref=_ref()
    )


def _ref() -> str | None:
    """The share code carried in the URL (WeChat's browser often loses cookies)."""
    ref = request.args.get("ref", "")
    return ref if links.is_well_formed(ref) else None


@bp.route("/s/<string:slug>/p/<int:product_id>")
def shop_product(slug: str, product_id: int):
    shop = _load_shop(slug)
    product = db.session.get(Product, product_id)
    if product is None:
        abort(404)
    if shops.is_gone(product):
        abort(410)
    item = shops.find_item(shop, product.id)
    return render_template(
        "storefront/product.html",
        product=product,
        merchant=product.merchant,
        shop=shop,
        item=item,
        ref=_ref(),
        rebate=catalog.rebate_cents(product.price_cents, product.rebate_bps)
        if viewer_is_sharer()
        else None,
    )
