import re
from datetime import datetime, timedelta
from html import unescape

import pytest
from flask_babel import gettext

from shop.catalog import images
from shop.catalog.models import MerchantStatus, ProductImage, ProductStatus
from shop.platform.extensions import db
from tests.factories import (
    make_category,
    make_merchant,
    make_product,
    make_shop,
    make_user,
    png_bytes,
)

T0 = datetime(2026, 3, 1, 12, 0)
#: 12345 fen at 12.34% gives 1523.373 fen: the sharer sees 15.23.
PRICE, BPS, REBATE_TEXT = 12345, 1234, "15.23"


def zh(app, message: str, **variables) -> str:
    """``message`` as a Chinese page shows it.

    New messages reach the Chinese catalogue after this change is merged; until then a page
    shows the English source, and this gives the same.
    """
    with app.test_request_context(headers={"Accept-Language": "zh-CN"}):
        return str(gettext(message, **variables))


def page_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def hrefs(page: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'href="([^"]*)"', page)]


def product_links(page: str) -> list[str]:
    return re.findall(r'href="(/p/\d+)"', page)


def assert_no_rebate(page: str) -> None:
    assert "赚" not in page and "Earn" not in page
    assert REBATE_TEXT not in page
    assert "返利" not in page and "rebate" not in page.lower()


# --- browsing ------------------------------------------------------------------------------


def test_catalog_lists_only_visible_products(app, client):
    with app.app_context():
        shown = make_product(title="正山小种红茶")
        make_product(title="草稿商品", status=ProductStatus.DRAFT)
        make_product(title="下架商品", status=ProductStatus.DELISTED)
        make_product(title="待审商家", merchant=make_merchant(status=MerchantStatus.PENDING))
        make_product(title="暂停商家", merchant=make_merchant(status=MerchantStatus.SUSPENDED))
        db.session.commit()
        shown_url = f"/p/{shown.id}"

    page = page_of(client.get("/catalog"))
    assert "正山小种红茶" in page and product_links(page) == [shown_url]
    for hidden in ("草稿商品", "下架商品", "待审商家", "暂停商家"):
        assert hidden not in page
    assert zh(app, "%(n)d found", n=1) in page
    assert "<script" not in page


def test_search_form_is_a_labelled_get_form_that_keeps_category_and_sort(app, client):
    with app.app_context():
        make_category(slug="tea")
        db.session.commit()
    page = page_of(client.get("/catalog?category=tea&sort=price_desc"))
    form = re.search(r'<form class="catalog-search".*?</form>', page, re.S).group(0)
    assert 'method="get"' in form and 'action="/catalog"' in form
    assert '<label class="sr-only" for="catalog-q">' in form
    assert 'id="catalog-q" type="search" name="q"' in form
    assert 'name="category" value="tea"' in form and 'name="sort" value="price_desc"' in form


def test_search_by_keyword(app, client):
    with app.app_context():
        make_product(title="云南普洱", description="熟茶 357 克")
        make_product(title="坚果礼盒", description="每日坚果")
        db.session.commit()
    page = page_of(client.get("/catalog", query_string={"q": "熟茶"}))
    assert "云南普洱" in page and "坚果礼盒" not in page
    assert 'value="熟茶"' in page and zh(app, "Results for “%(q)s”", q="熟茶") in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("%", "满100%返现"),
        ("_", "a_b 毛巾"),
        ("'; DROP TABLE products; --", "'; DROP TABLE products; -- 礼盒"),
    ],
)
def test_search_wildcards_and_injection_text_are_literal(app, client, query, expected):
    with app.app_context():
        merchant, category = make_merchant(), make_category()
        for title in ("满100%返现", "a_b 毛巾", "axb 毛巾", "'; DROP TABLE products; -- 礼盒"):
            make_product(title=title, merchant=merchant, category=category, with_image=False)
        db.session.commit()

    page = page_of(client.get("/catalog", query_string={"q": query}))
    assert len(product_links(page)) == 1 and zh(app, "%(n)d found", n=1) in page
    assert expected in unescape(page)
    # The table is still there.
    assert zh(app, "%(n)d found", n=4) in page_of(client.get("/catalog"))


