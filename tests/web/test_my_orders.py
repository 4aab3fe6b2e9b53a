"""我的订单: tabs with counts (one query), rows with the next action; the paid page; buying
again at today's prices."""

import re
from datetime import timedelta

from sqlalchemy import event

from shop.catalog.models import ProductStatus
from shop.orders import states
from shop.orders.models import Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.web.storefront.orders import tab_counts
from tests.factories import make_completed_order, make_product, make_review, make_user
from tests.services.test_orders import pay, place
from tests.web.test_money_pages import text_of
from tests.web.test_sharing import PHONE_UA, make_link


def token(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def orders_in_every_state(app):
    """A buyer with one order awaiting payment, one paid, one shipped, two completed (one
    reviewed) and one with a refund requested."""
    with app.app_context():
        buyer = make_user(display_name="买家")
        now = utcnow()
        unpaid = place(buyer, [(make_product().id, 1)], key="a", at=now)[0]
        paid = place(buyer, [(make_product().id, 1)], key="b", at=now)[0]
        pay(paid, at=now)
        shipped = place(buyer, [(make_product().id, 1)], key="c", at=now)[0]
        pay(shipped, at=now)
        states.ship(shipped, "顺丰速运", "SF1234567890", actor=make_user(), now=now)
        done = make_completed_order(buyer, at=now - timedelta(days=1))
        reviewed = make_review(buyer=buyer, at=now - timedelta(days=1))
        refund = place(buyer, [(make_product().id, 1)], key="e", at=now)[0]
        pay(refund, at=now)
        states.request_refund(refund, "不想要了", actor=buyer, now=now)
        db.session.commit()
        ids = {"unpaid": unpaid.id, "paid": paid.id, "shipped": shipped.id, "done": done.id,
               "reviewed": reviewed.order_id, "refund": refund.id}  # fmt: skip
        return buyer, buyer.id, ids


def test_tabs_count_in_one_query_and_filter(app, user_client):
    buyer, buyer_id, ids = orders_in_every_state(app)
    with app.app_context():
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(db.engine, "before_cursor_execute", listener)
        try:
            counts = tab_counts(buyer_id)
        finally:
            event.remove(db.engine, "before_cursor_execute", listener)
        assert [s for s in statements if s.lstrip().upper().startswith("SELECT")] == statements[-1:]
        assert counts == {"all": 6, "unpaid": 1, "unshipped": 1, "shipped": 1, "review": 1,
                          "aftersale": 1}  # fmt: skip
    client = user_client(buyer)
    page = client.get("/orders").get_data(as_text=True)
    for label in ("全部", "待付款", "待发货", "待收货", "待评价", "售后"):
        assert label in page
    assert page.count('class="card order-card"') == 6
    unpaid = client.get("/orders?tab=unpaid").get_data(as_text=True)
    assert unpaid.count('class="card order-card"') == 1 and "去支付" in unpaid
    assert f"/orders/{ids['unpaid']}/pay" in unpaid
    shipped = client.get("/orders?tab=shipped").get_data(as_text=True)
    assert "确认收货" in shipped and "查看物流" in shipped
    review = client.get("/orders?tab=review").get_data(as_text=True)
    assert review.count('class="card order-card"') == 1 and "评价" in review
    assert f"/orders/{ids['done']}#reviews" in review
    assert client.get("/orders?status=placed").get_data(as_text=True).count('order-card"') == 1
    assert client.get("/orders?tab=nonsense").status_code == 200


def test_confirming_receipt_from_the_list(app, user_client):
    buyer, buyer_id, ids = orders_in_every_state(app)
    client = user_client(buyer)
    page = client.get("/orders?tab=shipped").get_data(as_text=True)
    asked = client.post(
        f"/orders/{ids['shipped']}/confirm", data={"csrf_token": token(page), "back": "list"}
    )
    # Receipt cannot be undone: first a question (the dialog, or this page without script),
    # which posts the same fields again with confirmed=1.
    assert asked.status_code == 200 and 'name="confirmed"' in asked.get_data(as_text=True)
    assert 'name="back" value="list"' in asked.get_data(as_text=True)
    response = client.post(
        f"/orders/{ids['shipped']}/confirm",
        data={"csrf_token": token(page), "back": "list", "confirmed": "1"},
    )
    assert response.headers["Location"] == "/orders"
    with app.app_context():
        assert db.session.get(Order, ids["shipped"]).status == "completed"


def test_paid_page_says_paid_and_leads_back_to_the_sharers_shop(app, user_client):
    with app.app_context():
        link = make_link(price_cents=12800)
        buyer = make_user()
        db.session.commit()
        code, slug, product_id = link.code, link.shop.slug, link.product_id
    client = user_client(buyer)
    client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    with app.app_context():
        visitor = client.get_cookie("fx_v").value.split(".")[0]  # the signed cookie's id
        [order] = place(db.session.merge(buyer), [(product_id, 1)], key="p", visitor=visitor,
                        at=utcnow())  # fmt: skip
        db.session.commit()
        order_id = order.id
    assert client.get(f"/orders/{order_id}/paid").headers["Location"] == f"/orders/{order_id}"
    with app.app_context():
        pay(db.session.get(Order, order_id), at=utcnow())
        db.session.commit()
    page = client.get(f"/orders/{order_id}/paid")
    text = text_of(page)
    assert "支付成功" in text and "¥128.00" in text and "查看订单" in text and "继续逛" in text
    assert f'href="/s/{slug}"' in page.get_data(as_text=True)
    assert "退款" not in text  # the refund request lives on the order page
    with app.app_context():
        [unpaid] = place(db.session.merge(buyer), [(product_id, 1)], key="q", at=utcnow())
        states.cancel_by_buyer(unpaid, actor=unpaid.buyer, now=utcnow())
        db.session.commit()
        unpaid_id = unpaid.id
    assert client.get(f"/orders/{unpaid_id}/paid").headers["Location"] == f"/orders/{unpaid_id}"


def test_buy_again_puts_items_back_at_todays_prices(app, user_client):
    with app.app_context():
        buyer = make_user()
        tea = make_product(title="红茶", price_cents=5000)
        cup = make_product(title="茶杯", price_cents=3000)
        [order] = place(buyer, [(tea.id, 2)], key="x", at=utcnow())
        [gone] = place(buyer, [(cup.id, 1)], key="y", at=utcnow())
        [tea_sku] = tea.active_skus
        tea_sku.price_cents = tea.price_cents = 5500  # the price is the SKU's
        cup.status = ProductStatus.DELISTED
        db.session.commit()
        ids = order.id, gone.id, tea.id, tea_sku.id
    client = user_client(buyer)
    page = client.get(f"/orders/{ids[0]}").get_data(as_text=True)
    again = client.post(f"/orders/{ids[0]}/buy-again", data={"csrf_token": token(page)})
    assert again.headers["Location"] == "/cart"
    cart = text_of(client.get("/cart"))
    assert "红茶" in cart and "现价 ¥55.00" in cart and "已按今日价格加入购物车" in cart
    client.post(f"/orders/{ids[1]}/buy-again", data={"csrf_token": token(page)})
    cart = text_of(client.get("/cart"))
    assert "“茶杯”已下架" in cart
    with client.session_transaction() as session:
        assert session["cart"]["lines"] == {f"{ids[2]}:{ids[3]}": 2}  # the same spec
    stranger = user_client(make_user_in(app))
    other_page = stranger.get("/orders").get_data(as_text=True)
    response = stranger.post(f"/orders/{ids[0]}/buy-again", data={"csrf_token": token(other_page)})
    assert response.status_code == 404


def make_user_in(app):
    with app.app_context():
        user = make_user()
        db.session.commit()
        return user
