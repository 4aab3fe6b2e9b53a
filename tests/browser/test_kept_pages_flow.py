"""A phone on kept pages (LANDING_CACHE_SECONDS on, as in production): a sharer's shop page and
a product page served whole from the worker's memory still work as pages (links, the buy form
with its fresh CSRF token), and a change the sharer makes shows at the next visit."""

import pytest

from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.browser.conftest import serving, snap
from tests.factories import make_product, make_shop, make_user
from tests.web.test_landing_cache import Queries

pytestmark = pytest.mark.browser


@pytest.fixture
def kept_server(sqlite_template, tmp_path):
    """The live server with pages kept as in production (the tests' default keeps none)."""
    with serving(sqlite_template, tmp_path, LANDING_CACHE_SECONDS=300) as server:
        yield server


def test_a_phone_shops_from_kept_shop_and_product_pages(kept_server, new_phone):
    from shop.sharing import shops

    app = kept_server.app
    with app.app_context():
        shop = make_shop(user=make_user(display_name="小王"), slug="xiaowang", name="小王的茶铺")
        tea = make_product(title="桂花乌龙冷泡茶", price_cents=3990, stock=20)
        cup = make_product(title="随行保温杯", price_cents=8900, stock=5)
        shops.add_item(shop, tea, recommendation="夏天冷泡一整壶", now=utcnow())
        shops.add_item(shop, cup, recommendation="", now=utcnow())
        db.session.commit()
        tea_id, cup_id = tea.id, cup.id
    base = kept_server.url
    for _ in range(3):  # the first visits render (and learn the shop's products), then kept
        new_phone().goto(f"{base}/s/xiaowang")

    phone = new_phone()
    queries = Queries(app)
    try:
        phone.goto(f"{base}/s/xiaowang")
        phone.get_by_text("夏天冷泡一整壶").wait_for()
    finally:
        queries.close()
    assert queries.count == 0  # served whole from memory
    snap(phone, "kept-shop-page", folder="kept-pages")
    phone.get_by_role("link", name="桂花乌龙冷泡茶").first.click()
    phone.wait_for_url(f"**/s/xiaowang/p/{tea_id}**")

    new_phone().goto(f"{base}/p/{cup_id}")  # rendered and kept
    queries = Queries(app)
    try:
        phone.goto(f"{base}/p/{cup_id}")  # kept: with this phone's own CSRF token
        phone.get_by_role("heading", name="随行保温杯").wait_for()
    finally:
        queries.close()
    assert queries.count == 0
    snap(phone, "kept-product-page", folder="kept-pages")
    # 立即购买 posts the buy form (one SKU: straight on), its CSRF token checked first; a
    # visitor who is not signed in is then sent to sign in (a wrong token: a 400 page).
    phone.locator(".buybar .buy-now").click()
    phone.wait_for_url("**/auth/signin**")

    # The sharer's new words show at the next visit, kept again after.
    with app.app_context():
        item = shops.find_item(shops.find_by_slug("xiaowang"), tea_id)
        shops.edit_recommendation(item, "今年的新茶到了")
        db.session.commit()
    other = new_phone()
    other.goto(f"{base}/s/xiaowang")
    other.get_by_text("今年的新茶到了").wait_for()
    assert "夏天冷泡一整壶" not in other.content()


def test_a_kept_spec_sheet_shows_the_stock_a_checkout_left(kept_server, new_phone):
    """A checkout elsewhere moves a spec's stock: the next phone gets the kept page (no
    render: one light query for the numbers) with the new numbers in its spec sheet, and the
    sheet's stepper stops at them; a spec sold out is greyed out at once."""
    from shop.catalog import stockmoves
    from shop.catalog.models import Product
    from tests.factories import make_shirt, sku_of

    app = kept_server.app
    with app.app_context():
        shirt_id = make_shirt(title="纯棉T恤", stock=20).id
        db.session.commit()
    base = kept_server.url
    new_phone().goto(f"{base}/p/{shirt_id}")  # rendered and kept

    def take(values, quantity):
        with app.app_context():
            sku = sku_of(db.session.get(Product, shirt_id), *values)
            assert stockmoves.take_stock(sku.id, shirt_id, quantity)
            db.session.commit()

    take(("红", "L"), 3)  # 5 -> 2
    phone = new_phone()
    queries = Queries(app)
    try:
        phone.goto(f"{base}/p/{shirt_id}")
        phone.get_by_role("heading", name="纯棉T恤").wait_for()
    finally:
        queries.close()
    assert queries.count <= 2  # the numbers (on SQLite: BEGIN and one SELECT); no render
    phone.locator(".buybar [data-spec-sheet=buy]").click()
    sheet = phone.locator("dialog.sheet")
    sheet.wait_for()
    sheet.locator("label.spec-value", has_text="红").click()
    sheet.locator("label.spec-value", has_text="L").click()
    assert "库存 2" in sheet.locator(".sheet-stock").inner_text()
    for _ in range(4):  # the stepper stops at the stock left
        sheet.locator("[data-step='1']").click()
    assert sheet.locator("input[name=quantity]").input_value() == "2"
    snap(phone, "kept-spec-sheet-after-a-checkout", folder="kept-pages")
    # 蓝/L sold out (蓝/M was from the start): 蓝 is greyed out on the next visit.
    other = new_phone()
    other.goto(f"{base}/p/{shirt_id}")
    other.locator(".buybar [data-spec-sheet=buy]").click()
    assert other.locator("dialog.sheet input[name=spec0][value=蓝]").is_enabled()
    take(("蓝", "L"), 5)
    other = new_phone()
    other.goto(f"{base}/p/{shirt_id}")
    other.locator(".buybar [data-spec-sheet=buy]").click()
    other.locator("dialog.sheet").wait_for()
    assert other.locator("dialog.sheet input[name=spec0][value=蓝]").is_disabled()
    snap(other, "kept-spec-sheet-a-colour-sold-out", folder="kept-pages")
