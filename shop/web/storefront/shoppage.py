"""A sharer's shop page (/s/<slug>), kept whole for visitors who are not signed in, as the
landing page is (shop.web.storefront.landing: the same key, the CSRF token's mark, the same
time, the renewal after an answer in the last tenth of it).

What it shows: the shop (name, avatar, intro, the sharer's name: the stamp for everything), its
list of items (which products, their order and pins, the sharer's words, the quoted reviews:
the shop's own stamp, ``stamps.shop_stamp``, bumped by any change of its items) and each
product (title, price, cover, whether it is sold out, status, its merchant's standing, its
reviews: the product's listing stamp, ``stamps.listing_stamp``, which a checkout that leaves
the product on sale does not move). A kept page is served only while the stamp for
everything, the shop's and those of every product the shop had when it was rendered (listed or
not: one back in stock or listed again must show up) are what they were before the render.

Those stamps are read before the request's first query (on SQLite a read transaction sees the
database as of its first read, so a stamp read after it could be newer than what the page
shows); which products the shop has is known from the render before. So the first render of
a shop in a worker (or the first after its items changed) is not kept: it learns the shop's
products, and the next render, whose stamps were read for exactly those, is kept once it has
checked that the shop still has exactly those.
"""

from flask import abort, render_template

from shop.platform import stamps
from shop.reviews import reading
from shop.sharing import shops
from shop.web.storefront import bp, cart, landing
from shop.web.storefront.sharing import _ref

CACHE = "shop_pages"
#: Shops whose products a worker remembers (each a few ids); forgotten all at once beyond.
KNOWN_SHOPS = 5_000


@bp.route("/s/<string:slug>")
def shop_page(slug: str):
    slug = slug.lower()
    key = landing.page_key(cart.cart_count)
    cache = landing.page_cache(CACHE) if key is not None else None
    if cache is None:
        return _render(slug)[0]
    read = read_stamps(cache, slug)
    if read is not None:
        page, due = cache.lookup(slug, key, read)
        if due:
            landing.render_after_answer(
                cache,
                slug,
                key,
                lambda: _render_and_keep(cache, slug, key, read_stamps(cache, slug)),
            )
        if page is not None:
            return landing.with_token(page)
    return _render_and_keep(cache, slug, key, read)


def _known(cache) -> dict:
    """slug -> (shop id, its products' ids) as last rendered, in ``cache``."""
    known = getattr(cache, "shop_products", None)
    if known is None or len(known) > KNOWN_SHOPS:
        known = cache.shop_products = {}
    return known


def read_stamps(cache, slug: str, found: stamps.Stamps | None = None) -> tuple | None:
    """(shop id, product ids, their stamps now), for the shop's products as last rendered;
    None when this worker has not rendered the shop yet. ``found``: the app's stamps (else
    the current app's)."""
    known = _known(cache).get(slug)
    if known is None:
        return None
    shop_id, product_ids = known
    keys = (stamps.shop_stamp(shop_id), *map(stamps.listing_stamp, product_ids))
    return shop_id, product_ids, (found or stamps.current()).read_many(keys)


def _render_and_keep(cache, slug: str, key: tuple, read: tuple | None) -> str:
    page, shop_id = _render(slug)
    products = shops.item_product_ids(shop_id)
    if read is not None and read[:2] == (shop_id, products):
        cache.put(slug, key, landing.without_token(page), read)
    else:  # stamps read for other products than the shop has: learnt, kept next time
        _known(cache)[slug] = (shop_id, products)
    return page


def _render(slug: str) -> tuple[str, int]:
    """The page and the shop's id."""
    shop = shops.find_by_slug(slug)
    if shop is None:
        abort(404)
    items = shops.public_items(shop)
    page = render_template(
        "storefront/shop.html",
        shop=shop,
        items=items,
        ref=_ref(),
        ratings=reading.summaries([i.product_id for i in items if i.show_rating]),
        shown_quote=reading.shown_quote,
    )
    return page, shop.id
