"""Sharer teams: binding rules (once, never re-bound, no self-invite, no loops), the override
following its rebate through payment, settlement, refund and clawback, and no third tier even
with crafted rows. The invariant checker runs after every test that touches the database."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from shop.insights import teams as team_numbers
from shop.money import ledger
from shop.money.models import EntryKind, LedgerEntry
from shop.orders import checkout, states
from shop.platform.errors import PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.sharing.models import Shop
from shop.teams import teams
from shop.teams.models import TeamMember
from tests import invariants
from tests.factories import make_category, make_product, make_shop, make_user
from tests.services.test_orders import ADDRESS, NOW, WINDOW, pay

RATE = 1000  #: 10% of the member's rebate


@pytest.fixture(autouse=True)
def _check_invariants(request):
    if "ctx" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("ctx")
    yield
    db.session.flush()
    invariants.check(db.session)


def leader_with_shop(name="团长"):
    return make_shop(user=make_user(display_name=name)).user


def invited(leader, name="新人"):
    member = make_user(display_name=name)
    code = teams.invite_of(leader, now=NOW).invite_code
    assert teams.bind(member, code, now=NOW) is not None
    return member


def buy_through(member_product, *, buyer=None, rate=RATE, visitor="v" * 32, key="k1"):
    buyer = buyer or make_user()
    [order] = checkout.place_order(
        buyer, [(member_product.id, 1)], ADDRESS, checkout_key=key, provider="sandbox",
        visitor_id=visitor, now=NOW, window=WINDOW, allow_self_purchase=True,
        pay_within=timedelta(minutes=30), team_override_bps=rate,
    )  # fmt: skip
    return order


def entries(user):
    return sorted(
        (str(kind), tier, amount)
        for kind, tier, amount in db.session.execute(
            select(LedgerEntry.kind, LedgerEntry.tier, LedgerEntry.amount_cents).where(
                LedgerEntry.sharer_id == user.id
            )
        )
    )


# --- binding ---------------------------------------------------------------------------------


def test_a_new_account_is_bound_once_and_keeps_its_first_leader(ctx):
    first, second = leader_with_shop("甲"), leader_with_shop("乙")
    member = invited(first)
    assert teams.leader_of(member.id).id == first.id
    code = teams.invite_of(second, now=NOW).invite_code
    assert teams.bind(member, code, now=NOW) is None  # never re-bound
    assert teams.leader_of(member.id).id == first.id
    assert teams.leader_of(first.id) is None
    # Inviting earns nothing by itself: no ledger entry for anyone.
    assert db.session.execute(select(func.count(LedgerEntry.id))).scalar() == 0


def test_self_invites_unknown_codes_and_loops_bind_nothing(ctx):
    leader = leader_with_shop()
    code = teams.invite_of(leader, now=NOW).invite_code
    assert teams.bind(leader, code, now=NOW) is None
    for bad in (None, "", "nope", "0" * 8, code.lower() if code != code.lower() else code.upper()):
        assert teams.bind(make_user(), bad, now=NOW) is None
    # A loop needs crafted rows: the leader made a member of the would-be member first.
    member = make_user()
    db.session.add(TeamMember(member_id=leader.id, leader_id=member.id, joined_at=NOW))
    db.session.flush()
    assert teams.bind(member, code, now=NOW) is None
    assert db.session.get(TeamMember, member.id) is None


def test_the_schema_refuses_a_second_leader_and_being_ones_own(ctx):
    leader, other = leader_with_shop(), leader_with_shop("乙")
    member = invited(leader)
    for row in (
        TeamMember(member_id=member.id, leader_id=other.id, joined_at=NOW),
        TeamMember(member_id=other.id, leader_id=other.id, joined_at=NOW),
    ):
        with pytest.raises(IntegrityError):
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()


def test_only_a_sharer_with_a_shop_invites(ctx):
    with pytest.raises(ValidationError):
        teams.invite_of(make_user(), now=NOW)


def test_the_rate_is_bounded_by_the_maximum_and_by_the_rebate_itself():
    assert teams.effective_rate(0, 2000) == 0
    assert teams.effective_rate(-5, 2000) == 0
    assert teams.effective_rate(1000, 2000) == 1000
    assert teams.effective_rate(5000, 2000) == 2000
    assert teams.effective_rate(50_000, 50_000) == 10_000
    assert teams.override_amount(999, 1000) == 99  # rounded down to the fen


# --- the override follows its rebate ---------------------------------------------------------


def member_click(member, product, visitor="v" * 32):
    from shop.sharing import clicks, links
    from shop.sharing.models import Channel
    from tests.services.test_links_and_clicks import facts

    shop = db.session.execute(select(Shop).where(Shop.user_id == member.id)).scalar()
    shop = shop or make_shop(user=member)
    link = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=NOW)
    clicks.record_click(
        link, facts(), visitor_id=visitor, ip_secret="s", flooded=False,
        now=NOW - timedelta(minutes=10),
    )  # fmt: skip


def team_product():
    """A 10% rebate in a category whose 10% fee covers any override (the platform pays the
    override out of its fee; an uncovered one is cut at payment: test_override_config.py)."""
    category = make_category(fee_bps=1000)
    return make_product(price_cents=10000, original_price_cents=None, rebate_bps=1000,
                        category=category)  # fmt: skip


def member_sale(rate=RATE, *, buyer=None):
    leader = leader_with_shop()
    member = invited(leader)
    product = team_product()
    member_click(member, product)
    order = buy_through(product, buyer=buyer, rate=rate)
    return leader, member, order


def test_override_is_estimated_settled_and_clawed_back_with_the_rebate(ctx):
    leader, member, order = member_sale()
    assert (order.sharer_id, order.leader_id, order.override_bps) == (member.id, leader.id, RATE)
    assert entries(leader) == []  # placed, not paid: nothing yet
    pay(order, NOW)
    assert entries(member) == [("estimated", 1, 1000)]
    assert entries(leader) == [("estimated", 2, 100)]
    assert ledger.balances(leader.id).estimated_cents == 100
    states.ship(order, "顺丰速运", "SF1234567890", actor=make_user(), now=NOW)
    states.confirm_receipt(order, actor=order.buyer, now=NOW + timedelta(days=1))
    settled_at = NOW + timedelta(days=9)
    assert ledger.settle_order(order.id, now=settled_at, return_window=timedelta(days=7)) == 1
    assert ledger.settle_order(order.id, now=settled_at, return_window=timedelta(days=7)) == 0
    assert ledger.balances(leader.id).available_cents == 100
    lines = team_numbers.members(leader.id, since=NOW, until=settled_at + timedelta(seconds=1))
    assert [(x.name, x.settled_cents, x.override_cents) for x in lines] == [("新人", 1000, 100)]
    states.request_refund(order, "坏了", actor=order.buyer, now=settled_at)
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=settled_at)
    assert [k for k, _t, _a in entries(leader)] == ["clawback", "estimated", "settled"]
    assert ledger.balances(leader.id).available_cents == 0
    assert ledger.balances(member.id).available_cents == 0


def test_a_refund_before_settlement_voids_both(ctx):
    leader, member, order = member_sale()
    pay(order, NOW)
    states.request_refund(order, "不要了", actor=order.buyer, now=NOW + timedelta(hours=1))
    states.decide_refund(order, True, actor=make_user(), source="merchant", now=NOW)
    assert entries(leader) == [("estimated", 2, 100), ("voided", 2, 100)]
    assert entries(member) == [("estimated", 1, 1000), ("voided", 1, 1000)]
    assert ledger.balances(leader.id).estimated_cents == 0


def test_off_by_default_and_the_members_rebate_is_the_same_either_way(ctx):
    leader, member, order = member_sale(rate=0)
    pay(order, NOW)
    assert (order.leader_id, order.override_bps) == (None, 0)
    assert entries(leader) == []
    assert entries(member) == [("estimated", 1, 1000)]


def test_no_override_when_the_leader_is_the_buyer(ctx):
    leader = leader_with_shop()
    member = invited(leader)
    product = team_product()
    member_click(member, product)
    order = buy_through(product, buyer=leader)
    pay(order, NOW)
    assert order.leader_id is None and entries(leader) == []


def test_an_admin_stops_a_leaders_overrides_for_new_orders_with_a_reason(ctx):
    leader, member, before = member_sale()
    admin = make_user(is_admin=True)
    with pytest.raises(PermissionDenied):
        teams.set_overrides(leader, disabled=True, reason="x", actor=make_user(), now=NOW)
    with pytest.raises(ValidationError):
        teams.set_overrides(leader, disabled=True, reason=" ", actor=admin, now=NOW)
    teams.set_overrides(leader, disabled=True, reason="刷单嫌疑", actor=admin, now=NOW)
    product = team_product()
    member_click(member, product, visitor="w" * 32)
    after = buy_through(product, visitor="w" * 32, key="k2")
    assert after.leader_id is None
    pay(before, NOW)  # placed before the switch: keeps its override
    pay(after, NOW)
    assert entries(leader) == [("estimated", 2, 100)]
    [line] = team_numbers.teams()
    assert line.overrides_disabled and line.disabled_reason == "刷单嫌疑"
    actions = db.session.execute(select(AuditEntry.action)).scalars().all()
    assert actions == ["team.overrides_disabled"]


def test_no_third_tier_even_with_crafted_rows(ctx):
    # A chain 甲 <- 乙 <- 丙 written straight into the table (binding could never make it
    # for existing accounts), and the highest rate the settings allow.
    top, middle = leader_with_shop("甲"), leader_with_shop("乙")
    bottom = make_user(display_name="丙")
    db.session.add(TeamMember(member_id=middle.id, leader_id=top.id, joined_at=NOW))
    db.session.add(TeamMember(member_id=bottom.id, leader_id=middle.id, joined_at=NOW))
    db.session.flush()
    product = team_product()
    member_click(bottom, product)
    order = buy_through(product, rate=teams.effective_rate(10**6, 10**6))
    pay(order, NOW)
    assert order.leader_id == middle.id
    assert entries(middle) == [("estimated", 2, 1000)]
    assert entries(top) == []  # two steps up: nothing, ever
    # And the ledger itself refuses a third tier.
    item = order.items[0]
    with pytest.raises(IntegrityError):
        with db.session.begin_nested():
            db.session.add(
                LedgerEntry(sharer_id=top.id, kind=EntryKind.ESTIMATED, amount_cents=1,
                            order_id=order.id, order_item_id=item.id, tier=3, created_at=NOW)
            )  # fmt: skip
            db.session.flush()
