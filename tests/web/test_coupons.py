"""Coupons on pages: 券后价 on the landing page, the one-tap claim, the checkout's coupon row,
a link's coupon applying by itself, and the merchant's coupon form."""

import re
from datetime import timedelta

from sqlalchemy import select

from shop.accounts.models import User
from shop.orders import coupons
from shop.orders.models import CouponClaim, Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing.models import ShopItem
from tests import invariants
from tests.factories import make_user
from tests.web.test_checkout import ADDRESS
from tests.web.test_sharing import PHONE_UA, make_link


def setup(app, *, off=2000, threshold=0, on="item"):
    with app.app_context():
        link = make_link(price_cents=12800, rebate_bps=1000, stock=5)
        coupon = coupons.create_coupon(
            link.product.merchant, product_id=link.product_id, off_cents=off,
            threshold_cents=threshold, total_count=5, per_buyer=1,
            starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(days=3),
            now=utcnow(),
        )  # fmt: skip
        item = db.session.execute(
            select(ShopItem).where(ShopItem.product_id == link.product_id)
        ).scalar_one()
        if on == "item":
            coupons.attach(coupon, sharer=link.sharer, item=item)
        else:
            coupons.attach(coupon, sharer=link.sharer, link=link)
        buyer = make_user()
        db.session.commit()
        return link.code, link.shop.slug, link.product_id, coupon.id, buyer


def test_the_landing_page_shows_the_price_after_coupon_and_a_buyer_claims_it(
    app, client, user_client
):
    code, slug, product_id, coupon_id, buyer = setup(app)
    with app.app_context():
        buyer_phone = db.session.merge(buyer).phone
    page = client.get(f"/s/{slug}/p/{product_id}?ref={code}", headers={"User-Agent": PHONE_UA})
    html = page.get_data(as_text=True)
    assert "¥108.00" in html and "/signin?next=" in html
    signed = user_client(buyer)
    html = signed.get(f"/s/{slug}/p/{product_id}?ref={code}").get_data(as_text=True)
    assert f"/coupons/{coupon_id}/claim" in html
    back = f"/s/{slug}/p/{product_id}?ref={code}"
    claimed = signed.post(f"/coupons/{coupon_id}/claim", data={"next": back, "ref": code})
    assert claimed.status_code == 302 and claimed.headers["Location"] == back
    again = signed.post(f"/coupons/{coupon_id}/claim", data={"next": back}, follow_redirects=True)
    assert "已经领过" in again.get_data(as_text=True)
    with app.app_context():
        claim = db.session.execute(select(CouponClaim)).scalar_one()
        assert db.session.get(User, claim.buyer_id).phone == buyer_phone


def _key(html):
    return re.search(r'name="checkout_key"[^>]*value="([^"]+)"', html).group(1)


def test_a_claimed_coupon_is_taken_off_at_checkout(app, user_client):
    code, _slug, product_id, coupon_id, buyer = setup(app)
    client = user_client(buyer)
    client.post(f"/coupons/{coupon_id}/claim", data={"next": "/"})
    page = client.get(f"/checkout/{product_id}").get_data(as_text=True)
    assert "−¥20.00" in page and "¥108.00" in page  # the subtotal after the coupon
    data = {**ADDRESS, "quantity": "1", "checkout_key": _key(page), "ref": ""}
    placed = client.post(f"/checkout/{product_id}", data=data)
    assert placed.status_code == 302, placed.get_data(as_text=True)
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert (order.goods_cents, order.discount_cents, order.coupon_id) == (
            12800,
            2000,
            coupon_id,
        )
        assert order.items[0].rebate_cents == 1080  # 10% of the ¥108 paid
        invariants.check(db.session)


def test_no_coupon_chosen_pays_full_price(app, user_client):
    code, _slug, product_id, coupon_id, buyer = setup(app)
    client = user_client(buyer)
    client.post(f"/coupons/{coupon_id}/claim", data={"next": "/"})
    page = client.get(f"/checkout/{product_id}").get_data(as_text=True)
    data = {**ADDRESS, "quantity": "1", "checkout_key": _key(page), "ref": "", "coupon-1": "none"}
    with app.app_context():
        merchant_id = db.session.execute(select(ShopItem)).scalar_one().product.merchant_id
    data[f"coupon-{merchant_id}"] = "none"
    client.post(f"/checkout/{product_id}", data=data)
    with app.app_context():
        assert db.session.execute(select(Order)).scalar_one().discount_cents == 0


