"""The merchant's orders view (tabs, counts, filters, the 待发货 badge) and the courier export
(快递单导出): what they show, what they refuse with a message, and that nothing of another
merchant can be reached through them."""

import csv
import io
from datetime import timedelta

import pytest
from markupsafe import escape
from sqlalchemy import event

from shop.orders import checkout, states
from shop.orders.models import Order, OrderStatus
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.web.common import now as real_now
from tests.factories import make_merchant, make_product, make_shirt, make_user, sku_of
from tests.services import test_orders as svc

S = OrderStatus


def text_of(response) -> str:
    return response.get_data(as_text=True)


def place(product, *, buyer=None, quantity=1, sku=None, minutes_ago=5, phone="13912345678",
          name="王小二", note="", paid=True):  # fmt: skip
    at = real_now() - timedelta(minutes=minutes_ago)
    address = checkout.ShippingAddress(name, phone, "浙江省 杭州市 西湖区", "文三路 90 号")
    line = (product.id, quantity, sku.id) if sku is not None else (product.id, quantity)
    [order] = checkout.place_order(
        buyer or make_user(),
        [line],
        address,
        checkout_key=f"k{product.id}-{minutes_ago}-{phone}",
        provider="sandbox",
        visitor_id=None,
        now=at,
        window=timedelta(days=15),
        allow_self_purchase=True,
        pay_within=timedelta(minutes=30),
        note=note,
    )
    if paid:
        svc.pay(order, at)
    return order


@pytest.fixture
def shop_world(app):
    """A merchant with a shirt (specs) and a mug, orders in every tab; another merchant with
    one paid order of their own."""
    with app.app_context():
        merchant = make_merchant()
        shirt = make_shirt(merchant=merchant, weight_grams=300)
        mug = make_product(merchant=merchant, title="马克杯", stock=50)
        paid_shirt = place(shirt, sku=sku_of(shirt, "红", "L"), quantity=2, note="请周五前发")
        paid_mug = place(mug, phone="13700001234", name="李四", minutes_ago=60 * 24 * 3)
        unpaid = place(mug, paid=False, minutes_ago=3)
        shipped = place(mug, minutes_ago=10)
        states.ship(shipped, "SF", "SF1234567890123", actor=merchant.user, now=real_now())
        asked = place(mug, minutes_ago=20)
        states.request_refund(asked, "不想要了", actor=asked.buyer, now=real_now())
        other = make_merchant()
        other_product = make_product(merchant=other, title="别家的茶")
        foreign = place(other_product, phone="13600009999")
        db.session.commit()
        world = {
            "owner": merchant.user,
            "shirt": shirt.id,
            "mug": mug.id,
            "paid_shirt": paid_shirt.number,
            "paid_mug": paid_mug.number,
            "unpaid": unpaid.number,
            "shipped": shipped.number,
            "asked": asked.number,
            "asked_id": asked.id,
            "paid_shirt_id": paid_shirt.id,
            "other_owner": other.user,
            "other_product": other_product.id,
            "foreign": foreign.number,
        }
    return world  # outside the app context: a context held open leaks g into requests


