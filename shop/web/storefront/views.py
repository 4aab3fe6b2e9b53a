from flask import abort, g, render_template, request, send_file
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup

from shop.catalog import catalog, images
from shop.platform.cache import app_cache
from shop.reviews import credit, reading
from shop.sharing import shops
from shop.web.storefront import bp

ONE_YEAR = 365 * 24 * 3600
#: The sort links, in the order shown.
SORT_LABELS = {
    catalog.Sort.NEW: _l("Newest"),
    catalog.Sort.SALES: _l("Best selling"),
    catalog.Sort.PRICE_ASC: _l("Price: low to high"),
    catalog.Sort.PRICE_DESC: _l("Price: high to low"),
    catalog.Sort.REBATE: _l("Highest rebate"),
}


def viewer_shop():
    """The signed-in viewer's own shop (None: not a sharer, or not signed in), looked up once
    per request: the rebate, "add to my shop" and the share entry all ask."""
    if not current_user.is_authenticated:
        return None
    if "own_shop" not in g:
        g.own_shop = shops.shop_of(current_user)
    return g.own_shop


def viewer_is_sharer() -> bool:
    return viewer_shop() is not None


@bp.route("/")
def home():
    products = catalog.latest_products(limit=30)
    rebates = catalog.unit_rebates(products) if viewer_is_sharer() else {}
    return render_template(
        "storefront/home.html",
        products=products,
        rebates=rebates,
        categories=catalog.categories(),
    )


@bp.route("/catalog", endpoint="catalog")
def catalog_list():
    args = request.args
    sharer = viewer_is_sharer()
    query = catalog.clean_text(args.get("q", ""))
    category_slug = args.get("category", "")
    category = catalog.category_by_slug(category_slug)
    sort = catalog.parse_sort(args.get("sort"))
    if sort == catalog.Sort.REBATE and not sharer:
        # Rebates are the sharer's business; a buyer's page never reveals them, not even
        # as an order.
        sort = catalog.Sort.NEW
    result = catalog.browse(
        query=query, category=category, sort=sort, page=catalog.parse_page(args.get("page"))
    )
    sorts = [(s, label) for s, label in SORT_LABELS.items() if sharer or s != catalog.Sort.REBATE]
    # The params every link on the page keeps; None drops one from the URL.
    params = {
        "q": query or None,
        "category": category.slug if category else None,
        "sort": sort.value if sort != catalog.Sort.NEW else None,
    }
    return render_template(
        "storefront/catalog.html",
        result=result,
        rebates=catalog.unit_rebates(result.products) if sharer else {},
        categories=catalog.categories(),
        category=category,
        unknown_category=bool(category_slug.strip()) and category is None,
        query=query,
        sort=sort,
        sorts=sorts,
        params=params,
    )


@bp.route("/p/<int:product_id>")
def product_detail(product_id: int):
    """Kept whole for visitors who are not signed in, as the landing page is, under the same
    stamps (shop.web.storefront.landing)."""
    from shop.web.storefront import cart, landing

    key = landing.page_key(cart.cart_count)
    page = landing.kept_page(product_id, key, lambda: _product_page(product_id))
    if page is not None:
        return page
    return landing.render_and_keep(product_id, key, lambda: _product_page(product_id))


def _product_page(product_id: int) -> tuple[str, int]:
    from shop.web.storefront.buying import render_product

    product = catalog.product_for_page(product_id)
    if product is None:
        abort(404)
    if shops.is_gone(product):
        abort(410)
    return render_product(product)


def review_context(product) -> dict:
    """What a product page shows of reviews: the section with the summary and the latest
    three, and the merchant's credit. This is the page shares land on, so both come from
    per-process caches (the section as rendered HTML, per language) at most a few seconds
    old; the reviews page and the merchant page always read afresh."""
    return {
        "reviews_section": _reviews_section(product.id),
        "credit": credit.merchant_credit_cached(product.merchant),
    }


def _reviews_section(product_id: int) -> Markup:
    by_locale = app_cache(*reading.PREVIEW_CACHE).get(product_id, dict)
    locale = str(get_locale())
    html = by_locale.get(locale)
    if html is None:
        html = Markup(
            render_template(
                "storefront/_reviews_preview.html",
                preview=reading.preview(product_id),
                product_id=product_id,
            )
        )
        by_locale[locale] = html
    return html


@bp.route("/m/<int:merchant_id>")
def merchant_page(merchant_id: int):
    """A merchant's public page: who they are, their credit and how it is computed, their
    listed products."""
    merchant = catalog.merchant_for_page(merchant_id)
    if merchant is None:
        abort(404)
    products = catalog.merchant_products(merchant)
    return render_template(
        "storefront/merchant.html",
        merchant=merchant,
        credit=credit.merchant_credit(merchant),
        rules=credit.CreditRules.current(),
        products=products,
        rebates=catalog.unit_rebates(products) if viewer_is_sharer() else {},
    )


@bp.route("/media/<string:name>")
def media(name: str):
    path = images.media_file(name)
    if path is None:
        abort(404)
    # Names are content hashes: the bytes behind a name never change.
    response = send_file(path, mimetype="image/webp", max_age=ONE_YEAR, conditional=True)
    response.cache_control.immutable = True
    response.cache_control.public = True
    return response
