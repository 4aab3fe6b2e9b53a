from datetime import datetime, timedelta

import pytest

from shop.catalog.models import ProductStatus
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.sharing import clicks, links, shops
from shop.sharing.models import Channel, Click, ShareLink
from tests.factories import make_product, make_shop, make_user

NOW = datetime(2026, 11, 24, 10, 0, 0)
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
WECHAT_UA = PHONE_UA + " MicroMessenger/8.0.50(0x18003237) NetType/WIFI Language/zh_CN"


def facts(ua=PHONE_UA, method="GET", purpose="", ip="203.0.113.9", referrer=""):
    return clicks.RequestFacts(
        method=method, user_agent=ua, ip=ip, referrer=referrer, purpose=purpose
    )


def test_codes_are_short_random_and_unambiguous():
    codes = {links.new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert links.is_well_formed(code)
        assert not set(code) & set("0O1lI")
    assert not links.is_well_formed("https://x")
    assert not links.is_well_formed("abc")


def test_one_link_per_target_and_channel(ctx):
    shop = make_shop()
    product = make_product()
    first = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=NOW)
    again = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=NOW)
    moments = links.get_or_create_link(shop, product, Channel.MOMENTS, now=NOW)
    whole = links.get_or_create_link(shop, None, Channel.WECHAT_GROUP, now=NOW)
    custom = links.get_or_create_link(shop, product, Channel.CUSTOM, label="同事群", now=NOW)
    other_custom = links.get_or_create_link(shop, product, Channel.CUSTOM, label="家人", now=NOW)
    assert first.id == again.id
    assert len({first.id, moments.id, whole.id, custom.id, other_custom.id}) == 5
    assert whole.product_id is None and whole.target_key == "shop"
    assert links.channel_name(custom) == "同事群"
    assert links.resolve(first.code).id == first.id


def test_resolve_reads_target_and_gone_in_one_go(ctx):
    shop, product = make_shop(), make_product()
    link = links.get_or_create_link(shop, product, Channel.POSTER, now=NOW)
    whole = links.get_or_create_link(shop, None, Channel.MOMENTS, now=NOW)
    target = links.resolve(link.code)
    assert (target.id, target.channel, target.shop_slug) == (link.id, Channel.POSTER, shop.slug)
    assert target.product_id == product.id and not target.gone
    assert links.resolve(whole.code).product_id is None
    assert links.resolve("Zz234567") is None and links.resolve("../admin") is None
    product.status = ProductStatus.DELISTED
    db.session.flush()
    assert links.resolve(link.code).gone
    assert not links.resolve(whole.code).gone  # the shop itself is still there
    product.status, product.stock = ProductStatus.LISTED, 0
    db.session.flush()
    assert not links.resolve(link.code).gone  # sold out may come back: the page says so


def test_target_cache_expires_and_stays_bounded(ctx, monkeypatch):
    shop = make_shop()
    made = [
        links.get_or_create_link(shop, make_product(), Channel.MOMENTS, now=NOW) for _ in range(3)
    ]
    clock = [1000.0]
    monkeypatch.setattr(links.time, "monotonic", lambda: clock[0])
    cache = links.TargetCache(ttl=10, size=2)
    first = made[0]
    assert cache.get(first.code).shop_slug == shop.slug
    shop.slug = "renamed-shop"
    db.session.flush()
    clock[0] += 9.9
    assert cache.get(first.code).shop_slug != "renamed-shop"  # remembered within the ttl
    clock[0] += 0.2
    assert cache.get(first.code).shop_slug == "renamed-shop"  # asked again after it
    for link in made:
        cache.get(link.code)
    assert list(cache._entries) == [made[1].code, made[2].code]  # least recently used left
    assert cache.get("Zz234567") is None and "Zz234567" not in cache._entries
    no_cache = links.TargetCache(ttl=0)
    no_cache.get(first.code)
    assert not no_cache._entries


def test_custom_channel_needs_a_name(ctx):
    shop, product = make_shop(), make_product()
    with pytest.raises(ValidationError):
        links.get_or_create_link(shop, product, Channel.CUSTOM, label="  ", now=NOW)


def test_colliding_code_is_drawn_again(ctx, monkeypatch):
    shop, product = make_shop(), make_product()
    taken = links.get_or_create_link(shop, product, Channel.MOMENTS, now=NOW)
    drawn = iter([taken.code, "Zz23456x"])
    monkeypatch.setattr(links, "new_code", lambda: next(drawn))
    fresh = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=NOW)
    assert fresh.code == "Zz23456x"


@pytest.mark.parametrize(
    ("ua", "family"),
    [
        (PHONE_UA, "ios"),
        (WECHAT_UA, "wechat"),
        ("Mozilla/5.0 (Linux; Android 14) Mobile QQ/9.0.0", "qq"),
        ("Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/126 Mobile", "android"),
        ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/126", "desktop"),
        ("TelegramBot (like TwitterBot)", "bot"),
        ("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot"),
        ("Mozilla/5.0 (compatible; Baiduspider/2.0)", "bot"),
        ("facebookexternalhit/1.1", "bot"),
        ("python-requests/2.32", "bot"),
        ("", "bot"),
    ],
)
def test_user_agent_families(ua, family):
    assert clicks.ua_family(ua) == family


