"""The sharer funnel against hand-counted fixtures, the rollup path against the raw clicks,
and the period rules. Times are UTC; days are China days (UTC+8)."""

from dataclasses import asdict
from datetime import date, datetime, timedelta

import pytest

from shop.insights import stats
from shop.money import ledger
from shop.orders import states
from shop.orders.models import Order
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Channel
from tests.factories import make_product, make_shop, make_user
from tests.services.test_links_and_clicks import facts
from tests.services.test_orders import pay, place

NOW = datetime(2026, 11, 24, 10, 0, 0)  # 18:00 on 24 November in China
TODAY = date(2026, 11, 24)
WEEK = (date(2026, 11, 18), TODAY)
#: The UTC moment 18 November begins in China.
WEEK_START = datetime(2026, 11, 17, 16, 0, 0)


def click(link, visitor, at, *, ua=None, method="GET", flooded=False):
    request = facts(method=method) if ua is None else facts(ua=ua, method=method)
    return clicks.record_click(
        link, request, visitor_id=visitor * 32, ip_secret="s", flooded=flooded, now=at
    )


@pytest.fixture
def world(ctx):
    """Sharer A with four links and sharer B with one, clicks and orders counted by hand."""
    a = make_shop(name="A的小店")
    b = make_shop(name="B的小店")
    tea = make_product(title="龙井茶", price_cents=10000, rebate_bps=1000)  # rebate 1000 fen
    cup = make_product(title="茶杯", price_cents=5000, rebate_bps=1000)  # rebate 500 fen
    group = links.get_or_create_link(a, tea, Channel.WECHAT_GROUP, now=NOW)
    poster = links.get_or_create_link(a, tea, Channel.POSTER, now=NOW)
    custom = links.get_or_create_link(a, cup, Channel.CUSTOM, label="同事群", now=NOW)
    shop_link = links.get_or_create_link(a, None, Channel.MOMENTS, now=NOW)
    other = links.get_or_create_link(b, tea, Channel.WECHAT_GROUP, now=NOW)

    day = timedelta(days=1)
    # B's click comes first, so the visitor's later click on A's link wins their order.
    assert click(other, "1", NOW - day - timedelta(hours=1)) is None
    assert click(group, "1", NOW - day) is None
    assert click(group, "1", NOW - day + timedelta(minutes=5)) == "duplicate"
    assert click(group, "1", NOW - day + timedelta(minutes=20)) is None
    assert click(group, "9", NOW - day, ua="Mozilla/5.0 (compatible; Googlebot/2.1)") == "bot"
    assert click(poster, "2", NOW - 2 * day) is None  # a scan
    assert click(poster, "2", NOW - 2 * day, method="HEAD") == "head"
    assert click(custom, "3", WEEK_START) is None  # the first second of the week
    assert click(custom, "4", WEEK_START - timedelta(minutes=1)) is None  # the day before
    assert click(shop_link, "5", NOW - 3 * day) is None
    assert click(shop_link, "6", NOW - 3 * day, flooded=True) == "flood"

    def order(product, visitor, at, key, *, paid=True, buyer=None, allow=True):
        [placed] = place(
            buyer or make_user(),
            [(product.id, 1)],
            visitor=visitor * 32,
            at=at,
            key=key,
            allow=allow,
        )
        if paid:
            pay(placed, at=at + timedelta(minutes=1))
        return placed

    o1 = order(tea, "1", NOW - day + timedelta(minutes=30), "o1")  # 10 min after its click
    o2 = order(tea, "2", NOW - 2 * day + timedelta(hours=2), "o2")  # 2 h after
    order(cup, "3", WEEK_START + timedelta(minutes=30), "o3", paid=False)  # 30 min after
    order(cup, "4", NOW - 3 * day, "o4")  # 3 days 18 h after
    order(cup, "4", WEEK_START - timedelta(seconds=30), "o6")  # before the week
    order(tea, "z", NOW - day, "o5")  # no click: earns nobody
    order(tea, "1", NOW - day + timedelta(hours=1), "o7", buyer=a.user, allow=False)
    # O2 completes and settles.
    states.ship(o2, "顺丰速运", "SF100200300", actor=tea.merchant.user, now=NOW - day)
    states.confirm_receipt(o2, actor=o2.buyer, now=NOW - day)
    assert ledger.settle_order(o2.id, now=NOW, return_window=timedelta(0)) == 1
    return {"a": a.user, "b": b.user, "o1": o1, "links": (group, poster, custom, shop_link)}


