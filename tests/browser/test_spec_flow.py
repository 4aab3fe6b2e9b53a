"""Specs on a phone in WeChat: the product page's bottom bar and spec sheet (choose a colour
and size, sold-out combinations disabled, the stepper), buying the chosen SKU, the cart's
stepper, and the merchant's SKU table."""

import re
from functools import partial

import pytest
from sqlalchemy import select

from shop.catalog import images
from shop.catalog.models import ProductImage, Sku
from shop.orders.models import OrderItem
from shop.platform.extensions import db
from tests.browser.conftest import ARTIFACTS, WECHAT_UA, axe_findings, fill_address
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_category, make_merchant, make_shirt, make_user, png_bytes

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="spec-flow")


def seed_shirt():
    merchant = make_merchant(user=make_user(phone="13700000002"), name="简屋家居")
    shirt = make_shirt(merchant=merchant, title="纯棉短袖 T 恤", description="宽松版型。")
    blue = images.store_image(png_bytes(color=(40, 60, 200)))
    shirt.images.append(ProductImage(image_id=blue.id, position=1))
    db.session.flush()
    for sku in shirt.skus:
        if sku.value1 == "蓝":
            sku.image_id = blue.id
    make_user(phone="13900001234", display_name="李小姐")
    db.session.flush()
    return shirt


def test_a_buyer_chooses_a_spec_in_the_sheet_and_buys_it(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        shirt = seed_shirt()
        db.session.commit()
        product_id = shirt.id
    base = live_server.url
    buyer = new_phone(user_agent=WECHAT_UA)
    sign_in(buyer, base, "13900001234")
    buyer.goto(f"{base}/p/{product_id}")
    assert buyer.locator(".tabbar").is_hidden() and buyer.locator(".buybar").is_visible()
    assert "起" in buyer.locator(".product-price").inner_text()
    snap(buyer, "01-product")
    # The first screen as the phone shows it: the bar fixed at the bottom.
    buyer.screenshot(path=str(ARTIFACTS / "spec-flow" / "01-product-first-screen.png"))

    buyer.locator(".buybar [data-spec-sheet=buy]").click()
    sheet = buyer.locator("dialog.sheet")
    sheet.wait_for()
    # Focus moved into the dialog; 蓝 then M is sold out.
    assert buyer.evaluate("document.activeElement.closest('dialog') !== null")
    sheet.locator("label.spec-value", has_text="蓝").click()
    assert sheet.locator("input[name=spec1][value=M]").is_disabled()
    assert buyer.evaluate("document.querySelector('.sheet-img').src").endswith("-t.webp")
    sheet.locator("label.spec-value", has_text="红").click()
    assert sheet.locator("input[name=spec1][value=M]").is_enabled()
    sheet.locator("label.spec-value", has_text="L").click()
    assert "69.00" in sheet.locator(".sheet-price").inner_text()
    assert "5" in sheet.locator(".sheet-stock").inner_text()
    for _ in range(7):  # the stepper stops at the stock
        sheet.locator("[data-step='1']").click()
    assert sheet.locator("input[name=quantity]").input_value() == "5"
    sheet.locator("[data-step='-1']").click()
    sheet.locator("[data-step='-1']").click()
    assert sheet.locator("input[name=quantity]").input_value() == "3"
    size = buyer.evaluate(
        "getComputedStyle(document.querySelector('.sheet input[name=quantity]')).fontSize"
    )
    box = sheet.locator("[data-step='1']").bounding_box()
    assert size == "16px" and box["height"] >= 44 and box["width"] >= 44
    snap(buyer, "02-sheet")
    assert axe_findings(buyer) == []  # the open sheet too
    # Esc closes it and focus goes back to the button that opened it.
    buyer.keyboard.press("Escape")
    assert buyer.evaluate("document.activeElement.dataset.specSheet") == "buy"
    buyer.locator(".buybar [data-spec-sheet=buy]").click()
    sheet.locator(".sheet-ok").click()
    buyer.wait_for_url(re.compile(rf"/checkout/{product_id}\?"))
    assert "颜色：红；尺码：L" in buyer.locator("main").inner_text()
    fill_address(buyer)
    buyer.locator("main form button[type=submit]").click()
    buyer.wait_for_url(re.compile(r"/pay/sandbox/\w+\?"))
    with app.app_context():
        item = db.session.execute(select(OrderItem)).scalar_one()
        assert (item.spec_text, item.quantity, item.unit_price_cents) == (
            "颜色：红；尺码：L",
            3,
            6900,
        )
        assert db.session.get(Sku, item.sku_id).stock == 2

    # Into the cart: 蓝 / L, then the cart's stepper.
    buyer.goto(f"{base}/p/{product_id}")
    buyer.locator(".buybar [data-spec-sheet=cart]").click()
    sheet.locator("label.spec-value", has_text="蓝").click()
    sheet.locator("label.spec-value", has_text="L").click()
    sheet.locator(".sheet-ok").click()
    buyer.wait_for_url(f"{base}/cart")
    line = buyer.locator(".cart-line").first
    line.locator("button[value=inc]").click()
    buyer.wait_for_load_state()
    assert buyer.locator(".cart-line input[name=quantity]").first.input_value() == "2"
    assert buyer.locator(".tab-badge").inner_text().startswith("2")
    assert "118.00" in buyer.locator(".cart-bar").inner_text()
    snap(buyer, "03-cart")


def test_a_merchant_builds_the_sku_table_on_a_phone(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        merchant = make_merchant(user=make_user(phone="13700000002"), name="简屋家居")
        make_category(name_zh="服饰")
        db.session.commit()
        merchant_id = merchant.id
    base = live_server.url
    seller = new_phone(user_agent=WECHAT_UA)
    sign_in(seller, base, "13700000002")
    seller.goto(f"{base}/merchant/products/new")
    seller.locator("#title").fill("亚麻衬衫")
    seller.locator("#category_id").select_option(label="服饰")
    seller.locator("#spec0_name").fill("颜色")
    seller.locator("#spec0_values").fill("白，蓝")
    seller.locator("#spec1_name").fill("尺码")
    seller.locator("#spec1_values").fill("M，L")
    seller.locator("button[value=table]").click()
    assert seller.locator(".sku-row").count() == 4
    seller.locator("#bulk_price").fill("89")
    seller.locator("#bulk_stock").fill("10")
    seller.locator("button[value=bulk]").click()  # filled at once by the script
    assert seller.locator("input[data-cell=price]").nth(3).input_value() == "89"
    seller.locator("input[name='sku[蓝|L].price']").fill("99")
    seller.locator("input[name='sku[白|M].stock']").fill("x")
    seller.locator("#rebate_percent").fill("10")
    seller.locator("form button.btn-block[type=submit]").last.click()
    seller.locator(".sku-cell.has-error").first.wait_for()
    assert seller.locator("input[name='sku[蓝|L].price']").input_value() == "99"  # kept
    snap(seller, "04-merchant-form")
    seller.locator("input[name='sku[白|M].stock']").fill("3")
    seller.locator("form button.btn-block[type=submit]").last.click()
    seller.wait_for_url(re.compile(r"/merchant/products/\d+/edit"))
    with app.app_context():
        from shop.catalog.models import Product

        product = db.session.execute(
            select(Product).where(Product.merchant_id == merchant_id)
        ).scalar_one()
        assert (product.price_cents, product.stock, product.has_price_range) == (8900, 33, True)
