"""Sharer tools: the share sheet, posters for every link, the 朋友圈 nine-picture set,
materials and copy variants, the shop editor's arrange mode, confirmations for what cannot
be undone, dead ends that lead on, share cards and the WeChat JS-SDK endpoint."""

import io
import re

from PIL import Image

from shop.catalog.models import Merchant, ProductStatus
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import links, materials, shops
from shop.sharing.models import Channel, CopyVariant, MaterialImage, ShareLink, ShopItem
from tests.conftest import build_app
from tests.factories import make_product, make_shop, make_user, png_bytes
from tests.services.test_wechat_jssdk import FakeWeChat, serving

WECHAT_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.44(0x18002c2f) NetType/WIFI"
)


def shop_with_item(title="桂花乌龙", **product_fields):
    user = make_user(display_name="小王")
    shop = make_shop(user=user, slug=f"s{user.id}")
    product = make_product(title=title, **product_fields)
    item = shops.add_item(shop, product, recommendation="夏天冷泡一整壶", now=utcnow())
    db.session.flush()
    return user, shop, product, item


def test_the_share_sheet_makes_its_links_on_first_opening_with_no_form(app, user_client):
    with app.app_context():
        user, _shop, _product, item = shop_with_item()
        db.session.commit()
        item_id = item.id
    client = user_client(user)
    page = client.get(f"/me/share/items/{item_id}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    with app.app_context():
        made = {link.channel: link.code for link in db.session.scalars(db.select(ShareLink))}
    assert set(made) == {Channel.WECHAT_FRIEND, Channel.WECHAT_GROUP, Channel.MOMENTS}
    # 微信好友 copies the link and the text; 微信群 its own link; both readable without JS.
    friend = re.search(r'id="friend-text"[^>]*>([^<]*)<', html).group(1)
    assert "【桂花乌龙】¥99.00" in friend and "夏天冷泡一整壶" in friend
    assert f"/r/{made[Channel.WECHAT_FRIEND]}" in friend
    group = re.search(r'id="group-text"[^>]*>([^<]*)<', html).group(1)
    assert f"/r/{made[Channel.WECHAT_GROUP]}" in group
    for label in ("微信好友", "朋友圈", "微信群", "生成海报", "复制链接"):
        assert label in html
    # Opening it again makes nothing new; the partial is the dialog's body alone.
    partial = client.get(f"/me/share/items/{item_id}?partial=1").get_data(as_text=True)
    assert "<html" not in partial and "data-sheet-body" in partial
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ShareLink.id))) == 3


def test_the_poster_channel_is_no_longer_offered_for_new_links(app, user_client):
    with app.app_context():
        user, _shop, _product, item = shop_with_item()
        db.session.commit()
        item_id = item.id
    client = user_client(user)
    page = client.get(f"/me/share/items/{item_id}/channels").get_data(as_text=True)
    assert 'value="poster"' not in page
    client.post(f"/me/share/items/{item_id}/links", data={"channel": "poster"})
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ShareLink.id))) == 0


def test_every_link_has_a_poster_in_the_template_chosen_for_it(app, user_client):
    with app.app_context():
        user, shop, product, _item = shop_with_item()
        group = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=utcnow())
        db.session.commit()
        link_id = group.id
    client = user_client(user)
    assert client.get(f"/me/links/{link_id}/poster").status_code == 200
    first = client.get(f"/me/links/{link_id}/poster.jpg")
    first_data = first.get_data()
    first.close()
    assert first.status_code == 200 and first.mimetype == "image/jpeg"
    assert Image.open(io.BytesIO(first_data)).size == (750, 1334)
    etags = {"product": first.headers["ETag"]}
    for template in ("price", "review"):
        response = client.post(f"/me/links/{link_id}/poster/template", data={"template": template})
        assert response.status_code == 302
        poster = client.get(f"/me/links/{link_id}/poster.jpg")
        data = poster.get_data()
        poster.close()
        etags[template] = poster.headers["ETag"]
        assert data != first_data
    assert len(set(etags.values())) == 3  # the template is part of the cache key
    with app.app_context():
        assert db.session.get(ShareLink, link_id).poster_template == "review"
    client.post(f"/me/links/{link_id}/poster/template", data={"template": "nope"})
    with app.app_context():
        assert db.session.get(ShareLink, link_id).poster_template == "review"
    again = client.get(
        f"/me/links/{link_id}/poster.jpg", headers={"If-None-Match": etags["review"]}
    )
    assert again.status_code == 304