@pytest.fixture(params=["fresh", "ended days apart"])
def funnel(request):
    """``stats.funnel`` reading every day afresh, and with ``now`` (18:00 China time): the
    days before today summed apart from today's, as the page computes it."""
    if request.param == "fresh":
        return stats.funnel
    return lambda sharer_id, start, end: stats.funnel(sharer_id, start, end, now=NOW)


def by_key(rows):
    return {
        row.key: (row.clicks, row.scans, row.orders, row.paid, row.estimated_cents) for row in rows
    }


def test_week_funnel_counts_by_hand(world, funnel):
    s = funnel(world["a"].id, *WEEK)
    # Counted: v1 twice on the group link, v2's scan, v3 at 00:00 on the 18th, v5.
    assert (s.clicks, s.scans, s.bots, s.repeats, s.recorded) == (5, 1, 2, 2, 9)
    assert s.visitors == 4  # v1, v2, v3, v5; v4 clicked the day before the week
    assert (s.orders, s.paid, s.settled, s.settled_cents) == (4, 3, 1, 1000)
    assert s.estimated_cents == 1000 + 1000 + 500
    assert [(step.key, step.count, step.of, step.rate_bps) for step in s.steps] == [
        ("clicks", 5, None, None),
        ("visitors", 4, "clicks", 8000),
        ("orders", 4, "visitors", 10000),  # per 100 visitors: 100.0
        ("paid", 3, "orders", 7500),
        ("refunded", 0, "paid", 0),
        ("settled", 1, "paid", 3333),
    ]
    assert [step.key for step in s.steps if step.per_hundred] == ["orders"]
    assert s.conversion_bps == 6000  # 3 paid orders per 5 counted clicks
    assert s.conversion_text == "60.0"  # per 100 clicks


def test_week_breakdowns_by_channel_product_and_link(world, funnel):
    s = funnel(world["a"].id, *WEEK)
    assert by_key(s.by_channel) == {
        "wechat_group": (2, 0, 1, 1, 1000),
        "poster": (1, 1, 1, 1, 1000),
        "custom:同事群": (1, 0, 2, 1, 500),
        "moments": (1, 0, 0, 0, 0),
    }
    labels = {row.key: row.label for row in s.by_channel}
    assert labels["custom:同事群"] == "同事群"
    tea_key = f"p{world['o1'].items[0].product_id}"
    products = by_key(s.by_product)
    assert products[tea_key] == (3, 1, 2, 2, 2000)
    assert products["shop"] == (1, 0, 0, 0, 0)
    assert len(products) == 3
    group, poster, custom, shop_link = world["links"]
    assert by_key(s.by_link)[str(custom.id)] == (1, 0, 2, 1, 500)
    assert custom.code in {row.label.split(" · ")[-1] for row in s.by_link}
    assert [row.key for row in s.by_channel][0] == "wechat_group"  # most clicks first


def test_daily_series_has_every_day_of_the_period(world, funnel):
    s = funnel(world["a"].id, *WEEK)
    assert [(p.day.day, p.clicks, p.orders, p.estimated_cents) for p in s.daily] == [
        (18, 1, 1, 0),  # v3 at 00:00 and the unpaid order O3
        (19, 0, 0, 0),
        (20, 0, 0, 0),
        (21, 1, 1, 500),
        (22, 1, 1, 1000),
        (23, 2, 1, 1000),
        (24, 0, 0, 0),
    ]


def test_time_from_click_to_order(world, funnel):
    lag = funnel(world["a"].id, *WEEK).lag
    assert lag.orders == 4
    assert lag.median_seconds == (1800 + 7200) // 2
    assert dict(lag.buckets) == {
        "under_1m": 0,
        "under_10m": 0,
        "under_1h": 2,  # 10 and 30 minutes
        "under_1d": 1,
        "under_7d": 1,
        "longer": 0,
    }


def test_other_sharers_clicks_and_orders_stay_out(world, funnel):
    b = funnel(world["b"].id, *WEEK)
    assert (b.clicks, b.visitors, b.orders) == (1, 1, 0)
    assert [row.label for row in b.by_product] == ["龙井茶"]


def test_china_day_boundaries(world, funnel):
    day_before = funnel(world["a"].id, date(2026, 11, 17), date(2026, 11, 17))
    assert (day_before.clicks, day_before.visitors, day_before.orders) == (1, 1, 1)
    month = stats.last_days(30, now=NOW)
    month = funnel(world["a"].id, month.start, month.end)
    assert (month.clicks, month.orders, month.paid) == (6, 5, 4)


