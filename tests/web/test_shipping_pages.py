"""The merchant's shipping templates page: make one (bad input keeps what was typed), give it
to a product with a weight, see it on the product page, delete it."""

import re

from sqlalchemy import select

from shop.catalog.models import Product, ShippingTemplate
from shop.platform.extensions import db
from tests.factories import make_merchant, make_product
from tests.web.test_money_pages import text_of


def token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_merchant_makes_assigns_and_deletes_a_template(app, user_client, client):
    with app.app_context():
        merchant = make_merchant(name="山野茶舍")
        product_id = make_product(merchant=merchant, price_cents=5000).id
        db.session.commit()
        user = merchant.user
    seller = user_client(user)
    form = seller.get("/merchant/shipping/new").get_data(as_text=True)
    assert "西藏自治区" in form and "满额包邮" in form
    data = {"csrf_token": token(form), "name": "满99包邮", "kind": "free_over", "basis": "piece",
            "first_fee": "8", "extra_fee": "2", "free_over": "", "unreachable": ["540000"],
            "first_650000": "20"}  # fmt: skip
    bad = seller.post("/merchant/shipping/new", data=data)
    text = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "请填写满多少元包邮" in text
    assert 'value="满99包邮"' in text and 'value="20"' in text and 'value="540000" checked' in text
    wrong = seller.post("/merchant/shipping/new", data={**data, "first_fee": "8.123"})
    assert "最多两位小数" in wrong.get_data(as_text=True)
    saved = seller.post("/merchant/shipping/new", data={**data, "free_over": "99"})
    assert saved.status_code == 303
    with app.app_context():
        template = db.session.execute(select(ShippingTemplate)).scalar_one()
        assert (template.first_fee_cents, template.free_over_cents) == (800, 9900)
        assert template.unreachable == ["540000"] and template.region_fees == {}
        template_id = template.id
    page = seller.get("/merchant/shipping").get_data(as_text=True)
    assert "满99包邮" in page
    seller.post(
        f"/merchant/shipping/products/{product_id}",
        data={"csrf_token": token(page), "template_id": str(template_id), "weight_grams": "500"},
    )
    with app.app_context():
        product = db.session.get(Product, product_id)
        assert (product.shipping_template_id, product.weight_grams) == (template_id, 500)
    # Anyone sees "free over ¥99" under a ¥50 product.
    assert "满 ¥99.00 包邮" in text_of(client.get(f"/p/{product_id}"))
    seller.post(f"/merchant/shipping/{template_id}/delete", data={"csrf_token": token(page)})
    with app.app_context():
        assert db.session.get(Product, product_id).shipping_template_id is None
    assert "包邮" in text_of(client.get(f"/p/{product_id}"))
