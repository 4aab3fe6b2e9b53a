"""Category platform fees on a phone: with team overrides on, the admin opens the fee list,
sees the lowest fee each category allows, types a fee too low and reads why (what was typed
kept), then saves one that covers the override; the merchant then cannot raise a product's
rebate above what that fee allows, and reads why."""

from functools import partial

import pytest
from sqlalchemy import select

from shop.catalog.models import Category
from shop.platform.extensions import db
from tests.browser.conftest import seed_tea_merchant, sweep_accessibility
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="fees")


def test_admin_sets_a_category_fee_that_covers_the_override(live_server, new_phone):
    app = live_server.app
    app.config["TEAM_OVERRIDE_BPS"] = 2000
    with app.app_context():
        product = seed_tea_merchant()  # 10% rebate: the override needs a 2% fee
        category_id, product_id = product.category_id, product.id
        db.session.commit()
    base = live_server.url
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(base + "/admin/fees")
    admin.get_by_role("heading", name="平台服务费", exact=True).wait_for()
    assert "2%" in admin.locator(f"#category-{category_id} .category-need").inner_text()
    # Nothing refused the override setting (it came from the environment): the products
    # whose fee does not cover it are listed first, with what would do.
    uncovered = admin.locator(f"#uncovered-{product_id}")
    assert "至少需要 2%" in uncovered.inner_text() and "武夷山红茶" in uncovered.inner_text()
    snap(admin, "fee-list")
    problems = sweep_accessibility(admin.context, [base + "/admin/fees"])
    assert not problems, problems
    admin.context.add_cookies(
        [{"name": "lang", "value": "zh_Hans_CN", "url": base + "/admin/fees"}]
    )
    admin.locator(f"#category-{category_id}").get_by_role("link", name="修改").click()
    admin.get_by_label("平台服务费（百分比）").fill("1.5")
    admin.get_by_label("理由（记入审计日志）").fill("类目签约费率")
    admin.get_by_role("button", name="保存").click()
    admin.get_by_text("不足以支付团队奖励").wait_for()
    assert admin.get_by_label("平台服务费（百分比）").input_value() == "1.5"
    snap(admin, "fee-refused")
    admin.get_by_label("平台服务费（百分比）").fill("2")
    admin.get_by_role("button", name="保存").click()
    admin.get_by_text("平台服务费已保存").wait_for()
    snap(admin, "fee-saved")
    assert admin.locator("#uncovered").count() == 0
    problems = sweep_accessibility(
        admin.context, [base + "/admin/fees", base + f"/admin/categories/{category_id}/fee"]
    )
    assert not problems, problems
    seller = new_phone()
    sign_in(seller, base, "13700000002")
    seller.goto(base + f"/merchant/products/{product_id}/edit")
    seller.get_by_label("分享返利（%）").fill("15")
    seller.get_by_role("button", name="保存").last.click()
    seller.get_by_text("最多 10%").wait_for()
    assert seller.get_by_label("分享返利（%）").input_value() == "15"
    snap(seller, "rebate-refused")
    with app.app_context():
        assert (
            db.session.execute(
                select(Category.fee_bps).where(Category.id == category_id)
            ).scalar_one()
            == 200
        )


def test_admin_sets_a_merchants_wechatpay_sub_merchant(live_server, new_phone):
    app = live_server.app
    with app.app_context():
        merchant_id = seed_tea_merchant().merchant_id
        db.session.commit()
    base = live_server.url
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(base + f"/admin/merchants/{merchant_id}")
    admin.locator("#sub-mchid").get_by_role("link", name="修改").click()
    admin.get_by_label("微信支付子商户号").fill("1900-0002")
    admin.get_by_label("理由（记入审计日志）").fill("进件完成")
    admin.get_by_role("button", name="保存").click()
    admin.get_by_text("子商户号为 6 到 32 位数字。").wait_for()
    snap(admin, "sub-mchid-refused")
    admin.get_by_label("微信支付子商户号").fill("1900000202")
    admin.get_by_role("button", name="保存").click()
    admin.get_by_text("子商户号已保存。").wait_for()
    assert "1900000202" in admin.locator("#sub-mchid").inner_text()
    snap(admin, "merchant-detail")
    problems = sweep_accessibility(
        admin.context, [base + f"/admin/merchants/{merchant_id}/wechatpay"]
    )
    assert not problems, problems
