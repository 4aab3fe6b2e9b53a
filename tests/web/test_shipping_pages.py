"""The merchant ships (one order, or many from a CSV file); the buyer follows the parcel."""

import io

from shop.orders import states
from shop.orders.models import Order, OrderStatus
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.services.test_orders import NOW, pay, place
from tests.services.test_shipping_tracking import FakeKuaidi100, config_for
from tests.web.test_money_pages import text_of


def shipped_order(carrier="SF", number="SF1234567890"):
    product = make_product(stock=10)
    buyer = make_user()
    order = place(buyer, [(product.id, 1)])[0]
    pay(order)
    if carrier:
        states.ship(order, carrier, number, actor=product.merchant.user, now=NOW)
    db.session.commit()
    return order, buyer


def test_buyer_sees_carrier_number_copy_and_public_page(app, english_client):
    with app.app_context():
        order, buyer = shipped_order()
        order_id = order.id
    page = text_of(english_client(buyer).get(f"/orders/{order_id}"))
    assert "顺丰速运" in page
    assert 'id="tracking-number" value="SF1234567890" readonly' in page
    assert 'data-copy="tracking-number"' in page and "js/copy.js" in page
    assert 'href="https://www.sf-express.com/chn/sc/waybill/waybill-detail/SF1234567890"' in page
    assert "tracking-events" not in page  # no provider configured


def test_buyer_sees_the_latest_events_when_kuaidi100_is_configured(app, english_client):
    fake = FakeKuaidi100()
    try:
        app.config.update(config_for(fake))
        with app.app_context():
            order, buyer = shipped_order("ZTO", "78123456789012")
            order_id = order.id
        page = text_of(english_client(buyer).get(f"/orders/{order_id}"))
        assert "【上海市】快递员正在派件" in page and "Out for delivery" in page
        assert "kuaidi100.com/chaxun?com=zhongtong&amp;nu=78123456789012" in page
        assert len(fake.calls) == 1
    finally:
        fake.close()


def test_merchant_ships_many_from_a_csv_upload(app, english_client):
    with app.app_context():
        order, _ = shipped_order(carrier=None)
        other, _ = shipped_order(carrier=None)  # another merchant's
        owner = order.merchant.user
        numbers = order.number, other.number
        order_id, other_id = order.id, other.id
    client = english_client(owner)
    assert "Ship from a CSV file" in text_of(client.get("/merchant/orders"))
    assert 'type="file"' in text_of(client.get("/merchant/orders/ship-bulk"))
    csv_bytes = (
        f"订单号,快递公司,运单号\n{numbers[0]},中通,78123456789012\n"
        f"{numbers[1]},SF,SF1234567890\n{numbers[0]},SF,SF1234567890\n"
    ).encode("utf-8-sig")
    response = client.post(
        "/merchant/orders/ship-bulk",
        data={"file": (io.BytesIO(csv_bytes), "ship.csv")},
        content_type="multipart/form-data",
    )
    page = text_of(response)
    assert response.status_code == 200
    assert "1 of 3 lines shipped" in page
    assert "Not one of your orders" in page and "Already shipped" in page
    empty = client.post("/merchant/orders/ship-bulk", data={}, content_type="multipart/form-data")
    assert empty.status_code == 422 and "Choose a CSV file." in text_of(empty)
    with app.app_context():
        assert db.session.get(Order, order_id).carrier == "ZTO"
        assert db.session.get(Order, other_id).status == OrderStatus.PAID
