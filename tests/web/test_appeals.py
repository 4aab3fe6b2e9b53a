"""Appeals through the pages: ask, read the answer, send it on, an admin decides; what the
pages refuse; and an attempt to learn the buyer's or another sharer's identity from the
answers, which fails."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from shop.money.models import Appeal, AppealStatus, EntryKind, LedgerEntry
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.sharing import clicks, links
from shop.sharing.models import Channel, Click
from shop.web.common import now as real_now
from tests import invariants
from tests.factories import make_product, make_shop, make_user
from tests.services import test_orders as svc
from tests.services.test_links_and_clicks import facts


@pytest.fixture
def user_client(english_client):
    return english_client


def click_on(shop, product, visitor, at):
    link = links.get_or_create_link(shop, product, Channel.MOMENTS, now=at)
    clicks.record_click(link, facts(), visitor_id=visitor, ip_secret="s", flooded=False, now=at)
    return (
        db.session.execute(
            select(Click.id).where(Click.link_id == link.id).order_by(Click.id.desc())
        )
        .scalars()
        .first()
    )


@pytest.fixture
def world(app):
    """Sharer A asks; sharer B won the buyer's order with a later click; C's order never
    touched A. Returns plain values (ids, numbers, the identities that must not leak)."""
    with app.app_context():
        at = real_now() - timedelta(minutes=10)
        a = make_shop(name="甲的小店")
        b = make_shop(name="乙的好物")
        b.user.display_name = "乙分享者"
        c = make_shop(name="丙的店")
        product = make_product(price_cents=10000, original_price_cents=None, rebate_bps=1000)
        buyer = make_user(display_name="买家王五", phone="13700001111")
        a_click = click_on(a, product, "1" * 32, at - timedelta(hours=2))
        click_on(b, product, "1" * 32, at - timedelta(hours=1))
        [won] = svc.place(buyer, [(product.id, 1)], visitor="1" * 32, at=at, key="w1")
        svc.pay(won, at)
        click_on(c, product, "2" * 32, at - timedelta(hours=1))
        [stranger] = svc.place(make_user(), [(product.id, 1)], visitor="2" * 32, at=at, key="s1")
        svc.pay(stranger, at)
        idle_click = click_on(a, product, "3" * 32, at - timedelta(minutes=30))
        b_link_code = links.get_or_create_link(b, product, Channel.MOMENTS, now=at).code
        db.session.commit()
        return {
            "a": a.user,
            "c": c.user,
            "won": won.number,
            "won_id": won.id,
            "stranger": stranger.number,
            "a_click": a_click,
            "idle_click": idle_click,
            "secrets": [
                "乙分享者",
                "乙的好物",
                b.slug,
                b_link_code,
                b.user.phone,
                b.user.account_label,
                "买家王五",
                "13700001111",
                svc.ADDRESS.name,
                svc.ADDRESS.phone,
                svc.ADDRESS.detail,
                buyer.account_label,
            ],  # fmt: skip
            "ids": {b.user.id, buyer.id},
        }


def answer_of(client, **form):
    response = client.post("/me/appeals", data=form)
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return client.get(response.headers["Location"]), response.headers["Location"]


def no_identity(page: str, world) -> None:
    for secret in world["secrets"]:
        assert secret not in page, secret
    # No link or hidden field names another user by id.
    for user_id in world["ids"]:
        assert not re.search(rf"(users?|sharer|buyer)[/_=-]{user_id}\b", page)


def test_ask_send_on_decide_and_read_the_decision(app, user_client, world):
    sharer = user_client(world["a"])
    assert sharer.get("/me/appeals").status_code == 200
    page, url = answer_of(sharer, number=world["won"])
    text = page.get_data(as_text=True)
    assert "belongs to another sharer" in text and "someone else&#39;s" in text
    no_identity(text, world)
    sent = sharer.post(f"{url}/submit", data={"note": "买家说看了我的朋友圈才买的"})
    assert sent.status_code == 303
    text = sharer.get(url).get_data(as_text=True)
    assert "Sent to the administrators" in text and "Send to the administrators" not in text

    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
        appeal_id = db.session.execute(select(Appeal.id)).scalar_one()
    staff = user_client(admin)
    assert 'id="appeals-waiting">1<' in staff.get("/admin/").get_data(as_text=True)
    assert "买家说看了我的朋友圈才买的" in staff.get("/admin/appeals").get_data(as_text=True)
    detail = staff.get(f"/admin/appeals/{appeal_id}").get_data(as_text=True)
    assert "the appellant" in detail and "another sharer (1)" in detail
    assert "乙分享者" not in detail and "买家王五" not in detail  # anonymised facts
    assert 'value="10.00"' in detail  # the order's rebate at its frozen rate, suggested
    decided = staff.post(
        f"/admin/appeals/{appeal_id}/decide",
        data={"decision": "uphold", "amount": "10.00", "reason": "点击记录属实"},
    )
    assert decided.status_code == 303
    again = staff.post(
        f"/admin/appeals/{appeal_id}/decide",
        data={"decision": "uphold", "amount": "10.00", "reason": "再点一次"},
    )
    assert again.status_code == 422 and "decided already" in again.get_data(as_text=True)
    with app.app_context():
        entries = db.session.execute(
            select(LedgerEntry.kind, LedgerEntry.amount_cents).where(
                LedgerEntry.appeal_id == appeal_id
            )
        ).all()
        assert entries == [(EntryKind.ADJUSTMENT, 1000)]
        assert (
            db.session.execute(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "appeal.uphold")
            ).scalar_one()
            == 1
        )
        invariants.check(db.session)
    text = sharer.get(url).get_data(as_text=True)
    assert "An administrator agreed: ¥10.00" in text and "点击记录属实" in text
    earnings = sharer.get("/me/earnings").get_data(as_text=True)
    assert 'id="sum-adjustment">¥10.00' in earnings
    ledger_csv = sharer.get("/me/export/ledger.csv")
    assert ledger_csv.status_code == 200
    assert "Appeal adjustment (upheld)" in ledger_csv.get_data(as_text=True)
    admin_csv = staff.get("/admin/export/ledger.csv")
    assert admin_csv.status_code == 200 and "adjustment" in admin_csv.get_data(as_text=True)
    assert 'id="balance-available">¥10.00' in earnings


def test_answers_cannot_tell_a_strangers_order_from_a_missing_number(user_client, world):
    sharer = user_client(world["a"])
    seen = []
    for number in (world["stranger"], "2601011200" + "00000001"):
        page, _ = answer_of(sharer, number=number)
        text = page.get_data(as_text=True)
        no_identity(text, world)
        answer = re.search(r'<section class="card" id="appeal-answer".*?</section>', text, re.S)
        # The typed number and the time are the sharer's own; the rest must be identical.
        seen.append(re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d|\d{6,}", "#", answer.group(0)))
    assert seen[0] == seen[1]
    assert "We found no order with this number" in seen[0]


def test_probing_every_kind_of_question_reveals_no_one(app, user_client, world):
    sharer = user_client(world["a"])
    pages = [sharer.get("/me/appeals").get_data(as_text=True)]
    for form in (
        {"number": world["won"]},
        {"number": world["stranger"]},
        {"click": str(world["a_click"])},
        {"click": str(world["idle_click"])},
    ):
        page, _ = answer_of(sharer, **form)
        pages.append(page.get_data(as_text=True))
    pages.append(sharer.get(f"/me/appeals?click={world['a_click']}").get_data(as_text=True))
    pages.append(sharer.get("/me/earnings").get_data(as_text=True))
    for page in pages:
        no_identity(page, world)


def test_a_click_or_appeal_of_someone_else_is_not_found(app, user_client, world):
    other = user_client(world["c"])
    assert other.get(f"/me/appeals?click={world['a_click']}").status_code == 404
    assert other.post("/me/appeals", data={"click": str(world["a_click"])}).status_code == 404
    assert other.get("/me/appeals?click=abc").status_code == 404
    with app.app_context():
        assert db.session.execute(select(func.count()).select_from(Appeal)).scalar_one() == 0


def test_bad_numbers_and_the_limit_keep_what_was_typed(app, user_client, world):
    app.config["APPEAL_LIMIT_PER_HOUR"] = 2
    sharer = user_client(world["a"])
    bad = sharer.post("/me/appeals", data={"number": "12ab"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert "6 to 24 digits" in text and 'value="12ab"' in text
    answer_of(sharer, number=world["won"])
    answer_of(sharer, number=world["stranger"])
    limited = sharer.post("/me/appeals", data={"number": "2601011200" + "00000002"})
    assert limited.status_code == 429
    text = limited.get_data(as_text=True)
    assert "You asked 2 times in the last hour" in text and 'value="260101120000000002"' in text
    with app.app_context():
        statuses = db.session.execute(select(Appeal.status)).scalars().all()
        assert statuses == [AppealStatus.ANSWERED, AppealStatus.ANSWERED]


def test_the_earnings_page_offers_to_ask_about_an_order_lost_to_another_sharer(user_client, world):
    page = user_client(world["a"]).get("/me/earnings").get_data(as_text=True)
    assert f"/me/appeals?number={world['won']}" in page
    clicks_page = user_client(world["a"])
    assert clicks_page.get("/me/appeals").status_code == 200
