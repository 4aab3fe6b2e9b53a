import pytest

from shop.platform.extensions import db
from tests.factories import DEFAULT_PASSWORD, make_category, make_user, png_bytes

pytestmark = pytest.mark.browser


def sign_in(page, base, account, password=DEFAULT_PASSWORD):
    page.goto(base + "/auth/signin")
    page.get_by_label("手机号或邮箱").fill(account)
    page.get_by_label("密码").fill(password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(base + "/")


def test_apply_approve_list_a_product_then_suspend(live_server, new_phone, tmp_path):
    app = live_server.app
    with app.app_context():
        make_user(phone="13900000001", is_admin=True, display_name="管理员")
        make_user(phone="13900000002", display_name="陈老板")
        make_category(slug="tea", name_zh="茶叶", name_en="Tea")
        db.session.commit()
    logo = tmp_path / "logo.png"
    logo.write_bytes(png_bytes(size=(200, 200), color=(30, 120, 60)))
    photo = tmp_path / "photo.png"
    photo.write_bytes(png_bytes(size=(900, 900), color=(160, 80, 40)))
    base = live_server.url

    seller = new_phone()
    sign_in(seller, base, "13900000002")
    seller.goto(base + "/merchant/apply")
    seller.get_by_label("企业名称").fill("山野茶舍")
    seller.get_by_label("统一社会信用代码").fill("91350100M000100Y43")
    seller.get_by_label("联系人", exact=True).fill("陈先生")
    seller.get_by_label("联系人手机号").fill("13800138000")
    seller.get_by_label("主营类目").select_option(label="茶叶")
    seller.get_by_label("Logo").set_input_files(str(logo))
    seller.get_by_role("button", name="提交申请").click()
    seller.get_by_text("申请已提交").wait_for()

    admin = new_phone()
    sign_in(admin, base, "13900000001")
    admin.goto(base + "/admin/merchants")
    admin.get_by_role("link", name="山野茶舍").click()
    admin.get_by_role("button", name="通过").click()
    admin.get_by_text("山野茶舍：已通过").wait_for()

    seller.goto(base + "/merchant/products/new")
    seller.get_by_label("标题").fill("武夷山红茶")
    seller.get_by_label("售价（元）").fill("128")
    seller.get_by_label("库存").fill("20")
    seller.get_by_label("分享返利（%）").fill("15")
    seller.get_by_label("商品图片").set_input_files(str(photo))
    seller.get_by_role("button", name="保存").last.click()  # the first is the form's hidden default
    seller.get_by_text("已保存为草稿").wait_for()
    seller.get_by_role("button", name="上架商品").click()
    seller.get_by_text("已上架").first.wait_for()
    assert seller.evaluate("document.documentElement.scrollWidth") <= 390

    buyer = new_phone()
    buyer.goto(base + "/catalog?q=红茶")
    buyer.get_by_text("武夷山红茶").first.click()
    buyer.get_by_role("heading", name="武夷山红茶").wait_for()
    product_url = buyer.url
    assert "赚" not in buyer.content()

    admin.goto(base + "/admin/merchants?status=approved")
    admin.get_by_role("link", name="山野茶舍").click()
    admin.get_by_label("原因（商家可见）").fill("多次被投诉")
    admin.get_by_role("button", name="暂停").click()
    admin.get_by_text("山野茶舍：已暂停").wait_for()

    response = buyer.goto(product_url)
    assert response.status == 410
    buyer.get_by_role("heading", name="已下架").wait_for()