def test_a_links_coupon_applies_by_itself_at_checkout(app, user_client):
    code, _slug, product_id, coupon_id, buyer = setup(app, on="link")
    client = user_client(buyer)
    client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    page = client.get(f"/checkout/{product_id}?ref={code}").get_data(as_text=True)
    assert "−¥20.00" in page and "来自此链接" in page
    data = {**ADDRESS, "quantity": "1", "checkout_key": _key(page), "ref": code}
    assert client.post(f"/checkout/{product_id}", data=data).status_code == 302
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        claim = db.session.execute(select(CouponClaim)).scalar_one()
        assert order.discount_cents == 2000 and claim.order_id == order.id
        assert claim.link_id is not None
        invariants.check(db.session)


def test_below_the_threshold_the_coupon_is_shown_with_why_and_not_used(app, user_client):
    code, _slug, product_id, coupon_id, buyer = setup(app, off=3000, threshold=20000)
    client = user_client(buyer)
    client.post(f"/coupons/{coupon_id}/claim", data={"next": "/"})
    page = client.get(f"/checkout/{product_id}").get_data(as_text=True)
    assert "满 ¥200.00 可用" in page or "¥200.00" in page
    data = {**ADDRESS, "quantity": "1", "checkout_key": _key(page), "ref": ""}
    client.post(f"/checkout/{product_id}", data=data)
    with app.app_context():
        assert db.session.execute(select(Order)).scalar_one().discount_cents == 0


def test_the_merchant_makes_a_coupon_bad_input_keeps_what_was_typed(app, user_client):
    from shop.orders.models import Coupon
    from tests.factories import make_merchant, make_product

    with app.app_context():
        merchant = make_merchant(name="山野茶舍")
        product_id = make_product(merchant=merchant, price_cents=5000).id
        user = merchant.user
        db.session.commit()
    seller = user_client(user)
    form = seller.get("/merchant/coupons").get_data(as_text=True)
    assert 'type="date"' in form and "整店" in form
    data = {
        "product_id": str(product_id), "off": "10", "threshold": "9", "total_count": "100",
        "per_buyer": "1", "starts_on": "2030-01-01", "ends_on": "2030-01-07",
    }  # fmt: skip
    bad = seller.post("/merchant/coupons", data=data)
    html = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "减免金额须小于门槛" in html and 'value="10"' in html
    for change, message in (
        ({"total_count": "abc"}, "请输入整数"),
        ({"per_buyer": "500"}, "每人可领"),
        ({"ends_on": "2029-12-01"}, "结束日须晚于开始日"),
        ({"off": "1.234"}, "最多两位小数"),
    ):
        html = seller.post("/merchant/coupons", data={**data, "threshold": "", **change})
        assert message in html.get_data(as_text=True), change
    saved = seller.post("/merchant/coupons", data={**data, "threshold": "99"})
    assert saved.status_code == 303
    with app.app_context():
        coupon = db.session.execute(select(Coupon)).scalar_one()
        assert (coupon.off_cents, coupon.threshold_cents, coupon.product_id) == (
            1000,
            9900,
            product_id,
        )
        assert coupon.starts_at.isoformat() == "2029-12-31T16:00:00"  # China midnight in UTC
        assert coupon.ends_at.isoformat() == "2030-01-07T16:00:00"  # the last day included
        coupon_id = coupon.id
    page = seller.get("/merchant/coupons").get_data(as_text=True)
    assert "满¥99.00减¥10.00" in page and "0/100 已领" in page
    assert seller.post(f"/merchant/coupons/{coupon_id}/stop").status_code == 303
    other = user_client(make_user_in(app))
    assert other.post(f"/merchant/coupons/{coupon_id}/stop").status_code in (403, 404, 302)


def make_user_in(app):
    with app.app_context():
        user = make_user()
        db.session.commit()
        return user


def test_a_sharer_puts_a_coupon_on_a_shop_item_and_is_refused_another_products(app, user_client):
    from tests.factories import make_product

    with app.app_context():
        link = make_link(price_cents=12800, stock=5)
        merchant = link.product.merchant
        mine = coupons.create_coupon(
            merchant, product_id=link.product_id, off_cents=1000, threshold_cents=0,
            total_count=5, per_buyer=1, starts_at=utcnow() - timedelta(hours=1),
            ends_at=utcnow() + timedelta(days=3), now=utcnow(),
        ).id  # fmt: skip
        other = make_product(merchant=merchant)
        theirs = coupons.create_coupon(
            merchant, product_id=other.id, off_cents=500, threshold_cents=0,
            total_count=5, per_buyer=1, starts_at=utcnow() - timedelta(hours=1),
            ends_at=utcnow() + timedelta(days=3), now=utcnow(),
        ).id  # fmt: skip
        item_id = db.session.execute(select(ShopItem.id)).scalar_one()
        sharer, slug, product_id = link.sharer, link.shop.slug, link.product_id
        db.session.commit()
    client = user_client(sharer)
    page = client.get(f"/me/shop/items/{item_id}/coupon").get_data(as_text=True)
    assert "券后价 ¥118.00" in page and f'value="{theirs}"' not in page
    refused = client.post(
        f"/me/shop/items/{item_id}/coupon", data={"coupon": str(theirs)}, follow_redirects=True
    )
    assert "这张优惠券不能用于" in refused.get_data(as_text=True)
    saved = client.post(f"/me/shop/items/{item_id}/coupon", data={"coupon": str(mine)})
    assert saved.status_code == 302
    landing = user_client(make_user_in(app)).get(f"/s/{slug}/p/{product_id}")
    assert "¥118.00" in landing.get_data(as_text=True)
    stranger = user_client(make_user_in(app))
    assert stranger.get(f"/me/shop/items/{item_id}/coupon").status_code in (302, 404)
    assert stranger.post(f"/me/shop/items/{item_id}/coupon", data={"coupon": ""}).status_code in (
        302,
        404,
    )
    with app.app_context():
        assert db.session.execute(select(coupons.CouponAttachment)).first() is not None
    client.post(f"/me/shop/items/{item_id}/coupon", data={"coupon": ""})
    with app.app_context():
        assert db.session.execute(select(coupons.CouponAttachment)).first() is None


