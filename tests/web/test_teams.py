"""Sharer teams through the web: the invite landing, binding at sign-up (and never for an
account that exists), /me/team for a leader and for a member, the invite poster, the team
overrides on the earnings page and in the CSVs, and the admin switch."""

import csv
import io
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from shop.accounts.models import User
from shop.money import ledger
from shop.orders import checkout, states
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.sharing import clicks, links
from shop.sharing.models import Channel
from shop.teams import teams
from shop.teams.models import TeamLeader, TeamMember
from shop.web.common import INVITE_SESSION_KEY
from tests import invariants
from tests.factories import make_category, make_product, make_shop, make_user
from tests.services.test_links_and_clicks import facts
from tests.services.test_orders import ADDRESS, WINDOW, pay

LEADER_PHONE = "13800001111"
RATE = 1000  #: 10% of the member's rebate


def make_leader(name="小美", shop_name="小美的好物店", phone=LEADER_PHONE) -> tuple[int, str]:
    """A sharer with a shop and an invite: (user id, invite code)."""
    leader = make_user(phone=phone, display_name=name)
    make_shop(user=leader, name=shop_name)
    code = teams.invite_of(leader, now=utcnow()).invite_code
    db.session.commit()
    return leader.id, code


def invite_code(app, user_id) -> str:
    with app.app_context():
        return db.session.get(TeamLeader, user_id).invite_code


def sign_up(client, account="13911112222", name="小新"):
    return client.post(
        "/auth/signup",
        data={
            "account": account,
            "display_name": name,
            "password": "jasmine-tea-77",
            "confirm": "jasmine-tea-77",
        },
    )


def leader_of(app, account) -> int | None:
    with app.app_context():
        user = db.session.execute(select(User).where(User.phone == account)).scalar_one()
        row = db.session.get(TeamMember, user.id)
        return row.leader_id if row else None


@dataclass
class Sale:
    leader: User
    member: User
    leader_id: int
    member_id: int
    number: str


def settled_team_sale(*, rate=RATE, leader_name="小美", member_name="小新") -> Sale:
    """A leader, a member bound through the leader's invite, and a sale through the member's
    link settled two days ago: the member's rebate is ¥10.00, the override ¥1.00 at 10%.
    Call inside an app context."""
    start = utcnow() - timedelta(days=10)
    leader = make_user(phone=LEADER_PHONE, display_name=leader_name)
    make_shop(user=leader, name="小美的好物店")
    member = make_user(display_name=member_name)
    assert teams.bind(member, teams.invite_of(leader, now=start).invite_code, now=start)
    shop = make_shop(user=member)
    product = make_product(
        price_cents=10000,
        original_price_cents=None,
        rebate_bps=1000,
        category=make_category(fee_bps=300),
    )  # a fee that covers the override
    link = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=start)
    clicks.record_click(
        link, facts(), visitor_id="v" * 32, ip_secret="s", flooded=False,
        now=start - timedelta(minutes=10),
    )  # fmt: skip
    [order] = checkout.place_order(
        make_user(), [(product.id, 1)], ADDRESS, checkout_key="team-1", provider="sandbox",
        visitor_id="v" * 32, now=start, window=WINDOW, allow_self_purchase=True,
        pay_within=timedelta(minutes=30), team_override_bps=rate,
    )  # fmt: skip
    pay(order, start)
    states.ship(order, "顺丰速运", "SF1234567890", actor=product.merchant.user, now=start)
    states.confirm_receipt(order, actor=order.buyer, now=start + timedelta(hours=1))
    ledger.settle_order(order.id, now=start + timedelta(days=8), return_window=timedelta(days=7))
    db.session.commit()
    return Sale(leader, member, leader.id, member.id, order.number)


def check_invariants(app):
    with app.app_context():
        invariants.check(db.session)


# --- the invite landing ----------------------------------------------------------------------