@pytest.mark.parametrize(
    "query",
    ["\x00", "红\x00茶", "\\", "%_%", "<script>alert(1)</script>", "' OR 1=1 --", "😀" * 60],
)
def test_odd_search_text_never_errors(client, query):
    response = client.get("/catalog", query_string={"q": query})
    page = page_of(response)
    assert "<script>alert" not in page


def test_overlong_search_text_is_cut_to_fifty_characters(client):
    page = page_of(client.get("/catalog", query_string={"q": "长" * 80}))
    assert f'value="{"长" * 50}"' in page and "长" * 51 not in page


def test_category_chips_filter_and_highlight(app, client):
    with app.app_context():
        merchant = make_merchant()
        tea = make_category(slug="tea", name_zh="茶饮", name_en="Tea", position=2)
        toys = make_category(slug="toys", name_zh="玩具", name_en="Toys", position=1)
        make_product(title="红茶", merchant=merchant, category=tea, with_image=False)
        make_product(title="积木", merchant=merchant, category=toys, with_image=False)
        db.session.commit()

    page = page_of(client.get("/catalog?category=tea&q=红&sort=sales"))
    chips = re.search(r'<nav class="filter-chips".*?</nav>', page, re.S).group(0)
    # Ordered by position, the current one marked, the other params kept.
    assert chips.index("玩具") < chips.index("茶饮")
    assert re.search(r'class="filter-chip is-active"[^>]*aria-current="page">茶饮<', chips)
    chip_urls = hrefs(chips)
    assert "/catalog?q=红&sort=sales" in [u.replace("%E7%BA%A2", "红") for u in chip_urls]
    assert "红茶" in page and "积木" not in page

    english = page_of(client.get("/catalog?category=tea", headers={"Accept-Language": "en"}))
    assert ">Tea<" in english and ">Toys<" in english


def test_unknown_category_shows_everything_with_a_note(app, client):
    with app.app_context():
        make_product(title="红茶")
        db.session.commit()
    note = zh(app, "That category does not exist, so all products are shown.")
    page = page_of(client.get("/catalog?category=no-such-thing"))
    assert note in page and "红茶" in page
    assert 'class="filter-chip is-active" href="/catalog" aria-current="page"' in page
    assert note not in page_of(client.get("/catalog"))


@pytest.mark.parametrize("sort", ["bogus", "", "PRICE_ASC", "new"])
def test_unknown_sort_gives_newest_first(app, client, sort):
    with app.app_context():
        shelf = {"merchant": make_merchant(), "category": make_category()}
        old = make_product(title="旧", price_cents=100, created_at=T0, with_image=False, **shelf)
        new = make_product(title="新", price_cents=900, created_at=T0 + timedelta(days=1), **shelf)
        db.session.commit()
        expected = [f"/p/{new.id}", f"/p/{old.id}"]
    page = page_of(client.get("/catalog", query_string={"sort": sort}))
    assert product_links(page) == expected


@pytest.mark.parametrize(
    ("sort", "expected"),
    [("price_asc", "BCA"), ("price_desc", "ACB"), ("sales", "CAB"), ("new", "CBA")],
)
def test_sort_orders(app, client, sort, expected):
    with app.app_context():
        shelf = {"merchant": make_merchant(), "category": make_category()}
        ids = {}
        for n, (title, price, sales) in enumerate([("A", 3000, 5), ("B", 1000, 1), ("C", 2000, 9)]):
            ids[title] = make_product(
                title=title,
                price_cents=price,
                original_price_cents=None,
                sales_count=sales,
                created_at=T0 + timedelta(days=n),
                with_image=False,
                **shelf,
            ).id
        db.session.commit()
    page = page_of(client.get(f"/catalog?sort={sort}"))
    assert product_links(page) == [f"/p/{ids[t]}" for t in expected]
    assert re.search(r'class="sort-link is-active" href="[^"]*"[^>]*aria-current="true"', page)


# --- pagination ----------------------------------------------------------------------------


@pytest.fixture
def many(app):
    """45 products in one category, newest first P00..P44."""
    with app.app_context():
        category = make_category(slug="all-tea")
        merchant = make_merchant()
        for n in range(45):
            make_product(
                title=f"茶{n:02d}",
                merchant=merchant,
                category=category,
                created_at=T0 - timedelta(minutes=n),
                with_image=False,
            )
        db.session.commit()


