"""Appeals: the rule applied to an order, answered at once and without naming anyone; the
same answer for an unknown number and a stranger's order; limits; sending on; one
adjustment however often it is decided."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.money import appeal_evidence, appeals
from shop.money.models import Appeal, AppealStatus, EntryKind, LedgerEntry
from shop.platform.audit import AuditEntry
from shop.platform.errors import Conflict, InvalidTransition, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Channel, Click
from tests import invariants
from tests.factories import make_product, make_shop, make_user
from tests.services.test_links_and_clicks import facts
from tests.services.test_orders import NOW, pay, place

LIMITS = appeals.Limits(per_hour=100, per_day=1000)
WINDOW = timedelta(days=15)


@pytest.fixture(autouse=True)
def _check_invariants(request):
    if "ctx" not in request.fixturenames:
        yield
        return
    request.getfixturevalue("ctx")
    yield
    db.session.flush()
    invariants.check(db.session)


def click_on(shop, product, visitor, at):
    link = links.get_or_create_link(shop, product, Channel.MOMENTS, now=at)
    clicks.record_click(link, facts(), visitor_id=visitor, ip_secret="s", flooded=False, now=at)
    return (
        db.session.execute(select(Click).where(Click.link_id == link.id).order_by(Click.id.desc()))
        .scalars()
        .first()
    )


@pytest.fixture
def world(ctx):
    """Sharers A (who asks) and B; a product at 10 %; orders in every situation."""
    a, b = make_shop(), make_shop()
    product = make_product(price_cents=10000, original_price_cents=None, rebate_bps=1000)
    found = {"a": a.user, "b": b.user, "product": product}

    def order(key, visitor, *, buyer=None, paid=True, allow=True, at=NOW):
        [placed] = place(buyer or make_user(), [(product.id, 1)], visitor=visitor, at=at,
                         key=key, allow=allow)  # fmt: skip
        if paid:
            pay(placed, at)
        return placed

    # Overwritten: A's link, then B's, then the order.
    found["a_click"] = click_on(a, product, "1" * 32, NOW - timedelta(hours=3))
    click_on(b, product, "1" * 32, NOW - timedelta(hours=2))
    found["overwritten"] = order("o1", "1" * 32)
    # Outside the window: A's click 20 days before.
    click_on(a, product, "2" * 32, NOW - timedelta(days=20))
    found["outside"] = order("o2", "2" * 32)
    # A's own purchase through A's link, self-purchases not allowed.
    click_on(a, product, "3" * 32, NOW - timedelta(hours=1))
    found["self"] = order("o3", "3" * 32, buyer=a.user, allow=False)
    # Unpaid, through A's link.
    click_on(a, product, "4" * 32, NOW - timedelta(hours=1))
    found["unpaid"] = order("o4", "4" * 32, paid=False)
    # A's own earning order.
    click_on(a, product, "5" * 32, NOW - timedelta(hours=1))
    found["yours"] = order("o5", "5" * 32)
    # A stranger's order: B's link only.
    click_on(b, product, "6" * 32, NOW - timedelta(hours=1))
    found["stranger"] = order("o6", "6" * 32)
    # A click of A's that led nowhere.
    found["idle_click"] = click_on(a, product, "7" * 32, NOW - timedelta(hours=1))
    return found


def ask(world, number="", click=None, at=NOW + timedelta(minutes=5), limits=LIMITS):
    return appeals.ask(world["a"], number=number, click=click, limits=limits, window=WINDOW,
                       now=at)  # fmt: skip


@pytest.mark.parametrize(
    "case, answer",
    [
        ("overwritten", "overwritten"),
        ("outside", "outside_window"),
        ("self", "self_purchase"),
        ("unpaid", "unpaid"),
        ("yours", "yours"),
        ("stranger", "not_found"),
    ],
)
def test_each_order_gets_the_rule_applied_to_it(world, case, answer):
    appeal = ask(world, world[case].number)
    assert appeal.answer == answer
    text = appeals.answer_text(appeal, window_days=15)
    if answer == "outside_window":
        assert "15" in text
    # The stranger's order leaves the same row as a number that does not exist.
    assert (appeal.order_id is None) == (answer == "not_found")


def test_an_unknown_number_and_a_strangers_order_read_the_same(world):
    unknown = ask(world, "2611241000" + "99999999")
    stranger = ask(world, world["stranger"].number)
    assert (unknown.answer, unknown.order_id) == (stranger.answer, stranger.order_id)
    assert appeals.answer_text(unknown, window_days=15) == appeals.answer_text(
        stranger, window_days=15
    )


def test_a_number_that_cannot_be_one_is_a_field_error_and_counts_nothing(world):
    for typed in ("", "abc", "12345", "1" * 25):
        with pytest.raises(ValidationError) as caught:
            ask(world, typed)
        assert caught.value.field == "number"
    assert db.session.execute(select(func.count()).select_from(Appeal)).scalar_one() == 0
    assert ask(world, " 2611 2410 0012 3456 ").typed_number == "261124100012" + "3456"


def test_a_picked_click_finds_the_order_its_visitor_placed(world):
    assert ask(world, click=world["a_click"]).answer == "overwritten"
    idle = ask(world, click=world["idle_click"])
    assert (idle.answer, idle.order_id) == ("click_no_order", None)
    assert "15" in appeals.answer_text(idle, window_days=15)


def test_hourly_and_daily_limits(world):
    limits = appeals.Limits(per_hour=2, per_day=3)
    at = NOW + timedelta(minutes=5)
    ask(world, world["outside"].number, at=at, limits=limits)
    ask(world, "2611241000" + "11111111", at=at, limits=limits)
    with pytest.raises(Conflict) as caught:
        ask(world, world["overwritten"].number, at=at, limits=limits)
    assert caught.value.field == "number"
    later = at + timedelta(hours=1, minutes=1)
    ask(world, world["overwritten"].number, at=later, limits=limits)
    with pytest.raises(Conflict):
        ask(world, world["self"].number, at=later + timedelta(hours=2), limits=limits)
    assert ask(world, world["self"].number, at=at + timedelta(days=1, minutes=1), limits=limits)


def test_sending_on_and_deciding_posts_one_adjustment(world):
    appeal = ask(world, world["overwritten"].number)
    with pytest.raises(ValidationError):
        appeals.submit(appeal, "no", actor=world["a"], now=NOW)
    with pytest.raises(PermissionDenied):
        appeals.submit(appeal, "我先发的链接", actor=world["b"], now=NOW)
    appeals.submit(appeal, "买家说是看了我的朋友圈才买的", actor=world["a"], now=NOW)
    assert appeal.status == AppealStatus.SUBMITTED
    with pytest.raises(InvalidTransition):
        appeals.submit(appeal, "再发一次看看", actor=world["a"], now=NOW)
    again = ask(world, world["overwritten"].number)
    with pytest.raises(Conflict):  # the same order is already with the admins
        appeals.submit(again, "再发一次看看", actor=world["a"], now=NOW)
    assert appeals.queue() == [appeal]
    assert appeals.suggested_cents(appeal) == 1000

    admin = make_user(is_admin=True)
    with pytest.raises(PermissionDenied):
        appeals.decide(appeal, True, actor=world["a"], reason="x", amount_cents=1000, now=NOW)
    with pytest.raises(ValidationError):
        appeals.decide(appeal, True, actor=admin, reason="", amount_cents=1000, now=NOW)
    with pytest.raises(ValidationError):
        appeals.decide(appeal, True, actor=admin, reason="属实", amount_cents=0, now=NOW)
    appeals.decide(appeal, True, actor=admin, reason="点击记录属实", amount_cents=1000, now=NOW)
    with pytest.raises(InvalidTransition):
        appeals.decide(appeal, True, actor=admin, reason="再来", amount_cents=1000, now=NOW)
    with pytest.raises(InvalidTransition):
        appeals.decide(appeal, False, actor=admin, reason="改判", now=NOW)
    entries = db.session.execute(
        select(LedgerEntry.sharer_id, LedgerEntry.kind, LedgerEntry.amount_cents).where(
            LedgerEntry.appeal_id == appeal.id
        )
    ).all()
    assert entries == [(world["a"].id, EntryKind.ADJUSTMENT, 1000)]
    audit = db.session.execute(
        select(AuditEntry.action, AuditEntry.reason).where(AuditEntry.object_type == "appeal")
    ).all()
    assert audit == [("appeal.uphold", "点击记录属实")]
    # The winner's own rebate is untouched.
    assert (
        db.session.execute(
            select(func.sum(LedgerEntry.amount_cents)).where(
                LedgerEntry.sharer_id == world["b"].id, LedgerEntry.kind == EntryKind.ESTIMATED
            )
        ).scalar_one()
        == 2000
    )  # the overwritten order and the stranger's


def test_yours_cannot_be_sent_on(world):
    appeal = ask(world, world["yours"].number)
    with pytest.raises(InvalidTransition):
        appeals.submit(appeal, "这单本来就是我的", actor=world["a"], now=NOW)


def test_a_rejection_posts_nothing(world):
    appeal = ask(world, world["outside"].number)
    appeals.submit(appeal, "买家只是晚了几天", actor=world["a"], now=NOW)
    appeals.decide(appeal, False, actor=make_user(is_admin=True), reason="超出窗口", now=NOW)
    assert appeal.status == AppealStatus.REJECTED
    assert not db.session.execute(
        select(LedgerEntry.id).where(LedgerEntry.appeal_id == appeal.id)
    ).first()


def test_evidence_names_nobody(world):
    appeal = ask(world, world["overwritten"].number)
    seen = appeal_evidence.evidence(appeal, window=WINDOW)
    assert seen.reason == "overwritten" and seen.winner == "other 1"
    assert [(line.who, line.counted, line.in_window, line.is_winner) for line in seen.clicks] == [
        ("appellant", True, True, False),
        ("other 1", True, True, True),
    ]
    assert seen.others == []  # the appellant's own rule is ``reason``; the winner is ``winner``
    # Nothing in the evidence carries a user: only times, flags and the anonymised names.
    assert {seen.winner} | {line.who for line in seen.clicks} == {
        "appellant",
        "other 1",
    }
