import io
from datetime import timedelta

import pytest

from shop.catalog.models import (
    Merchant,
    MerchantStatus,
    Product,
    ProductStatus,
    ShippingTemplate,
)
from shop.money.models import RefundRequest
from shop.orders import coupons
from shop.orders.models import Coupon, Order, OrderStatus
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.reviews.models import Review
from shop.sharing import materials
from shop.sharing.models import MaterialImage
from tests.factories import (
    make_category,
    make_merchant,
    make_product,
    make_review,
    make_user,
    png_bytes,
)
from tests.services.test_orders import place as place_test_order


def application_form(category_id, **overrides):
    form = {
        "name": "山野茶舍",
        "licence_no": "91350100M000100Y43",
        "contact_name": "陈先生",
        "contact_phone": "13800138000",
        "category_id": str(category_id),
        "description": "自有茶园",
        "logo": (io.BytesIO(png_bytes()), "logo.png"),
    }
    form.update(overrides)
    return form


def test_a_user_applies_and_sees_the_status(app, user_client):
    with app.app_context():
        user = make_user()
        category_id = make_category().id
        db.session.commit()
    client = user_client(user)
    response = client.post(
        "/merchant/apply", data=application_form(category_id), content_type="multipart/form-data"
    )
    assert response.status_code == 302
    page = client.get("/merchant/apply").get_data(as_text=True)
    assert "审核中" in page and "91350100M000100Y43" in page
    with app.app_context():
        merchant = db.session.execute(db.select(Merchant)).scalar_one()
        assert merchant.status == MerchantStatus.PENDING and merchant.logo_image_id
    # Not approved yet: the console sends them back to the status page.
    assert client.get("/merchant/").headers["Location"].endswith("/merchant/apply")


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"licence_no": "91350100M000100Y44"}, "校验位不正确"),
        ({"contact_phone": "555"}, "11 位大陆手机号"),
        ({"logo": (b"not an image at all", "logo.png")}, "只能上传 JPEG"),
        ({"logo": (b"", "")}, "请上传品牌 Logo"),
    ],
)
def test_bad_application_keeps_the_rest_of_the_input(app, user_client, override, message):
    with app.app_context():
        user = make_user()
        category_id = make_category().id
        db.session.commit()
    client = user_client(user)
    if "logo" in override:  # parametrized values are shared by runs: make a fresh file each time
        data, name = override["logo"]
        override = {"logo": (io.BytesIO(data), name)}
    response = client.post(
        "/merchant/apply",
        data=application_form(category_id, **override),
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert 'value="山野茶舍"' in page and 'value="陈先生"' in page
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Merchant.id))).scalar_one() == 0


def test_a_second_application_is_refused(app, user_client):
    with app.app_context():
        merchant = make_merchant(status=MerchantStatus.PENDING)
        category_id = make_category().id
        db.session.commit()
        user = merchant.user
    client = user_client(user)
    response = client.post(
        "/merchant/apply",
        data=application_form(category_id, name="第二家"),
        content_type="multipart/form-data",
    )
    assert "审核中" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(db.select(Merchant.name)).scalars().all() != ["第二家"]


def test_rejected_applicant_sees_the_reason_and_can_resubmit(app, user_client):
    with app.app_context():
        merchant = make_merchant(status=MerchantStatus.REJECTED, status_reason="执照模糊")
        category_id = make_category().id
        db.session.commit()
        user, merchant_id = merchant.user, merchant.id
    client = user_client(user)
    page = client.get("/merchant/apply").get_data(as_text=True)
    assert "执照模糊" in page and "重新提交" in page
    form = application_form(category_id, logo=(io.BytesIO(b""), ""))
    assert (
        client.post("/merchant/apply", data=form, content_type="multipart/form-data").status_code
        == 302
    )
    with app.app_context():
        assert db.session.get(Merchant, merchant_id).status == MerchantStatus.PENDING


def product_form(category_id, **overrides):
    form = {
        "title": "正山小种",
        "category_id": str(category_id),
        "price": "128.00",
        "original_price": "168",
        "stock": "50",
        "rebate_percent": "15",
        "description": "松烟香",
    }
    form.update(overrides)
    return form


def test_merchant_creates_lists_and_delists_a_product(app, user_client):
    with app.app_context():
        merchant = make_merchant()
        category_id = make_category().id
        db.session.commit()
        user = merchant.user
    client = user_client(user)
    form = product_form(category_id, images=[(io.BytesIO(png_bytes()), "a.png")])
    response = client.post("/merchant/products/new", data=form, content_type="multipart/form-data")
    assert response.status_code == 302
    with app.app_context():
        product = db.session.execute(db.select(Product)).scalar_one()
        assert (product.price_cents, product.original_price_cents, product.rebate_bps) == (
            12800,
            16800,
            1500,
        )
        assert product.status == ProductStatus.DRAFT and len(product.images) == 1
        product_id = product.id
    assert client.post(f"/merchant/products/{product_id}/list").status_code == 302
    assert client.get(f"/p/{product_id}").status_code == 200
    assert "正山小种" in client.get("/").get_data(as_text=True)
    client.post(f"/merchant/products/{product_id}/delist", data={"confirmed": "1"})
    assert client.get(f"/p/{product_id}").status_code == 410
    assert "正山小种" not in client.get("/").get_data(as_text=True)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"price": "-5"}, "价格必须大于零"),
        ({"price": "12.345"}, "最多两位小数"),
        ({"rebate_percent": "60"}, "返利比例须在 1% 到 50% 之间"),
        ({"rebate_percent": "0.5"}, "返利比例须在 1% 到 50% 之间"),
        ({"stock": "-1"}, "请填写 0 到"),
        ({"original_price": "100"}, "原价不能低于售价"),
    ],
)
def test_bad_product_input_keeps_what_was_typed(app, user_client, override, message):
    with app.app_context():
        merchant = make_merchant()
        category_id = make_category().id
        db.session.commit()
        user = merchant.user
    client = user_client(user)
    response = client.post("/merchant/products/new", data=product_form(category_id, **override))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and message in page
    assert 'value="正山小种"' in page
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Product.id))).scalar_one() == 0


