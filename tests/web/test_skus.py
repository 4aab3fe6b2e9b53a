"""Specs on the web: the product page's buy form without JavaScript, its bad inputs, the
price-changed check at checkout, the SKU cart (stepper, spec change, selection, badge) and
the merchant's SKU table."""

import re

from sqlalchemy import select

from shop.catalog.models import Product, Sku
from shop.orders.models import Order, OrderItem
from shop.platform.extensions import db
from tests.factories import make_category, make_merchant, make_shirt, make_user
from tests.web.test_checkout import ADDRESS
from tests.web.test_merchant_console import product_form


def text_of(response) -> str:
    return response.get_data(as_text=True)


def shirt_ids(app):
    with app.app_context():
        shirt = make_shirt(rebate_bps=1000)
        buyer = make_user()
        db.session.commit()
        ids = {f"{s.value1}/{s.value2}": s.id for s in shirt.skus}
        return shirt.id, ids, buyer


def buy_form(product_id, *values, quantity="1", action="buy", **extra):
    data = {"product_id": product_id, "quantity": quantity, "action": action, **extra}
    for i, value in enumerate(values):
        data[f"spec{i}"] = value
    return data


def test_the_page_shows_the_lowest_price_from_and_a_plain_spec_form(app, client):
    product_id, ids, _buyer = shirt_ids(app)
    client.set_cookie("lang", "en")
    card = text_of(client.get("/catalog"))
    assert "59.00" in card and "from" in card
    page = text_of(client.get(f"/p/{product_id}"))
    assert 'class="buybar"' in page and 'class="tabbar"' in page  # the tab bar hidden by CSS
    assert 'name="spec0" value="红"' in page and 'name="spec1" value="L"' in page
    assert 'name="quantity" type="number"' in page and "spec-sheet.js" in page
    assert f"{ids['红/L']}:6900" in page  # the prices shown go back with the form
    data = re.search(r'data-skus="([^"]+)"', page).group(1)
    assert "&#34;values&#34;" in data and "rebate" not in data  # no rates for buyers


def test_buy_now_without_javascript_reaches_checkout_with_the_sku(app, user_client):
    product_id, ids, buyer = shirt_ids(app)
    client = user_client(buyer)
    client.set_cookie("lang", "en")
    chosen = client.post("/cart/add", data=buy_form(product_id, "红", "L", quantity="2"))
    assert chosen.status_code == 303
    target = chosen.headers["Location"]
    assert f"sku={ids['红/L']}" in target and "price=6900" in target and "quantity=2" in target
    page = text_of(client.get(target))
    assert "颜色：红；尺码：L" in page and "69.00" in page
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page).group(1)
    shown = re.search(r'name="shown"[^>]*value="([^"]+)"', page).group(1)
    placed = client.post(
        f"/checkout/{product_id}",
        data={
            **ADDRESS,
            "checkout_key": key,
            "quantity": "2",
            "sku_id": ids["红/L"],
            "shown": shown,
        },
    )
    assert placed.status_code == 302
    with app.app_context():
        item = db.session.execute(select(OrderItem)).scalar_one()
        assert (item.sku_id, item.spec_text, item.unit_price_cents) == (
            ids["红/L"],
            "颜色：红；尺码：L",
            6900,
        )
        assert db.session.get(Sku, ids["红/L"]).stock == 3


def test_bad_choices_come_back_on_the_same_page_with_what_was_chosen(app, client):
    product_id, ids, _buyer = shirt_ids(app)
    client.set_cookie("lang", "en")
    sold_out = client.post("/cart/add", data=buy_form(product_id, "蓝", "M"))
    assert sold_out.status_code == 422
    assert "This spec is sold out" in text_of(sold_out)
    assert 'value="蓝" checked' in text_of(sold_out) and 'value="M" checked' in text_of(sold_out)
    too_many = client.post("/cart/add", data=buy_form(product_id, "红", "M", quantity="7"))
    assert too_many.status_code == 422 and "Only 5 left of this spec" in text_of(too_many)
    assert 'value="7"' in text_of(too_many) and 'data-open="buy"' in text_of(too_many)
    above_limit = client.post("/cart/add", data=buy_form(product_id, "红", "M", quantity="1000"))
    assert "At most" in text_of(above_limit)
    missing = client.post("/cart/add", data=buy_form(product_id, "红"))
    assert missing.status_code == 422 and "Choose a spec" in text_of(missing)
    # The price changed while the buyer looked: the new price, and the form asks again.
    stale = f"{ids['红/M']}:5900"
    with app.app_context():
        db.session.get(Sku, ids["红/M"]).price_cents = 6300
        db.session.commit()
    changed = client.post(
        "/cart/add", data=buy_form(product_id, "红", "M", action="cart", shown=stale)
    )
    page = text_of(changed)
    assert changed.status_code == 422 and "from ¥59.00 to ¥63.00" in page
    assert f"{ids['红/M']}:6300" in page  # submitting again agrees to the new price
    assert client.get("/cart").get_data(as_text=True).count("cart-line") == 0
    again = client.post(
        "/cart/add",
        data=buy_form(product_id, "红", "M", action="cart", shown=f"{ids['红/M']}:6300"),
    )
    assert again.status_code == 303


