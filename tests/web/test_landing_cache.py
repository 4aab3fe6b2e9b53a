"""The landing page kept whole for anonymous visitors (shop.web.storefront.landing): no query and
no template on a kept page, a fresh working CSRF token each time, missed once a change to the
product, its shop or its reviews is committed (here by this process; by others:
tests/web/test_landing_stamps.py); never kept for a signed-in visitor."""

import re

import pytest
from sqlalchemy import event

from shop.catalog.models import ProductStatus
from shop.platform.extensions import db
from shop.sharing.models import ShopItem
from tests.conftest import build_app
from tests.factories import make_user
from tests.web.test_sharing import PHONE_UA, make_link

TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def cached_app(make_apps):
    return make_apps("instance", LANDING_CACHE_SECONDS=60, WTF_CSRF_ENABLED=True)


def _landing(app):
    with app.app_context():
        link = make_link(title="保温杯")
        db.session.commit()
        return link.product_id, f"/s/{link.shop.slug}/p/{link.product_id}?ref={link.code}"


class Queries:
    def __init__(self, app):
        self.count = 0
        with app.app_context():
            self.engine = db.engine
        event.listen(self.engine, "before_cursor_execute", self._count)

    def _count(self, *args):
        self.count += 1

    def close(self):
        event.remove(self.engine, "before_cursor_execute", self._count)


def test_a_kept_page_costs_no_query_and_gets_a_fresh_working_token(cached_app):
    app = cached_app
    product_id, path = _landing(app)
    first = app.test_client().get(path, headers={"User-Agent": PHONE_UA})
    assert first.status_code == 200 and "保温杯" in first.text
    queries = Queries(app)
    try:
        visitor = app.test_client()
        second = visitor.get(path, headers={"User-Agent": PHONE_UA})
    finally:
        queries.close()
    assert second.status_code == 200 and queries.count == 0
    first_token, second_token = TOKEN.search(first.text)[1], TOKEN.search(second.text)[1]
    assert first_token != second_token and "\x00" not in second.text
    assert TOKEN.sub("", first.text) == TOKEN.sub("", second.text)
    # The token works: the add-to-cart form of the kept page is accepted.
    added = visitor.post("/cart/add", data={"csrf_token": second_token, "product_id": product_id})
    assert added.status_code in (302, 303), added.status_code
    # With an item in the cart the badge differs: another key, a page of its own.
    with_cart = visitor.get(path)
    assert with_cart.status_code == 200 and 'class="badge">1<' in with_cart.text


def test_a_change_committed_in_this_process_drops_the_page(cached_app):
    app = cached_app
    product_id, path = _landing(app)
    client = app.test_client()
    assert "保温杯" in client.get(path).text
    with app.app_context():
        from shop.catalog.models import Product

        product = db.session.get(Product, product_id)
        product.title = "新款保温杯"
        db.session.commit()
    assert "新款保温杯" in client.get(path).text
    with app.app_context():
        item = db.session.execute(db.select(ShopItem)).scalar_one()
        item.recommendation = "冬天必备"
        db.session.commit()
    assert "冬天必备" in client.get(path).text
    with app.app_context():
        product = db.session.get(Product, product_id)
        product.status = ProductStatus.DELISTED
        db.session.commit()
    assert client.get(path).status_code == 410


def test_languages_are_kept_apart_and_signed_in_visitors_never_get_a_kept_page(
    cached_app, user_client
):
    app = cached_app
    _product_id, path = _landing(app)
    chinese = app.test_client().get(path, headers={"Accept-Language": "zh-CN"})
    english = app.test_client().get(path, headers={"Accept-Language": "en"})
    assert "加入购物车" in chinese.text and "Add to cart" in english.text
    with app.app_context():
        buyer = make_user(display_name="买家老李")
        db.session.commit()
    signed_in = user_client(buyer)
    page = signed_in.get(path)
    assert page.status_code == 200 and "买家老李" in page.text
    assert "买家老李" not in app.test_client().get(path).text


class Clock:
    """time.monotonic for shop.web.storefront.landing, moved on by hand."""

    def __init__(self, monkeypatch):
        from shop.web.storefront import landing

        self.now = 1_000.0
        monkeypatch.setattr(landing.time, "monotonic", lambda: self.now)
        monkeypatch.setattr(landing.random, "random", lambda: 0.0)  # kept the whole 60 s


def test_a_page_late_in_its_time_is_rendered_again_after_the_answer(
    database_url, tmp_path, monkeypatch
):
    """The visitor who finds a page in the last tenth of its time gets the kept page at once,
    and the page is rendered again after that answer (no log line of its own): a change made
    outside this process (here a plain UPDATE, as another worker's) shows from the next visit,
    with no visitor ever waiting for a render."""
    import logging

    from shop.platform import ops

    app = build_app(database_url, tmp_path / "instance", LANDING_CACHE_SECONDS=60, REQUEST_LOG=True)
    clock = Clock(monkeypatch)
    product_id, path = _landing(app)
    lines = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    ops.request_log.addHandler(handler)
    try:
        assert "保温杯" in app.test_client().get(path).text
        with app.app_context():
            from shop.catalog.models import Product

            db.session.execute(
                db.update(Product).where(Product.id == product_id).values(title="新款保温杯")
            )
            db.session.commit()
        clock.now += 20  # early in its time: kept as it is, not renewed
        assert "新款保温杯" not in app.test_client().get(path).text
        clock.now += 35  # in the last tenth of its time: this visitor gets the kept page...
        lines.clear()
        late = app.test_client().get(path)
        assert late.status_code == 200 and "新款保温杯" not in late.text
        late.close()  # what the server does once the answer is written: the render runs now
        assert len(lines) == 1  # the render after the answer is not a request
        queries = Queries(app)
        try:
            renewed = app.test_client().get(path)  # ...and the next one the new page
        finally:
            queries.close()
        assert "新款保温杯" in renewed.text and queries.count == 0
        assert "\x00" not in renewed.text and TOKEN.search(renewed.text)
        # Delisted meanwhile (by another process): the render after the answer drops the page.
        with app.app_context():
            db.session.execute(
                db.update(Product)
                .where(Product.id == product_id)
                .values(status=ProductStatus.DELISTED)
            )
            db.session.commit()
        clock.now += 55
        app.test_client().get(path).close()  # still kept (200); found gone when rendered again
        assert app.test_client().get(path).status_code == 410
    finally:
        ops.request_log.removeHandler(handler)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