def test_tabs_count_every_status_and_rows_show_the_next_action(app, english_client, shop_world):
    w = shop_world
    client = english_client(w["owner"])
    page = text_of(client.get("/merchant/orders"))
    for number in ("paid_shirt", "paid_mug", "unpaid", "shipped", "asked"):
        assert w[number] in page
    assert w["foreign"] not in page
    assert 'data-tab="unshipped">To ship <span class="tab-count">2</span>' in page
    assert 'data-tab="unpaid">To pay <span class="tab-count">1</span>' in page
    assert 'data-tab="aftersale">After-sales <span class="tab-count">1</span>' in page
    # The 待发货 badge in the console's navigation.
    assert '<span class="sr-only">To ship</span> 2</span>' in page
    # A row: thumbnail, spec text and quantity, amount, receiver, time, next action.
    shirt_row = page.split(f'data-order="{w["paid_shirt"]}"')[1].split("</li>")[0]
    assert "-t.webp" in shirt_row and "颜色：红；尺码：L × 2" in shirt_row
    assert "¥138.00" in shirt_row and "王小二 13912345678" in shirt_row
    assert ">Ship</a>" in shirt_row
    asked_row = page.split(f'data-order="{w["asked"]}"')[1].split("</li>")[0]
    assert ">Handle after-sales</a>" in asked_row

    to_ship = text_of(client.get("/merchant/orders?tab=unshipped"))
    assert w["paid_shirt"] in to_ship and w["paid_mug"] in to_ship
    assert w["unpaid"] not in to_ship and w["shipped"] not in to_ship
    aftersale = text_of(client.get("/merchant/orders?tab=aftersale"))
    assert w["asked"] in aftersale and w["paid_mug"] not in aftersale
    # Links made before the tabs still land on the right one.
    legacy = text_of(client.get("/merchant/orders?status=shipped"))
    assert w["shipped"] in legacy and w["paid_mug"] not in legacy


def test_counts_are_one_grouped_query_and_the_badge_one_more(app, english_client, shop_world):
    client = english_client(shop_world["owner"])
    client.get("/merchant/orders")  # warm up the session and caches
    statements = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(" ".join(statement.lower().split()))

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        assert client.get("/merchant/orders?tab=unshipped").status_code == 200
        on_orders = list(statements)
        statements.clear()
        assert client.get("/merchant/").status_code == 200
        products_page = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    grouped = [s for s in on_orders if "count(" in s and "group by orders.status" in s]
    counts = [s for s in on_orders if "count(" in s and "from orders" in s]
    assert len(grouped) == 1 and len(counts) == 2  # the tabs, and the navigation's badge
    badge = [s for s in products_page if "count(" in s and "from orders" in s]
    assert len(badge) == 1  # every console page draws the badge with one count


def test_search_by_number_phone_tail_date_and_product(app, english_client, shop_world):
    w = shop_world
    client = english_client(w["owner"])

    def listed(**args):
        response = client.get("/merchant/orders", query_string=args)
        assert response.status_code == 200, args
        page = text_of(response)
        return {key for key in ("paid_shirt", "paid_mug", "unpaid", "shipped", "asked")
                if f'data-order="{w[key]}"' in page}  # fmt: skip

    assert listed(q=w["paid_mug"]) == {"paid_mug"}
    assert listed(q=" 1370000 1234 ") == {"paid_mug"}  # spaces people type are ignored
    assert listed(q="1234") == {"paid_mug"}  # 手机尾号
    assert listed(product=str(w["shirt"])) == {"paid_shirt"}
    today = (utcnow() + timedelta(hours=8)).date()
    assert "paid_mug" not in listed(start=str(today))
    assert listed(start=str(today - timedelta(days=4)), end=str(today - timedelta(days=2))) == {
        "paid_mug"
    }
    assert listed(q="1234", tab="unshipped") == {"paid_mug"}
    assert listed(q="1234", tab="shipped") == set()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"q": "abc'; drop"}, "digits only"),
        ({"q": "12"}, "digits only"),
        ({"q": "1" * 60}, "digits only"),
        ({"start": "2026-13-45"}, "Enter a date like 2026-12-06."),
        ({"end": "yesterday"}, "Enter a date like 2026-12-06."),
        ({"start": "0001-01-01"}, "Enter a date like 2026-12-06."),
        ({"start": "2020-01-02", "end": "2020-01-01"}, "The end date is before the start date."),
        ({"product": "x"}, "Choose one of your products."),
        ({"product": "99999999999999999999"}, "Choose one of your products."),
        ({"tab": "everything"}, "There is no such tab"),
    ],
)
def test_every_bad_filter_gets_a_message_and_keeps_the_text(app, english_client, shop_world,
                                                            args, message):  # fmt: skip
    client = english_client(shop_world["owner"])
    response = client.get("/merchant/orders", query_string=args)
    assert response.status_code == 422
    page = text_of(response)
    assert message in page
    for name, value in args.items():
        if name in ("q", "start", "end"):  # what was typed is still in its field
            assert f'value="{escape(value)}"' in page
    assert shop_world["paid_mug"] in page  # the bad filter is left out, the list still shows