def test_join_page_shows_the_inviter_the_rules_and_remembers_the_code(app, client):
    with app.app_context():
        _leader_id, code = make_leader()
    response = client.get(f"/join/{code}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "小美 邀请你一起开店" in page and "小美的好物店" in page
    assert "邀请本身没有奖励" in page and "一次绑定、永久有效" in page
    assert "本平台未开启团队奖励" in page  # off by default
    assert LEADER_PHONE not in page
    assert 'id="invite-signup"' in page
    with client.session_transaction() as session:
        assert session[INVITE_SESSION_KEY] == code

    app.config["TEAM_OVERRIDE_BPS"] = 1500
    page = client.get(f"/join/{code}").get_data(as_text=True)
    assert "额外获得该返利 15% 的团队奖励" in page and "你自己的返利一分不少" in page
    app.config["TEAM_OVERRIDE_BPS"] = 5000  # above the maximum setting (20%): capped
    page = client.get(f"/join/{code}").get_data(as_text=True)
    assert "20% 的团队奖励" in page and "50%" not in page


@pytest.mark.parametrize("code", ["ABCDEFGH", "nope", "<script>"])
def test_an_unknown_invite_is_a_404_and_remembers_nothing(app, client, code):
    with app.app_context():
        make_leader()
    response = client.get(f"/join/{code}")
    assert response.status_code == 404 and "页面不存在" in response.get_data(as_text=True)
    with client.session_transaction() as session:
        assert INVITE_SESSION_KEY not in session


# --- binding ---------------------------------------------------------------------------------


def test_signing_up_through_an_invite_binds_the_new_account_once(app, client):
    with app.app_context():
        leader_id, code = make_leader()
        other_id, other_code = make_leader("阿强", "阿强的店", phone="13800002222")
    client.get(f"/join/{code}")
    signup = client.get("/auth/signup").get_data(as_text=True)
    assert "小美 邀请你：新账号将加入 TA 的团队。" in signup
    response = sign_up(client)
    assert response.status_code == 302
    assert leader_of(app, "13911112222") == leader_id
    with client.session_transaction() as session:
        assert INVITE_SESSION_KEY not in session  # used once

    # A second invite after sign-up changes nothing: the page says so and binds nothing.
    page = client.get(f"/join/{other_code}").get_data(as_text=True)
    assert "邀请只绑定新注册的账号" in page and 'id="invite-signup"' not in page
    with client.session_transaction() as session:
        assert INVITE_SESSION_KEY not in session
    assert client.post("/auth/signup", data={}).status_code == 302  # signed in: no sign-up
    assert leader_of(app, "13911112222") == leader_id
    with app.app_context():
        assert db.session.get(TeamMember, other_id) is None
        # Inviting earns nothing by itself.
        assert ledger.balances(leader_id).estimated_cents == 0
    check_invariants(app)


def test_a_signed_in_account_opening_an_invite_is_not_bound(app, client, user_client):
    with app.app_context():
        _leader_id, code = make_leader()
        existing = make_user(phone="13922223333", display_name="老用户")
        db.session.commit()
    signed_in = user_client(existing)
    page = signed_in.get(f"/join/{code}").get_data(as_text=True)
    assert "你已登录" in page and "你的账号保持不变" in page
    with signed_in.session_transaction() as session:
        assert INVITE_SESSION_KEY not in session
    assert leader_of(app, "13922223333") is None

    # Opened while signed out, then the person signs in to the account they have: still no.
    client.get(f"/join/{code}")
    response = client.post(
        "/auth/signin", data={"account": "13922223333", "password": "correct-horse-42"}
    )
    assert response.status_code == 302
    assert leader_of(app, "13922223333") is None
    with client.session_transaction() as session:
        assert INVITE_SESSION_KEY not in session  # dropped: it cannot bind this account


def test_the_leader_opening_their_own_invite_is_told_so(app, user_client):
    with app.app_context():
        leader_id, code = make_leader()
        leader = db.session.get(User, leader_id)
    page = user_client(leader).get(f"/join/{code}").get_data(as_text=True)
    assert "这是你自己的邀请" in page


def test_a_failed_sign_up_keeps_the_invite_for_the_next_try(app, client):
    with app.app_context():
        leader_id, code = make_leader()
    client.get(f"/join/{code}")
    response = client.post(
        "/auth/signup",
        data={"account": "13911112222", "display_name": "小新", "password": "short",
              "confirm": "short"},
    )  # fmt: skip
    assert response.status_code == 200 and "小美 邀请你" in response.get_data(as_text=True)
    assert sign_up(client).status_code == 302
    assert leader_of(app, "13911112222") == leader_id


# --- /me/team --------------------------------------------------------------------------------


def test_team_page_for_the_leader_lists_members_and_overrides(app, user_client):
    app.config["TEAM_OVERRIDE_BPS"] = RATE
    with app.app_context():
        sale = settled_team_sale()
        code = db.session.get(TeamLeader, sale.leader_id).invite_code
    client = user_client(sale.leader)
    page = client.get("/me/team").get_data(as_text=True)
    assert f"http://localhost/join/{code}" in page and 'data-copy="invite-url"' in page
    assert "成员的返利结算后，你获得其 10% 的团队奖励" in page
    assert "小新" in page
    row = page[page.index('<tr data-member="') :]
    row = row[: row.index("</tr>")]
    assert "¥10.00" in row and "¥1.00" in row  # the member's settled rebate, the override
    totals = page[page.index('id="team-totals"') :]
    assert "¥10.00" in totals[: totals.index("</tr>")]
    assert "/me/team/poster.jpg" in page
    # A week ago the sale had not settled yet: the short period shows nothing settled.
    week = client.get("/me/team?period=7d").get_data(as_text=True)
    assert 'aria-current="page">最近 7 天' in week


def test_team_page_for_a_member_shows_only_the_leaders_display_name(app, user_client):
    with app.app_context():
        leader_id, code = make_leader()
        db.session.commit()
    from flask.testing import FlaskClient

    client: FlaskClient = app.test_client()
    client.get(f"/join/{code}")
    sign_up(client)
    page = client.get("/me/team").get_data(as_text=True)
    assert "你的团队长：小美" in page
    assert LEADER_PHONE not in page and "小美的好物店" not in page
    assert "请先开通小店" in page  # no shop yet: no invite of their own
    with app.app_context():
        assert db.session.get(TeamLeader, leader_id) is not None
        member = db.session.execute(select(User).where(User.phone == "13911112222")).scalar_one()
        assert db.session.get(TeamLeader, member.id) is None  # nothing made for them


def test_the_member_sees_their_leader_on_their_team_page_once_they_have_a_shop(app, user_client):
    with app.app_context():
        sale = settled_team_sale()
    page = user_client(sale.member).get("/me/team").get_data(as_text=True)
    assert "你的团队长：小美" in page and LEADER_PHONE not in page
    assert 'id="invite-url"' in page and "还没有人通过你的邀请加入" in page


def test_a_sharer_without_a_shop_is_asked_to_open_one(app, user_client):
    with app.app_context():
        user = make_user()
        db.session.commit()
        user_id = user.id
    client = user_client(user)
    response = client.get("/me/team")
    assert response.status_code == 200 and "请先开通小店" in response.get_data(as_text=True)
    assert client.get("/me/team/poster.jpg").status_code == 302  # to the shop settings
    with app.app_context():
        assert db.session.get(TeamLeader, user_id) is None


def test_the_poster_is_always_the_signed_in_sharers_own(app, client, user_client):
    with app.app_context():
        first_id, first_code = make_leader()
        second_id, second_code = make_leader("阿强", "阿强的店", phone="13800002222")
        first, second = db.session.get(User, first_id), db.session.get(User, second_id)
    assert client.get("/me/team/poster.jpg").status_code == 302  # signed out
    mine, theirs = user_client(first), user_client(second)

    def fetch(client, url, **kwargs):
        response = client.get(url, **kwargs)
        response.get_data()  # read the file, then close it as a browser would
        response.close()
        return response

    own = fetch(mine, "/me/team/poster.jpg")
    assert own.status_code == 200 and own.mimetype == "image/jpeg"
    assert own.data[:2] == b"\xff\xd8"
    download = fetch(mine, f"/me/team/poster.jpg?download=1&user_id={second_id}")
    assert f"invite-{first_code}.jpg" in download.headers["Content-Disposition"]
    # Whatever the query names, another sharer gets their own poster.
    other = fetch(theirs, f"/me/team/poster.jpg?user_id={first_id}&code={first_code}")
    assert other.status_code == 200 and other.get_etag() != own.get_etag()
    assert other.data != own.data
    download = fetch(theirs, "/me/team/poster.jpg?download=1")
    assert f"invite-{second_code}.jpg" in download.headers["Content-Disposition"]
    # Unchanged content: the same ETag answers 304.
    again = fetch(mine, "/me/team/poster.jpg", headers={"If-None-Match": own.get_etag()[0]})
    assert again.status_code == 304


# --- earnings and exports --------------------------------------------------------------------


def test_the_leader_sees_each_override_with_its_reason_and_the_member_does_not(app, user_client):
    app.config["TEAM_OVERRIDE_BPS"] = RATE
    with app.app_context():
        sale = settled_team_sale()
    page = user_client(sale.leader).get("/me/earnings").get_data(as_text=True)
    assert 'id="team-overrides"' in page
    row = page[page.index(f'<li class="card override-row" data-order="{sale.number}"') :]
    row = row[: row.index("</li>")]
    assert "来自 小新 的团队奖励" in row
    assert "其返利 ¥10.00 × 10% = 你的团队奖励" in row
    assert "¥1.00" in row and "已结算" in row
    assert 'id="balance-available">¥1.00<' in page
    member_page = user_client(sale.member).get("/me/earnings").get_data(as_text=True)
    assert 'id="team-overrides"' not in member_page
    assert 'id="balance-available">¥10.00<' in member_page


def test_the_ledger_csvs_say_which_entries_are_team_overrides(app, user_client):
    app.config["TEAM_OVERRIDE_BPS"] = RATE
    with app.app_context():
        sale = settled_team_sale()
        admin = make_user(is_admin=True)
        db.session.commit()
        number = sale.number

    def rows(client, url):
        raw = client.get(url, headers={"Accept-Language": "en"}).get_data()
        return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))

    header, *body = rows(user_client(sale.leader), "/me/export/ledger.csv")
    assert header[-1] == "Rebate or team override"
    assert sorted((row[1], row[2], row[4], row[-1]) for row in body) == [
        ("Estimated rebate", number, "1.00", "team override"),
        ("Rebate settled", number, "1.00", "team override"),
    ]
    _header, *body = rows(user_client(sale.member), "/me/export/ledger.csv")
    assert {row[-1] for row in body} == {"rebate"}
    header, *body = rows(user_client(admin), "/admin/export/ledger.csv")
    assert header[-1] == "Rebate or team override"
    tiers = sorted((row[2], row[4], row[-1]) for row in body)
    assert tiers == sorted(
        [
            (str(sale.member_id), "10.00", "rebate"),
            (str(sale.member_id), "10.00", "rebate"),
            (str(sale.leader_id), "1.00", "team override"),
            (str(sale.leader_id), "1.00", "team override"),
        ]
    )


