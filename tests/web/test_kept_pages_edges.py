"""Edges of the kept pages (shop.web.storefront.landing): a kept page seen inside WeChat still
gets the CSP that lets WeChat's share-card script load; only plain query strings (a share code,
what WeChat adds to a shared link) are kept, so made-up ones cannot fill or empty the cache; a
full cache drops its oldest product's pages, not every page; and a savepoint rolled back inside
a transaction does not lose the change marks made before it."""

import pytest
from sqlalchemy import text

from shop.platform import stamps
from shop.platform.extensions import db
from shop.web.storefront.landing import PageCache
from tests.factories import make_product
from tests.web.test_kept_pages import _queries
from tests.web.test_landing_cache import Queries
from tests.web.test_sharer_tools import WECHAT_UA

SDK = "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"


@pytest.fixture
def apps(make_apps):
    """make(**settings): an app keeping pages, its engine closed after the test."""
    return lambda **settings: make_apps(LANDING_CACHE_SECONDS=60, **settings)


def test_a_kept_page_inside_wechat_lets_the_share_card_script_load(apps):
    app = apps(
        WECHAT_APP_ID="wx0123456789abcdef",
        WECHAT_APP_SECRET="secret",
        WECHAT_API_BASE="http://127.0.0.1:9",  # never called: a page render signs nothing
    )
    with app.app_context():
        product_id = make_product(title="保温杯", stock=10).id
        db.session.commit()
    path = f"/p/{product_id}"
    for visit in range(3):
        queries = Queries(app)
        try:
            answer = app.test_client().get(path, headers={"User-Agent": WECHAT_UA})
        finally:
            queries.close()
        assert SDK in answer.text
        assert "https://res.wx.qq.com" in answer.headers["Content-Security-Policy"], visit
    assert queries.count == 0  # the last one was a kept page
    plain = app.test_client().get(path)
    assert SDK not in plain.text
    assert "res.wx.qq.com" not in plain.headers["Content-Security-Policy"]


def test_only_plain_query_strings_are_kept(apps):
    app = apps()
    with app.app_context():
        product_id = make_product(title="保温杯", stock=10).id
        db.session.commit()
    kept = [
        f"/p/{product_id}",
        f"/p/{product_id}?ref=AbCd2345",
        f"/p/{product_id}?ref=AbCd2345&from=groupmessage&isappinstalled=0",
    ]
    for path in kept:
        _queries(app, path)
        assert _queries(app, path)[2] == 0, path
    not_kept = [
        f"/p/{product_id}?x=1",
        f"/p/{product_id}?ref=not-a-code",
        f"/p/{product_id}?ref=AbCd2345&ref=AbCd2346",
        f"/p/{product_id}?from=anything",
    ]
    for path in not_kept:
        page, status, _count = _queries(app, path)
        assert status == 200 and "保温杯" in page
        assert _queries(app, path)[2] > 0, path
    assert app.extensions["landing_pages"]._count == len(kept)


def test_a_full_cache_drops_its_oldest_pages_first():
    cache = PageCache(60, size=3)
    for product_id in (1, 2, 3):
        cache.put(product_id, ("k",), f"page {product_id}")
    cache.put(4, ("k",), "page 4")
    assert cache.lookup(1, ("k",), ())[0] is None
    assert [cache.lookup(n, ("k",), ())[0] for n in (2, 3, 4)] == ["page 2", "page 3", "page 4"]
    assert cache._count == 3


def test_a_rolled_back_savepoint_keeps_the_marks_made_before_it(apps):
    app = apps()
    with app.app_context():
        product_id = make_product(title="保温杯", stock=10).id
        db.session.commit()
        before = stamps.current().read(product_id)
        stamps.mark_stale(product_id)
        savepoint = db.session.begin_nested()
        db.session.execute(text("SELECT 1"))
        savepoint.rollback()
        db.session.commit()
        assert stamps.current().read(product_id) != before
        # A whole transaction rolled back: its marks go with it.
        again = stamps.current().read(product_id)
        db.session.execute(text("SELECT 1"))
        stamps.mark_stale(product_id)
        db.session.rollback()
        db.session.commit()
        assert stamps.current().read(product_id) == again
