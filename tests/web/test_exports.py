"""A sharer's per-link click audit and CSV exports: what they show, what they never show
(anything about a buyer), and that another sharer's rows stay out."""

import csv
import io
from datetime import datetime, timedelta

import pytest

from shop.insights import exports
from shop.money import ledger
from shop.money.models import EntryKind, Payout, PayoutStatus
from shop.platform.extensions import db
from shop.sharing import clicks, links, shops
from shop.sharing.models import Channel
from tests.factories import make_product, make_shop, make_user
from tests.services import test_orders as svc
from tests.services.test_links_and_clicks import facts

NOW = svc.NOW  # 2026-11-24 10:00 UTC, 18:00 in China
CLICKED = NOW - timedelta(days=1)
BOT_UA = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
IP = "203.0.113.9"
PAYOUT_ACCOUNT = "alice.wang@example.com"


@pytest.fixture
def user_client(user_client):
    """Signed-in clients reading English, so the labels below read as written."""

    def make(user):
        client = user_client(user)
        client.set_cookie("lang", "en")
        return client

    return make


def record(link, at, visitor, **fact_overrides):
    flooded = fact_overrides.pop("flooded", False)
    return clicks.record_click(
        link,
        facts(ip=IP, **fact_overrides),
        visitor_id=visitor,
        ip_secret="s",
        flooded=flooded,
        now=at,
        writer=None,
    )


@pytest.fixture
def world(app):
    """Two sharers. Mine has a custom-channel link with counted and uncounted clicks, a paid
    order it earned, a paid payout; the other has a link, a click and an order of their own."""
    with app.app_context():
        sharer = make_user(display_name="分享者")
        shop = make_shop(user=sharer)
        product = make_product(
            title="=HYPERLINK(1) 西湖龙井", price_cents=12850, original_price_cents=None,
            rebate_bps=1000,
        )  # fmt: skip
        item = shops.add_item(shop, product, now=CLICKED)
        link = links.get_or_create_link(shop, product, Channel.CUSTOM, label="-同事群", now=CLICKED)
        # Counted, then a repeat by the same visitor, a robot, a HEAD check and a flood.
        assert record(link, CLICKED, "w" * 32) is None
        assert record(link, CLICKED + timedelta(minutes=3), "w" * 32) == "duplicate"
        assert record(link, CLICKED + timedelta(minutes=4), "b" * 32, ua=BOT_UA) == "bot"
        assert record(link, CLICKED + timedelta(minutes=5), "h" * 32, method="HEAD") == "head"
        assert record(link, CLICKED + timedelta(minutes=6), "f" * 32, flooded=True) == "flood"
        # The click that earns the order.
        assert record(link, CLICKED + timedelta(hours=1), "v" * 32) is None
        buyer = make_user(display_name="买家李四")
        [order] = svc.place(buyer, [(product.id, 1)], visitor="v" * 32, key="mine")
        svc.pay(order, NOW)
        assert order.sharer_id == sharer.id and order.link_id == link.id

        payout = Payout(
            user_id=sharer.id,
            idempotency_key="p" * 20,
            amount_cents=5000,
            status=PayoutStatus.PAID,
            method="alipay",
            account_name="王分享",
            account_number=PAYOUT_ACCOUNT,
            requested_at=NOW,
            decided_at=NOW + timedelta(hours=2),
            reference="=cmd|' /C calc'!A0",
        )
        db.session.add(payout)
        db.session.flush()
        ledger.post(
            sharer_id=sharer.id, kind=EntryKind.PAYOUT, amount_cents=5000,
            payout_id=payout.id, now=NOW,
        )  # fmt: skip

        other_shop = make_shop()
        other_product = make_product(title="别人的商品")
        other_link = links.get_or_create_link(
            other_shop, other_product, Channel.MOMENTS, now=CLICKED
        )
        record(other_link, CLICKED, "o" * 32)
        [other_order] = svc.place(
            make_user(), [(other_product.id, 1)], visitor="o" * 32, key="theirs"
        )
        svc.pay(other_order, NOW)
        db.session.commit()
        return {
            "sharer": sharer,
            "other": other_shop.user,
            "link_id": link.id,
            "item_id": item.id,
            "link_code": link.code,
            "other_link_id": other_link.id,
            "other_link_code": other_link.code,
            "order": order.number,
            "other_order": other_order.number,
            "buyer_name": buyer.display_name,
            "buyer_phone": buyer.phone,
            "ip_hash": clicks.hash_ip(IP, "s"),
        }


