"""Buying through a share link on the web: checkout, sandbox payment (callback and return
path), replays, forged notices, the buyer's actions, and other people's orders."""

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from shop.catalog.models import Product
from shop.money.models import LedgerEntry
from shop.orders.models import Order, OrderEvent, PaymentEvent
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_user
from tests.web.test_sharing import PHONE_UA, make_link

ADDRESS = {
    "name": "王小二",
    "phone": "139 1234 5678",
    "province": "330000",
    "city": "330100",
    "district": "330106",
    "detail": "文三路 90 号",
    "saved_address": "",
    "provider": "sandbox",
}


def setup_link(app, **product_fields):
    with app.app_context():
        link = make_link(price_cents=12800, rebate_bps=1000, stock=3, **product_fields)
        buyer = make_user(display_name="买家")
        db.session.commit()
        return link.code, link.product_id, link.sharer_id, buyer


def checkout(client, product_id, ref, **fields):
    page = client.get(f"/checkout/{product_id}?ref={ref}")
    assert page.status_code == 200
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    data = {**ADDRESS, "quantity": "2", "checkout_key": key.group(1), "ref": ref, **fields}
    return client.post(f"/checkout/{product_id}", data=data), data


def test_buy_through_a_link_pay_in_the_sandbox_and_replays_change_nothing(app, user_client):
    code, product_id, sharer_id, buyer = setup_link(app)
    client = user_client(buyer)
    client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    response, data = checkout(client, product_id, code, price_cents="1", rebate_bps="5000")
    assert response.status_code == 302
    again = client.post(f"/checkout/{product_id}", data=data)  # double submit
    assert again.status_code == 302 and again.headers["Location"] == response.headers["Location"]
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()  # one order, server prices
        assert order.total_cents == 25600 and order.items[0].rebate_bps == 1000
        assert order.sharer_id == sharer_id and order.attribution_reason == "attributed"
        assert db.session.get(Product, product_id).stock == 1
        order_id, number = order.id, order.number
    pay = client.get(f"/orders/{order_id}/pay")
    gateway = pay.headers["Location"]
    assert gateway.startswith(f"/pay/sandbox/{number}?")
    token = parse_qs(urlsplit(gateway).query)["t"][0]
    assert client.get(gateway).status_code == 200
    paid = client.post(
        f"/pay/sandbox/{number}", data={"t": token, "return": "/payments/sandbox/return"}
    )
    assert paid.status_code == 303
    back = paid.headers["Location"]
    landed = client.get(back)  # the browser's return path after the callback: a replay
    assert landed.status_code == 302 and landed.headers["Location"] == f"/orders/{order_id}/paid"
    query = parse_qs(urlsplit(back).query)
    body, sig = query["body"][0].encode(), query["sig"][0]
    for _ in range(5):  # the gateway retries its notification
        replay = client.post(
            "/payments/sandbox/notify", data=body, headers={"X-Sandbox-Signature": sig}
        )
        assert replay.status_code == 200 and replay.get_json()["outcome"] == "replay"
    forged = client.post(
        "/payments/sandbox/notify",
        data=body.replace(b"sbx_", b"sbx_x"),
        headers={"X-Sandbox-Signature": sig},
    )
    assert forged.status_code == 400
    with app.app_context():
        order = db.session.get(Order, order_id)
        assert order.status == "paid"
        assert db.session.execute(select(func.count(PaymentEvent.id))).scalar() == 1
        paid_events = select(func.count(OrderEvent.id)).where(OrderEvent.to_status == "paid")
        assert db.session.execute(paid_events).scalar() == 1
        entry = db.session.execute(select(LedgerEntry)).scalar_one()
        assert (entry.kind, entry.amount_cents, entry.sharer_id) == ("estimated", 2560, sharer_id)
        invariants.check(db.session)
    detail = client.get(f"/orders/{order_id}").get_data(as_text=True)
    assert "已付款，待发货" in detail and "返利" not in detail  # buyers never see rebates


