from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from shop.catalog import catalog
from shop.catalog.catalog import Sort
from shop.catalog.models import MerchantStatus, Product, ProductStatus
from shop.platform.extensions import db
from shop.sharing import shops
from tests.factories import make_category, make_merchant, make_product, make_shop, make_user

T0 = datetime(2026, 3, 1, 12, 0)


def titles(page: catalog.CatalogPage) -> list[str]:
    return [p.title for p in page.products]


@pytest.fixture
def shelf(ctx):
    """One merchant and one category, so each product does not make its own."""
    return {"merchant": make_merchant(), "category": make_category()}


def add(shelf, title, **overrides):
    return make_product(title=title, with_image=False, **shelf, **overrides)


# --- search --------------------------------------------------------------------------------


def test_escape_like_makes_wildcards_and_the_escape_literal():
    assert catalog.escape_like("100%_off\\") == "100\\%\\_off\\\\"
    assert catalog.escape_like("红茶") == "红茶"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("%", ["满100%返现"]),
        ("_", ["a_b 毛巾"]),
        ("a_b", ["a_b 毛巾"]),
        ("\\", ["C:\\ 收纳盒"]),
        ("'; DROP TABLE products; --", ["'; DROP TABLE products; -- 礼盒"]),
        ("%%%", []),
        ("' OR '1'='1", []),
    ],
)
def test_search_matches_wildcards_and_quotes_literally(shelf, query, expected):
    for title in (
        "满100%返现",
        "a_b 毛巾",
        "axb 毛巾",
        "C:\\ 收纳盒",
        "'; DROP TABLE products; -- 礼盒",
    ):
        add(shelf, title)
    add(shelf, "普通商品", description="nothing special")

    assert titles(catalog.browse(query=query)) == expected
    assert db.session.execute(select(func.count()).select_from(Product)).scalar_one() == 6


def test_search_looks_in_title_and_description_ignoring_case(shelf):
    add(shelf, "Green TEA", created_at=T0)
    add(shelf, "礼盒", description="内含 green tea 两罐", created_at=T0 - timedelta(days=1))
    add(shelf, "咖啡", description="coffee", created_at=T0 - timedelta(days=2))

    assert titles(catalog.browse(query="tea")) == ["Green TEA", "礼盒"]
    assert titles(catalog.browse(query="  green tea  ")) == ["Green TEA", "礼盒"]


def test_search_text_is_cut_to_fifty_characters_and_loses_control_characters():
    assert catalog.clean_text("a" * 80) == "a" * 50
    assert catalog.clean_text(" 红\x00茶\n ") == "红茶"
    assert catalog.clean_text("\x00") == ""


def test_control_characters_are_dropped_from_search_not_sent_to_the_database(shelf):
    # PostgreSQL rejects NUL in text; the search must not turn it into a 500.
    add(shelf, "红茶")
    assert titles(catalog.browse(query="红\x00茶")) == ["红茶"]
    assert catalog.browse(query="\x00\x00").total == 1  # nothing left: no filter


# --- what is listed ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status", [MerchantStatus.PENDING, MerchantStatus.REJECTED, MerchantStatus.SUSPENDED]
)
def test_products_of_merchants_not_approved_are_never_listed(ctx, status):
    category = make_category()
    make_product(title="看得见", category=category, with_image=False)
    hidden = make_merchant(status=status)
    make_product(title="看不见", merchant=hidden, category=category, with_image=False)

    for page in (
        catalog.browse(),
        catalog.browse(query="看"),
        catalog.browse(category=category),
        catalog.browse(sort=Sort.PRICE_ASC),
    ):
        assert titles(page) == ["看得见"] and page.total == 1


@pytest.mark.parametrize("status", [ProductStatus.DRAFT, ProductStatus.DELISTED])
def test_draft_and_delisted_products_are_never_listed(shelf, status):
    add(shelf, "看得见")
    add(shelf, "看不见", status=status)

    assert titles(catalog.browse()) == ["看得见"]
    assert titles(catalog.browse(query="看不见")) == []
    assert catalog.browse(category=shelf["category"]).total == 1


def test_category_filter_shows_only_that_category(ctx):
    merchant = make_merchant()
    tea, toys = make_category(slug="tea"), make_category(slug="toys")
    make_product(title="红茶", merchant=merchant, category=tea, with_image=False)
    make_product(title="积木", merchant=merchant, category=toys, with_image=False)

    assert titles(catalog.browse(category=tea)) == ["红茶"]
    assert titles(catalog.browse(category=toys, query="红茶")) == []
    assert catalog.browse().total == 2