def private_bits(world) -> list[str]:
    """What a sharer must never be shown about the people who clicked and bought."""
    return [
        world["ip_hash"],
        world["ip_hash"][:12],
        "v" * 32,
        "w" * 32,
        world["buyer_name"],
        world["buyer_phone"],
        svc.ADDRESS.name,
        svc.ADDRESS.phone,
        svc.ADDRESS.detail,
        IP,
    ]


# --- the click audit -----------------------------------------------------------------------


def test_click_audit_shows_counted_and_uncounted_clicks_and_the_earned_order(
    app, user_client, world
):
    client = user_client(world["sharer"])
    response = client.get(f"/me/links/{world['link_id']}/clicks")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "-同事群" in page  # the channel
    assert "Clicks (6)" in page and "Orders this link earned (1)" in page
    assert "2026-11-23 18:00" in page  # China time of the first click
    for why in (
        "a repeat within 10 minutes",
        "a robot or link preview",
        "a HEAD request",
        "a flood of clicks from one address",
    ):
        assert why in page
    assert page.count("not counted") >= 4 and "counted</span>" in page
    assert "Robot" in page and "iPhone or iPad" in page and "tap" in page
    assert f"Led to order {world['order']}" in page
    assert "the buyer&#39;s last click was on your link" in page
    assert "¥12.85" in page and "estimated" in page
    assert world["other_order"] not in page
    for secret in private_bits(world):
        assert secret not in page, secret


def test_click_audit_pages_by_fifty(app, user_client, world):
    with app.app_context():
        link = db.session.get(links.ShareLink, world["link_id"])
        for n in range(50):
            record(link, NOW + timedelta(minutes=n), f"{n:032d}")
        db.session.commit()
    client = user_client(world["sharer"])
    first = client.get(f"/me/links/{world['link_id']}/clicks").get_data(as_text=True)
    assert "Page 1 of 2" in first and "2026-11-24 18:49" in first
    assert "2026-11-23 18:00" not in first
    last = client.get(f"/me/links/{world['link_id']}/clicks?page=9").get_data(as_text=True)
    assert "Page 2 of 2" in last and "2026-11-23 18:00" in last


def test_another_sharers_link_is_404(app, user_client, world):
    client = user_client(world["sharer"])
    assert client.get(f"/me/links/{world['other_link_id']}/clicks").status_code == 404
    assert client.get("/me/links/999999/clicks").status_code == 404


def test_the_share_page_links_each_link_to_its_clicks(app, user_client, world):
    client = user_client(world["sharer"])
    page = client.get(f"/me/share/items/{world['item_id']}/channels").get_data(as_text=True)
    assert f'href="/me/links/{world["link_id"]}/clicks"' in page


# --- CSV exports ---------------------------------------------------------------------------


def download(client, kind):
    response = client.get(f"/me/export/{kind}.csv")
    assert response.status_code == 200
    assert response.is_streamed and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"].startswith(
        f'attachment; filename="fenxiang-{kind}-'
    )
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    assert b"\r\n" in raw
    text = raw.decode("utf-8-sig")
    return text, list(csv.reader(io.StringIO(text, newline="")))


def test_clicks_csv_has_only_my_clicks_in_readable_words(app, user_client, world):
    client = user_client(world["sharer"])
    text, rows = download(client, "clicks")
    header, *body = rows
    assert header == [
        "Time", "Link", "Channel", "Product", "Device", "Scan or tap", "Counted",
        "Why not counted",
    ]  # fmt: skip
    assert len(body) == 6
    assert {row[1] for row in body} == {world["link_code"]}
    assert world["other_link_code"] not in text
    newest, *_rest, oldest = body
    assert newest[0] == "2026-11-23 19:00" and oldest[0] == "2026-11-23 18:00"
    # Text a spreadsheet would run as a formula is defused; Chinese survives.
    assert oldest[2] == "'-同事群" and oldest[3] == "'=HYPERLINK(1) 西湖龙井"
    assert oldest[6] == "yes" and oldest[7] == ""
    reasons = {row[7] for row in body}
    assert "a repeat within 10 minutes" in reasons and "a robot or link preview" in reasons
    for secret in private_bits(world):
        assert secret not in text, secret


