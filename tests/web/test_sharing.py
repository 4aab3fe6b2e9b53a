import pytest

from shop.catalog.models import MerchantStatus, ProductStatus
from shop.money.models import Appeal
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import links, materials, shops
from shop.sharing.models import Channel, Click, CopyVariant, ShareLink, ShopItem
from tests.factories import make_product, make_shop, make_user

PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def make_link(channel=Channel.MOMENTS, product=None, shop=None, **product_fields):
    shop = shop or make_shop(user=make_user(display_name="小王"))
    product = product or make_product(**product_fields)
    shops.add_item(shop, product, recommendation="我自己在用", now=utcnow())
    return links.get_or_create_link(shop, product, channel, now=utcnow())


def test_following_a_link_records_a_click_sets_a_cookie_and_redirects(app, client):
    with app.app_context():
        link = make_link()
        db.session.commit()
        code, slug, product_id = link.code, link.shop.slug, link.product_id
    response = client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/s/{slug}/p/{product_id}?ref={code}"
    cookie = client.get_cookie("fx_v")
    assert cookie is not None and cookie.http_only and cookie.max_age > 300 * 24 * 3600
    assert response.headers["Cache-Control"] == "no-store"
    client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})  # same visitor: duplicate
    with app.app_context():
        rows = db.session.execute(db.select(Click).order_by(Click.id)).scalars().all()
        assert [r.uncounted_reason for r in rows] == [None, "duplicate"]
        assert rows[0].visitor_id == rows[1].visitor_id
        assert len(rows[0].visitor_id) == 32
        assert rows[0].ua_family == "ios"


def test_the_landing_page_names_the_sharer(app, client):
    with app.app_context():
        link = make_link()
        db.session.commit()
        code = link.code
    page = client.get(f"/r/{code}", follow_redirects=True).get_data(as_text=True)
    assert "来自 小王 的推荐" in page and "我自己在用" in page


def test_a_forged_visitor_cookie_is_ignored(app, client):
    with app.app_context():
        link = make_link()
        db.session.commit()
        code = link.code
    client.set_cookie("fx_v", "f" * 32)
    response = client.get(f"/r/{code}")
    assert response.status_code == 303
    new_cookie = client.get_cookie("fx_v").value
    assert new_cookie != "f" * 32 and "." in new_cookie
    with app.app_context():
        assert db.session.execute(db.select(Click.visitor_id)).scalar_one() != "f" * 32


@pytest.mark.parametrize("code", ["nope", "ZZZZZZZZ", "evil.com", "abc' OR 1=1", "x" * 300])
def test_unknown_or_malformed_codes_are_404_with_a_way_on(client, code):
    response = client.get(f"/r/{code}")
    assert response.status_code == 404
    assert "去逛逛商品" in response.get_data(as_text=True)


def test_a_link_to_a_gone_product_is_410(app, client):
    with app.app_context():
        link = make_link()
        code = link.code
        link.product.status = ProductStatus.DELISTED
        db.session.commit()
    assert client.get(f"/r/{code}").status_code == 410
    with app.app_context():
        link = db.session.execute(db.select(ShareLink)).scalar_one()
        link.product.status = ProductStatus.LISTED
        link.product.merchant.status = MerchantStatus.SUSPENDED
        db.session.commit()
    assert client.get(f"/r/{code}").status_code == 410
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Click.id))).scalar_one() == 0


@pytest.mark.parametrize(
    ("headers", "method", "reason"),
    [
        ({"User-Agent": "TelegramBot (like TwitterBot)"}, "GET", "bot"),
        ({"User-Agent": PHONE_UA, "Sec-Purpose": "prefetch"}, "GET", "prefetch"),
        ({"User-Agent": PHONE_UA}, "HEAD", "head"),
    ],
)
def test_bots_previews_and_prefetches_are_kept_but_not_counted(
    app, client, headers, method, reason
):
    with app.app_context():
        link = make_link()
        db.session.commit()
        code = link.code
    response = client.open(f"/r/{code}", method=method, headers=headers)
    assert response.status_code == 303
    with app.app_context():
        assert db.session.execute(db.select(Click.uncounted_reason)).scalar_one() == reason


def test_a_click_flood_is_not_counted_beyond_the_limit_and_never_errors(app, client):
    app.config["CLICK_FLOOD_LIMIT"] = "5 per minute"
    app.config["CLICK_HARD_LIMIT"] = "12 per minute"
    with app.app_context():
        link = make_link()
        db.session.commit()
        code = link.code
    statuses = []
    for _ in range(15):
        fresh = app.test_client()  # a new visitor each time, one address
        statuses.append(fresh.get(f"/r/{code}", headers={"User-Agent": PHONE_UA}).status_code)
    assert statuses[:12] == [303] * 12 and statuses[12:] == [429] * 3
    with app.app_context():
        reasons = db.session.execute(db.select(Click.uncounted_reason).order_by(Click.id)).scalars()
        assert list(reasons) == [None] * 5 + ["flood"] * 7


def test_poster_channel_clicks_are_scans(app, client):
    with app.app_context():
        link = make_link(channel=Channel.POSTER)
        db.session.commit()
        code = link.code
    client.get(f"/r/{code}")
    with app.app_context():
        assert db.session.execute(db.select(Click.is_scan)).scalar_one() is True


def test_shop_link_lands_on_the_shop(app, client):
    with app.app_context():
        shop = make_shop()
        link = links.get_or_create_link(shop, None, Channel.WECHAT_GROUP, now=utcnow())
        db.session.commit()
        code, slug = link.code, shop.slug
    response = client.get(f"/r/{code}")
    assert response.headers["Location"] == f"/s/{slug}?ref={code}"