def test_checkout_refuses_a_price_changed_since_the_page_and_shows_the_new_one(app, user_client):
    product_id, ids, buyer = shirt_ids(app)
    client = user_client(buyer)
    client.set_cookie("lang", "en")
    page = text_of(client.get(f"/checkout/{product_id}?sku={ids['红/M']}&price=5900"))
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', page).group(1)
    with app.app_context():
        db.session.get(Sku, ids["红/M"]).price_cents = 6100
        db.session.commit()
    data = {
        **ADDRESS,
        "checkout_key": key,
        "quantity": "1",
        "sku_id": ids["红/M"],
        "shown": f"{ids['红/M']}:5900",
    }
    refused = client.post(f"/checkout/{product_id}", data=data)
    page = text_of(refused)
    assert refused.status_code == 200 and "changed from ¥59.00 to ¥61.00" in page
    assert "王小二" in page  # the address typed is kept
    with app.app_context():
        assert db.session.execute(select(Order)).first() is None
    shown = re.search(r'name="shown"[^>]*value="([^"]+)"', page).group(1)
    assert shown == f"{ids['红/M']}:6100"
    assert client.post(f"/checkout/{product_id}", data={**data, "shown": shown}).status_code == 302


def test_the_cart_holds_sku_lines_with_steppers_spec_change_and_selection(app, user_client):
    product_id, ids, buyer = shirt_ids(app)
    client = user_client(buyer)
    client.set_cookie("lang", "en")
    client.post("/cart/add", data=buy_form(product_id, "红", "M", action="cart"))
    client.post("/cart/add", data=buy_form(product_id, "蓝", "L", action="cart", quantity="2"))
    page = text_of(client.get("/cart"))
    assert page.count('class="row-item cart-line') == 2
    assert 'class="tab-badge">3<' in page  # the tab bar's count
    assert "Subtotal" in page and "177.00" in page  # 59 + 2 x 59
    red_m = f"{product_id}:{ids['红/M']}"
    client.post("/cart/update", data={"line": red_m, "op": "inc", "quantity": "1"})
    client.post("/cart/update", data={"line": red_m, "op": "inc", "quantity": "2"})
    client.post("/cart/update", data={"line": red_m, "op": "dec", "quantity": "3"})
    assert 'class="tab-badge">4<' in text_of(client.get("/cart"))
    over = client.post("/cart/update", data={"line": red_m, "quantity": "9"}, follow_redirects=True)
    assert "At most 5 per order." in text_of(over)  # 红/M has 5
    # The spec changed in the cart: the line becomes 红/L.
    client.post("/cart/update", data={"line": red_m, "op": "spec", "sku_id": ids["红/L"]})
    page = text_of(client.get("/cart"))
    assert f'id="line-{product_id}:{ids["红/L"]}"' in page and red_m not in page
    # Leave 蓝/L out of this checkout: only 红/L is ordered, 蓝/L stays in the cart.
    blue_l = f"{product_id}:{ids['蓝/L']}"
    client.post("/cart/update", data={"line": blue_l, "op": "deselect"})
    page = text_of(client.get("/cart"))
    assert 'aria-pressed="false"' in page and "138.00" in page  # 2 x 69 selected
    form = text_of(client.get("/cart/checkout"))
    assert "颜色：红；尺码：L" in form and "颜色：蓝" not in form
    key = re.search(r'name="checkout_key"[^>]*value="([^"]+)"', form).group(1)
    shown = re.search(r'name="shown"[^>]*value="([^"]+)"', form).group(1)
    placed = client.post("/cart/checkout", data={**ADDRESS, "checkout_key": key, "shown": shown})
    assert placed.status_code == 302
    with app.app_context():
        [item] = db.session.execute(select(OrderItem)).scalars().all()
        assert (item.sku_id, item.quantity) == (ids["红/L"], 2)
    page = text_of(client.get("/cart"))
    assert f'id="line-{blue_l}"' in page and page.count('class="row-item cart-line') == 1