def test_categories_come_in_position_order_and_are_found_by_slug(ctx):
    make_category(slug="second", position=2)
    make_category(slug="first", position=1)
    assert [c.slug for c in catalog.categories()] == ["first", "second"]
    assert catalog.category_by_slug("second").slug == "second"
    assert catalog.category_by_slug("nope") is None
    assert catalog.category_by_slug("") is None
    assert catalog.category_by_slug("x\x00" * 100) is None


# --- sorting -------------------------------------------------------------------------------


@pytest.fixture
def assorted(shelf):
    #      title   price  rebate sales  age in days
    rows = [
        ("A", 3000, 500, 7, 3),
        ("B", 1000, 2000, 1, 1),
        ("C", 2000, 100, 30, 2),
        ("D", 5000, 1000, 0, 0),
    ]
    for title, price, bps, sales, age in rows:
        add(
            shelf,
            title,
            price_cents=price,
            original_price_cents=None,
            rebate_bps=bps,
            sales_count=sales,
            created_at=T0 - timedelta(days=age),
        )
    return shelf


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        (Sort.NEW, ["D", "B", "C", "A"]),
        (Sort.PRICE_ASC, ["B", "C", "A", "D"]),
        (Sort.PRICE_DESC, ["D", "A", "C", "B"]),
        (Sort.REBATE, ["B", "D", "A", "C"]),
        (Sort.SALES, ["C", "A", "B", "D"]),
    ],
)
def test_each_sort_order(assorted, sort, expected):
    assert titles(catalog.browse(sort=sort)) == expected


def test_ties_are_broken_newest_first_so_pages_are_stable(shelf):
    for n in range(5):
        add(shelf, f"P{n}", price_cents=1000, original_price_cents=None, created_at=T0)
    listed = titles(catalog.browse(sort=Sort.PRICE_ASC))
    assert listed == ["P4", "P3", "P2", "P1", "P0"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("new", Sort.NEW),
        ("price_asc", Sort.PRICE_ASC),
        ("price_desc", Sort.PRICE_DESC),
        ("rebate", Sort.REBATE),
        ("sales", Sort.SALES),
        ("PRICE_ASC", Sort.NEW),
        ("price; DROP TABLE products", Sort.NEW),
        ("", Sort.NEW),
        (None, Sort.NEW),
    ],
)
def test_unknown_sort_means_newest(value, expected):
    assert catalog.parse_sort(value) == expected


# --- pagination ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3", 3),
        (" 2 ", 2),
        ("0", 1),
        ("-1", 1),
        ("1.5", 1),
        ("abc", 1),
        ("", 1),
        (None, 1),
        ("²", 1),
        ("9" * 1000, 10**8),
    ],
)
def test_parse_page(value, expected):
    assert catalog.parse_page(value) == expected


def test_pages_hold_twenty_and_out_of_range_pages_are_clamped(shelf):
    for n in range(45):
        add(shelf, f"P{n:02d}", created_at=T0 - timedelta(minutes=n))

    first = catalog.browse()
    assert (first.total, first.pages, first.page) == (45, 3, 1)
    assert len(first.products) == catalog.PAGE_SIZE == 20
    assert first.products[0].title == "P00" and not first.has_prev and first.has_next

    last = catalog.browse(page=3)
    assert titles(last) == ["P40", "P41", "P42", "P43", "P44"]
    assert last.has_prev and not last.has_next

    assert catalog.browse(page=99).page == 3
    assert titles(catalog.browse(page=99)) == titles(last)
    assert catalog.browse(page=0).page == 1 and catalog.browse(page=-5).page == 1


def test_no_results_is_one_empty_page(ctx):
    page = catalog.browse(query="什么都没有", page=4)
    assert (page.products, page.total, page.page, page.pages) == ([], 0, 1, 1)
    assert not page.has_prev and not page.has_next


# --- sharers and rebates -------------------------------------------------------------------


def test_is_sharer_needs_a_user_with_a_shop(ctx):
    sharer = make_user()
    make_shop(user=sharer)
    buyer = make_user()

    assert shops.is_sharer(sharer) is True
    assert shops.is_sharer(buyer) is False
    assert shops.is_sharer(None) is False


def test_unit_rebates_round_down_to_the_fen(shelf):
    product = add(shelf, "X", price_cents=12345, original_price_cents=None, rebate_bps=1234)
    assert catalog.unit_rebates([product]) == {product.id: 1523}  # 1523.373 fen
    free = add(shelf, "Y", price_cents=999, original_price_cents=None, rebate_bps=0)
    assert catalog.unit_rebates([free]) == {free.id: 0}
