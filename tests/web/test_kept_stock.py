"""Kept product and landing pages survive stock moves (shop.web.storefront.stockparts): a
checkout or a cancel in another worker shows its new numbers ("仅剩 N 件", the spec sheet's
"库存 N", each SKU's number in the sheet's data) at the next visit without the page being
rendered again (one light query, then none), and the filled page is exactly the page a render
gives; sold out (the product or one spec), back in stock, and "few left" show at once."""

import html
import json
import re
from contextlib import contextmanager

import pytest
from flask import template_rendered

from shop.catalog import skus, stockmoves
from shop.catalog.models import Product
from shop.platform.extensions import db
from tests.factories import make_product, make_shirt, sku_of
from tests.web.test_kept_pages import _cancel, _place, _place_lines
from tests.web.test_kept_path import thin_path
from tests.web.test_landing_cache import TOKEN, Queries
from tests.web.test_landing_stamps import workers  # noqa: F401  (a fixture)
from tests.web.test_sharing import make_link

DATA = re.compile(r'data-skus="([^"]*)"')


@pytest.fixture(params=["thin path", "flask"], autouse=True)
def through(request, workers):  # noqa: F811
    """Kept pages served by the thin path (shop.web.storefront.keptpath), or by Flask."""
    if request.param == "flask":
        for app in workers:
            thin_path(app).enabled = False
    return request.param


@pytest.fixture
def plain(make_apps):
    """An app on the same database that keeps nothing: the page as a render gives it."""
    return make_apps("plain", LANDING_CACHE_SECONDS=0)


@contextmanager
def counting(app):
    """{"renders": product pages rendered, "queries": statements} within the block."""
    seen = {"renders": 0}

    def rendered(_sender, template, context, **_extra):
        seen["renders"] += template.name == "storefront/product.html"

    queries = Queries(app)
    template_rendered.connect(rendered, app)
    try:
        yield seen
    finally:
        template_rendered.disconnect(rendered, app)
        queries.close()
        seen["queries"] = queries.count


def _get(app, path) -> tuple[str, dict]:
    with counting(app) as seen:
        answer = app.test_client().get(path)
    assert answer.status_code == 200
    return answer.text, seen


def _same(page: str, rendered: str) -> None:
    assert TOKEN.sub("", page) == TOKEN.sub("", rendered)


def _sku_stocks(page: str) -> dict[int, int]:
    data = json.loads(html.unescape(DATA.search(page).group(1)))
    return {sku["id"]: sku["stock"] for sku in data["skus"]}


def _kept_twice(app, path) -> str:
    """Visit until kept: the page (rendered at most once, then served with no query)."""
    page, _seen = _get(app, path)
    again, seen = _get(app, path)
    assert seen == {"renders": 0, "queries": 0}, "expected a kept page"
    _same(again, page)
    return again


def _one_spec(stocks: dict[str, int]) -> int:
    """A product in one spec (颜色) with the given stock per value; its id."""
    product = make_product(title="保温杯", original_price_cents=None)
    rows = [skus.CleanRow((value, ""), 5900, n, None, None, None) for value, n in stocks.items()]
    skus.save(product, [("颜色", list(stocks))], rows)
    db.session.flush()
    return product.id


def test_a_checkout_and_a_cancel_show_at_the_next_visit_without_a_render(
    workers,  # noqa: F811
    plain,
):
    first, second = workers
    with first.app_context():
        link = make_link(title="保温杯", stock=8)
        shirt = make_shirt(title="纯棉T恤")
        db.session.commit()
        cup = link.product_id
        landing = f"/s/{link.shop.slug}/p/{cup}?ref={link.code}"
        shirt_id, red_l = shirt.id, sku_of(shirt, "红", "L").id
    paths = [f"/p/{cup}", landing, f"/p/{shirt_id}"]
    for path in paths:
        _kept_twice(second, path)
    order_id, buyer_id = _place(first, cup, 3, "k-stock-1")
    for path in paths[:2]:
        page, seen = _get(second, path)
        assert seen["renders"] == 0 and seen["queries"] <= 2  # the numbers: one light query
        assert "仅剩 5 件" in page and "库存 5" in page
        _same(page, plain.test_client().get(path).text)
    # The numbers are kept too: the next visit costs nothing.
    page = _kept_twice(second, paths[0])
    assert "仅剩 5 件" in page
    _cancel(first, order_id, buyer_id)
    page, seen = _get(second, landing)
    assert seen["renders"] == 0 and "仅剩 8 件" in page
    # A SKU's number, in the spec sheet's data.
    _place_lines(first, [(shirt_id, 2, red_l)], "k-stock-2")
    page, seen = _get(second, paths[2])
    assert seen["renders"] == 0
    assert _sku_stocks(page)[red_l] == 3
    _same(page, plain.test_client().get(paths[2]).text)


