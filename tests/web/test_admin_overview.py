"""The admin overview (numbers from hand-counted rows), its SVG chart, the fraud flag pages and
the CSV exports; and every admin route is for admins only."""

import csv
import io
import re
from datetime import timedelta

from shop.money import sales
from shop.money.models import (
    EntryKind,
    FlagKind,
    FlagStatus,
    FraudFlag,
    LedgerEntry,
    ProductDay,
    RebateHold,
    SaleDay,
)
from shop.orders.models import OrderStatus
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from shop.sharing.models import ClickDay
from shop.sharing.rollup import china_day
from tests.factories import make_merchant, make_product, make_user
from tests.services.test_fraud import make_order, make_share_link


def overview_fixture():
    """Two paid orders in the period (one refunded since), one unpaid and one paid too long
    ago; counted clicks on two days of the period and one long before."""
    now = utcnow()
    first, second = make_user(display_name="甲分享者"), make_user(display_name="乙分享者")
    product = make_product(title="龙井茶", price_cents=9900)
    other = make_product(title="茶杯", price_cents=5000, original_price_cents=5000)
    big = make_order(product, sharer_id=first.id, quantity=2, paid_at=now - timedelta(minutes=5))
    refunded = make_order(
        product, sharer_id=second.id, status=OrderStatus.REFUNDED, paid_at=now - timedelta(days=3)
    )
    make_order(other, sharer_id=second.id, status=OrderStatus.PLACED, paid_at=None,
               placed_at=now - timedelta(hours=1))  # fmt: skip
    make_order(other, sharer_id=second.id, paid_at=now - timedelta(days=40))
    for order, kinds in ((big, [EntryKind.ESTIMATED]),
                         (refunded, [EntryKind.ESTIMATED, EntryKind.VOIDED])):  # fmt: skip
        for kind in kinds:
            db.session.add(
                LedgerEntry(
                    sharer_id=order.sharer_id,
                    kind=kind,
                    amount_cents=990 * order.items[0].quantity,
                    order_id=order.id,
                    order_item_id=order.items[0].id,
                    created_at=now,
                )  # fmt: skip
            )
    link = make_share_link(first, product)
    for days_ago, counted in ((0, 7), (3, 5), (40, 100)):
        db.session.add(
            ClickDay(
                day=china_day(now) - timedelta(days=days_ago),
                link_id=link.id,
                sharer_id=first.id,
                product_id=product.id,
                channel="moments",
                clicks=counted + 2,
                counted=counted,
                bots=2,
            )  # fmt: skip
        )
    db.session.flush()
    # The rows above are written directly, not through the order services that keep the
    # sales rollups: count them as `flask rollup` would.
    sales.recount(db.session.connection())
    return {"refunded_day": china_day(refunded.paid_at), "first": first, "second": second}


