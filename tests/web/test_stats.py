"""/me/stats and its chart: a sharer sees their own funnel, never another sharer's."""

from datetime import timedelta

import pytest

from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import clicks, links
from shop.sharing.models import Channel
from tests.factories import make_product, make_shop, make_user
from tests.services.test_links_and_clicks import facts
from tests.services.test_orders import pay, place


@pytest.fixture
def user_client(user_client):
    """Signed-in clients reading English, so the messages below read as written."""

    def make(user):
        client = user_client(user)
        client.set_cookie("lang", "en")
        return client

    return make


@pytest.fixture
def sharers(app):
    """Two sharers with a link each; A has 3 counted clicks, a bot and a paid order."""
    with app.app_context():
        now = utcnow()
        a = make_shop(name="A店")
        b = make_shop(name="B店")
        mine = make_product(title="阿尔法绿茶", price_cents=10000, rebate_bps=1000)
        theirs = make_product(title="贝塔咖啡豆")
        link_a = links.get_or_create_link(a, mine, Channel.CUSTOM, label="家人群", now=now)
        link_b = links.get_or_create_link(b, theirs, Channel.MOMENTS, now=now)
        for n, visitor in enumerate("xyz"):
            at = now - timedelta(hours=2 + n)
            clicks.record_click(
                link_a, facts(), visitor_id=visitor * 32, ip_secret="s", flooded=False, now=at
            )
        clicks.record_click(
            link_a,
            facts(ua="Googlebot/2.1"),
            visitor_id="q" * 32,
            ip_secret="s",
            flooded=False,
            now=now - timedelta(hours=1),
        )
        for n in range(7):
            clicks.record_click(
                link_b,
                facts(),
                visitor_id=f"{n}" * 32,
                ip_secret="s",
                flooded=False,
                now=now - timedelta(hours=3),
            )
        [order] = place(
            make_user(), [(mine.id, 1)], visitor="x" * 32, at=now - timedelta(hours=1), key="w"
        )
        pay(order, at=now - timedelta(minutes=50))
        db.session.commit()
        return {
            "a": a.user,
            "b": b.user,
            "code_a": link_a.code,
            "code_b": link_b.code,
        }


def test_stats_page_shows_my_funnel(user_client, sharers):
    client = user_client(sharers["a"])
    response = client.get("/me/stats")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "My stats" in page and "Last 7 days" in page
    assert 'id="step-clicks"' in page
    funnel = page.split('id="step-clicks"')[1].split("</li>")[0]
    assert '<span class="funnel-value">3</span>' in funnel
    assert "Only counted clicks are shown" in page
    assert "1 from robots and previews" in page
    assert "阿尔法绿茶" in page and "家人群" in page and sharers["code_a"] in page
    assert "¥10.00" in page  # the paid order's rebate estimated
    assert 'src="/me/stats/chart.svg?period=7d"' in page
    assert 'id="daily-table"' in page
    # Refunds are a step; money is shown net of refunds and clawbacks; rates say what of.
    assert 'id="step-refunded"' in page and "of Paid" in page and "per 100 Unique visitors" in page
    assert 'id="funnel-estimated">¥10.00<' in page and 'id="funnel-settled">¥0.00<' in page
    assert "Paid per 100 clicks" in page and "none can pass 100%." in page


def test_another_sharers_numbers_never_appear(user_client, sharers):
    page = user_client(sharers["a"]).get("/me/stats?period=30d").get_data(as_text=True)
    assert "贝塔咖啡豆" not in page and sharers["code_b"] not in page
    other = user_client(sharers["b"]).get("/me/stats").get_data(as_text=True)
    assert "阿尔法绿茶" not in other and sharers["code_a"] not in other
    funnel = other.split('id="step-clicks"')[1].split("</li>")[0]
    assert '<span class="funnel-value">7</span>' in funnel


def test_custom_dates_and_their_errors(user_client, sharers):
    client = user_client(sharers["a"])
    today = (utcnow() + timedelta(hours=8)).date()
    start = today - timedelta(days=2)
    page = client.get(f"/me/stats?start={start}&end={today}").get_data(as_text=True)
    assert f"{start} to {today} (3 days, China time)" in page
    assert f"/me/stats/chart.svg?start={start}&amp;end={today}" in page
    future = today + timedelta(days=1)
    response = client.get(f"/me/stats?start={today}&end={future}")
    assert response.status_code == 200
    assert "The end date cannot be in the future." in response.get_data(as_text=True)
    assert client.get(f"/me/stats/chart.svg?start={today}&end={future}").status_code == 400


@pytest.mark.parametrize(
    "start, end",
    [("0001-01-01", "0001-01-01"), ("0001-01-01", None), ("2019-12-31", None),
     ("9999-12-31", "9999-12-31")],
)  # fmt: skip
def test_dates_out_of_range_are_a_field_error(user_client, sharers, start, end):
    """Year 1 used to overflow (OverflowError, a 500) when turned into UTC moments."""
    client = user_client(sharers["a"])
    today = (utcnow() + timedelta(hours=8)).date()
    query = f"start={start}&end={end or today}"
    response = client.get(f"/me/stats?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Enter a date from 2020-01-01 to" in page or "cannot be in the future" in page
    assert "Last 7 days" in page  # the page falls back to the last 7 days
    assert client.get(f"/me/stats/chart.svg?{query}").status_code == 400


def test_chart_is_plain_svg(user_client, sharers):
    response = user_client(sharers["a"]).get("/me/stats/chart.svg?period=30d")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    body = response.get_data(as_text=True)
    assert body.startswith("<svg") and "<title" in body and "<desc" in body
    assert "<script" not in body.lower() and "<style" not in body.lower()
    assert "Counted clicks: 3. Orders: 1." in body


def test_signed_out_visitors_are_sent_to_sign_in(client):
    for path in ("/me/stats", "/me/stats/chart.svg"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/auth/signin" in response.headers["Location"]


def test_the_pages_say_how_fresh_their_numbers_are(app, user_client, sharers):
    """With the ended days kept (the default 600 s), both pages say today's numbers are live
    and how often earlier days are summed; with nothing kept (the tests' 0) they say nothing."""
    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
    assert 'id="freshness-note"' not in user_client(sharers["a"]).get("/me/stats").get_data(
        as_text=True
    )
    app.config["STATS_PAST_DAYS_SECONDS"] = 600
    app.config["OVERVIEW_PAST_DAYS_SECONDS"] = 600
    page = user_client(sharers["a"]).get("/me/stats").get_data(as_text=True)
    assert "Earlier days are summed every 10 minutes" in page
    assert "My earnings is always up to date" in page
    overview = user_client(admin).get("/admin/").get_data(as_text=True)
    assert "the totals of earlier days are summed every 10 minutes" in overview
    chinese = user_client(sharers["a"])
    chinese.set_cookie("lang", "zh-CN")
    assert "每 10 分钟汇总一次" in chinese.get("/me/stats").get_data(as_text=True)