def test_sold_out_and_back_show_at_once(workers, plain):  # noqa: F811
    first, second = workers
    with first.app_context():
        cup = make_product(title="保温杯", stock=4).id
        db.session.commit()
    path = f"/p/{cup}"
    assert "加入购物车" in _kept_twice(second, path)
    order_id, buyer_id = _place(first, cup, 4, "k-stock-3")
    page, seen = _get(second, path)
    assert seen["renders"] == 1  # a new state: the buttons go
    assert "已售罄" in page and "加入购物车" not in page and "库存" not in page
    _same(page, plain.test_client().get(path).text)
    assert "已售罄" in _kept_twice(second, path)
    _cancel(first, order_id, buyer_id)
    page, seen = _get(second, path)
    assert seen["renders"] == 1 and "仅剩 4 件" in page and "加入购物车" in page
    _same(page, plain.test_client().get(path).text)


def test_few_left_shows_at_once(workers, plain):  # noqa: F811
    first, second = workers
    with first.app_context():
        cup = make_product(title="保温杯", stock=12).id
        db.session.commit()
    path = f"/p/{cup}"
    assert "有货" in _kept_twice(second, path)
    _place(first, cup, 1, "k-stock-4")
    page, seen = _get(second, path)
    assert seen["renders"] == 0 and "有货" in page and "库存 11" in page
    _place(first, cup, 2, "k-stock-5")
    page, seen = _get(second, path)
    assert seen["renders"] == 1 and "仅剩 9 件" in page  # "in stock" became "only 9 left"
    _same(page, plain.test_client().get(path).text)


def test_a_spec_sold_out_is_greyed_out_at_once(workers, plain):  # noqa: F811
    first, second = workers
    with first.app_context():
        cup = _one_spec({"红": 2, "蓝": 5})
        product = db.session.get(Product, cup)
        red = next(s.id for s in product.active_skus if s.value1 == "红")
        db.session.commit()
    path = f"/p/{cup}"
    page = _kept_twice(second, path)
    assert 'value="红" disabled' not in page
    _place_lines(first, [(cup, 2, red)], "k-stock-6")
    page, seen = _get(second, path)
    assert seen["renders"] == 1 and 'value="红" disabled' in page
    assert _sku_stocks(page)[red] == 0
    _same(page, plain.test_client().get(path).text)


def test_a_description_with_a_stand_in_number_is_shown_as_written(
    workers,  # noqa: F811
    monkeypatch,
):
    """The stand-ins are random for each render; one found where none was asked for (here
    made to happen) only means the page is served as rendered plainly, and not kept."""
    from shop.web.storefront import stockparts

    monkeypatch.setattr(stockparts.secrets, "randbelow", lambda _n: 0)
    _first, second = workers
    with second.app_context():
        cup = make_product(title="保温杯", stock=6, description="编号 100000000000000 号").id
        db.session.commit()
    for _ in range(3):
        page, seen = _get(second, f"/p/{cup}")
        assert "编号 100000000000000 号" in page and "仅剩 6 件" in page and "库存 6" in page
        assert seen["renders"] == 2  # marked, then plainly


def test_stock_taken_in_a_savepoint_moves_the_stamps_only_at_the_commit(workers):  # noqa: F811
    """Checkout takes stock inside a savepoint and commits later. SQLAlchemy calls after_commit
    when the savepoint is released too: had the stamps moved then, the other worker would have
    kept the old, committed number under the new stamp and shown it after the commit."""
    first, second = workers
    with first.app_context():
        product = make_product(title="保温杯", stock=30)
        db.session.commit()
        pid, sku_id = product.id, product.active_skus[0].id
    path = f"/p/{pid}"
    _kept_twice(second, path)
    with first.app_context():
        with db.session.begin_nested():  # as checkout.place_order takes stock
            assert stockmoves.take_stock(sku_id, pid, 1)
        page, _seen = _get(second, path)  # a visit between the savepoint and the commit
        assert "库存 30" in page
        db.session.commit()
    page, _seen = _get(second, path)
    assert "库存 29" in page
