"""Sharer tools on a phone, in Chinese and English: from a shop item to a copied share text
or a poster in two taps (counted), the compact shop editor (five items, 44 px controls, drag
to arrange), materials and the nine-picture set, confirmations, and dead ends."""

import pytest

from shop.catalog.models import Merchant, ProductStatus
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import materials, shops
from tests.browser.conftest import WECHAT_UA, snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_merchant, make_product, make_user, png_bytes

pytestmark = pytest.mark.browser
SHOTS = "sharer-tools"
TITLES = [
    "桂花乌龙冷泡茶",
    "武夷山正山小种红茶 250g 礼盒装",
    "云南古树普洱",
    "茉莉花茶",
    "白毫银针",
]


def seed(app):
    with app.app_context():
        sharer = make_user(phone="13900000021", display_name="小王")
        seller = make_user(phone="13900000022", display_name="陈老板")
        merchant = make_merchant(user=seller, name="山野茶舍")
        shop = shops.save_shop(
            sharer, name="小王的茶铺", slug="xiaowang", intro="", avatar=None, now=utcnow()
        )
        products = []
        for index, title in enumerate(TITLES):
            product = make_product(title=title, price_cents=3990 + 1000 * index, merchant=merchant)
            shops.add_item(shop, product, recommendation="夏天冷泡一整壶", now=utcnow())
            products.append(product)
        pictures = [png_bytes(size=(90, 90), color=(30 * i, 120, 60)) for i in range(8)]
        merchant_row = db.session.get(Merchant, merchant.id)
        materials.add_pictures(products[0], pictures, merchant=merchant_row, now=utcnow())
        materials.save_text(
            products[0], "冷泡八小时，清甜不涩。", merchant=merchant_row, now=utcnow()
        )
        db.session.commit()
        return [p.id for p in products]


def taps_to_copied_text(page, base, title):
    """Taps from the shop editor to a copied share text, counted by the clicks made."""
    page.goto(f"{base}/me/shop")
    taps = 0
    page.get_by_role("link", name=f"推广“{title}”").click()
    taps += 1
    sheet = page.locator("dialog[open]")
    sheet.get_by_role("button", name="微信好友").click()
    taps += 1
    sheet.get_by_text("已复制，去聊天里粘贴").wait_for()
    return taps, page.evaluate("navigator.clipboard.readText()"), sheet


def test_two_taps_to_a_copied_share_text_or_a_poster(live_server, new_phone):
    app, base = live_server.app, live_server.url
    ids = seed(app)
    page = new_phone()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    sign_in(page, base, "13900000021")

    taps, copied, sheet = taps_to_copied_text(page, base, TITLES[0])
    assert taps == 2
    assert copied.startswith("【桂花乌龙冷泡茶】¥39.90\n夏天冷泡一整壶\n") and "/r/" in copied
    # Focus is in the sheet; every action is at least 44 px tall.
    assert page.evaluate("document.activeElement.closest('dialog') !== null")
    for box in sheet.locator(".sheet-action").evaluate_all(
        "els => els.map(e => e.getBoundingClientRect().height)"
    ):
        assert box >= 44
    snap(page, "sheet-zh", folder=SHOTS)
    sheet.get_by_role("button", name="微信群").click()
    group = page.evaluate("navigator.clipboard.readText()")
    assert "/r/" in group and group.split("/r/")[1] != copied.split("/r/")[1]
    page.keyboard.press("Escape")
    assert page.locator("dialog[open]").count() == 0
    # Focus returns to the 推广 link that opened the sheet.
    assert page.evaluate("document.activeElement.textContent.trim()") == "推广"

    # Poster: 推广, then 生成海报: the poster is on screen, ready to long-press or download.
    page.get_by_role("link", name=f"推广“{TITLES[0]}”").click()
    page.locator("dialog[open]").get_by_role("link", name="生成海报").click()
    poster = page.get_by_role("img", name="二维码海报")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 750", arg=poster.element_handle()
    )
    snap(page, "poster-zh", folder=SHOTS)
    page.get_by_role("button", name="价格优先").click()
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 750",
        arg=page.get_by_role("img", name="二维码海报").element_handle(),
    )
    assert page.get_by_role("button", name="价格优先").get_attribute("aria-pressed") == "true"
    snap(page, "poster-price-zh", folder=SHOTS)

    # 朋友圈: the nine-picture set with the QR code in the middle tile.
    page.goto(f"{base}/me/shop")
    page.get_by_role("link", name=f"推广“{TITLES[0]}”").click()
    page.locator("dialog[open]").get_by_role("link", name="朋友圈").click()
    page.get_by_role("heading", name="九宫格").wait_for()
    tiles = page.locator(".nine-grid img")
    assert tiles.count() == 9
    page.wait_for_function(
        "() => [...document.querySelectorAll('.nine-grid img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
    )
    assert tiles.nth(4).get_attribute("alt") == "图片 5：你的二维码"
    snap(page, "moments-zh", folder=SHOTS)

    # Materials: copy the merchant's text in one tap; keep a variant of one's own.
    page.goto(f"{base}/me/shop")
    page.locator(".more-menu summary").first.click()
    page.get_by_role("link", name="素材").first.click()
    page.get_by_role("button", name="复制文案").first.click()
    assert page.evaluate("navigator.clipboard.readText()") == "冷泡八小时，清甜不涩。"
    page.get_by_role("button", name="保存这条文案").click()
    page.get_by_text("请填写要分享的文案。").wait_for()
    page.get_by_label("新文案").fill("冰镇后更好喝")
    page.get_by_role("button", name="保存这条文案").click()
    page.get_by_text("冰镇后更好喝").first.wait_for()
    snap(page, "materials-zh", folder=SHOTS)
    assert ids