@pytest.mark.parametrize(
    "start, end",
    [
        (WEEK[0], WEEK[1]),
        (date(2026, 10, 26), TODAY),
        (date(2026, 11, 17), date(2026, 11, 17)),
        (date(2026, 11, 22), date(2026, 11, 23)),
        (date(2026, 1, 1), date(2026, 1, 31)),
    ],
)
def test_rollup_funnel_equals_raw_funnel(world, funnel, start, end):
    for sharer in (world["a"], world["b"]):
        rolled = asdict(funnel(sharer.id, start, end))
        raw = asdict(stats.funnel_from_raw(sharer.id, start, end))
        visitors = rolled.pop("visitors"), raw.pop("visitors")
        assert rolled == raw
        if end == TODAY:  # the definitions agree for periods ending today
            assert visitors[0] == visitors[1]


def test_refunds_show_as_their_own_step_and_leave_the_money(world, funnel):
    """O1 (paid yesterday, not settled) refunded: voided; O2 (settled) refunded: clawed
    back. Both readings (fresh, and ended days kept apart from today) and the raw count say
    the same, by hand."""
    o1 = world["o1"]
    o2 = db.session.execute(
        db.select(Order).where(Order.sharer_id == world["a"].id, Order.completed_at.is_not(None))
    ).scalar_one()
    for order in (o1, o2):
        states.request_refund(order, "不想要了", actor=order.buyer, now=NOW - timedelta(hours=2))
        states.decide_refund(order, True, actor=make_user(), source="merchant",
                             now=NOW - timedelta(hours=1))  # fmt: skip
    s = funnel(world["a"].id, *WEEK)
    assert (s.orders, s.paid, s.refunded, s.settled) == (4, 3, 2, 0)
    assert (s.estimated_cents, s.refunded_cents, s.estimated_net_cents) == (2500, 2000, 500)
    assert s.settled_cents == 0
    assert [(step.key, step.rate_bps) for step in s.steps][3:] == [
        ("paid", 7500),
        ("refunded", 6666),
        ("settled", 0),
    ]
    tea = {row.key: row for row in s.by_product}[f"p{o1.items[0].product_id}"]
    assert (tea.paid, tea.refunded, tea.estimated_net_cents, tea.settled_cents) == (2, 2, 0, 0)
    raw = stats.funnel_from_raw(world["a"].id, *WEEK)
    assert (raw.refunded, raw.refunded_cents, raw.settled_cents) == (2, 2000, 0)


def test_rollup_visitors_of_a_past_period_count_visitors_around_it(ctx):
    shop = make_shop()
    link = links.get_or_create_link(shop, make_product(), Channel.MOMENTS, now=NOW)
    click(link, "a", NOW - timedelta(days=10))
    click(link, "a", NOW - timedelta(days=1))  # not in between
    click(link, "b", NOW - timedelta(days=5))
    past = (date(2026, 11, 19), date(2026, 11, 19))  # "b" clicked at 18:00 that day
    rolled = stats.funnel(shop.user_id, *past, now=NOW)
    raw = stats.funnel_from_raw(shop.user_id, *past)
    assert (rolled.clicks, raw.clicks) == (1, 1)
    # "a" spans the period, so the table would count 2; capped at the counted clicks and
    # marked as an estimate for the page.
    assert (rolled.visitors, raw.visitors) == (1, 1) and not rolled.visitors_exact
    assert stats.funnel(shop.user_id, *WEEK, now=NOW).visitors_exact


