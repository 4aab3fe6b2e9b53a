"""A product form opened before orders came in never gives back the stock they took: the
stock typed is a change against the stock the form showed (a hidden field), applied to the
stock as it is when the form is saved."""

import re

from shop.catalog.models import Product
from shop.orders import states
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, make_user
from tests.services.test_orders import NOW, place


def open_edit_form(client, product_id: int) -> dict:
    """The edit form's fields as the page filled them in (what a browser would send back)."""
    page = client.get(f"/merchant/products/{product_id}/edit").get_data(as_text=True)
    fields = {}
    for name in ("title", "price", "original_price", "stock", "rebate_percent", "stock_shown"):
        match = re.search(rf'name="{name}"[^>]*value="([^"]*)"', page) or re.search(
            rf'value="([^"]*)"[^>]*name="{name}"', page
        )
        assert match, f"{name} not on the form"
        fields[name] = match.group(1)
    fields["category_id"] = re.search(r'<option selected value="(\d+)"', page).group(1)
    fields["description"] = "松烟香"
    return fields


def stock_of(app, product_id: int) -> int:
    with app.app_context():
        return db.session.get(Product, product_id).stock


def buy(app, product_id: int, quantity: int, key: str) -> tuple[int, int]:
    """A buyer's order of ``quantity`` (stock is reserved when the order is placed)."""
    with app.app_context():
        buyer = make_user()
        [order] = place(buyer, [(product_id, quantity)], key=key)
        db.session.commit()
        return order.id, buyer.id


def cancel(app, order_id: int, buyer_id: int) -> None:
    from shop.accounts.models import User
    from shop.orders.models import Order

    with app.app_context():
        order, buyer = db.session.get(Order, order_id), db.session.get(User, buyer_id)
        states.cancel_by_buyer(order, actor=buyer, now=NOW)
        db.session.commit()


def merchant_and_product(app, stock: int):
    with app.app_context():
        product = make_product(stock=stock, title="正山小种", description="松烟香")
        db.session.commit()
        return product.merchant.user, product.id


def test_a_title_change_from_an_old_form_keeps_the_stock_orders_took(app, user_client):
    user, product_id = merchant_and_product(app, 99)
    client = user_client(user)
    form = open_edit_form(client, product_id)
    assert (form["stock"], form["stock_shown"]) == ("99", "99")
    order_id, buyer_id = buy(app, product_id, 5, "stale-form-order")
    assert stock_of(app, product_id) == 94

    response = client.post(
        f"/merchant/products/{product_id}/edit", data={**form, "title": "正山小种 特级"}
    )
    assert response.status_code == 302
    assert stock_of(app, product_id) == 94  # not 99: the 5 sold stay sold
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "库存现在是 94" in page and 'value="94"' in page
    with app.app_context():
        assert db.session.get(Product, product_id).title == "正山小种 特级"

    cancel(app, order_id, buyer_id)
    assert stock_of(app, product_id) == 99  # not 104
    with app.app_context():
        invariants.check(db.session)


def test_a_stock_change_from_an_old_form_is_added_to_the_stock_as_it_is(app, user_client):
    user, product_id = merchant_and_product(app, 99)
    client = user_client(user)
    form = open_edit_form(client, product_id)
    buy(app, product_id, 5, "stale-form-add")
    response = client.post(
        f"/merchant/products/{product_id}/edit",
        data={**form, "stock": "109"},
        headers={"Accept-Language": "en"},
    )
    assert response.status_code == 302
    assert stock_of(app, product_id) == 104  # 94 sold-down stock + the 10 added
    page = client.get(response.headers["Location"], headers={"Accept-Language": "en"})
    assert "+10" in page.get_data(as_text=True) and "104" in page.get_data(as_text=True)


def test_a_cut_below_what_is_left_is_refused_and_keeps_the_input(app, user_client):
    user, product_id = merchant_and_product(app, 12)
    client = user_client(user)
    form = open_edit_form(client, product_id)
    buy(app, product_id, 5, "stale-form-cut")  # 7 left
    typed = {**form, "stock": "2", "title": "正山小种 新茶", "price": "99.00"}  # a cut of 10
    response = client.post(f"/merchant/products/{product_id}/edit", data=typed)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "编辑期间库存有变化，现在是 7" in page
    assert 'value="正山小种 新茶"' in page and 'value="99.00"' in page and 'value="2"' in page
    assert stock_of(app, product_id) == 7
    with app.app_context():
        assert db.session.get(Product, product_id).title == "正山小种"  # nothing saved
    # The form now shows the stock as it is: saving it again sets what was typed.
    shown = re.search(r'name="stock_shown"[^>]*value="(\d+)"', page) or re.search(
        r'value="(\d+)"[^>]*name="stock_shown"', page
    )
    assert shown.group(1) == "7"
    again = client.post(f"/merchant/products/{product_id}/edit", data={**typed, "stock_shown": "7"})
    assert again.status_code == 302 and stock_of(app, product_id) == 2


def test_a_form_without_the_stock_it_showed_is_refused(app, user_client):
    user, product_id = merchant_and_product(app, 20)
    client = user_client(user)
    form = open_edit_form(client, product_id)
    del form["stock_shown"]
    response = client.post(f"/merchant/products/{product_id}/edit", data={**form, "stock": "3"})
    assert response.status_code == 200 and "编辑期间库存有变化，现在是 20" in response.get_data(
        as_text=True
    )
    assert stock_of(app, product_id) == 20
