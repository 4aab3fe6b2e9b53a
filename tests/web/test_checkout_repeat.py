"""Going back after paying: the checkout form is fetched again (a new checkout key) and
submitted again. It must not place a second order unless the buyer asks for one; the
gateway page reached again says the order is paid and its pay button is gone."""

import re
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import func, select

from shop.catalog.models import Product
from shop.orders.models import Order, PaymentEvent
from shop.platform.extensions import db
from tests import invariants
from tests.web.test_checkout import ADDRESS, setup_link

PAY_BUTTON = re.compile(r'<button[^>]*type="submit"[^>]*>\s*支付')


def fetch_form(client, product_id, ref):
    """The checkout form as the browser gets it (again): a new checkout key each time."""
    page = client.get(f"/checkout/{product_id}?ref={ref}")
    assert page.status_code == 200
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page.get_data(as_text=True))
    return {**ADDRESS, "quantity": "1", "checkout_key": key.group(1), "ref": ref}


def count(model, *where):
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()


def pay_in_sandbox(client, order_id):
    gateway = client.get(f"/orders/{order_id}/pay").headers["Location"]
    token = parse_qs(urlsplit(gateway).query)["t"][0]
    number = urlsplit(gateway).path.rsplit("/", 1)[1]
    paid = client.post(
        f"/pay/sandbox/{number}", data={"t": token, "return": "/payments/sandbox/return"}
    )
    assert paid.status_code == 303
    landed = client.get(paid.headers["Location"])
    assert landed.headers["Location"] == f"/orders/{order_id}/paid"
    return gateway, number, token


def test_going_back_after_paying_and_submitting_again_places_no_second_order(app, user_client):
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)
    first_form = fetch_form(client, product_id, code)
    placed = client.post(f"/checkout/{product_id}", data=first_form)
    assert placed.status_code == 302
    order_id = int(placed.headers["Location"].split("/")[2])
    gateway, number, token = pay_in_sandbox(client, order_id)
    # Back once: the gateway page, fetched again, says the order is paid; no pay button.
    again = client.get(gateway)
    page = again.get_data(as_text=True)
    assert again.status_code == 200 and "已支付" in page
    assert not PAY_BUTTON.search(page) and 'name="t"' not in page
    assert f'href="/orders/{order_id}"' in page
    # Back twice: the checkout form, fetched again with a new key, submitted again.
    second_form = fetch_form(client, product_id, code)
    assert second_form["checkout_key"] != first_form["checkout_key"]
    repeated = client.post(f"/checkout/{product_id}", data=second_form)
    page = repeated.get_data(as_text=True)
    assert repeated.status_code == 200
    assert "你刚刚已经下过这笔订单" in page and f'href="/orders/{order_id}"' in page
    assert "再下一单" in page and 'name="repeat"' in page
    assert "文三路 90 号" in page  # the form keeps what was filled in
    with app.app_context():
        assert count(Order) == 1 and db.session.get(Product, product_id).stock == 2
    # The first form submitted once more is a replay: the same order, still one.
    replay = client.post(f"/checkout/{product_id}", data=first_form)
    assert replay.headers["Location"] == f"/orders/{order_id}/pay"
    # The buyer really wants another one: "再下一单" places it.
    deliberate = client.post(f"/checkout/{product_id}", data={**second_form, "repeat": "1"})
    assert deliberate.status_code == 302
    assert deliberate.headers["Location"] != f"/orders/{order_id}/pay"
    with app.app_context():
        assert count(Order) == 2 and db.session.get(Product, product_id).stock == 1
        invariants.check(db.session)


def test_two_fresh_forms_submitted_one_after_the_other_place_one_order(app, user_client):
    """Two tabs (or the form fetched twice): both submitted, one order, then English."""
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)
    one, two = fetch_form(client, product_id, code), fetch_form(client, product_id, code)
    assert client.post(f"/checkout/{product_id}", data=one).status_code == 302
    assert client.post("/auth/language", data={"language": "en", "next": "/"}).status_code == 302
    second = client.post(f"/checkout/{product_id}", data=two).get_data(as_text=True)
    assert "You just placed this order." in second and "Order again" in second
    with app.app_context():
        assert count(Order) == 1


def test_the_cart_checkout_fetched_again_places_no_second_order(app, user_client):
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)

    def cart_form():
        client.post("/cart/add", data={"product_id": product_id, "quantity": "1", "ref": code})
        page = client.get("/cart/checkout").get_data(as_text=True)
        key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page).group(1)
        return {**ADDRESS, "checkout_key": key, "ref": code}

    assert client.post("/cart/checkout", data=cart_form()).status_code == 302
    repeated = client.post("/cart/checkout", data=cart_form())  # the same cart again
    assert repeated.status_code == 200
    assert "你刚刚已经下过这笔订单" in repeated.get_data(as_text=True)
    with app.app_context():
        assert count(Order) == 1
    assert "1" in client.get("/cart").get_data(as_text=True)  # the cart is kept


def test_a_pay_tap_on_a_paid_order_changes_nothing_and_says_so(app, user_client):
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)
    placed = client.post(f"/checkout/{product_id}", data=fetch_form(client, product_id, code))
    order_id = int(placed.headers["Location"].split("/")[2])
    _gateway, number, token = pay_in_sandbox(client, order_id)
    with app.app_context():
        events = count(PaymentEvent)
    tapped = client.post(
        f"/pay/sandbox/{number}", data={"t": token, "return": "/payments/sandbox/return"}
    )
    page = tapped.get_data(as_text=True)
    assert tapped.status_code == 200
    assert "已支付" in page and "本次没有扣款" in page and f'href="/orders/{order_id}"' in page
    assert not PAY_BUTTON.search(page)
    with app.app_context():
        assert count(PaymentEvent) == events  # no notice sent, nothing stored
        assert db.session.get(Order, order_id).status == "paid"


def test_the_gateway_of_a_cancelled_order_says_it_cannot_be_paid(app, user_client):
    code, product_id, _, buyer = setup_link(app)
    client = user_client(buyer)
    placed = client.post(f"/checkout/{product_id}", data=fetch_form(client, product_id, code))
    order_id = int(placed.headers["Location"].split("/")[2])
    gateway = client.get(f"/orders/{order_id}/pay").headers["Location"]
    assert client.post(f"/orders/{order_id}/cancel").status_code == 302
    page = client.get(gateway).get_data(as_text=True)
    assert "这笔订单已无法支付（已取消）" in page and not PAY_BUTTON.search(page)
    token = parse_qs(urlsplit(gateway).query)["t"][0]
    number = urlsplit(gateway).path.rsplit("/", 1)[1]
    tapped = client.post(f"/pay/sandbox/{number}", data={"t": token})
    assert tapped.status_code == 200
    with app.app_context():
        assert count(PaymentEvent) == 0
        assert db.session.get(Order, order_id).status == "cancelled"