def test_the_shop_editor_is_compact_and_arranges_by_drag(live_server, new_phone):
    app, base = live_server.app, live_server.url
    ids = seed(app)
    page = new_phone()
    sign_in(page, base, "13900000021")
    page.goto(f"{base}/me/shop")
    rows = page.locator(".curate-row")
    assert rows.count() == 5
    top = rows.first.bounding_box()["y"]
    bottom = rows.last.bounding_box()["y"] + rows.last.bounding_box()["height"]
    assert bottom - top <= 2 * 844 * 0.5, bottom - top  # five items in well under two screens
    small = page.evaluate(
        """() => [...document.querySelectorAll(
                 '.curate-row a, .curate-row button, .curate-row summary')]
              .filter(e => e.offsetParent !== null)
              .map(e => [e.textContent.trim(), e.getBoundingClientRect()])
              .filter(([t, r]) => r.width < 44 || r.height < 44).map(([t]) => t)"""
    )
    assert small == []
    snap(page, "shop-editor-zh", folder=SHOTS)
    # The "…" action sheet: recommendation, rating and quote, materials, pin, removal.
    page.locator(".more-menu summary").nth(1).click()
    panel = page.locator(".more-menu[open] .action-panel")
    for name in ("保存", "置顶", "从小店删除"):
        assert panel.get_by_role("button", name=name).is_visible()
    snap(page, "shop-editor-menu-zh", folder=SHOTS)
    # Removal asks first; "keep it" keeps it.
    panel.get_by_role("button", name="从小店删除").click()
    dialog = page.locator("dialog[open]")
    dialog.get_by_text("确定从小店删除").wait_for()
    snap(page, "confirm-remove-zh", folder=SHOTS)
    dialog.get_by_role("button", name="保留").click()
    assert page.locator(".curate-row").count() == 5

    # 管理: drag the last row to the top; ↑/↓ stay as buttons.
    page.get_by_role("link", name="管理").click()
    assert page.get_by_role("button", name=f"上移“{TITLES[4]}”").is_visible()
    small = page.evaluate(
        """() => [...document.querySelectorAll('.curate-row button, .curate-row .drag-handle')]
              .map(e => e.getBoundingClientRect())
              .filter(r => r.width < 44 || r.height < 44).length"""
    )
    assert small == 0
    snap(page, "shop-editor-arrange-zh", folder=SHOTS)
    rows = page.locator(".curate-row")
    handle = rows.nth(4).locator(".drag-handle")
    handle.hover()  # scrolls it into view and puts the pointer on it
    box, goal = handle.bounding_box(), rows.nth(3).bounding_box()
    x, y0 = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.down()
    for step in range(1, 11):
        page.mouse.move(x, y0 + (goal["y"] + 8 - y0) * step / 10)
    with page.expect_response(lambda r: r.url.endswith("/me/shop/items/order")):
        page.mouse.up()
    page.goto(f"{base}/me/shop")
    assert TITLES[4] in page.locator(".curate-row").nth(3).inner_text()
    assert TITLES[3] in page.locator(".curate-row").nth(4).inner_text()
    # ↑/↓ without a drag.
    page.goto(f"{base}/me/shop?manage=1")
    page.get_by_role("button", name=f"上移“{TITLES[4]}”").click()
    assert TITLES[4] in page.locator(".curate-row").nth(2).inner_text()
    assert ids