# --- admin -----------------------------------------------------------------------------------


def test_admin_team_pages_are_for_admins_only(app, client, user_client):
    with app.app_context():
        leader_id = settled_team_sale().leader_id
        plain = make_user()
        db.session.commit()
    assert client.get("/admin/teams").status_code == 302
    others = user_client(plain)
    expected = others.get("/admin/payouts").status_code
    assert expected == 403
    assert others.get("/admin/teams").status_code == expected
    response = others.post(
        f"/admin/teams/{leader_id}/overrides", data={"decision": "stop", "reason": "x"}
    )
    assert response.status_code == expected
    with app.app_context():
        assert not db.session.get(TeamLeader, leader_id).overrides_disabled
        assert db.session.execute(select(AuditEntry)).first() is None


def test_an_admin_stops_and_allows_a_leaders_overrides_with_audit(app, user_client):
    app.config["TEAM_OVERRIDE_BPS"] = RATE
    with app.app_context():
        sale = settled_team_sale()
        admin = make_user(is_admin=True, display_name="管理员")
        db.session.commit()
        leader, leader_id, admin_id = sale.leader, sale.leader_id, admin.id
    client = user_client(admin)
    page = client.get("/admin/teams").get_data(as_text=True)
    assert 'href="/admin/teams"' in page  # in the admin navigation
    card = page[page.index(f'id="team-{leader_id}"') :]
    card = card[: card.index("</li>")]
    assert "小美" in card and "¥1.00" in card and "团队奖励正常" in card
    assert ">1<" in card  # one member

    # Stopping needs a reason; without one nothing changes.
    response = client.post(f"/admin/teams/{leader_id}/overrides", data={"decision": "stop"})
    assert response.status_code == 422 and "请填写理由：分享者会看到。" in response.get_data(
        as_text=True
    )
    response = client.post(
        f"/admin/teams/{leader_id}/overrides", data={"decision": "stop", "reason": "刷单嫌疑"}
    )
    assert response.status_code == 303
    assert client.get(response.headers["Location"]).status_code == 200
    with app.app_context():
        row = db.session.get(TeamLeader, leader_id)
        assert row.overrides_disabled and row.disabled_reason == "刷单嫌疑"
    leader_page = user_client(leader).get("/me/team").get_data(as_text=True)
    assert "管理员已停止你的团队奖励：刷单嫌疑" in leader_page
    assert "团队奖励已停止" in client.get("/admin/teams").get_data(as_text=True)
    assert client.get("/admin/teams/999999/overrides").status_code == 405
    assert (
        client.post("/admin/teams/999999/overrides", data={"decision": "allow"}).status_code == 404
    )

    response = client.post(f"/admin/teams/{leader_id}/overrides", data={"decision": "allow"})
    assert response.status_code == 303
    with app.app_context():
        row = db.session.get(TeamLeader, leader_id)
        assert not row.overrides_disabled and row.disabled_reason == ""
        audit = db.session.execute(
            select(AuditEntry.action, AuditEntry.object_id, AuditEntry.actor_id).order_by(
                AuditEntry.id
            )
        ).all()
        assert [tuple(a) for a in audit] == [
            ("team.overrides_disabled", leader_id, admin_id),
            ("team.overrides_allowed", leader_id, admin_id),
        ]
    assert "管理员已停止" not in user_client(leader).get("/me/team").get_data(as_text=True)
    check_invariants(app)


# --- escaping --------------------------------------------------------------------------------


def test_display_names_are_escaped_everywhere_teams_show_them(app, client, user_client):
    app.config["TEAM_OVERRIDE_BPS"] = RATE
    evil_leader, evil_member = "<script>a()</script>", "<img src=x onerror=b()>"
    with app.app_context():
        sale = settled_team_sale(leader_name=evil_leader, member_name=evil_member)
        leader, member = sale.leader, sale.member
        admin = make_user(is_admin=True)
        code = db.session.get(TeamLeader, sale.leader_id).invite_code
        db.session.commit()
    pages = {
        "join": client.get(f"/join/{code}"),
        "signup": client.get("/auth/signup"),
        "leader team": user_client(leader).get("/me/team"),
        "member team": user_client(member).get("/me/team"),
        "earnings": user_client(leader).get("/me/earnings"),
        "admin": user_client(admin).get("/admin/teams"),
    }
    for name, response in pages.items():
        page = response.get_data(as_text=True)
        assert response.status_code == 200, name
        assert "<script>a()" not in page and "<img src=x" not in page, name
        assert "&lt;script&gt;a()&lt;/script&gt;" in page or "&lt;img src=x" in page, name