def test_a_coupon_change_drops_the_kept_landing_page(app, client):
    app.config["LANDING_CACHE_SECONDS"] = 60
    code, slug, product_id, coupon_id, _buyer = setup(app)
    url = f"/s/{slug}/p/{product_id}?ref={code}"
    assert "¥108.00" in client.get(url).get_data(as_text=True)
    with app.app_context():
        coupon = db.session.get(coupons.Coupon, coupon_id)
        coupons.stop_coupon(coupon, actor=coupon.merchant)
        db.session.commit()
    assert "¥108.00" not in client.get(url).get_data(as_text=True)


def test_the_poster_shows_the_price_after_coupon_and_its_key_changes_with_it(app, user_client):
    import os

    with app.app_context():
        link = make_link(price_cents=12800, stock=5)
        coupon_id = coupons.create_coupon(
            link.product.merchant, product_id=link.product_id, off_cents=2000,
            threshold_cents=0, total_count=5, per_buyer=1,
            starts_at=utcnow() - timedelta(hours=1), ends_at=utcnow() + timedelta(days=3),
            now=utcnow(),
        ).id  # fmt: skip
        sharer, link_id = link.sharer, link.id
        db.session.commit()
    client = user_client(sharer)
    before = client.get(f"/me/links/{link_id}/poster.jpg")
    before.get_data()
    before.close()
    with app.app_context():
        link = db.session.get(coupons.ShareLink, link_id)
        coupons.attach(db.session.get(coupons.Coupon, coupon_id), sharer=link.sharer, link=link)
        db.session.commit()
    after = client.get(f"/me/links/{link_id}/poster.jpg")
    data = after.get_data()
    after.close()
    assert after.status_code == 200 and after.headers["ETag"] != before.headers["ETag"]
    os.makedirs("test-artifacts", exist_ok=True)
    with open("test-artifacts/poster-coupon.jpg", "wb") as handle:
        handle.write(data)


def test_the_landing_page_with_a_coupon_stays_within_the_phone_budget(app, client):
    from tests.web.test_page_budget import assert_within_budget, measure

    code, slug, product_id, _coupon_id, _buyer = setup(app, on="link")
    sizes = measure(client, f"/s/{slug}/p/{product_id}?ref={code}")
    assert "coupon" in client.get(f"/s/{slug}/p/{product_id}?ref={code}").get_data(as_text=True)
    assert_within_budget(sizes)
    print(f"\nlanding page with a coupon: {sizes}")


def test_a_sharer_puts_a_coupon_on_a_share_link_from_its_poster_page(app, user_client):
    code, slug, product_id, coupon_id, _buyer = setup(app, on="item")
    with app.app_context():
        link = db.session.execute(select(coupons.ShareLink)).scalar_one()
        sharer, link_id = link.sharer, link.id
    client = user_client(sharer)
    assert f"/me/links/{link_id}/coupon" in client.get(f"/me/links/{link_id}/poster").get_data(
        as_text=True
    )
    page = client.get(f"/me/links/{link_id}/coupon").get_data(as_text=True)
    assert "券后价 ¥108.00" in page
    saved = client.post(f"/me/links/{link_id}/coupon", data={"coupon": str(coupon_id)})
    assert saved.status_code == 302
    with app.app_context():
        rows = db.session.execute(select(coupons.CouponAttachment)).scalars().all()
        assert {(r.link_id, r.shop_item_id is None) for r in rows} >= {(link_id, True)}
    client.post(f"/me/links/{link_id}/coupon", data={"coupon": ""})
    with app.app_context():
        assert (
            db.session.execute(
                select(coupons.CouponAttachment).where(coupons.CouponAttachment.link_id == link_id)
            ).first()
            is None
        )
