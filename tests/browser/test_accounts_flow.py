import pytest

pytestmark = pytest.mark.browser


def test_sign_up_in_chinese_switch_to_english_sign_out_and_back_in(live_server, phone):
    page = phone
    page.goto(live_server.url + "/")
    assert page.viewport_size == {"width": 390, "height": 844}
    assert page.locator("html").get_attribute("lang") == "zh-CN"

    page.get_by_role("link", name="注册").first.click()
    page.get_by_label("手机号或邮箱").fill("13912345678")
    page.get_by_label("昵称").fill("小王")
    page.get_by_label("密码", exact=True).fill("weekend-tea-88")
    page.get_by_label("再次输入密码").fill("weekend-tea-88")
    page.get_by_role("button", name="注册").click()
    page.get_by_text("欢迎你，小王！账号已创建。").wait_for()

    # Nothing is wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Good things, recommended by friends").wait_for()
    assert page.locator("html").get_attribute("lang") == "en"

    page.get_by_role("link", name="Me", exact=True).click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_text("You have signed out.").wait_for()

    page.get_by_role("link", name="Sign in").first.click()
    page.get_by_label("Mobile number or email").fill("139 1234 5678")
    page.get_by_label("Password").fill("wrong-password-1")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("The account or password is wrong.").wait_for()
    page.get_by_label("Password").fill("weekend-tea-88")
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="小王").wait_for()
    page.get_by_role("link", name="Me", exact=True).click()
    page.get_by_role("heading", name="小王").wait_for()
    assert "13912345678" in page.content()


def test_error_page_on_a_phone_offers_the_catalogue(live_server, phone):
    phone.goto(live_server.url + "/no-such-page")
    phone.get_by_role("heading", name="页面不存在").wait_for()
    phone.get_by_role("link", name="去逛逛商品").click()
    phone.wait_for_url(live_server.url + "/catalog")