def test_the_nine_picture_set_has_the_links_qr_code_in_the_middle(app, user_client):
    with app.app_context():
        user, shop, product, _item = shop_with_item()
        merchant = db.session.get(Merchant, product.merchant_id)
        uploads = [png_bytes(size=(80, 80), color=(10 * i, 40, 90)) for i in range(8)]
        materials.add_pictures(product, uploads, merchant=merchant, now=utcnow())
        moments = links.get_or_create_link(shop, product, Channel.MOMENTS, now=utcnow())
        db.session.commit()
        link_id, code = moments.id, moments.code
    client = user_client(user)
    page = client.get(f"/me/links/{link_id}/moments").get_data(as_text=True)
    assert page.count("/nine/") >= 9
    sizes = []
    for number in range(1, 10):
        tile = client.get(f"/me/links/{link_id}/nine/{number}.jpg")
        assert tile.status_code == 200 and tile.mimetype == "image/jpeg"
        sizes.append(Image.open(io.BytesIO(tile.get_data())).size)
        tile.close()
    assert sizes[4] == (750, 750) and sizes[0] == (670, 670)
    assert client.get(f"/me/links/{link_id}/nine/10.jpg").status_code == 404
    # The QR tile is cached: the same bytes and ETag the second time, 304 when asked so.
    qr = client.get(f"/me/links/{link_id}/nine/5.jpg")
    qr.close()
    assert (
        client.get(
            f"/me/links/{link_id}/nine/5.jpg", headers={"If-None-Match": qr.headers["ETag"]}
        ).status_code
        == 304
    )
    assert code  # (the QR encodes /r/<code>; decoding needs a QR reader the tests lack)