def test_bad_filters_in_chinese(app, user_client, shop_world):
    client = user_client(shop_world["owner"])
    client.set_cookie("lang", "zh_Hans_CN")
    page = text_of(client.get("/merchant/orders?start=nope&product=abc"))
    assert "请按 2026-12-06 这样的格式填写日期。" in page and "请选择你自己的商品。" in page


def test_another_merchant_sees_none_and_ids_in_filters_cannot_leak(app, english_client,
                                                                  shop_world):  # fmt: skip
    w = shop_world
    other = english_client(w["other_owner"])
    page = text_of(other.get("/merchant/orders"))
    assert w["foreign"] in page
    for key in ("paid_shirt", "paid_mug", "unpaid", "shipped", "asked"):
        assert w[key] not in page
    # Naming the first merchant's order number, buyer's phone or product finds nothing.
    found = text_of(other.get(f"/merchant/orders?q={w['paid_mug']}"))
    assert "data-order=" not in found and "No orders here." in found
    found = text_of(other.get("/merchant/orders?q=13700001234"))
    assert "data-order=" not in found and "No orders here." in found
    by_product = other.get(f"/merchant/orders?product={w['shirt']}")
    assert by_product.status_code == 422
    assert "Choose one of your products." in text_of(by_product)
    assert w["paid_shirt"] not in text_of(by_product)
    # The product list of the filter holds only their own products.
    assert "马克杯" not in page and "别家的茶" in page
    exported = other.get(f"/merchant/orders/export.csv?q={w['paid_mug']}")
    assert exported.status_code == 200 and w["paid_mug"] not in text_of(exported)
    exported = other.get("/merchant/orders/export.csv")
    assert w["foreign"] in text_of(exported) and w["paid_shirt"] not in text_of(exported)
    assert other.get(f"/merchant/orders/{w['asked_id']}").status_code == 404


def rows_of(response):
    body = response.get_data()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM: Excel reads the Chinese
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))


