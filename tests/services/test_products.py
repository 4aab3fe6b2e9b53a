from datetime import datetime

import pytest

from shop.catalog import products
from shop.catalog.models import MerchantStatus, ProductStatus
from shop.platform.errors import InvalidTransition, PermissionDenied, ValidationError
from tests.factories import make_category, make_merchant, make_product, png_bytes

NOW = datetime(2026, 11, 24, 9, 0, 0)


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("129", 12900),
        ("129.9", 12990),
        ("129.90", 12990),
        ("0.01", 1),
        ("¥1,299.00", 129900),
        (" 88 ", 8800),
    ],
)
def test_yuan_parses_exactly_to_fen(text, cents):
    assert products.parse_yuan(text, "price") == cents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "请填写价格"),
        ("-5", "必须大于零"),
        ("0", "必须大于零"),
        ("0.00", "必须大于零"),
        ("1.234", "最多两位小数"),
        ("abc", "最多两位小数"),
        ("1e3", "最多两位小数"),
        ("9999999999", "最多两位小数"),
        ("2000000", "价格过高"),
    ],
)
def test_bad_prices_get_clear_messages(ctx, text, message):
    with pytest.raises(ValidationError) as caught:
        products.parse_yuan(text, "price")
    assert caught.value.field == "price"
    assert message in str(caught.value.message)


@pytest.mark.parametrize(
    ("text", "bps"), [("1", 100), ("15", 1500), ("12.5", 1250), ("50%", 5000), ("33.33", 3333)]
)
def test_rebate_percent_to_basis_points(ctx, text, bps):
    assert products.parse_rebate_percent(text) == bps


@pytest.mark.parametrize("text", ["0.99", "50.01", "80", "-5", "abc", "", "15.555"])
def test_rebate_outside_the_bounds_is_refused(ctx, text):
    with pytest.raises(ValidationError) as caught:
        products.parse_rebate_percent(text)
    assert "1%" in str(caught.value.message) and "50%" in str(caught.value.message)


def test_rebate_bounds_follow_the_settings(ctx, app):
    app.config["REBATE_BPS_MAX"] = 2000
    with pytest.raises(ValidationError):
        products.parse_rebate_percent("25")
    assert products.parse_rebate_percent("20") == 2000


@pytest.mark.parametrize(("bps", "text"), [(100, "1"), (1250, "12.5"), (1205, "12.05")])
def test_format_bps(bps, text):
    assert products.format_bps(bps) == text


@pytest.mark.parametrize("text", ["-1", "1.5", "x", "", "2000000", "²", "１２"])
def test_bad_stock(text):
    with pytest.raises(ValidationError):
        products.parse_stock(text)


def product_input(category_id, **overrides):
    fields = dict(
        title="红茶",
        description="好喝",
        category_id=category_id,
        price="99",
        original_price="",
        stock="10",
        rebate_percent="10",
    )
    fields.update(overrides)
    return products.ProductInput(**fields)


def test_check_input_reports_every_bad_field_at_once(ctx):
    category = make_category()
    fields, errors = products.check_input(
        product_input(category.id, title="", price="-1", stock="x", rebate_percent="99")
    )
    assert fields is None
    assert {e.field for e in errors} == {"title", "price", "stock", "rebate_percent"}


def test_original_price_below_price_is_refused(ctx):
    category = make_category()
    _fields, errors = products.check_input(
        product_input(category.id, price="99", original_price="50")
    )
    assert [e.field for e in errors] == ["original_price"]


def test_create_product_is_a_draft_with_images(ctx):
    merchant = make_merchant()
    category = make_category()
    fields, _ = products.check_input(product_input(category.id))
    product = products.create_product(
        merchant,
        fields,
        uploads=[png_bytes(color=(1, 1, 1)), png_bytes(color=(2, 2, 2))],
        now=NOW,
    )
    assert product.status == ProductStatus.DRAFT
    assert [pi.position for pi in product.images] == [0, 1]
    assert (product.price_cents, product.rebate_bps, product.stock) == (9900, 1000, 10)


@pytest.mark.parametrize(
    "status", [MerchantStatus.PENDING, MerchantStatus.SUSPENDED, MerchantStatus.REJECTED]
)
def test_only_approved_merchants_change_products(ctx, status):
    merchant = make_merchant(status=status)
    fields, _ = products.check_input(product_input(make_category().id))
    with pytest.raises(PermissionDenied):
        products.create_product(merchant, fields, uploads=[], now=NOW)


@pytest.mark.parametrize("status", list(ProductStatus))
@pytest.mark.parametrize("action", ["list", "delist"])
def test_every_product_status_pair(ctx, status, action):
    product = make_product(status=status)
    target = products.TRANSITIONS.get((status, action))
    if target is None:
        with pytest.raises(InvalidTransition):
            products.change_status(product, action, merchant=product.merchant, now=NOW)
        assert product.status == status
    else:
        products.change_status(product, action, merchant=product.merchant, now=NOW)
        assert product.status == target


def test_listing_needs_an_image_and_stock(ctx):
    product = make_product(status=ProductStatus.DRAFT, with_image=False, stock=0)
    with pytest.raises(ValidationError) as caught:
        products.change_status(product, "list", merchant=product.merchant, now=NOW)
    message = str(caught.value.message)
    assert "至少添加一张图片" in message and "库存" in message
    assert product.status == ProductStatus.DRAFT


def test_at_most_six_images(ctx):
    product = make_product()
    products.add_images(
        product, [png_bytes(color=(i, 9, 9)) for i in range(5)], merchant=product.merchant
    )
    assert len(product.images) == 6
    with pytest.raises(ValidationError) as caught:
        products.add_images(product, [png_bytes(color=(99, 9, 9))], merchant=product.merchant)
    assert caught.value.field == "images"


def test_a_listed_product_keeps_its_last_image(ctx):
    product = make_product(status=ProductStatus.LISTED)
    only = product.images[0]
    with pytest.raises(ValidationError):
        products.remove_image(product, only.id, merchant=product.merchant)
    products.add_images(product, [png_bytes(color=(7, 7, 7))], merchant=product.merchant)
    products.remove_image(product, only.id, merchant=product.merchant)
    assert len(product.images) == 1


def test_make_cover_moves_an_image_first(ctx):
    product = make_product()
    products.add_images(
        product, [png_bytes(color=(i, 5, 5)) for i in range(2)], merchant=product.merchant
    )
    first, second, third = product.images
    products.make_cover(product, third.id, merchant=product.merchant)
    ordered = sorted(product.images, key=lambda pi: pi.position)
    assert [pi.id for pi in ordered] == [third.id, first.id, second.id]
    assert [pi.position for pi in ordered] == [0, 1, 2]


def test_image_of_another_product_is_refused(ctx):
    product, other = make_product(), make_product()
    with pytest.raises(ValidationError):
        products.remove_image(product, other.images[0].id, merchant=product.merchant)