def test_a_cart_cookie_of_product_ids_still_works(app, client):
    with app.app_context():
        product = make_shirt()
        plain = Product  # noqa: F841
        from tests.factories import make_product

        single = make_product(price_cents=2000, original_price_cents=None, stock=3)
        db.session.commit()
        shirt_id, single_id = product.id, single.id
    with client.session_transaction() as session:
        session["cart"] = {"lines": {str(single_id): 2, str(shirt_id): 1}}
    page = text_of(client.get("/cart"))
    assert "40.00" in page  # the plain product's one SKU
    assert "Choose a spec" in page or "选择规格" in page  # the shirt needs a spec


def test_merchant_builds_the_sku_table_keeping_what_was_typed(app, user_client):
    with app.app_context():
        merchant = make_merchant()
        category_id = make_category().id
        db.session.commit()
        user = merchant.user
    client = user_client(user)
    client.set_cookie("lang", "en")
    base = product_form(category_id, price="", stock="")
    base.update({"spec0_name": "颜色", "spec0_values": "红，蓝", "op": "table"})
    table = text_of(client.post("/merchant/products/new", data=base))
    assert 'name="sku[红|].price"' in table and 'name="sku[蓝|].stock"' in table
    # Set all, then a second dimension: what was typed stays in its rows.
    base.update({"op": "bulk", "bulk_price": "59", "bulk_stock": "10"})
    table = text_of(client.post("/merchant/products/new", data=base))
    assert 'name="sku[红|].price" inputmode="decimal" value="59"' in table
    rows = {"sku[红|].price": "59", "sku[红|].stock": "10", "sku[蓝|].price": "69"}
    base.update({"spec1_name": "尺码", "spec1_values": "M", "op": "table", **rows})
    base.pop("bulk_price")
    base.pop("bulk_stock")
    table = text_of(client.post("/merchant/products/new", data=base))
    assert 'name="sku[红|M].price"' in table and "红 / M" in table
    # Save with a bad cell: the message on that cell, everything else kept, nothing saved.
    cells = {
        "sku[红|M].price": "59",
        "sku[红|M].stock": "10",
        "sku[蓝|M].price": "abc",
        "sku[蓝|M].stock": "4",
    }
    base.pop("op")
    refused = client.post("/merchant/products/new", data={**base, **cells})
    page = text_of(refused)
    assert refused.status_code == 200 and "Check the specs" in page
    assert re.search(r'name="sku\[蓝\|M\]\.price"[^>]*value="abc"[^>]*aria-invalid="true"', page)
    assert "at most two decimals" in page
    assert 'value="正山小种"' in page
    with app.app_context():
        assert db.session.execute(select(Product)).first() is None
    cells["sku[蓝|M].price"] = "69"
    saved = client.post("/merchant/products/new", data={**base, **cells})
    assert saved.status_code == 302
    with app.app_context():
        product = db.session.execute(select(Product)).scalar_one()
        assert (product.price_cents, product.stock, product.has_price_range) == (5900, 14, True)
        assert [s.name for s in product.specs] == ["颜色", "尺码"]
        assert sorted(
            (s.value1, s.value2, s.price_cents, s.stock) for s in product.active_skus
        ) == [
            ("红", "M", 5900, 10),
            ("蓝", "M", 6900, 4),
        ]
        product_id = product.id
    edit = text_of(client.get(f"/merchant/products/{product_id}/edit"))
    assert 'name="sku[蓝|M].stock_shown" value="4"' in edit and 'value="红，蓝"' in edit


def test_a_product_page_with_specs_fits_the_phone_budget(app, client):
    from tests.web.test_page_budget import KB, assert_within_budget, measure

    with app.app_context():
        shirt = make_shirt(description="很好用" * 100)
        # 3 x 4 more combinations than the factory's: 5 colours x 6 sizes.
        from shop.catalog import skus

        colours, sizes = ["红", "蓝", "白", "黑", "灰"], ["S", "M", "L", "XL", "XXL", "3XL"]
        rows = [
            skus.CleanRow((c, s), 5900 + 100 * i, 5, None, None, None)
            for i, (c, s) in enumerate((c, s) for c in colours for s in sizes)
        ]
        skus.save(shirt, [("颜色", colours), ("尺码", sizes)], rows)
        db.session.commit()
        product_id = shirt.id
    sizes_measured = measure(client, f"/p/{product_id}")
    assert_within_budget(sizes_measured)
    assert sizes_measured["html"] <= 14 * KB and sizes_measured["js"] > 0
    print("product page with 30 SKUs:", sizes_measured)
