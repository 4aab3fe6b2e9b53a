"""On a phone: an administrator sets up the second factor right after the password (QR code,
the key as text, recovery codes) and signs in again with a code; inside WeChat's browser a
buyer signs in with WeChat against a local fake of WeChat (on 127.0.0.1, reached by the
browser), binds it once with the password, and is then signed in by WeChat alone."""

from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from shop.accounts.signin_models import SecondFactor
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.browser.conftest import WECHAT_UA, serving, snap
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.wechat_fake import FakeWeChat

pytestmark = pytest.mark.browser

SHOTS = "staff-signin"


@pytest.fixture
def fake():
    server = FakeWeChat().start()
    yield server
    server.stop()


@pytest.fixture
def server(sqlite_template, tmp_path, fake):
    with serving(sqlite_template, tmp_path, STAFF_TOTP_REQUIRED=True, **fake.settings) as live:
        with live.app.app_context():
            make_user(phone="13700000001", display_name="管理员", is_admin=True)
            make_user(phone="13700000004", display_name="小李")
            ops = make_user(phone="13700000005", display_name="运营小张", is_admin=True)
            db.session.add(
                SecondFactor(user_id=ops.id, secret=pyotp.random_base32(), confirmed_at=utcnow())
            )
            db.session.commit()
        yield live


def test_admin_sets_up_the_second_factor_then_signs_in_with_a_code(server, new_phone):
    page = new_phone()
    base = server.url
    page.goto(f"{base}/auth/signin?next=/admin/")
    page.get_by_label("手机号或邮箱").fill("13700000001")
    page.get_by_label("密码").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="设置两步验证").wait_for()
    assert page.get_by_role("link", name="微信登录").count() == 0
    snap(page, "01-setup-intro", folder=SHOTS)

    page.get_by_role("button", name="开始设置").click()
    qr = page.get_by_role("img", name="验证器应用的二维码")
    qr.wait_for()
    assert qr.evaluate("img => img.naturalWidth") > 100  # a real PNG, allowed by the CSP
    secret = page.locator(".totp-secret").inner_text().replace(" ", "")
    snap(page, "02-setup-qr", folder=SHOTS)

    totp = pyotp.TOTP(secret)
    page.get_by_label("应用中的验证码").fill(totp.now())
    page.get_by_role("button", name="开启两步验证").click()
    page.get_by_role("heading", name="你的恢复码").wait_for()
    assert page.locator(".recovery-codes code").count() == 10
    snap(page, "03-recovery-codes", folder=SHOTS)
    page.get_by_role("link", name="我已保存，继续").click()
    page.wait_for_url(f"{base}/admin/")

    page.goto(f"{base}/auth/account")
    page.get_by_role("button", name="退出登录").click()
    page.goto(f"{base}/auth/signin")
    page.get_by_label("手机号或邮箱").fill("13700000001")
    page.get_by_label("密码").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_role("heading", name="两步验证").wait_for()
    page.get_by_label("验证码").fill("000000" if totp.now() != "000000" else "111111")
    page.get_by_role("button", name="验证并登录").click()
    page.get_by_text("验证码不正确").wait_for()
    snap(page, "04-code-wrong", folder=SHOTS)
    later = datetime.now(UTC) + timedelta(seconds=30)  # the enrolment used this step
    page.get_by_label("验证码").fill(totp.at(later))
    page.get_by_role("button", name="验证并登录").click()
    page.get_by_role("link", name="管理员").wait_for()
    page.goto(f"{base}/auth/second-factor/manage")
    page.get_by_text("还剩 10 个恢复码。").wait_for()
    snap(page, "05-manage", folder=SHOTS)
    page.goto(f"{base}/admin/second-factors")
    page.get_by_role("heading", name="两步验证").wait_for()
    page.get_by_text("管理员").first.wait_for()
    page.get_by_role("button", name="重置").click()  # no reason: refused, with a message
    page.get_by_text("请填写原因。").wait_for()
    snap(page, "06-admin-list-reason-missing", folder=SHOTS)
    page.get_by_label("理由（记入审计日志）").fill("手机丢失，已电话核实")
    page.get_by_role("button", name="重置").click()
    page.get_by_text("已重置 运营小张 的两步验证。").wait_for()
    snap(page, "07-admin-list-reset", folder=SHOTS)


def test_wechat_sign_in_binds_once_then_signs_in_directly(server, new_phone, fake):
    base = server.url
    outside = new_phone()
    outside.goto(f"{base}/auth/signin")
    assert outside.get_by_role("link", name="微信登录").count() == 0

    page = new_phone(user_agent=WECHAT_UA)
    page.goto(f"{base}/auth/signin?next=/auth/account")
    button = page.get_by_role("link", name="微信登录")
    button.wait_for()
    snap(page, "10-signin-in-wechat", folder=SHOTS)
    button.click()
    page.get_by_text("请登录或注册一次以绑定微信").wait_for()
    assert page.get_by_role("link", name="微信登录").count() == 0  # verified already
    snap(page, "11-wechat-first-time", folder=SHOTS)
    page.get_by_label("手机号或邮箱").fill("13700000004")
    page.get_by_label("密码").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.get_by_text("你的微信已绑定此账号。").wait_for()
    page.get_by_role("heading", name="小李").wait_for()
    assert any(path == "/connect/oauth2/authorize" for path, _q in fake.requests)

    again = new_phone(user_agent=WECHAT_UA)
    again.goto(f"{base}/auth/signin?next=/auth/account")
    again.get_by_role("link", name="微信登录").click()
    again.get_by_role("heading", name="小李").wait_for()
    snap(again, "12-wechat-returning", folder=SHOTS)

    bad = new_phone(user_agent=WECHAT_UA)
    bad.goto(f"{base}/auth/wechat/callback?code=x&state=forged")
    bad.get_by_role("heading", name="此次微信登录无法使用").wait_for()
    bad.get_by_role("link", name="重新用微信登录").wait_for()
    outside.goto(f"{base}/auth/wechat/callback?code=x&state=forged")
    outside.get_by_role("heading", name="此次微信登录无法使用").wait_for()
    assert outside.get_by_role("link", name="重新用微信登录").count() == 0
    snap(bad, "13-wechat-bad-state", folder=SHOTS)