def test_a_period_ending_today_adds_todays_numbers_to_the_ended_days(ctx):
    """Visitors of the ended days and of today, each once: "a" came on the 20th and today,
    "b" before the week and today, "c" twice today, "d" on the 21st only."""
    shop = make_shop()
    tea = make_product(price_cents=10000, rebate_bps=1000)
    link = links.get_or_create_link(shop, tea, Channel.MOMENTS, now=NOW)
    today = datetime(2026, 11, 23, 16, 0)  # 00:00 on the 24th in China
    for visitor, at in (
        ("a", NOW - timedelta(days=4)),
        ("a", today + timedelta(hours=1)),
        ("b", NOW - timedelta(days=20)),
        ("b", today + timedelta(hours=2)),
        ("c", today + timedelta(hours=3)),
        ("c", today + timedelta(hours=4)),
        ("d", NOW - timedelta(days=3)),
    ):
        assert click(link, visitor, at) is None
    [placed] = place(make_user(), [(tea.id, 1)], visitor="c" * 32, at=NOW, key="today")
    pay(placed, at=NOW + timedelta(seconds=30))
    split = stats.funnel(shop.user_id, *WEEK, now=NOW + timedelta(minutes=1))
    fresh = stats.funnel(shop.user_id, *WEEK)
    raw = stats.funnel_from_raw(shop.user_id, *WEEK)
    assert (split.clicks, split.visitors, split.orders, split.paid) == (6, 4, 1, 1)
    assert split.visitors_exact
    assert asdict(split) == asdict(fresh) == asdict(raw)
    assert [(p.day.day, p.clicks, p.orders) for p in split.daily][-4:] == [
        (21, 1, 0),
        (22, 0, 0),
        (23, 0, 0),
        (24, 4, 1),
    ]
    # The first five minutes after midnight read every day afresh (late click batches).
    assert asdict(stats.funnel(shop.user_id, *WEEK, now=today + timedelta(minutes=2))) == (
        asdict(raw)
    )


def test_ended_days_are_kept_and_today_stays_live(app):
    """With STATS_PAST_DAYS_SECONDS on, the ended days are summed once per process: today's
    clicks, visitors and orders show at once; a change to an ended day waits for the time to
    live (here: a click written straight into an ended day, as a recount could)."""
    app.config["STATS_PAST_DAYS_SECONDS"] = 600
    with app.app_context():
        shop = make_shop()
        tea = make_product(price_cents=10000, rebate_bps=1000)
        link = links.get_or_create_link(shop, tea, Channel.MOMENTS, now=NOW)
        click(link, "a", NOW - timedelta(days=2))
        click(link, "g", NOW - timedelta(days=20))  # before the week
        first = stats.funnel(shop.user_id, *WEEK, now=NOW)
        assert (first.clicks, first.visitors, first.orders) == (1, 1, 0)
        click(link, "a", NOW - timedelta(hours=1))  # "a" again today: still one visitor
        click(link, "g", NOW - timedelta(hours=1))  # "g" back today: new to the week
        click(link, "e", NOW - timedelta(minutes=30))
        place(make_user(), [(tea.id, 1)], visitor="e" * 32, at=NOW, key="k")
        second = stats.funnel(shop.user_id, *WEEK, now=NOW + timedelta(minutes=1))
        assert (second.clicks, second.visitors, second.orders) == (4, 3, 1)
        assert asdict(second) == asdict(stats.funnel_from_raw(shop.user_id, *WEEK))
        click(link, "f", NOW - timedelta(days=3))  # an ended day changes
        kept = stats.funnel(shop.user_id, *WEEK, now=NOW + timedelta(minutes=2))
        assert (kept.clicks, kept.visitors) == (4, 3)
        app.extensions.pop("stats_closed_days")  # as when the time to live runs out
        fresh = stats.funnel(shop.user_id, *WEEK, now=NOW + timedelta(minutes=3))
        assert (fresh.clicks, fresh.visitors) == (5, 4)
        assert asdict(fresh) == asdict(stats.funnel_from_raw(shop.user_id, *WEEK))


def test_nothing_is_kept_in_the_first_minutes_after_midnight(app):
    """Until rollup.CLOSED_AFTER past midnight (China time) the click writer may still write
    clicks of the day before: those views read every day and keep nothing."""
    app.config["STATS_PAST_DAYS_SECONDS"] = 600
    with app.app_context():
        shop = make_shop()
        link = links.get_or_create_link(shop, make_product(), Channel.MOMENTS, now=NOW)
        midnight = datetime(2026, 11, 24, 16, 0)  # 00:00 on the 25th in China
        week = (date(2026, 11, 19), date(2026, 11, 25))
        click(link, "a", midnight - timedelta(hours=5))
        assert stats.funnel(shop.user_id, *week, now=midnight + timedelta(minutes=2)).clicks == 1
        click(link, "b", midnight - timedelta(seconds=1))  # a late batch
        assert stats.funnel(shop.user_id, *week, now=midnight + timedelta(minutes=6)).clicks == 2
        click(link, "c", midnight - timedelta(hours=2))  # kept from 00:06 on: not seen yet
        assert stats.funnel(shop.user_id, *week, now=midnight + timedelta(minutes=7)).clicks == 2