def page_x_of_y(app, page: int, pages: int) -> str:
    return zh(app, "Page %(page)d of %(pages)d", page=page, pages=pages)


def test_pagination_keeps_the_other_params(app, client, many):
    page = page_of(client.get("/catalog?q=茶&category=all-tea&sort=new"))
    assert len(product_links(page)) == 20 and "茶00" in page and "茶20" not in page
    assert page_x_of_y(app, 1, 3) in page
    nav = re.search(r'<nav class="pagination".*?</nav>', page, re.S).group(0)
    (next_url,) = [u for u in hrefs(nav)]
    assert next_url.startswith("/catalog?") and "page=2" in next_url
    assert "category=all-tea" in next_url and "q=%E8%8C%B6" in next_url

    second = page_of(client.get(next_url))
    assert page_x_of_y(app, 2, 3) in second and "茶20" in second and "茶00" not in second
    nav = re.search(r'<nav class="pagination".*?</nav>', second, re.S).group(0)
    prev_url, next_url = hrefs(nav)
    assert "page=" not in prev_url and "category=all-tea" in prev_url  # page 1 has no number
    assert "page=3" in next_url


@pytest.mark.parametrize(
    ("value", "shown"),
    [("99", 3), ("999999999999999999999", 3), ("0", 1), ("-2", 1), ("abc", 1), ("2.5", 1)],
)
def test_out_of_range_or_malformed_page_is_clamped(app, client, many, value, shown):
    page = page_of(client.get("/catalog", query_string={"page": value}))
    assert page_x_of_y(app, shown, 3) in page


def test_one_page_of_results_shows_no_pagination(app, client):
    with app.app_context():
        make_product()
        db.session.commit()
    assert 'class="pagination"' not in page_of(client.get("/catalog"))


def test_empty_search_says_so_and_offers_everything(app, client):
    page = page_of(client.get("/catalog?q=不存在的东西"))
    assert zh(app, "No products match. Try another word or category.") in page
    assert 'href="/catalog"' in page


# --- sharers see what they would earn; nobody else does ------------------------------------


@pytest.fixture
def priced(app):
    with app.app_context():
        product = make_product(
            title="返点测试商品", price_cents=PRICE, original_price_cents=None, rebate_bps=BPS
        )
        sharer = make_user()
        make_shop(user=sharer)
        buyer = make_user()
        db.session.commit()
        return {"url": f"/p/{product.id}", "sharer": sharer, "buyer": buyer}


def test_sharer_sees_what_they_earn_on_cards_and_product_page(app, priced, user_client):
    earn = zh(app, "Earn ¥%(amount)s", amount=REBATE_TEXT)
    assert earn in (f"赚 ¥{REBATE_TEXT}", f"Earn ¥{REBATE_TEXT}")  # the latter until merged
    client = user_client(priced["sharer"])
    for url in ("/catalog", "/", priced["url"]):
        page = page_of(client.get(url))
        assert earn in page and 'class="product-earn' in page, url
    assert "sort=rebate" in page_of(client.get("/catalog"))
    english = page_of(client.get("/catalog", headers={"Accept-Language": "en"}))
    # A user's saved language may win over the header; either way the amount is shown.
    assert REBATE_TEXT in english


def test_signed_out_visitor_never_sees_rebates(priced, client):
    for url in ("/catalog", "/", priced["url"], "/catalog?category=x&q=返点"):
        assert_no_rebate(page_of(client.get(url)))
        assert_no_rebate(page_of(client.get(url, headers={"Accept-Language": "en"})))


def test_signed_in_user_without_a_shop_never_sees_rebates(priced, user_client):
    client = user_client(priced["buyer"])
    for url in ("/catalog", "/", priced["url"], "/catalog?sort=price_asc"):
        assert_no_rebate(page_of(client.get(url)))