def test_oversized_and_bomb_uploads_are_refused_on_the_form(app, user_client):
    app.config["MAX_IMAGE_PIXELS"] = 1_000_000
    with app.app_context():
        merchant = make_merchant()
        category_id = make_category().id
        db.session.commit()
        user = merchant.user
    client = user_client(user)
    bomb = png_bytes(size=(3000, 3000))
    response = client.post(
        "/merchant/products/new",
        data=product_form(category_id, images=[(io.BytesIO(bomb), "bomb.png")]),
        content_type="multipart/form-data",
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "像素过大" in page and 'value="正山小种"' in page
    with app.app_context():
        assert db.session.execute(db.select(db.func.count(Product.id))).scalar_one() == 0


def test_listing_without_an_image_says_what_is_missing(app, user_client):
    with app.app_context():
        product = make_product(status=ProductStatus.DRAFT, with_image=False)
        db.session.commit()
        user, product_id = product.merchant.user, product.id
    client = user_client(user)
    client.post(f"/merchant/products/{product_id}/list")
    page = client.get(f"/merchant/products/{product_id}/edit").get_data(as_text=True)
    assert "请至少添加一张图片" in page
    with app.app_context():
        assert db.session.get(Product, product_id).status == ProductStatus.DRAFT


def merchant_routes_with_ids(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("merchant.") and rule.arguments:
            yield rule


def test_every_merchant_route_with_an_id_hides_other_merchants_products(app, user_client):
    with app.app_context():
        victim = make_product(status=ProductStatus.LISTED)
        victim_image = victim.images[0]
        [victim_order] = place_test_order(make_user(), [(victim.id, 1)], provider="manual")
        victim_review = make_review(victim)
        [victim_material] = materials.add_pictures(
            victim, [png_bytes(color=(5, 6, 7))], merchant=victim.merchant, now=utcnow()
        )
        victim_template = ShippingTemplate(merchant_id=victim.merchant_id, name="包邮")
        db.session.add(victim_template)
        victim_coupon = coupons.create_coupon(
            victim.merchant, product_id=victim.id, off_cents=100, threshold_cents=0,
            total_count=5, per_buyer=1, starts_at=utcnow(), ends_at=utcnow() + timedelta(days=9),
            now=utcnow(),
        )  # fmt: skip
        # A partial refund request on the victim's order (the row only: nobody decides it).
        victim_part = RefundRequest(
            order_id=victim_order.id, seq=1, request_key="victim-part", kind="refund_only",
            reason="坏了", amount_cents=100, source="buyer", requested_by_id=victim_order.buyer_id,
            requested_at=utcnow(),
        )  # fmt: skip
        db.session.add(victim_part)
        intruder = make_merchant()
        db.session.commit()
        ids = {
            "part_id": victim_part.id,
            "product_id": victim.id,
            "material_id": victim_material.id,
            "product_image_id": victim_image.id,
            "order_id": victim_order.id,
            "review_id": victim_review.id,
            "template_id": victim_template.id,
            "coupon_id": victim_coupon.id,
        }
        before = (victim.title, victim.status, victim.price_cents, len(victim.images))
        intruder_user = intruder.user
    client = user_client(intruder_user)
    rules = list(merchant_routes_with_ids(app))
    assert len(rules) >= 6
    checked = 0
    for rule in rules:
        url = rule.build({name: ids[name] for name in rule.arguments})[1]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = product_form(1) if method == "POST" else None
            response = client.open(url, method=method, data=data)
            assert response.status_code == 404, (method, url)
            assert "正山小种" not in response.get_data(as_text=True)
            checked += 1
    assert checked >= 7
    with app.app_context():
        victim = db.session.get(Product, ids["product_id"])
        assert (victim.title, victim.status, victim.price_cents, len(victim.images)) == before
        order = db.session.get(Order, ids["order_id"])
        assert order.status == OrderStatus.PLACED and [e.to_status for e in order.events] == [
            "placed"
        ]
        assert db.session.get(Review, ids["review_id"]).reply is None
        assert db.session.get(MaterialImage, ids["material_id"]) is not None
        assert db.session.get(ShippingTemplate, ids["template_id"]).name == "包邮"
        assert victim.shipping_template_id is None
        assert db.session.get(Coupon, ids["coupon_id"]).is_active  # not stopped by another
        assert db.session.get(RefundRequest, ids["part_id"]).status == "requested"


def test_signed_out_visitors_are_sent_to_sign_in(client):
    response = client.get("/merchant/products/1/edit")
    assert response.status_code == 302 and "/auth/signin" in response.headers["Location"]