def test_public_shop_page_shows_available_products_pinned_first(app, client):
    with app.app_context():
        shop = make_shop(name="小美的好物")
        first = make_product(title="普通款")
        second = make_product(title="置顶款")
        gone = make_product(title="已下架款")
        sold = make_product(title="卖完款")
        for product in (first, second, gone, sold):
            shops.add_item(shop, product, recommendation=f"推荐{product.title}", now=utcnow())
        shops.find_item(shop, second.id).is_pinned = True
        gone.status = ProductStatus.DELISTED
        sold.stock = 0
        db.session.commit()
        slug = shop.slug
    page = client.get(f"/s/{slug}").get_data(as_text=True)
    assert "小美的好物" in page
    assert page.index("置顶款") < page.index("普通款")
    assert "已下架款" not in page and "卖完款" not in page
    assert "赚" not in page  # rebates are never shown to the public
    assert client.get("/s/no-such-shop").status_code == 404


def test_one_sharer_cannot_see_or_change_anothers_shop_links_or_items(app, user_client):
    with app.app_context():
        victim_link = make_link()
        item = shops.find_item(victim_link.shop, victim_link.product_id)
        variant = materials.add_variant(
            victim_link.sharer, item.product, "我自己在用，回购三次", now=utcnow()
        )
        intruder = make_user()
        make_shop(user=intruder)
        appeal = Appeal(
            sharer_id=victim_link.sharer_id, typed_number="12345678", answer="not_found"
        )
        db.session.add(appeal)
        db.session.commit()
        ids = {
            "item_id": item.id,
            "link_id": victim_link.id,
            "variant_id": variant.id,
            "number": 1,
            "appeal_id": appeal.id,
        }
        before = (item.recommendation, item.is_pinned, item.position)
    client = user_client(intruder)
    checked = 0
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("sharer.") or not rule.arguments:
            continue
        if rule.endpoint == "sharer.export_csv":
            continue  # names a kind of file, not an object: always the viewer's own rows
        url = rule.build({name: ids[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {
                "recommendation": "改掉",
                "direction": "up",
                "channel": "moments",
                "body": "改掉",
                "template": "price",
                "confirmed": "1",
            }
            response = client.open(url, method=method, data=data if method == "POST" else None)
            assert response.status_code == 404, (method, url)
            assert "我自己在用" not in response.get_data(as_text=True)
            checked += 1
    assert checked >= 6
    with app.app_context():
        item = db.session.get(ShopItem, ids["item_id"])
        assert (item.recommendation, item.is_pinned, item.position) == before
        assert db.session.execute(db.select(db.func.count(ShareLink.id))).scalar_one() == 1
        assert db.session.get(CopyVariant, ids["variant_id"]).body == "我自己在用，回购三次"
        assert db.session.get(ShareLink, ids["link_id"]).poster_template == "product"


def test_sharer_opens_a_shop_adds_a_product_and_makes_links(app, user_client):
    with app.app_context():
        user = make_user(display_name="阿杰")
        product = make_product(title="充电头", price_cents=9900)
        db.session.commit()
        product_id = product.id
    client = user_client(user)
    assert client.get("/me/shop").headers["Location"].endswith("/me/shop/settings")
    response = client.post(
        "/me/shop/settings", data={"name": "阿杰的数码角", "slug": "ajie", "intro": "数码控"}
    )
    assert response.status_code == 302
    client.post("/me/shop/items", data={"product_id": str(product_id), "next": "/"})
    page = client.get("/me/shop").get_data(as_text=True)
    assert "充电头" in page and "赚 ¥9.90" in page
    with app.app_context():
        item_id = db.session.execute(db.select(ShopItem.id)).scalar_one()
    client.post(f"/me/shop/items/{item_id}/recommendation", data={"recommendation": "出差必备"})
    response = client.post(
        f"/me/share/items/{item_id}/links", data={"channel": "custom", "label": "同事群"}
    )
    assert response.status_code == 302
    share = client.get(f"/me/share/items/{item_id}/channels").get_data(as_text=True)
    with app.app_context():
        link = db.session.execute(db.select(ShareLink)).scalar_one()
        assert link.channel == Channel.CUSTOM and link.label == "同事群"
        code = link.code
    assert f"/r/{code}" in share and "同事群" in share
    assert "【充电头】¥99.00" in share and "出差必备" in share
    # The same channel twice gives the same link.
    client.post(f"/me/share/items/{item_id}/links", data={"channel": "custom", "label": "同事群"})
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(ShareLink.id))).scalar_one() == 1


def test_slug_taken_or_invalid_is_a_form_error(app, user_client):
    with app.app_context():
        make_shop(slug="taken")
        user = make_user()
        db.session.commit()
    client = user_client(user)
    page = client.post("/me/shop/settings", data={"name": "店", "slug": "taken"}).get_data(
        as_text=True
    )
    assert "该地址已被占用" in page
    page = client.post("/me/shop/settings", data={"name": "店", "slug": "a b"}).get_data(
        as_text=True
    )
    assert "字母、数字或连字符" in page and 'value="店"' in page


@pytest.mark.parametrize("path", ["/r//evil.com", "/r/%2F%2Fevil.com", "/r/https:%2F%2Fevil.com"])
def test_share_paths_never_redirect_off_site(client, path):
    response = client.get(path)
    location = response.headers.get("Location", "")
    assert not location.startswith(("//", "http://evil", "https://evil"))
    assert response.status_code in (308, 404)


def test_a_product_id_that_is_not_ascii_digits_is_not_found(app, user_client):
    with app.app_context():
        shop = make_shop()
        db.session.commit()
        user = shop.user
    response = user_client(user).post("/me/shop/items", data={"product_id": "²", "next": "/"})
    assert response.status_code == 404