def test_orders_csv_has_my_orders_with_amounts_from_fen(app, user_client, world):
    client = user_client(world["sharer"])
    text, rows = download(client, "orders")
    header, *body = rows
    assert header[0] == "Order number" and header[-1] == "Rebate (yuan)"
    assert [row[0] for row in body] == [world["order"]]
    [row] = body
    assert row[1] == "2026-11-24 18:00"
    assert row[2] == "'=HYPERLINK(1) 西湖龙井"
    assert row[3] == "128.50" and row[7] == "12.85"
    assert row[4] == "paid, awaiting shipment" and row[6] == "estimated"
    assert row[5].startswith("Yours")
    assert world["other_order"] not in text and "别人的商品" not in text
    for secret in private_bits(world):
        assert secret not in text, secret


def test_ledger_csv_shows_each_entry_and_its_effect(app, user_client, world):
    client = user_client(world["sharer"])
    text, rows = download(client, "ledger")
    header, *body = rows
    assert header[:2] == ["Time", "Entry"]
    by_entry = {row[1]: row for row in body}
    assert set(by_entry) == {"Estimated rebate", "Payout requested"}
    estimated = by_entry["Estimated rebate"]
    assert estimated[2] == world["order"]
    assert estimated[4:] == ["12.85", "12.85", "0.00", "rebate"]
    payout = by_entry["Payout requested"]
    assert payout[2] == "" and payout[4:] == ["50.00", "0.00", "-50.00", ""]  # no apostrophe
    assert world["other_order"] not in text


def test_payouts_csv_masks_the_account_and_defuses_formulas(app, user_client, world):
    client = user_client(world["sharer"])
    text, rows = download(client, "payouts")
    header, row = rows
    assert header[:2] == ["Requested", "Amount (yuan)"]
    assert row[0] == "2026-11-24 18:00" and row[1] == "50.00"
    assert row[2] == "Alipay" and row[3] == "a•••@example.com"
    assert row[4] == "paid" and row[5] == "2026-11-24 20:00"
    assert row[6] == "'=cmd|' /C calc'!A0"
    assert PAYOUT_ACCOUNT not in text


def test_the_other_sharer_sees_only_their_own_rows(app, user_client, world):
    client = user_client(world["other"])
    text, rows = download(client, "clicks")
    assert len(rows) == 2 and world["other_link_code"] in text
    assert world["link_code"] not in text and "同事群" not in text
    text, rows = download(client, "orders")
    assert world["other_order"] in text and world["order"] not in text
    for kind in ("ledger", "payouts"):
        text, rows = download(client, kind)
        assert world["order"] not in text and "example.com" not in text


def test_exports_need_signing_in_and_a_known_kind(app, client, user_client, world):
    for kind in ("clicks", "orders", "ledger", "payouts"):
        response = client.get(f"/me/export/{kind}.csv")
        assert response.status_code == 302 and "/auth/signin" in response.headers["Location"]
    assert client.get(f"/me/links/{world['link_id']}/clicks").status_code == 302
    assert user_client(world["sharer"]).get("/me/export/users.csv").status_code == 404


def test_headers_follow_the_language(app, user_client, world):
    client = user_client(world["sharer"])
    client.set_cookie("lang", "zh_Hans_CN")
    _text, rows = download(client, "payouts")
    header = rows[0]
    assert "收款方式" in header and "状态" in header  # "Paid to", "Status"
    assert "Paid to" not in header


def test_earnings_page_lists_the_four_downloads(app, user_client, world):
    page = user_client(world["sharer"]).get("/me/earnings").get_data(as_text=True)
    for kind in ("clicks", "orders", "ledger", "payouts"):
        assert f'href="/me/export/{kind}.csv"' in page


def test_neutralise_defuses_formula_starts_only():
    assert exports.neutralise("=1+1") == "'=1+1"
    assert exports.neutralise("+86") == "'+86"
    assert exports.neutralise("@SUM") == "'@SUM"
    assert exports.neutralise("-x") == "'-x"
    assert exports.neutralise("\tx") == "'\tx"
    assert exports.neutralise("西湖=龙井") == "西湖=龙井"
    assert exports.neutralise("") == ""


def test_china_time():
    assert exports.china_time(datetime(2026, 11, 24, 10, 5)) == "2026-11-24 18:05"
    assert exports.china_time(datetime(2026, 11, 24, 20, 0)) == "2026-11-25 04:00"
    assert exports.china_time(None) == ""