def test_kept_past_periods_show_labels_as_they_are_now(app):
    """A past period's sums are kept, but not its labels: a renamed product shows its new
    title and the channels follow the reader's language."""
    app.config["STATS_PAST_DAYS_SECONDS"] = 600
    with app.app_context():
        shop = make_shop()
        product = make_product(title="旧名字")
        link = links.get_or_create_link(shop, product, Channel.MOMENTS, now=NOW)
        click(link, "a", NOW - timedelta(days=3))
        past = (date(2026, 11, 20), date(2026, 11, 22))
        first = stats.funnel(shop.user_id, *past, now=NOW)
        assert [(row.label, row.clicks) for row in first.by_product] == [("旧名字", 1)]
        product.title = "新名字"
        db.session.flush()
        click(link, "b", NOW - timedelta(days=3))  # kept sums: not counted yet
        again = stats.funnel(shop.user_id, *past, now=NOW)
        assert [(row.label, row.clicks) for row in again.by_product] == [("新名字", 1)]


def test_a_period_of_today_alone_reads_today(ctx):
    shop = make_shop()
    link = links.get_or_create_link(shop, make_product(), Channel.MOMENTS, now=NOW)
    click(link, "a", NOW - timedelta(days=1))
    click(link, "a", NOW - timedelta(hours=1))
    click(link, "b", NOW - timedelta(hours=2))
    today = stats.funnel(shop.user_id, TODAY, TODAY, now=NOW)
    assert (today.clicks, today.visitors, today.visitors_exact) == (2, 2, True)


def test_past_period_visitors_never_exceed_its_clicks(ctx):
    shop = make_shop()
    link = links.get_or_create_link(shop, make_product(), Channel.MOMENTS, now=NOW)
    click(link, "a", NOW - timedelta(days=10))
    click(link, "a", NOW - timedelta(days=1))
    quiet = (date(2026, 11, 18), date(2026, 11, 19))  # nobody clicked in between
    rolled = stats.funnel(shop.user_id, *quiet, now=NOW)
    assert (rolled.clicks, rolled.visitors) == (0, 0)


def test_empty_period_is_all_zeros(ctx):
    shop = make_shop()
    s = stats.funnel(shop.user_id, *WEEK)
    assert (s.clicks, s.visitors, s.orders, s.settled_cents) == (0, 0, 0, 0)
    assert len(s.daily) == 7 and not s.by_link
    assert [step.rate_bps for step in s.steps] == [None] * 6
    assert s.lag.median_seconds is None


# --- periods -------------------------------------------------------------------------------


def test_presets_end_today_in_china():
    week = stats.parse_period({}, now=NOW)
    assert (week.start, week.end, week.key, week.days) == (*WEEK, "7d", 7)
    month = stats.parse_period({"period": "30d"}, now=NOW)
    assert (month.start, month.end, month.key) == (date(2026, 10, 26), TODAY, "30d")
    late = stats.last_days(7, now=datetime(2026, 11, 24, 16, 0))  # 00:00 on the 25th
    assert late.end == date(2026, 11, 25)
    assert week.starts_at == WEEK_START and week.ends_at == datetime(2026, 11, 24, 16, 0)


def test_custom_period_rules():
    ok = stats.parse_period({"start": "2026-11-01", "end": "2026-11-24"}, now=NOW)
    assert (ok.start, ok.end, ok.key, ok.days) == (date(2026, 11, 1), TODAY, "custom", 24)
    longest = stats.custom_period("2025-11-24", "2026-11-24", now=NOW)
    assert longest.days == 366
    cases = [
        (("2026-11-25", "2026-11-25"), "end", "future"),
        (("2026-11-20", "2026-11-19"), "start", "before the end"),
        (("2025-11-23", "2026-11-24"), "start", "366"),
        (("yesterday", "2026-11-24"), "start", "2026-11-24"),
        (("2026-11-01", ""), "end", "2026-11-24"),
    ]
    for (start, end), field, words in cases:
        with pytest.raises(ValidationError) as caught:
            stats.custom_period(start, end, now=NOW)
        assert caught.value.field == field
        assert words in str(caught.value.message)
    # Just after midnight in China the new day is already "today".
    assert stats.custom_period("2026-11-25", "2026-11-25", now=datetime(2026, 11, 24, 16, 1))


def test_rates_round_down_in_basis_points():
    assert stats.rate_bps(1, 3) == 3333
    assert stats.rate_bps(2, 3) == 6666
    assert stats.rate_bps(5, 0) is None
