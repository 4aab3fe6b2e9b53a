"""The address book's pages, the picker without script (province -> city -> district), the
picker's data, and checkout with an address card, shipping fees, an unreachable region and a
note to the merchant."""

import re

from sqlalchemy import func, select

from shop.catalog.models import Product, ShippingBasis, ShippingKind, ShippingTemplate
from shop.orders import addresses
from shop.orders.models import Address, Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from tests.factories import make_merchant, make_product, make_user
from tests.web.test_money_pages import text_of

WEST_LAKE = {"province": "330000", "city": "330100", "district": "330106"}
URUMQI = {"province": "650000", "city": "650100", "district": "650102"}


def token(page: str, name: str = "csrf_token") -> str:
    return re.search(rf'name="{name}"[^>]*value="([^"]+)"', page).group(1)


def saved(app, buyer, region=WEST_LAKE, detail="文三路 90 号", **kw):
    with app.app_context():
        address = addresses.check_address(
            "王小二", "13912345678", region["province"], region["city"], region["district"], detail
        )
        row = addresses.save_address(db.session.merge(buyer), address, now=utcnow(), **kw)
        db.session.commit()
        return row.id


def new_buyer(app, **fields):
    with app.app_context():
        buyer = make_user(phone="13911112222", display_name="买家", **fields)
        db.session.commit()
        return buyer


def test_address_book_add_edit_default_and_delete_with_confirmation(app, user_client):
    buyer = new_buyer(app)
    client = user_client(buyer)
    form = client.get("/account/addresses/new").get_data(as_text=True)
    assert 'value="13911112222"' in form  # the account's phone, prefilled
    data = {"csrf_token": token(form), "name": "王小二", "phone": "１３９ 1234-5678",
            "detail": "文三路 90 号", **WEST_LAKE}  # fmt: skip
    assert client.post("/account/addresses/new", data=data).status_code == 303
    data2 = {**data, "detail": "科技园 1 号", "province": "440000", "city": "440300",
             "district": "440305"}  # fmt: skip
    client.post("/account/addresses/new", data=data2)
    with app.app_context():
        rows = db.session.execute(select(Address).order_by(Address.id)).scalars().all()
        assert [(a.region, a.phone, a.is_default) for a in rows] == [
            ("浙江省 杭州市 西湖区", "13912345678", True),
            ("广东省 深圳市 南山区", "13912345678", False),
        ]
        first, second = rows[0].id, rows[1].id
    book = client.get("/account/addresses").get_data(as_text=True)
    assert "西湖区" in book and "南山区" in book and "默认" in book
    client.post(f"/account/addresses/{second}/default", data={"csrf_token": token(book)})
    edit = client.get(f"/account/addresses/{first}/edit").get_data(as_text=True)
    assert 'value="330106" selected' in edit or 'selected value="330106"' in edit
    client.post(f"/account/addresses/{first}/edit", data={**data, "detail": "文二路 1 号"})
    confirm = client.get(f"/account/addresses/{second}/delete")
    assert "删除这个地址？" in text_of(confirm)
    client.post(f"/account/addresses/{second}/delete", data={"csrf_token": token(book)})
    with app.app_context():
        [row] = db.session.execute(select(Address)).scalars().all()
        assert row.id == first and row.detail == "文二路 1 号" and row.is_default


def test_bad_address_fields_get_messages_and_keep_what_was_typed(app, user_client):
    client = user_client(new_buyer(app))
    form = client.get("/account/addresses/new").get_data(as_text=True)
    base = {"csrf_token": token(form), "name": "王小二", "phone": "13912345678",
            "detail": "文三路 90 号"}  # fmt: skip
    for fields, message in (
        ({"phone": "12345"}, "11 位"),
        ({"province": ""}, "请选择省份"),
        ({"province": "330000", "city": ""}, "请选择城市"),
        ({"province": "330000", "city": "330100", "district": "440305"}, "请选择区县"),
    ):
        page = client.post("/account/addresses/new", data={**base, **WEST_LAKE, **fields})
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and message in text, message
        assert "文三路 90 号" in text and "王小二" in text
    with app.app_context():
        assert db.session.execute(select(func.count(Address.id))).scalar() == 0


def test_the_picker_works_step_by_step_without_script(app, user_client):
    client = user_client(new_buyer(app))
    form = client.get("/account/addresses/new").get_data(as_text=True)
    assert "浙江省" in form and "杭州市" not in form
    base = {"csrf_token": token(form), "name": "王小二", "phone": "13912345678",
            "detail": "文三路 90 号", "pick": "1"}  # fmt: skip
    step1 = client.post("/account/addresses/new", data={**base, "province": "330000"})
    text = step1.get_data(as_text=True)
    assert step1.status_code == 200 and "杭州市" in text and "西湖区" not in text
    assert "请选择" in text and "文三路 90 号" in text  # nothing saved, nothing lost
    step2 = client.post(
        "/account/addresses/new", data={**base, "province": "330000", "city": "330100"}
    )
    assert "西湖区" in step2.get_data(as_text=True)
    with app.app_context():
        assert db.session.execute(select(func.count(Address.id))).scalar() == 0


def test_region_data_endpoint_is_small_and_cached(client):
    response = client.get("/regions/330000.json")
    assert response.status_code == 200 and response.cache_control.max_age == 86400
    tree = response.get_json()
    assert ["330100", "杭州市"] in tree["c"] and ["330106", "西湖区"] in tree["d"]["330100"]
    assert client.get("/regions/330100.json").status_code == 404
    assert client.get("/regions/999999.json").status_code == 404


