"""Sign-in by SMS code on a phone in WeChat (console provider, demo code on the page): a
returning buyer following a share link is signed in within 2 taps and 6 digits; a new buyer
needs a phone number and 6 digits, no password. Taps are counted."""

import re
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import select

from shop.accounts.models import SmsCode, User
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import links, shops
from shop.sharing.models import Channel
from tests.browser.conftest import seed_tea_merchant, serving
from tests.browser.conftest import snap as phone_snap
from tests.factories import make_shop, make_user

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="sms-signin")

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2f) NetType/WIFI Language/zh_CN"
)


@pytest.fixture
def sms_server(sqlite_template, tmp_path):
    with serving(sqlite_template, tmp_path, SMS_PROVIDER="console", DEMO_MODE=True) as server:
        yield server


class Taps:
    """Clicks a person makes, counted."""

    def __init__(self):
        self.count = 0

    def __call__(self, locator):
        self.count += 1
        locator.click()


def share_link(app) -> tuple[str, int]:
    with app.app_context():
        product = seed_tea_merchant()
        sharer = make_user(phone="13700000003", display_name="小王")
        shop = make_shop(user=sharer, slug="xiaowang", name="小王的茶铺")
        shops.add_item(shop, product, recommendation="每天一杯", now=utcnow())
        code = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=utcnow()).code
        db.session.commit()
        return code, product.id


def demo_code(page) -> str:
    return page.locator("#demo-code strong").inner_text()


def test_a_returning_buyer_from_a_share_link_is_signed_in_within_two_taps_and_six_digits(
    sms_server, new_phone
):
    app, base = sms_server.app, sms_server.url
    code, product_id = share_link(app)
    with app.app_context():
        make_user(phone="13900001234", display_name="李小姐")
        db.session.commit()
    page = new_phone(user_agent=WECHAT_UA)
    # An earlier visit: she signed in on this phone once, then signed out.
    page.goto(f"{base}/auth/signin")
    page.locator("#phone").fill("13900001234")
    page.locator("button.send-code").click()
    page.locator("#code").fill(demo_code(page))
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/auth/account")
    page.get_by_role("button", name="退出登录").click()
    page.get_by_text("已退出登录。").wait_for()
    with app.app_context():  # that was days ago: its code no longer holds the send limit
        for row in db.session.execute(select(SmsCode)).scalars():
            row.sent_at -= timedelta(days=2)
            row.expires_at -= timedelta(days=2)
        db.session.commit()

    # Today a friend's link: taps and typed digits from here are counted.
    taps = Taps()
    page.goto(f"{base}/r/{code}")
    page.wait_for_url(f"{base}/s/xiaowang/p/{product_id}?ref={code}")
    taps(page.locator(".buybar .buy-now"))
    page.wait_for_url(re.compile(r"/auth/signin\?next="))
    assert page.locator("#phone").input_value() == "13900001234"  # remembered
    assert page.locator("input[type=password]").count() == 0  # the code form leads
    snap(page, "01-signin-remembered")
    taps(page.locator("button.send-code"))
    page.locator("#demo-code").wait_for()
    button = page.locator("button.send-code")
    assert button.is_disabled() and re.search(r"重新获取（\d+ 秒）", button.inner_text())
    snap(page, "02-code-sent-countdown")
    digits = demo_code(page)
    assert re.fullmatch(r"\d{6}", digits)
    page.locator("#code").fill(digits)  # six digits send the form by themselves
    page.wait_for_url(re.compile(rf"/checkout/{product_id}\?.*ref={code}"))
    assert taps.count == 2
    assert page.get_by_role("link", name="李小姐").count() == 1  # signed in


def test_a_new_buyer_needs_a_phone_number_and_six_digits_and_no_password(sms_server, new_phone):
    app, base = sms_server.app, sms_server.url
    code, product_id = share_link(app)
    page = new_phone(user_agent=WECHAT_UA)
    taps = Taps()
    typed = []
    page.goto(f"{base}/r/{code}")
    taps(page.locator(".buybar .buy-now"))
    page.wait_for_url(re.compile(r"/auth/signin\?next="))
    assert page.locator("#phone").input_value() == ""
    page.locator("#phone").fill("139 0000 5678")
    typed.append("phone")
    taps(page.locator("button.send-code"))
    page.get_by_text("6 位验证码已发送至 139****5678，5 分钟内有效。").wait_for()
    page.locator("#code").fill(demo_code(page))
    typed.append("code")
    page.wait_for_url(re.compile(rf"/checkout/{product_id}\?.*ref={code}"))
    page.get_by_text(re.compile("欢迎！账号已创建。你的昵称是 用户")).wait_for()
    snap(page, "03-new-buyer-at-checkout")
    assert taps.count == 2 and typed == ["phone", "code"]
    with app.app_context():
        user = db.session.execute(select(User).where(User.phone == "13900005678")).scalar_one()
        assert user.password_hash is None

    # Her account page: the session by device, a first password without a current one.
    page.goto(f"{base}/auth/account")
    page.get_by_text("iPhone · 微信").wait_for()
    page.get_by_text("本机").wait_for()
    snap(page, "04-account-sessions")
    page.get_by_role("link", name="设置密码").click()
    assert page.locator("#current_password").count() == 0
    snap(page, "05-set-first-password")

    # A new number: the code goes to it, and six digits move the account there.
    page.goto(f"{base}/auth/account/phone")
    page.locator("#phone").fill("13900008888")
    page.locator("button.send-code").click()
    page.get_by_text("6 位验证码已发送至 139****8888，5 分钟内有效。").wait_for()
    snap(page, "09-change-phone")
    page.locator("#code").fill(demo_code(page))
    page.get_by_text("手机号已更换为 13900008888。").wait_for()
    snap(page, "10-account-after-phone-change")


def test_bad_input_keeps_what_was_typed_and_the_password_way_stays(sms_server, new_phone):
    base = sms_server.url
    page = new_phone(user_agent=WECHAT_UA)
    page.goto(f"{base}/")
    page.get_by_role("link", name="登录 / 注册").click()  # one way in for both
    page.locator("#phone").fill("010-12345678")
    page.locator("button.send-code").click()
    page.get_by_text("这看起来是固定电话号码。").wait_for()
    assert page.locator("#phone").input_value() == "010-12345678"
    snap(page, "06-landline")
    page.locator("#phone").fill("13900007777")
    page.locator("button.send-code").click()
    page.locator("#demo-code").wait_for()
    real = demo_code(page)
    page.locator("#code").fill("000000" if real != "000000" else "111111")
    page.get_by_text("验证码错误，这个验证码还可以再试 4 次。").wait_for()
    snap(page, "07-wrong-code")
    page.get_by_role("link", name="用密码登录").click()
    page.locator("#password").wait_for()
    page.get_by_role("link", name="忘记密码？").click()
    page.get_by_role("heading", name="重置密码").wait_for()
    snap(page, "08-reset")