def test_courier_export_lists_orders_to_ship_with_the_filters(app, user_client, shop_world):
    w = shop_world
    client = user_client(w["owner"])
    client.set_cookie("lang", "zh_Hans_CN")
    response = client.get("/merchant/orders/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert "attachment; filename=courier-orders-" in response.headers["Content-Disposition"]
    rows = rows_of(response)
    assert rows[0] == ["订单号", "快递公司", "快递单号", "收货人", "手机号", "收货地址", "商品",
                       "买家留言", "重量（千克）"]  # fmt: skip
    by_number = {r[0].strip(): r for r in rows[1:]}
    assert set(by_number) == {w["paid_shirt"], w["paid_mug"]}  # 待发货 only, no other shop
    shirt = by_number[w["paid_shirt"]]
    assert shirt[1:3] == ["", ""]
    assert shirt[3:] == ["王小二", "13912345678", "浙江省 杭州市 西湖区 文三路 90 号",
                         "T 恤（颜色：红；尺码：L）×2", "请周五前发", "0.6"]  # fmt: skip
    assert by_number[w["paid_mug"]][8] == ""  # the mug's weight is not known
    assert shirt[0] == w["paid_shirt"] + "\t"  # so Excel keeps all 18 digits
    only = rows_of(client.get(f"/merchant/orders/export.csv?product={w['mug']}"))
    assert [r[0].strip() for r in only[1:]] == [w["paid_mug"]]
    bad = client.get("/merchant/orders/export.csv?start=nope")
    assert bad.status_code == 303 and "start=nope" in bad.headers["Location"]


def test_courier_export_neutralises_formulas(app, user_client):
    with app.app_context():
        merchant = make_merchant()
        product = make_product(merchant=merchant, title="=cmd|' /C calc'!A0")
        place(product, name="@SUM(1+1)", note='+1 打我电话 =HYPERLINK("http://x")')
        place(product, note="-2", minutes_ago=7, phone="13900000000")
        db.session.commit()
        owner = merchant.user
    rows = rows_of(user_client(owner).get("/merchant/orders/export.csv"))
    cells = [cell for row in rows[1:] for cell in row]
    assert "'@SUM(1+1)" in cells and '\'+1 打我电话 =HYPERLINK("http://x")' in cells
    assert "'-2" in cells
    assert any(c.startswith("'=cmd") for c in cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


def test_export_filled_in_ships_through_the_bulk_upload(app, english_client, shop_world):
    """The round trip the page promises: export, fill in carrier and number, upload."""
    w = shop_world
    client = english_client(w["owner"])
    rows = rows_of(client.get("/merchant/orders/export.csv"))
    numbers = {}
    for i, row in enumerate(rows[1:]):
        row[1], row[2] = "顺丰速运", f"SF10000000000{i:02d}"
        numbers[row[0].strip()] = row[2]
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    upload = ("\ufeff" + out.getvalue()).encode("utf-8")
    response = client.post(
        "/merchant/orders/ship-bulk",
        data={"file": (io.BytesIO(upload), "courier.csv")},
        content_type="multipart/form-data",
    )
    page = text_of(response)
    assert response.status_code == 200 and "2 of 2 lines shipped" in page
    with app.app_context():
        for number, tracking in numbers.items():
            order = db.session.execute(db.select(Order).where(Order.number == number)).scalar_one()
            assert order.status == S.SHIPPED and order.carrier == "SF"
            assert order.tracking_number == tracking
    assert (
        "tab-count"
        not in text_of(client.get("/merchant/orders"))
        .split('data-tab="unshipped"')[1]
        .split("</a>")[0]
    )


def test_page_shows_the_export_and_round_trip(app, english_client, shop_world):
    page = text_of(
        english_client(shop_world["owner"]).get(f"/merchant/orders?product={shop_world['mug']}")
    )
    assert f'href="/merchant/orders/export.csv?product={shop_world["mug"]}"' in page
    assert "upload the same file" in page


def test_a_waiting_partial_refund_puts_the_order_under_after_sales(app, english_client, shop_world):
    """An order keeps its status while part of it is asked back; the merchant still finds it
    under 售后 (counted in the same grouped query), with the amount asked and 处理售后."""
    from shop.money import refunds

    w = shop_world
    with app.app_context():
        order = db.session.get(Order, w["paid_shirt_id"])
        [item] = order.items
        refunds.request(
            order, {item.id: 1}, reason="尺码不对", kind=states.REFUND_ONLY, key="p1",
            actor=order.buyer, now=real_now(), amount_cents=None, with_shipping=False,
        )  # fmt: skip
        db.session.commit()
        assert order.status == OrderStatus.PAID
    client = english_client(w["owner"])
    page = text_of(client.get("/merchant/orders"))
    assert 'data-tab="aftersale">After-sales <span class="tab-count">2</span>' in page
    assert 'data-tab="unshipped">To ship <span class="tab-count">2</span>' in page
    row = page.split(f'data-order="{w["paid_shirt"]}"')[1].split("</li>")[0]
    assert "Partial refund asked: ¥" in row and ">Handle after-sales</a>" in row
    assert ">Ship</a>" not in row
    aftersale = text_of(client.get("/merchant/orders?tab=aftersale"))
    assert w["paid_shirt"] in aftersale and w["asked"] in aftersale
    assert w["paid_mug"] not in aftersale