def test_head_and_prefetch_are_not_people():
    assert clicks.bot_reason(facts(method="HEAD")) == "head"
    assert clicks.bot_reason(facts(purpose="prefetch")) == "prefetch"
    assert clicks.bot_reason(facts(ua="Twitterbot/1.0")) == "bot"
    assert clicks.bot_reason(facts()) is None


def test_ip_is_stored_hashed(ctx):
    shop, product = make_shop(), make_product()
    link = links.get_or_create_link(shop, product, Channel.MOMENTS, now=NOW)
    clicks.record_click(
        link,
        facts(referrer="https://weixin.qq.com/x?y=1"),
        visitor_id="v" * 32,
        ip_secret="s",
        flooded=False,
        now=NOW,
    )
    row = db.session.execute(db.select(Click)).scalar_one()
    assert "203.0.113.9" not in row.ip_hash and len(row.ip_hash) == 32
    assert row.ip_hash == clicks.hash_ip("203.0.113.9", "s") != clicks.hash_ip("203.0.113.9", "t")
    assert row.referrer_host == "weixin.qq.com" and row.ua_family == "ios"
    assert row.is_counted and not row.is_scan


def test_duplicates_within_ten_minutes_are_kept_but_not_counted(ctx):
    shop, product = make_shop(), make_product()
    link = links.get_or_create_link(shop, product, Channel.MOMENTS, now=NOW)
    other = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=NOW)

    def follow(at, link=link, visitor="a" * 32):
        return clicks.record_click(
            link, facts(), visitor_id=visitor, ip_secret="s", flooded=False, now=at
        )

    assert follow(NOW) is None
    assert follow(NOW + timedelta(minutes=9, seconds=59)) == "duplicate"
    assert follow(NOW + timedelta(minutes=5), link=other) is None  # another link
    assert follow(NOW + timedelta(minutes=5), visitor="b" * 32) is None  # another visitor
    assert follow(NOW + timedelta(minutes=10, seconds=1)) is None
    rows = db.session.execute(db.select(Click).order_by(Click.id)).scalars().all()
    assert [r.uncounted_reason for r in rows] == [None, "duplicate", None, None, None]


def test_bot_and_flood_clicks_are_kept_with_their_reason(ctx):
    shop, product = make_shop(), make_product()
    link = links.get_or_create_link(shop, product, Channel.POSTER, now=NOW)
    assert (
        clicks.record_click(
            link,
            facts(ua="WhatsApp/2.23"),
            visitor_id="c" * 32,
            ip_secret="s",
            flooded=False,
            now=NOW,
        )
        == "bot"
    )
    assert (
        clicks.record_click(
            link, facts(), visitor_id="c" * 32, ip_secret="s", flooded=True, now=NOW
        )
        == "flood"
    )
    rows = db.session.execute(db.select(Click)).scalars().all()
    assert all(row.is_scan for row in rows)  # the poster channel's link is only reached by QR
    assert [row.is_counted for row in rows] == [False, False]


def test_shop_slug_rules(ctx):
    user = make_user()
    with pytest.raises(ValidationError) as caught:
        shops.save_shop(user, name="店", slug="a b", intro="", avatar=None, now=NOW)
    assert caught.value.field == "slug"
    for bad in ("ab", "-abc", "abc-", "admin", "x" * 33, "中文店"):
        with pytest.raises(ValidationError):
            shops.check_slug(bad)
    shop = shops.save_shop(user, name="小美的店", slug="XiaoMei", intro="", avatar=None, now=NOW)
    assert shop.slug == "xiaomei"
    with pytest.raises(ValidationError) as caught:
        shops.save_shop(make_user(), name="另一家", slug="xiaomei", intro="", avatar=None, now=NOW)
    assert caught.value.field == "slug" and "已被占用" in str(caught.value.message)


def test_public_items_hide_unavailable_products_and_pin_first(ctx):
    shop = make_shop()
    a = make_product(title="A")
    b = make_product(title="B")
    c = make_product(title="C")
    d = make_product(title="D")
    for product in (a, b, c, d):
        shops.add_item(shop, product, now=NOW)
    shops.set_pinned(shops.find_item(shop, c.id), True)
    b.stock = 0
    d.status = ProductStatus.DELISTED
    db.session.flush()
    assert [i.product.title for i in shops.public_items(shop)] == ["C", "A"]
    console = {item.product.title: reason for item, reason in shops.console_items(shop)}
    assert console == {"A": None, "B": "sold_out", "C": None, "D": "delisted"}


def test_curation_rules(ctx):
    shop = make_shop()
    a, b, c = make_product(title="A"), make_product(title="B"), make_product(title="C")
    items = [shops.add_item(shop, p, recommendation="好", now=NOW) for p in (a, b, c)]
    with pytest.raises(ValidationError):
        shops.add_item(shop, a, now=NOW)
    with pytest.raises(ValidationError):
        shops.add_item(shop, make_product(status=ProductStatus.DRAFT), now=NOW)
    shops.move_item(items[2], -1)
    assert [i.product.title for i in shops.public_items(shop)] == ["A", "C", "B"]
    shops.move_item(items[0], -1)  # already first: nothing moves
    assert [i.product.title for i in shops.public_items(shop)] == ["A", "C", "B"]
    with pytest.raises(ValidationError):
        shops.edit_recommendation(items[0], "长" * 301)
    shops.remove_item(items[1])
    db.session.flush()
    assert [i.product.title for i in shops.public_items(shop)] == ["A", "C"]
    assert db.session.execute(db.select(ShareLink)).first() is None
