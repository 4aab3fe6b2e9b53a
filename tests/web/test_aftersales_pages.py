"""The buyer asks to return goods, sees the return address, enters the return tracking number
and can withdraw; the merchant sets the return address and sees the parcel; admins see
escalated requests."""

from datetime import timedelta

from shop.orders import aftersales
from shop.orders.models import Order, OrderStatus
from shop.platform.extensions import db
from tests.web.test_money_pages import text_of
from tests.web.test_shipping_pages import shipped_order


def test_return_and_refund_from_the_order_page(app, english_client):
    with app.app_context():
        order, buyer = shipped_order()
        owner = order.merchant.user
        order_id = order.id
    merchant = english_client(owner)
    saved = merchant.post(
        "/merchant/return-address", data={"return_address": "王五 13800000000 上海市浦东新区 1 号"}
    )
    assert saved.status_code == 303
    assert "上海市浦东新区" in text_of(merchant.get("/merchant/return-address"))
    too_long = merchant.post("/merchant/return-address", data={"return_address": "长" * 201})
    assert too_long.status_code == 422 and "长" * 201 in text_of(too_long)  # kept
    client = english_client(buyer)
    page = text_of(client.get(f"/orders/{order_id}"))
    assert 'value="return"' in page and "Return and refund" in page
    client.post(f"/orders/{order_id}/refund", data={"reason": "尺码不合适", "kind": "return"})
    page = text_of(client.get(f"/orders/{order_id}"))
    assert "王五 13800000000 上海市浦东新区 1 号" in page and 'data-copy="return-address"' in page
    bad = client.post(f"/orders/{order_id}/return", data={"carrier": "ZTO", "tracking": "1"})
    assert bad.status_code == 302
    client.post(f"/orders/{order_id}/return", data={"carrier": "ZTO", "tracking": "78123456789012"})
    assert "中通快递 78123456789012" in text_of(client.get(f"/orders/{order_id}"))
    assert "中通快递 78123456789012" in text_of(merchant.get(f"/merchant/orders/{order_id}"))
    client.post(f"/orders/{order_id}/withdraw", data={})
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == OrderStatus.SHIPPED and order.return_tracking == ""


def test_admin_refunds_page_marks_escalated_requests(app, english_client):
    from shop.orders import states
    from tests.factories import make_user

    with app.app_context():
        order, buyer = shipped_order()
        states.request_refund(order, "坏了", actor=buyer, now=order.shipped_at)
        aftersales.escalate_unanswered(
            now=order.shipped_at + timedelta(days=5), after=timedelta(days=3)
        )
        admin = make_user(is_admin=True)
        db.session.commit()
    page = text_of(english_client(admin).get("/admin/refunds"))
    assert "Escalated: the merchant did not answer" in page
