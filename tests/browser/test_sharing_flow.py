import pytest

from shop.platform.extensions import db
from tests.browser.conftest import WECHAT_UA
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_product, make_user

pytestmark = pytest.mark.browser


def test_sharer_curates_makes_a_link_and_poster_and_a_friend_lands_on_it(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        make_user(phone="13900000003", display_name="小王")
        product = make_product(title="桂花乌龙冷泡茶", price_cents=3990)
        db.session.commit()
        product_id = product.id
    base = live_server.url

    sharer = new_phone()
    sign_in(sharer, base, "13900000003")
    sharer.goto(f"{base}/p/{product_id}")
    sharer.get_by_role("button", name="加入我的小店").click()
    sharer.get_by_label("小店名称").fill("小王的茶铺")
    sharer.get_by_label("小店地址").fill("xiaowang")
    sharer.get_by_role("button", name="开通小店").click()
    sharer.get_by_text("小店开通啦").wait_for()
    sharer.goto(f"{base}/p/{product_id}")
    sharer.get_by_role("button", name="加入我的小店").click()
    sharer.get_by_text("已加入小店").wait_for()
    sharer.locator(".more-menu summary").first.click()  # the "…" action sheet
    sharer.get_by_label("我的推荐语").fill("夏天冷泡一整壶")
    sharer.get_by_role("button", name="保存").click()
    # The share sheet: no form, the links are made when it opens.
    sharer.get_by_role("link", name="推广“桂花乌龙冷泡茶”").click()
    sheet = sharer.locator("dialog[open]")
    link = sheet.locator("#friend-url").input_value()
    assert "/r/" in link
    text = sheet.locator("#group-text").input_value()
    assert "【桂花乌龙冷泡茶】¥39.90" in text and "夏天冷泡一整壶" in text

    sheet.get_by_role("link", name="生成海报").click()
    poster = sharer.get_by_role("img", name="二维码海报")
    poster.wait_for()
    # The poster is drawn on first request: wait for the image itself, not just the element
    # (under load the drawing takes longer than the page).
    sharer.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=poster.element_handle()
    )
    assert (
        sharer.evaluate("img => img.complete && img.naturalWidth", poster.element_handle()) == 750
    )

    friend = new_phone(user_agent=WECHAT_UA)
    friend.goto(link)
    friend.get_by_text("来自 小王 的推荐").wait_for()
    friend.get_by_text("夏天冷泡一整壶").wait_for()
    assert "/s/xiaowang/p/" in friend.url and "ref=" in friend.url
    assert "赚" not in friend.content()
