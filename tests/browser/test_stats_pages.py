"""The sharer's stats page and the admin overview on a phone, over the demo data: they render,
nothing is wider than the screen, the charts load as images, and screenshots are kept in
test-artifacts/stats/ for a person to look at."""

import pytest

from shop.demo import seed as demo
from shop.platform import db as dbsetup
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.browser.conftest import snap
from tests.browser.test_merchant_flow import sign_in

pytestmark = pytest.mark.browser


def check_and_snap(page, name):
    snap(page, name, folder="stats")
    chart = page.locator("img[src$='.svg'], img[src*='.svg?']").first
    assert chart.count() == 1, name
    # The chart really loaded (a broken image has no natural width).
    assert chart.evaluate("img => img.complete && img.naturalWidth > 0"), name


def test_stats_page_and_admin_overview_on_a_phone(live_server, new_phone):
    app = live_server.app
    with app.app_context(), dbsetup.writing():
        demo.seed_demo(now=utcnow())
        db.session.commit()
    base = live_server.url

    sharer = new_phone()
    sign_in(sharer, base, "13800000003", demo.demo_password("13800000003"))
    sharer.goto(base + "/me/stats?period=30d")
    assert sharer.get_by_role("heading", name="转化漏斗").count() == 1
    assert "只统计有效点击" in sharer.locator("main").inner_text()
    check_and_snap(sharer, "01-sharer-stats-30d")

    admin = new_phone()
    sign_in(admin, base, "13800000001", demo.demo_password("13800000001"))
    admin.goto(base + "/admin/")
    assert "头部分享者" in admin.locator("main").inner_text()
    check_and_snap(admin, "02-admin-overview")