def test_english_pages_and_dead_ends(live_server, new_phone):
    app, base = live_server.app, live_server.url
    ids = seed(app)
    page = new_phone()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    sign_in(page, base, "13900000021")
    page.context.add_cookies([{"name": "lang", "value": "en", "url": base}])
    page.goto(f"{base}/me/shop")
    page.get_by_role("link", name=f"Promote “{TITLES[1]}”").click()
    sheet = page.locator("dialog[open]")
    sheet.get_by_role("button", name="WeChat friend").click()
    sheet.get_by_text("Copied: paste it in a chat").wait_for()
    snap(page, "sheet-en", folder=SHOTS)
    page.keyboard.press("Escape")
    snap(page, "shop-editor-en", folder=SHOTS)
    page.goto(f"{base}/me/shop?manage=1")
    snap(page, "shop-editor-arrange-en", folder=SHOTS)
    page.goto(f"{base}/me/materials/items/1")
    snap(page, "materials-en", folder=SHOTS)

    # The product page: one share entry for the sharer, and the share card tags.
    page.goto(f"{base}/s/xiaowang/p/{ids[1]}")
    assert page.locator('meta[property="og:image"]').get_attribute("content").startswith("http")
    page.get_by_role("link", name="Share to earn").click()
    page.locator("dialog[open]").get_by_role("button", name="Copy link").click()
    assert "/r/" in page.evaluate("navigator.clipboard.readText()")
    snap(page, "product-sheet-en", folder=SHOTS)
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Share to earn").click()
    page.locator("dialog[open]").get_by_role("link", name="Make a poster").click()
    poster = page.get_by_role("img", name="QR poster")
    page.wait_for_function("i => i.complete && i.naturalWidth === 750", arg=poster.element_handle())
    snap(page, "poster-en", folder=SHOTS)
    page.get_by_role("link", name="Back to sharing").click()
    page.get_by_role("link", name="Moments").click()
    page.get_by_role("heading", name="Nine-picture set").wait_for()
    snap(page, "moments-en", folder=SHOTS)

    # A link to a delisted product leads to the sharer's shop, in words.
    friend_link = page.evaluate("navigator.clipboard.readText()")
    with app.app_context():
        from shop.catalog.models import Product

        db.session.get(Product, ids[1]).status = ProductStatus.DELISTED
        db.session.commit()
    friend = new_phone(user_agent=WECHAT_UA)
    friend.goto(friend_link)
    friend.get_by_role("heading", name="“武夷山正山小种红茶 250g 礼盒装”已下架").wait_for()
    assert friend.get_by_role("link", name="去逛 小王的茶铺").is_visible()
    snap(friend, "gone-zh", folder=SHOTS)
    friend.goto(f"{base}/no-such-page")
    assert friend.get_by_role("heading").first.inner_text() == "页面不存在"
    snap(friend, "error-404-zh", folder=SHOTS)
    page.goto(friend_link)
    page.get_by_role(
        "heading", name="“武夷山正山小种红茶 250g 礼盒装” is no longer on sale"
    ).wait_for()
    snap(page, "gone-en", folder=SHOTS)


def test_merchant_materials_and_confirmations(live_server, new_phone):
    app, base = live_server.app, live_server.url
    ids = seed(app)
    seller = new_phone()
    sign_in(seller, base, "13900000022")
    seller.goto(f"{base}/merchant/products/{ids[2]}/materials")
    seller.get_by_label("分享者可复制的文案").fill("古树茶，回甘明显")
    seller.get_by_role("button", name="保存文案").click()
    seller.get_by_text("文案已保存。").wait_for()
    seller.goto(f"{base}/merchant/products/{ids[0]}/materials")
    snap(seller, "merchant-materials-zh", folder=SHOTS)
    seller.goto(f"{base}/merchant/")
    seller.get_by_role("button", name="下架").first.click()
    dialog = seller.locator("dialog[open]")
    dialog.get_by_text("确定下架").wait_for()
    snap(seller, "confirm-delist-zh", folder=SHOTS)
    dialog.get_by_role("button", name="下架", exact=True).click()
    seller.get_by_text("已下架").first.wait_for()


def test_without_javascript_the_sheet_is_a_page_and_removal_a_confirmation_page(
    live_server, playwright_browser
):
    app, base = live_server.app, live_server.url
    seed(app)
    _playwright, browser = playwright_browser
    context = browser.new_context(
        java_script_enabled=False, viewport={"width": 390, "height": 844}, locale="zh-CN"
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    try:
        sign_in(page, base, "13900000021")
        page.goto(f"{base}/me/shop")
        page.get_by_role("link", name=f"推广“{TITLES[0]}”").click()
        page.wait_for_url(f"{base}/me/share/items/1")
        page.get_by_text("查看文案").click()  # <details>: no script needed
        assert "/r/" in page.locator("#friend-text").input_value()
        snap(page, "sheet-page-nojs-zh", folder=SHOTS)
        page.goto(f"{base}/me/shop")
        page.locator(".more-menu summary").first.click()
        page.get_by_role("button", name="从小店删除").first.click()
        page.get_by_role("heading", name=f"确定从小店删除“{TITLES[0]}”？").wait_for()
        snap(page, "confirm-page-nojs-zh", folder=SHOTS)
        page.get_by_role("button", name="删除", exact=True).click()
        page.get_by_text("已从小店移除").wait_for()
        assert page.locator(".curate-row").count() == 4
    finally:
        context.close()