def test_bad_checkout_input_keeps_the_form_and_changes_nothing(app, user_client):
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)
    for fields, message in (
        ({"quantity": "0"}, "至少购买 1 件"),
        ({"quantity": "9"}, "只剩 3 件"),
        ({"phone": "12345"}, "11 位"),
        ({"detail": ""}, "详细"),
    ):
        response, _ = checkout(client, product_id, code, **fields)
        page = response.get_data(as_text=True)
        assert response.status_code == 200 and message in page, message
        assert "文三路" in page or fields.get("detail") == ""  # what was typed is kept
    with app.app_context():
        assert db.session.execute(select(func.count(Order.id))).scalar() == 0
        assert db.session.get(Product, product_id).stock == 3


def test_other_peoples_orders_are_not_found(app, user_client):
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)
    response, _ = checkout(client, product_id, code)
    order_path = response.headers["Location"].replace("/pay", "")
    stranger = user_client(make_user_in(app))
    assert stranger.get(order_path).status_code == 404
    assert stranger.post(order_path + "/cancel").status_code == 404
    assert client.post(order_path + "/cancel").status_code == 302
    with app.app_context():
        assert db.session.execute(select(Order.status)).scalar_one() == "cancelled"
        assert db.session.get(Product, product_id).stock == 3


def make_user_in(app):
    with app.app_context():
        user = make_user()
        db.session.commit()
        return user


def test_sign_in_first_keeps_the_way_back_to_checkout(app, client):
    code, product_id, _, _ = setup_link(app)
    response = client.get(f"/checkout/{product_id}?ref={code}")
    assert response.status_code == 302
    assert "/auth/signin" in response.headers["Location"]
    assert f"%2Fcheckout%2F{product_id}%3Fref%3D{code}" in response.headers["Location"]


def test_the_sandbox_gateway_needs_its_token(app, user_client):
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)
    checkout(client, product_id, code)
    with app.app_context():
        number = db.session.execute(select(Order.number)).scalar_one()
    assert client.get(f"/pay/sandbox/{number}?t=bad").status_code == 404
    assert client.post(f"/pay/sandbox/{number}", data={"t": "bad"}).status_code == 404
    with app.app_context():
        assert db.session.execute(select(Order.status)).scalar_one() == "placed"


def test_wechat_to_browser_hop_keeps_the_attribution_through_the_ref(app, user_client):
    """Tapped in WeChat (its cookie jar), bought in the phone's browser (no cookie): the share
    code in the URL counts as following the link, and the order is attributed."""
    code, product_id, sharer_id, buyer = setup_link(app)
    wechat = app.test_client()
    assert wechat.get(f"/r/{code}", headers={"User-Agent": PHONE_UA}).status_code == 303
    browser = user_client(buyer)  # signed in, but it never saw the visitor cookie
    response, _data = checkout(browser, product_id, code, quantity="1")
    assert response.status_code == 302
    assert "fx_v=" in response.headers.get("Set-Cookie", "")
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert order.sharer_id == sharer_id and order.attribution_reason == "attributed"
        assert order.click_id is not None
    # A forged or unknown code in the form earns nobody and still sells.
    other = user_client(make_user_in(app))
    response, _data = checkout(other, product_id, "ZZZZZZZZ", quantity="1")
    assert response.status_code == 302
    with app.app_context():
        latest = db.session.execute(select(Order).order_by(Order.id.desc())).scalars().first()
        assert latest.sharer_id is None and latest.attribution_reason == "no_click"


def test_a_buyer_with_own_clicks_is_not_moved_by_a_ref(app, user_client):
    code, product_id, sharer_id, buyer = setup_link(app)
    with app.app_context():
        from tests.web.test_sharing import make_link

        other = make_link(price_cents=100)
        db.session.commit()
        other_code = other.code
    client = user_client(buyer)
    client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    response, _ = checkout(client, product_id, other_code, quantity="1")
    assert response.status_code == 302
    with app.app_context():
        order = db.session.execute(select(Order)).scalar_one()
        assert order.sharer_id == sharer_id
