"""Sharer teams on phones, each person in their own browser, with team overrides on (10%):
a sharer copies her invite link, a friend signs up through it and opens a shop, the friend's
share link sells, the order completes and settles, and both see their money: the friend her
own rebate, the sharer her team override on it."""

import re
from datetime import timedelta
from functools import partial

import pytest
from sqlalchemy import select, update

from shop.accounts.models import User
from shop.money.models import LedgerEntry
from shop.orders.models import Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import shops
from shop.teams.models import TeamMember
from tests import invariants
from tests.browser.conftest import (
    ARTIFACTS,
    WECHAT_UA,
    buy_now,
    fill_address,
    fill_sign_up,
    seed_tea_merchant,
    serving,
    ship,
)
from tests.browser.conftest import snap as phone_snap
from tests.browser.test_merchant_flow import sign_in
from tests.factories import make_shop, make_user

pytestmark = pytest.mark.browser

snap = partial(phone_snap, folder="teams")


@pytest.fixture
def team_server(sqlite_template, tmp_path):
    """The live server of tests/browser/conftest.py with team overrides at 10%."""
    with serving(sqlite_template, tmp_path, TEAM_OVERRIDE_BPS=1000) as server:
        yield server


def test_a_friend_invited_by_a_sharer_sells_and_both_are_paid_after_settlement(
    team_server, new_phone
):
    app = team_server.app
    with app.app_context():
        product = seed_tea_merchant()
        product.category.fee_bps = 100  # 1%: covers the 10% override on its 10% rebate
        leader = make_user(phone="13700000011", display_name="小美")
        shops.add_item(
            make_shop(user=leader, slug="xiaomei", name="小美的好物店"), product, now=utcnow()
        )
        db.session.commit()
        product_id, leader_id = product.id, leader.id
    base = team_server.url

    # The sharer opens her team page and copies her invite link.
    sharer = new_phone()
    sign_in(sharer, base, "13700000011")
    sharer.goto(f"{base}/me/shop")
    sharer.get_by_role("link", name="我的团队").click()
    sharer.wait_for_url(f"{base}/me/team")
    assert "成员的返利结算后，你获得其 10% 的团队奖励" in sharer.locator("#team-rate").inner_text()
    sharer.get_by_role("button", name="复制链接").click()
    invite_url = sharer.locator("#invite-url").input_value()
    assert re.fullmatch(rf"{re.escape(base)}/join/\w{{8}}", invite_url), invite_url
    sharer.locator("details.invite-poster summary").click()
    poster = sharer.get_by_role("img", name="邀请海报")
    sharer.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=poster.element_handle()
    )
    assert sharer.evaluate("img => img.naturalWidth", poster.element_handle()) == 750
    snap(sharer, "01-leader-team-empty")

    # The friend opens it in WeChat, signs up and opens her shop.
    friend = new_phone(user_agent=WECHAT_UA)
    friend.goto(invite_url)
    assert friend.locator("#invite-title").inner_text() == "小美 邀请你一起开店"
    assert "小美的好物店" in friend.locator("#invite-shop").inner_text()
    rules = friend.locator("#invite-rules").inner_text()
    assert "邀请本身没有奖励" in rules and "10% 的团队奖励" in rules
    snap(friend, "02-join")
    friend.get_by_role("link", name="注册并开店").click()
    friend.wait_for_url(re.compile(r"/auth/signup\?next="))
    assert "小美 邀请你" in friend.locator("#signup-inviter").inner_text()
    fill_sign_up(friend, "13900005678", "小新", "jasmine-tea-77")
    snap(friend, "03-signup-invited")
    friend.locator("main form button[type=submit]").click()
    friend.wait_for_url(f"{base}/me/shop/settings")
    friend.get_by_label("小店名称").fill("小新的茶铺")
    friend.get_by_label("小店地址").fill("xiaoxin")
    friend.get_by_role("button", name="开通小店").click()
    friend.get_by_text("小店开通啦").wait_for()
    friend.goto(f"{base}/p/{product_id}")
    friend.get_by_role("button", name="加入我的小店").click()
    friend.get_by_text("已加入小店").wait_for()
    friend.locator("a.promote").first.click()  # 推广: the share sheet
    share_link = friend.locator("#friend-url").input_value()
    assert "/r/" in share_link
    friend.goto(f"{base}/me/team")
    assert friend.locator("#my-leader").inner_text().startswith("你的团队长：小美")
    assert "13700000011" not in friend.content()
    snap(friend, "04-member-team")
    with app.app_context():
        friend_id = db.session.execute(
            select(User.id).where(User.phone == "13900005678")
        ).scalar_one()
        assert db.session.get(TeamMember, friend_id).leader_id == leader_id

    # A buyer opens the friend's link, signs up on the way and pays in the sandbox.
    buyer = new_phone(user_agent=WECHAT_UA)
    buyer.goto(share_link)
    buyer.wait_for_url(re.compile(rf"/s/xiaoxin/p/{product_id}\?ref="))
    buy_now(buyer)
    buyer.wait_for_url(re.compile(r"/auth/signin\?next="))
    buyer.locator(".form-alt a[href*='/auth/signup']").click()
    buyer.wait_for_url(re.compile(r"/auth/signup\?next="))
    assert buyer.locator("#signup-inviter").count() == 0  # nobody invited the buyer
    fill_sign_up(buyer, "13900001234", "李小姐", "oolong-lover-57")
    buyer.locator("main form button[type=submit]").click()
    buyer.wait_for_url(re.compile(rf"/checkout/{product_id}\?.*ref="))
    fill_address(buyer)
    buyer.locator("main form button[type=submit]").click()
    buyer.wait_for_url(re.compile(r"/pay/sandbox/\w+\?"))
    buyer.locator("main form button[type=submit]").click()
    buyer.wait_for_url(re.compile(r"/orders/\d+/paid$"))
    buyer.get_by_text("支付成功").wait_for()
    buyer_page = buyer.content()
    assert "团队" not in buyer_page and "返利" not in buyer_page  # buyers never see rebates
    order_id = int(buyer.url.rsplit("/", 2)[1])
    with app.app_context():
        order = db.session.get(Order, order_id)
        number = order.number
        assert (order.sharer_id, order.leader_id, order.override_bps) == (
            friend_id,
            leader_id,
            1000,
        )

    # The merchant ships; the buyer confirms receipt.
    seller = new_phone()
    sign_in(seller, base, "13700000002")
    ship(seller, base, order_id)
    buyer.goto(f"{base}/orders/{order_id}")
    buyer.locator("form[action$='/confirm'] button[type=submit]").click()
    buyer.locator("dialog[open] [data-answer=yes]").click()  # it asks first
    buyer.get_by_text("谢谢！订单已完成。").wait_for()

    # Before settlement the sharer sees the override as estimated.
    sharer.goto(f"{base}/me/earnings")
    row = sharer.locator(f"li.override-row[data-order='{number}']")
    assert row.locator(".badge-estimated").inner_text() == "预估"
    assert sharer.locator("#balance-estimated").inner_text() == "¥1.28"

    # The return window passes (completion moved back; the ledger itself is never edited).
    with app.app_context():
        completed_at = db.session.get(Order, order_id).completed_at
        db.session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(completed_at=completed_at - timedelta(days=8))
        )
        db.session.commit()
    with app.app_context():
        result = app.test_cli_runner().invoke(args=["settle-rebates"])
    assert result.exit_code == 0, result.output
    assert "Orders due: 1; rebate entries settled: 1" in result.output

    # The friend's own rebate settled, whole.
    friend.goto(f"{base}/me/earnings")
    assert friend.locator("#balance-settled").inner_text() == "¥12.80"
    assert friend.locator("#balance-available").inner_text() == "¥12.80"
    own = friend.locator(f"li.earning-row[data-order='{number}']")
    assert own.locator(".earn").inner_text() == "¥12.80"
    assert own.locator(".badge-settled").inner_text() == "已结算"
    assert friend.locator("#team-overrides").count() == 0
    snap(friend, "05-member-earnings")

    # The sharer's team override settled, with its reason.
    sharer.goto(f"{base}/me/earnings")
    assert sharer.locator("#balance-settled").inner_text() == "¥1.28"
    assert sharer.locator("#balance-available").inner_text() == "¥1.28"
    assert sharer.locator("#balance-estimated").inner_text() == "¥0.00"
    row = sharer.locator(f"li.override-row[data-order='{number}']")
    assert row.locator("strong").first.inner_text() == "来自 小新 的团队奖励"
    assert "其返利 ¥12.80 × 10% = 你的团队奖励" in row.locator(".earning-reason").inner_text()
    assert row.locator(".earn").inner_text() == "¥1.28"
    assert row.locator(".badge-settled").inner_text() == "已结算"
    snap(sharer, "06-leader-earnings")
    # The override rows sit below the fold: one more picture with them at the top.
    sharer.locator("#team-overrides").evaluate("el => el.scrollIntoView({block: 'start'})")
    sharer.screenshot(path=str(ARTIFACTS / "teams" / "06-leader-earnings-overrides.png"))
    sharer.goto(f"{base}/me/team")
    member_row = sharer.locator(f"tr[data-member='{friend_id}']")
    cells = member_row.locator("td").all_inner_texts()
    assert cells == ["¥12.80", "¥1.28", "¥0.00"]
    assert "小新" in member_row.locator("th").inner_text()
    snap(sharer, "07-leader-team")

    # An admin sees the team and what its overrides settled.
    admin = new_phone()
    sign_in(admin, base, "13700000001")
    admin.goto(f"{base}/admin/teams")
    card = admin.locator(f"#team-{leader_id}")
    assert card.locator(".team-members").inner_text() == "1"
    assert card.locator(".team-settled").inner_text() == "¥1.28"
    assert "团队奖励正常" in card.locator(".team-status").inner_text()
    snap(admin, "08-admin-teams")

    with app.app_context():
        invariants.check(db.session)
        entries = db.session.execute(
            select(
                LedgerEntry.sharer_id, LedgerEntry.tier, LedgerEntry.kind, LedgerEntry.amount_cents
            ).order_by(LedgerEntry.id)
        ).all()
        assert [(s, t, str(k), a) for s, t, k, a in entries] == [
            (friend_id, 1, "estimated", 1280),
            (leader_id, 2, "estimated", 128),
            (friend_id, 1, "settled", 1280),
            (leader_id, 2, "settled", 128),
        ]