def test_merchants_attach_at_most_nine_pictures_and_copy(app, user_client):
    with app.app_context():
        product = make_product(title="冷泡茶")
        merchant = db.session.get(Merchant, product.merchant_id)
        owner = merchant.user
        other = make_product()
        db.session.commit()
        product_id, other_id = product.id, other.id
    client = user_client(owner)
    assert client.get(f"/merchant/products/{product_id}/materials").status_code == 200
    assert client.get(f"/merchant/products/{other_id}/materials").status_code == 404
    files = [(io.BytesIO(png_bytes(color=(i * 20, 10, 10))), f"{i}.png") for i in range(9)]
    response = client.post(
        f"/merchant/products/{product_id}/materials/pictures",
        data={"pictures": files},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    tenth = client.post(
        f"/merchant/products/{product_id}/materials/pictures",
        data={"pictures": [(io.BytesIO(png_bytes(color=(1, 2, 3))), "x.png")]},
        content_type="multipart/form-data",
    )
    assert tenth.status_code == 422 and "最多 9 张" in tenth.get_data(as_text=True)
    bad = client.post(
        f"/merchant/products/{product_id}/materials/pictures",
        data={"pictures": [(io.BytesIO(b"not an image"), "x.png")]},
        content_type="multipart/form-data",
    )
    assert bad.status_code == 422
    long_text = "好" * 1001
    refused = client.post(
        f"/merchant/products/{product_id}/materials/text", data={"text": long_text}
    )
    assert refused.status_code == 422 and long_text in refused.get_data(as_text=True)
    client.post(f"/merchant/products/{product_id}/materials/text", data={"text": "冷泡八小时"})
    with app.app_context():
        rows = db.session.scalars(
            db.select(MaterialImage).where(MaterialImage.product_id == product_id)
        ).all()
        assert len(rows) == 9
        assert materials.text_of(db.session.get(type(other), product_id)) == "冷泡八小时"
        first_id = rows[0].id
    # Another merchant's product: 404 for its pictures too.
    assert (
        client.post(
            f"/merchant/products/{other_id}/materials/pictures/{first_id}/delete"
        ).status_code
        == 404
    )
    client.post(f"/merchant/products/{product_id}/materials/pictures/{first_id}/delete")
    with app.app_context():
        assert db.session.get(MaterialImage, first_id) is None


def test_sharers_keep_copy_variants_of_their_own(app, user_client):
    with app.app_context():
        user, _shop, _product, item = shop_with_item()
        db.session.commit()
        item_id = item.id
    client = user_client(user)
    empty = client.post(f"/me/materials/items/{item_id}/variants", data={"body": "  "})
    assert empty.status_code == 422 and "请填写" in empty.get_data(as_text=True)
    client.post(f"/me/materials/items/{item_id}/variants", data={"body": "冰镇后更好喝"})
    page = client.get(f"/me/materials/items/{item_id}").get_data(as_text=True)
    assert "冰镇后更好喝" in page
    with app.app_context():
        variant_id = db.session.scalar(db.select(CopyVariant.id))
    client.post(f"/me/variants/{variant_id}/edit", data={"body": "冷泡一夜，清甜"})
    with app.app_context():
        assert db.session.get(CopyVariant, variant_id).body == "冷泡一夜，清甜"
    client.post(f"/me/variants/{variant_id}/delete")
    with app.app_context():
        assert db.session.get(CopyVariant, variant_id) is None


def test_arranging_the_shop_takes_every_item_once(app, user_client):
    with app.app_context():
        user, shop, _product, first = shop_with_item()
        second = shops.add_item(shop, make_product(), now=utcnow())
        third = shops.add_item(shop, make_product(), now=utcnow())
        stranger = shop_with_item()[3]
        db.session.commit()
        ids = [first.id, second.id, third.id]
        stranger_id = stranger.id
    client = user_client(user)
    assert "↑" in client.get("/me/shop?manage=1").get_data(as_text=True)
    response = client.post(
        "/me/shop/items/order",
        data={"item": [str(ids[2]), str(ids[0]), str(ids[1])]},
        headers={"X-Requested-With": "fetch"},
    )
    assert response.status_code == 200
    with app.app_context():
        order = db.session.scalars(
            db.select(ShopItem.id).where(ShopItem.id.in_(ids)).order_by(ShopItem.position)
        ).all()
        assert order == [ids[2], ids[0], ids[1]]
    wrong = client.post(
        "/me/shop/items/order",
        data={"item": [str(ids[0]), str(ids[1]), str(stranger_id)]},
        headers={"X-Requested-With": "fetch"},
    )
    assert wrong.status_code == 422


def test_removing_an_item_asks_first_and_works_without_js(app, user_client):
    with app.app_context():
        user, _shop, _product, item = shop_with_item()
        db.session.commit()
        item_id = item.id
    client = user_client(user)
    asked = client.post(f"/me/shop/items/{item_id}/remove")
    html = asked.get_data(as_text=True)
    assert asked.status_code == 200 and "确定" in html and 'name="confirmed" value="1"' in html
    with app.app_context():
        assert db.session.get(ShopItem, item_id) is not None
    done = client.post(f"/me/shop/items/{item_id}/remove", data={"confirmed": "1"})
    assert done.status_code == 302
    with app.app_context():
        assert db.session.get(ShopItem, item_id) is None


def test_delisting_asks_first(app, user_client):
    with app.app_context():
        product = make_product(title="冷泡茶")
        owner = db.session.get(Merchant, product.merchant_id).user
        db.session.commit()
        product_id = product.id
    client = user_client(owner)
    asked = client.post(f"/merchant/products/{product_id}/delist")
    assert asked.status_code == 200 and "下架" in asked.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(type(product), product_id).status == ProductStatus.LISTED
    client.post(f"/merchant/products/{product_id}/delist", data={"confirmed": "1"})
    with app.app_context():
        assert db.session.get(type(product), product_id).status == ProductStatus.DELISTED


def test_a_link_to_a_delisted_product_leads_to_the_sharers_shop(app, client):
    with app.app_context():
        _user, shop, product, _item = shop_with_item(title="旧款茶")
        other = make_product(title="新款茶")
        shops.add_item(shop, other, now=utcnow())
        link = links.get_or_create_link(shop, product, Channel.WECHAT_GROUP, now=utcnow())
        product.status = ProductStatus.DELISTED
        db.session.commit()
        code, slug, product_id = link.code, shop.slug, product.id
    for url in (f"/r/{code}", f"/s/{slug}/p/{product_id}"):
        response = client.get(url)
        html = response.get_data(as_text=True)
        assert response.status_code == 410
        assert "“旧款茶”已下架" in html and "新款茶" in html
        assert f"/s/{slug}" in html
        assert "410" not in re.sub(r"<[^>]+>", "", html)


def test_error_pages_lead_with_words(client):
    html = client.get("/no-such-page").get_data(as_text=True)
    text = re.sub(r"<[^>]+>", " ", html)
    assert text.index("页面不存在") < text.index("404")


def test_the_landing_page_has_a_share_card(app, client):
    with app.app_context():
        _user, shop, product, _item = shop_with_item(title="桂花乌龙", price_cents=3990)
        db.session.commit()
        url = f"/s/{shop.slug}/p/{product.id}"
        cover = product.cover.sha256
    html = client.get(url).get_data(as_text=True)
    assert '<meta property="og:title" content="桂花乌龙">' in html
    assert re.search(r'og:description" content="¥39.90 · 夏天冷泡一整壶"', html)
    assert f'<meta property="og:image" content="http://localhost/media/{cover}-d.webp">' in html
    # Not configured: no SDK, not even inside WeChat, and no signing endpoint.
    wechat_html = client.get(url, headers={"User-Agent": WECHAT_UA})
    assert "jweixin" not in wechat_html.get_data(as_text=True)
    assert "res.wx.qq.com" not in wechat_html.headers["Content-Security-Policy"]
    assert client.get("/wx/js-config?url=http://localhost/").status_code == 404


def test_with_an_official_account_wechat_pages_load_the_sdk_and_get_signed(database_url, tmp_path):
    fake = FakeWeChat()
    with serving(fake) as base:
        app = build_app(
            database_url,
            tmp_path / "wx",
            WECHAT_APP_ID=fake.app_id,
            WECHAT_APP_SECRET=fake.secret,
            WECHAT_API_BASE=base,
        )
        with app.app_context():
            _user, shop, product, _item = shop_with_item()
            db.session.commit()
            url = f"/s/{shop.slug}/p/{product.id}"
        client = app.test_client()
        plain = client.get(url)
        assert "jweixin" not in plain.get_data(as_text=True)  # only inside WeChat
        assert "res.wx.qq.com" not in plain.headers["Content-Security-Policy"]
        inside = client.get(url, headers={"User-Agent": WECHAT_UA})
        assert "https://res.wx.qq.com/open/js/jweixin-1.6.0.js" in inside.get_data(as_text=True)
        assert (
            "script-src 'self' https://res.wx.qq.com" in inside.headers["Content-Security-Policy"]
        )
        page_url = f"http://localhost{url}"
        answer = client.get("/wx/js-config", query_string={"url": page_url + "#top"}).get_json()
        assert answer["appId"] == fake.app_id
        from shop.sharing import wechat

        assert answer["signature"] == wechat.signature(
            "TICKET-TOKEN1", answer["nonceStr"], answer["timestamp"], page_url
        )
        assert (
            client.get("/wx/js-config", query_string={"url": "https://evil.example/"}).status_code
            == 400
        )
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_shop_itself_has_a_sheet_a_poster_and_a_moments_page(app, user_client):
    with app.app_context():
        user, _shop, _product, _item = shop_with_item()
        db.session.commit()
    client = user_client(user)
    sheet = client.get("/me/share/shop")
    assert sheet.status_code == 200 and "分享我的小店" in sheet.get_data(as_text=True)
    with app.app_context():
        link = db.session.scalar(
            db.select(ShareLink).where(
                ShareLink.product_id.is_(None), ShareLink.channel == Channel.MOMENTS
            )
        )
        link_id = link.id
    assert client.get(f"/me/links/{link_id}/moments").status_code == 200
    assert client.get(f"/me/links/{link_id}/nine/1.jpg").status_code == 404  # no pictures
    poster = client.get(f"/me/links/{link_id}/poster.jpg")
    data = poster.get_data()
    poster.close()
    assert Image.open(io.BytesIO(data)).size == (750, 1334)


def test_a_sharer_cannot_share_an_item_that_is_not_on_sale(app, user_client):
    with app.app_context():
        user, _shop, product, item = shop_with_item()
        product.stock = 0
        db.session.commit()
        item_id = item.id
    client = user_client(user)
    response = client.get(f"/me/share/items/{item_id}")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(db.select(db.func.count(ShareLink.id))) == 0