def text_of(page: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</', page, re.S)
    assert match, element_id
    return match.group(1).strip()


def test_overview_numbers_match_hand_counts(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        facts = overview_fixture()
        db.session.commit()
    page = user_client(admin).get("/admin/").get_data(as_text=True)
    assert text_of(page, "paid-orders") == "2"  # not the unpaid one, not the one 40 days ago
    assert text_of(page, "gmv") == "¥297.00"  # 2 × 99.00 + 99.00
    assert text_of(page, "refunded") == "1"
    assert text_of(page, "clicks") == "12"  # 7 + 5 from the rollup, not the 100 long ago
    rebates = page[page.index('id="rebate-totals"') :]
    assert "¥19.80" in rebates.split("</div>")[0]  # 1980 + 990 estimated - 990 voided
    sharers = page[page.index('id="top-sharers"') :]
    assert sharers.index("甲分享者") < sharers.index("乙分享者")
    assert "198.00" in sharers.split("</table>")[0]
    products = page[page.index('id="top-products"') :].split("</table>")[0]
    assert "龙井茶" in products and "茶杯" not in products and ">3<" in products
    table = page[page.index('id="daily-table"') :].split("</table>")[0]
    assert table.count("<tr>") == 31  # a heading and 30 days
    assert f'<th scope="row">{facts["refunded_day"]}</th><td class="num">1</td>' in table
    assert 'src="/admin/overview/chart.svg"' in page and "<script" not in page


def test_chart_is_an_svg_with_a_title_and_no_script(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        overview_fixture()
        db.session.commit()
    response = user_client(admin).get("/admin/overview/chart.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert svg.startswith("<svg") and "<title" in svg and "<desc" in svg
    assert "<script" not in svg.lower() and "<style" not in svg.lower()
    assert "on" + "load" not in svg.lower() and "297.00" in svg
    assert svg.count("<rect") == 1 + 2 * 30  # background and two panels of 30 bars


def test_admin_pages_and_exports_refuse_non_admins(app, client, user_client):
    with app.app_context():
        user = make_user()
        flag = FraudFlag(kind=FlagKind.FAST_ORDER, subject_key="order:1", period_key="",
                         sharer_id=user.id, evidence={}, raised_at=utcnow())  # fmt: skip
        db.session.add(flag)
        db.session.commit()
        flag_id = flag.id
    plain = user_client(user)
    for url in ("/admin/", "/admin/overview/chart.svg", "/admin/flags",
                f"/admin/flags/{flag_id}", "/admin/export/orders.csv"):  # fmt: skip
        assert plain.get(url).status_code == 403, url
    assert client.get("/admin/export/orders.csv").status_code == 302  # to sign in
    for action in ("dismiss", "hold", "release"):
        response = plain.post(f"/admin/flags/{flag_id}/{action}", data={"reason": "x"})
        assert response.status_code == 403
    with app.app_context():
        assert db.session.get(FraudFlag, flag_id).status == FlagStatus.OPEN


def admin_routes_with_ids(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin.") and rule.arguments - {"table"}:
            yield rule


def test_every_admin_route_with_an_id_is_403_for_others_and_404_for_unknown_ids(app, user_client):
    with app.app_context():
        user, admin = make_user(), make_user(is_admin=True)
        db.session.commit()
    plain, boss = user_client(user), user_client(admin)
    rules = list(admin_routes_with_ids(app))
    assert {"admin.flag_detail", "admin.flag_hold"} <= {rule.endpoint for rule in rules}
    checked = 0
    for rule in rules:
        url = rule.build({name: 999999 for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"reason": "x", "action": "approve"} if method == "POST" else None
            assert plain.open(url, method=method, data=data).status_code == 403, (method, url)
            assert boss.open(url, method=method, data=data).status_code == 404, (method, url)
            checked += 1
    assert checked >= 8


def test_flag_pages_explain_and_decisions_are_audited(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        product = make_product(title="龙井茶")
        sharer = make_user(display_name="可疑分享者")
        order = make_order(product, sharer_id=sharer.id)
        flag = FraudFlag(
            kind=FlagKind.SELF_PURCHASE, subject_key=f"sharer:{sharer.id}", period_key="2024-05",
            sharer_id=sharer.id, raised_at=utcnow(),
            evidence={"orders": 6, "hits": 5, "share_bps": 8333, "threshold_bps": 5000,
                      "days": 30, "order_ids": [order.id]},
        )  # fmt: skip
        db.session.add(flag)
        db.session.commit()
        flag_id, sharer_id, number = flag.id, sharer.id, order.number
    client = user_client(admin)
    listing = client.get("/admin/flags").get_data(as_text=True)
    assert f"/admin/flags/{flag_id}" in listing and "83%" in listing
    page = client.get(f"/admin/flags/{flag_id}").get_data(as_text=True)
    assert "5" in text_of(page, "explanation") and "83%" in text_of(page, "explanation")
    assert number in page and "可疑分享者" in page and f"/admin/flags?sharer={sharer_id}" in page
    # A hold without a reason changes nothing.
    client.post(f"/admin/flags/{flag_id}/hold", data={"reason": " "})
    with app.app_context():
        assert db.session.get(FraudFlag, flag_id).status == FlagStatus.OPEN
    response = client.post(f"/admin/flags/{flag_id}/hold", data={"reason": "自买过多"})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.get(FraudFlag, flag_id).status == FlagStatus.HELD
        assert db.session.execute(db.select(RebateHold.sharer_id)).scalar_one() == sharer_id
    client.post(f"/admin/flags/{flag_id}/release", data={"reason": "已核实"})
    with app.app_context():
        assert db.session.get(FraudFlag, flag_id).status == FlagStatus.DISMISSED
        actions = db.session.execute(db.select(AuditEntry.action).order_by(AuditEntry.id))
        assert list(actions.scalars()) == ["fraud.hold", "fraud.release"]
    assert "自买过多" in client.get(f"/admin/flags/{flag_id}").get_data(as_text=True)


def read_csv(response) -> list[list[str]]:
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # the BOM Excel needs to read UTF-8
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def test_csv_exports_have_a_bom_their_rows_and_no_formulas(app, user_client):
    with app.app_context():
        admin = make_user(is_admin=True)
        merchant = make_merchant(name='=HYPERLINK("http://x")')
        product = make_product(merchant=merchant, title="@SUM(A1)", price_cents=12345,
                               original_price_cents=12345)  # fmt: skip
        order = make_order(product, sharer_id=make_user().id)
        order.refund_reason = "-2+3"
        db.session.commit()
        number = order.number
    client = user_client(admin)
    response = client.get("/admin/export/orders.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = read_csv(response)
    assert len(rows) == 2
    [row] = [r for r in rows if r[0] == number]
    assert '\'=HYPERLINK("http://x")' in row and "'-2+3" in row
    assert "'@SUM(A1) ×1" in row and "123.45" in row
    assert "13912345678" not in ",".join(row)  # no buyer phone in the export
    merchants = read_csv(client.get("/admin/export/merchants.csv"))
    assert any(r[1] == '\'=HYPERLINK("http://x")' for r in merchants[1:])
    for table in ("payouts", "ledger"):
        assert len(read_csv(client.get(f"/admin/export/{table}.csv"))) == 1  # headings only
    assert client.get("/admin/export/users.csv").status_code == 404


def test_the_payout_queue_warns_about_a_held_sharer(app, user_client):
    from shop.money import fraud
    from tests.services.test_fraud import held_sharer_setup, request

    with app.app_context():
        admin = make_user(is_admin=True)
        sharer, flag = held_sharer_setup()
        request(sharer, "key-before-hold-0002")
        fraud.hold_rebates(flag, actor=admin, reason="核查", now=flag.raised_at)
        db.session.commit()
    page = user_client(admin).get("/admin/payouts").get_data(as_text=True)
    assert "请先解冻再打款" in page


def test_past_days_clicks_are_kept_a_while_and_today_is_always_live(app):
    from shop.insights import overview

    app.config["OVERVIEW_PAST_DAYS_SECONDS"] = 600
    with app.app_context():
        now = utcnow()
        today = china_day(now)
        link = make_share_link(make_user(), make_product())

        def clicks_on(day, counted):
            db.session.add(
                ClickDay(
                    day=day,
                    link_id=link.id,
                    sharer_id=link.sharer_id,
                    product_id=link.product_id,
                    channel="moments",
                    clicks=counted,
                    counted=counted,
                )  # fmt: skip
            )
            db.session.flush()

        clicks_on(today, 3)
        clicks_on(today - timedelta(days=1), 4)
        first = overview.daily(now=now, days=2)
        assert [d.clicks for d in first] == [4, 3]
        db.session.execute(ClickDay.__table__.update().values(counted=ClickDay.counted + 10))
        # Today's clicks show at once; a recount of a finished day shows within the setting.
        assert [d.clicks for d in overview.daily(now=now, days=2)] == [4, 13]
        app.extensions.pop("overview_closed_days")
        assert [d.clicks for d in overview.daily(now=now, days=2)] == [14, 13]
        db.session.rollback()


def test_top_lists_add_todays_sales_to_the_kept_days(app):
    """The ended days' totals per sharer and product are kept; today's sales are added on
    every view, so a sharer or product can overtake the leaders of the ended days today."""
    from shop.insights import overview

    app.config["OVERVIEW_PAST_DAYS_SECONDS"] = 600
    with app.app_context():
        now = utcnow()
        today, yesterday = china_day(now), china_day(now) - timedelta(days=1)
        sharers = [make_user(display_name=f"分享者{n}") for n in range(3)]
        products = [make_product() for _ in range(3)]
        for n, (sharer, product) in enumerate(zip(sharers, products, strict=True)):
            db.session.add(SaleDay(day=yesterday, sharer_id=sharer.id, orders=3 - n,
                                   gmv_cents=(3 - n) * 1000))  # fmt: skip
            db.session.add(ProductDay(day=yesterday, product_id=product.id, units=3 - n,
                                      gmv_cents=(3 - n) * 1000))  # fmt: skip
        db.session.flush()

        def tops():
            seen = overview.summary(now=now, days=2, limit=2)
            sharer_ids = [s.sharer_id for s in seen.top_sharers]
            product_ids = [p.product_id for p in seen.top_products]
            return sharer_ids, product_ids

        assert tops() == ([sharers[0].id, sharers[1].id], [products[0].id, products[1].id])
        # Today the third sharer and product sell 5 (another sharer's order counts as sharer 0).
        db.session.add(SaleDay(day=today, sharer_id=sharers[2].id, orders=5, gmv_cents=5000))
        db.session.add(SaleDay(day=today, sharer_id=0, orders=1, gmv_cents=700))
        db.session.add(ProductDay(day=today, product_id=products[2].id, units=5, gmv_cents=5000))
        db.session.flush()
        assert tops() == ([sharers[2].id, sharers[0].id], [products[2].id, products[0].id])
        top = overview.summary(now=now, days=2).top_sharers[0]
        assert (top.name, top.orders, top.gmv_cents) == ("分享者2", 6, 6000)
        assert [(d.orders, d.gmv_cents) for d in overview.daily(now=now, days=2)] == [
            (6, 6000),
            (6, 5700),
        ]
        db.session.rollback()


def test_the_overview_keeps_nothing_in_the_first_minutes_after_midnight(app):
    """Until rollup.CLOSED_AFTER past midnight, yesterday's last clicks and payments may still
    be committing: those views read every day and keep nothing."""
    from shop.insights import overview
    from shop.sharing.rollup import day_start

    app.config["OVERVIEW_PAST_DAYS_SECONDS"] = 600
    with app.app_context():
        midnight = day_start(china_day(utcnow()))
        yesterday = china_day(midnight) - timedelta(days=1)
        sharer = make_user()

        def paid_yesterday(n):
            db.session.add(SaleDay(day=yesterday, sharer_id=sharer.id, orders=n, gmv_cents=n))
            db.session.flush()

        def orders_at(minutes):
            days = overview.daily(now=midnight + timedelta(minutes=minutes), days=2)
            return days[0].orders

        paid_yesterday(1)
        assert orders_at(2) == 1
        db.session.execute(SaleDay.__table__.update().values(orders=2))  # a late payment
        assert orders_at(6) == 2
        db.session.execute(SaleDay.__table__.update().values(orders=3))
        assert orders_at(7) == 2  # kept from 00:06 on
        db.session.rollback()


def test_the_work_counts_in_one_query_equal_each_count(app):
    """admin.work_counts (the home page, one round trip) against the counts each queue's own
    page uses, with something in most states."""
    from shop.insights import queues as admin_queries
    from shop.money import fraud
    from shop.reviews import moderation

    with app.app_context():
        make_merchant(status="pending")
        make_merchant(status="approved")
        make_merchant(status="approved")
        overview_fixture()
        sharer = make_user()
        for n, status in enumerate((FlagStatus.OPEN, FlagStatus.OPEN, FlagStatus.DISMISSED)):
            db.session.add(
                FraudFlag(kind=FlagKind.FAST_ORDER, subject_key=f"order:{n}", period_key="p",
                          sharer_id=sharer.id, status=status)
            )  # fmt: skip
        db.session.flush()
        work = admin_queries.work_counts()
        assert work == {
            "merchants": admin_queries.merchant_counts(),
            "money": admin_queries.money_counts(),
            "reviews": moderation.queue_counts(),
            "flags": fraud.status_counts(),
        }
        assert work["flags"][FlagStatus.OPEN] == 2
        assert work["merchants"]["approved"] >= 2
        db.session.rollback()