def test_someone_elses_address_is_not_found(app, user_client):
    owner = new_buyer(app)
    address_id = saved(app, owner)
    with app.app_context():
        stranger = make_user()
        db.session.commit()
    client = user_client(stranger)
    page = client.get("/account/addresses").get_data(as_text=True)
    for path in (
        f"/account/addresses/{address_id}/edit",
        f"/account/addresses/{address_id}/delete",
    ):
        assert client.get(path).status_code == 404
    assert (
        client.post(f"/account/addresses/{address_id}/default", data={"csrf_token": token(page)})
    ).status_code == 404
    # and checkout will not ship to it
    with app.app_context():
        product_id = make_product().id
        db.session.commit()
    form = client.get(f"/checkout/{product_id}?address={address_id}").get_data(as_text=True)
    assert "address-card" not in form


def shop_with_shipping(app, **template_fields):
    with app.app_context():
        merchant = make_merchant(name="山野茶舍")
        values = {"name": "偏远不发", "kind": ShippingKind.FLAT, "basis": ShippingBasis.PIECE,
                  "first_fee_cents": 800, "extra_fee_cents": 200, "free_over_cents": 0,
                  "region_fees": {}, "unreachable": ["650000"], **template_fields}  # fmt: skip
        template = ShippingTemplate(merchant_id=merchant.id, **values)
        db.session.add(template)
        db.session.flush()
        product = make_product(
            merchant=merchant, price_cents=12800, stock=5, shipping_template_id=template.id
        )
        db.session.commit()
        return product.id, merchant.user_id


def checkout_post(client, product_id, **fields):
    page = client.get(f"/checkout/{product_id}").get_data(as_text=True)
    chosen = re.search(r'name="saved_address" type="hidden" value="(\d*)"', page)
    data = {"csrf_token": token(page), "checkout_key": token(page, "checkout_key"),
            "saved_address": chosen.group(1) if chosen else "",
            "quantity": "2", "provider": "sandbox", **fields}  # fmt: skip
    return page, client.post(f"/checkout/{product_id}", data=data)


def test_checkout_with_a_saved_address_shows_a_card_the_fee_and_stores_the_note(app, user_client):
    product_id, merchant_user_id = shop_with_shipping(app)
    buyer = new_buyer(app)
    address_id = saved(app, buyer)
    client = user_client(buyer)
    page, placed = checkout_post(client, product_id, note="请周末送")
    assert 'id="address-card"' in page and "西湖区" in page
    assert 'name="detail"' not in page  # no empty new-address fields under a saved one
    assert f"/account/addresses?next=/checkout/{product_id}" in page
    assert "运费" in page and "¥8.00" in page and "暂无可用优惠券" in page
    assert "提交订单" in page and "合计" in page
    assert placed.status_code == 302, placed.get_data(as_text=True)[:300]
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert (order.goods_cents, order.shipping_cents, order.total_cents) == (25600, 1000, 26600)
        assert order.buyer_note == "请周末送" and order.ship_region_code == "330106"
        assert order.ship_region == "浙江省 杭州市 西湖区"
        merchant = db.session.get(type(order.merchant.user), merchant_user_id)
        order_id = order.id
    seller = user_client(merchant)
    assert "请周末送" in text_of(seller.get(f"/merchant/orders/{order_id}"))
    # The product page tells the buyer the fee to their default region.
    assert "运费 ¥8.00（至浙江省）" in text_of(client.get(f"/p/{product_id}"))
    assert address_id


def test_an_unreachable_region_is_said_in_checkout_and_nothing_is_lost(app, user_client):
    product_id, _ = shop_with_shipping(app)
    buyer = new_buyer(app)
    saved(app, buyer, region=URUMQI, detail="友好北路 1 号")
    client = user_client(buyer)
    page, placed = checkout_post(client, product_id, note="留言不丢")
    assert "不配送到新疆维吾尔自治区" in page
    text = placed.get_data(as_text=True)
    assert placed.status_code == 200 and "不配送到新疆维吾尔自治区" in text and "留言不丢" in text
    with app.app_context():
        assert db.session.execute(select(func.count(Order.id))).scalar() == 0
        assert db.session.get(Product, product_id).stock == 5


def test_a_new_buyer_types_an_address_in_checkout(app, user_client):
    product_id, _ = shop_with_shipping(app)
    client = user_client(new_buyer(app))
    page, missing = checkout_post(client, product_id, name="李小姐", phone="13900001234",
                                  detail="文三路 100 号", province="330000")  # fmt: skip
    assert 'value="13911112222"' in page  # the account's phone, prefilled
    text = missing.get_data(as_text=True)
    assert missing.status_code == 200 and "请选择城市" in text
    assert "李小姐" in text and "文三路 100 号" in text and "杭州市" in text
    _, placed = checkout_post(client, product_id, name="李小姐", phone="13900001234",
                              detail="文三路 100 号", **WEST_LAKE)  # fmt: skip
    assert placed.status_code == 302
    with app.app_context():
        [address] = db.session.execute(select(Address)).scalars().all()
        assert address.is_default and address.district_code == "330106"


def test_a_legacy_address_must_be_picked_again(app, user_client):
    product_id, _ = shop_with_shipping(app)
    buyer = new_buyer(app)
    address_id = saved(app, buyer)
    with app.app_context():
        db.session.get(Address, address_id).is_legacy = True
        db.session.commit()
    client = user_client(buyer)
    page, placed = checkout_post(client, product_id)
    assert "请重新选择这个地址的省、市、区" in page
    assert placed.status_code == 200
    with app.app_context():
        assert db.session.execute(select(func.count(Order.id))).scalar() == 0