def test_rebate_sort_works_for_sharers_only(app, user_client, client):
    with app.app_context():
        shelf = {"merchant": make_merchant(), "category": make_category()}
        low = make_product(title="低", rebate_bps=100, created_at=T0 + timedelta(days=1), **shelf)
        high = make_product(title="高", rebate_bps=3000, created_at=T0, **shelf)
        sharer = make_user()
        make_shop(user=sharer)
        db.session.commit()
        by_rebate = [f"/p/{high.id}", f"/p/{low.id}"]
    assert product_links(page_of(user_client(sharer).get("/catalog?sort=rebate"))) == by_rebate
    # For anyone else the rebate order is itself rebate information: newest first instead.
    page = page_of(client.get("/catalog?sort=rebate"))
    assert product_links(page) == by_rebate[::-1]
    assert "sort=rebate" not in "".join(hrefs(page)) and "赚" not in page and "Earn" not in page


# --- product page --------------------------------------------------------------------------


def test_product_page_shows_gallery_price_merchant_stock_and_category(app, client):
    with app.app_context():
        category = make_category(slug="tea", name_zh="茶饮", name_en="Tea")
        product = make_product(
            title="金骏眉",
            description="桐木关 一级",
            price_cents=12900,
            original_price_cents=16800,
            stock=50,
            category=category,
        )
        extra = images.store_image(png_bytes(size=(80, 60), color=(1, 2, 3)))
        product.images.append(ProductImage(image_id=extra.id, position=1))
        db.session.commit()
        url, merchant = f"/p/{product.id}", product.merchant.name
        cover, thumb = product.images[0].image, extra
        cover_name, cover_size = cover.sha256, (cover.width, cover.height)

    page = page_of(client.get(url))
    assert (
        f'class="product-hero" src="/media/{cover_name}-d.webp" alt="金骏眉" '
        f'width="{cover_size[0]}" height="{cover_size[1]}"'
    ) in page
    assert f'src="/media/{thumb.sha256}-t.webp"' in page and 'width="240" height="240"' in page
    assert '<span class="price"><small>¥</small>129.00</span>' in page
    assert '<s class="price-original">¥168.00</s>' in page
    assert merchant in page and "认证商家" in page
    assert "有货" in page and "茶饮" in page and 'href="/catalog?category=tea"' in page
    assert "桐木关 一级" in page


@pytest.mark.parametrize(
    ("stock", "css"), [(11, "stock-ok"), (10, "stock-low"), (1, "stock-low"), (0, "stock-out")]
)
def test_product_page_stock_state(app, client, stock, css):
    with app.app_context():
        product = make_product(stock=stock, with_image=False)
        db.session.commit()
        url = f"/p/{product.id}"
    page = page_of(client.get(url))
    texts = {
        "stock-ok": "有货",
        "stock-low": zh(app, "Only %(n)d left", n=stock),
        "stock-out": "已售罄",
    }
    assert f'<span class="{css}">{texts[css]}</span>' in page
    assert [c for c in texts if f'class="{c}"' in page] == [css]


@pytest.mark.parametrize(
    ("product_status", "merchant_status"),
    [
        (ProductStatus.DRAFT, MerchantStatus.APPROVED),
        (ProductStatus.DELISTED, MerchantStatus.APPROVED),
        (ProductStatus.LISTED, MerchantStatus.SUSPENDED),
        (ProductStatus.LISTED, MerchantStatus.PENDING),
    ],
)
def test_product_page_of_unlisted_product_is_gone(app, client, product_status, merchant_status):
    with app.app_context():
        merchant = make_merchant(status=merchant_status)
        product = make_product(status=product_status, merchant=merchant, with_image=False)
        db.session.commit()
        url = f"/p/{product.id}"
    assert client.get(url).status_code == 410
    assert client.get("/p/987654").status_code == 404


# --- home ----------------------------------------------------------------------------------


def test_home_links_to_the_catalogue_and_its_categories(app, client):
    with app.app_context():
        make_category(slug="tea", name_zh="茶饮", name_en="Tea")
        make_product(title="红茶")
        db.session.commit()
    page = page_of(client.get("/"))
    assert "新品上架" in page and "红茶" in page and "朋友推荐的好物" in page
    assert 'href="/catalog"' in page and 'href="/catalog?category=tea"' in page
    assert "茶饮" in page
