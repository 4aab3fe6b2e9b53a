"""Carriers, checked tracking numbers, bulk shipping by CSV, and the Kuaidi100 adapter against
a local fake of its real-time query API."""

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from sqlalchemy import func, select

from shop.orders import bulk_ship, carriers, states, tracking
from shop.orders.models import OrderEvent, OrderStatus
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.services.test_orders import NOW, pay, place


def paid_order(product=None, key="k1"):
    product = product or make_product(stock=10)
    order = place(make_user(), [(product.id, 1)], key=key)[0]
    pay(order)
    return order


def test_carriers_by_code_name_or_alias():
    assert carriers.find("sf").code == "SF"
    assert carriers.find(" 顺丰速运 ").code == "SF"
    assert carriers.find("中通").code == "ZTO"
    assert carriers.find("极兔速递").kuaidi100 == "jtexpress"
    assert carriers.find("carrier pigeon") is None
    assert carriers.label("YTO") == "圆通速递"
    assert carriers.label("某某物流") == "某某物流"  # typed before the list: shown as it was
    assert carriers.tracking_url("SF", "SF123") == (
        "https://www.sf-express.com/chn/sc/waybill/waybill-detail/SF123"
    )
    assert carriers.tracking_url("ZTO", "7812 3") == (
        "https://www.kuaidi100.com/chaxun?com=zhongtong&nu=7812%203"
    )
    assert carriers.tracking_url("某某物流", "123") == ""
    codes = [c.code for c in carriers.CARRIERS]
    assert len(codes) == len(set(codes))
    for code in ("SF", "ZTO", "YTO", "YD", "STO", "JTSD", "EMS", "JD", "DBL"):
        assert code in codes


def test_ship_stores_the_code_and_a_normalized_number(ctx):
    order = paid_order()
    merchant = order.merchant.user
    with pytest.raises(ValidationError) as bad:
        states.ship(order, "信鸽", "SF1234567890", actor=merchant, now=NOW)
    assert bad.value.field == "carrier"
    for number in ("SF12", "SF-1234567890", "x" * 21, "单号1234567890"):
        with pytest.raises(ValidationError) as bad:
            states.ship(order, "SF", number, actor=merchant, now=NOW)
        assert bad.value.field == "tracking"
    assert order.status == OrderStatus.PAID
    states.ship(order, "顺丰", " sf1234 567890 ", actor=merchant, now=NOW)
    assert (order.carrier, order.tracking_number) == ("SF", "SF1234567890")


def test_bulk_csv_gives_a_result_per_line_and_ships_only_whole_lines(ctx):
    product = make_product(stock=20)
    merchant_user = product.merchant.user
    first, second, third, unpaid_key = (paid_order(product, f"k{i}") for i in range(4))
    states.ship(third, "ZTO", "78123456789012", actor=merchant_user, now=NOW)
    unpaid = place(make_user(), [(product.id, 1)], key="unpaid")[0]
    others = paid_order(make_product(stock=5), "other")
    text = "\n".join(
        [
            "订单号,快递公司,运单号",
            f"{first.number},顺丰速运,SF1234567890",
            f"{second.number},信鸽,123456789012",
            f"{third.number},ZTO,78123456789012",
            f"{others.number},SF,SF1234567899",
            "NO-SUCH-ORDER,SF,SF1234567898",
            f"{unpaid.number},YTO,YT1234567890123",
            f"{unpaid_key.number},YTO,12",
            f"{unpaid_key.number}",
            "",
            f"{unpaid_key.number}, yto , yt1234567890123 ",
        ]
    )
    results = bulk_ship.ship_csv(
        text, merchant_id=product.merchant_id, actor=merchant_user, now=NOW
    )
    assert [(r.line, r.result) for r in results] == [
        (2, bulk_ship.SHIPPED),
        (3, bulk_ship.BAD_CARRIER),
        (4, bulk_ship.ALREADY_SHIPPED),
        (5, bulk_ship.NOT_YOURS),
        (6, bulk_ship.NOT_YOURS),
        (7, bulk_ship.NOT_SHIPPABLE),
        (8, bulk_ship.BAD_NUMBER),
        (9, bulk_ship.BAD_LINE),
        (11, bulk_ship.SHIPPED),
    ]
    db.session.flush()
    for order in (first, second, third, others, unpaid, unpaid_key):
        db.session.refresh(order)
    assert (first.status, first.carrier, first.tracking_number) == (
        OrderStatus.SHIPPED, "SF", "SF1234567890"
    )  # fmt: skip
    assert unpaid_key.carrier == "YTO" and unpaid_key.tracking_number == "YT1234567890123"
    assert second.status == OrderStatus.PAID and second.carrier == ""
    assert third.tracking_number == "78123456789012"  # not overwritten
    assert others.status == OrderStatus.PAID and unpaid.status == OrderStatus.PLACED
    shipped_events = db.session.scalar(
        select(func.count()).select_from(OrderEvent).where(OrderEvent.to_status == "shipped")
    )
    assert shipped_events == 3  # third's own, and the two lines shipped


def test_bulk_csv_reads_gbk_and_refuses_binary(ctx):
    order = paid_order()
    raw = f"{order.number},韵达,4312345678901\r\n".encode("gbk")
    results = bulk_ship.ship_csv(
        bulk_ship.decode(raw), merchant_id=order.merchant_id, actor=order.merchant.user, now=NOW
    )
    assert [r.result for r in results] == [bulk_ship.SHIPPED]
    assert order.carrier == "YD"
    with pytest.raises(ValidationError):
        bulk_ship.decode(b"\xff\xfe\x00\x81\x00\xff")


class FakeKuaidi100:
    """Kuaidi100's real-time query, as documented: form fields customer, param, sign."""

    def __init__(self, customer="CUST1", key="KEY1"):
        self.customer, self.key, self.calls = customer, key, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                fake.calls.append((self.path, form))
                expected = hashlib.md5(
                    (form["param"] + fake.key + form["customer"]).encode()
                ).hexdigest().upper()  # fmt: skip
                if self.path != "/poll/query.do" or form.get("sign") != expected:
                    answer = {"result": False, "returnCode": "601", "message": "sign error"}
                else:
                    param = json.loads(form["param"])
                    answer = {
                        "message": "ok", "state": "5", "status": "200", "ischeck": "0",
                        "com": param["com"], "nu": param["num"],
                        "data": [
                            {"time": "2026-12-06 09:00:00", "ftime": "2026-12-06 09:00:00",
                             "context": "【上海市】快递员正在派件"},
                            {"time": "2026-12-05 20:00:00", "ftime": "2026-12-05 20:00:00",
                             "context": "【杭州市】已发出"},
                        ],
                    }  # fmt: skip
                body = json.dumps(answer, ensure_ascii=False).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def kuaidi100():
    fake = FakeKuaidi100()
    yield fake
    fake.close()


def config_for(fake, **more):
    return {
        "KUAIDI100_CUSTOMER": fake.customer,
        "KUAIDI100_KEY": fake.key,
        "KUAIDI100_BASE_URL": fake.url,
        "TRACKING_TIMEOUT_SECONDS": 2,
        **more,
    }


def test_kuaidi100_adapter_signs_and_reads_events(ctx, kuaidi100):
    order = paid_order()
    states.ship(order, "SF", "SF1234567890", actor=order.merchant.user, now=NOW)
    found = tracking.latest(order, config_for(kuaidi100))
    assert found.state == "delivering"
    assert [e.text for e in found.events] == ["【上海市】快递员正在派件", "【杭州市】已发出"]
    path, form = kuaidi100.calls[0]
    assert path == "/poll/query.do" and form["customer"] == "CUST1"
    assert json.loads(form["param"]) == {
        "com": "shunfeng", "num": "SF1234567890", "phone": order.ship_phone
    }  # fmt: skip


def test_tracking_is_off_unless_configured_and_failures_show_nothing(ctx, kuaidi100):
    order = paid_order()
    states.ship(order, "ZTO", "78123456789012", actor=order.merchant.user, now=NOW)
    assert tracking.provider_for({"KUAIDI100_CUSTOMER": "", "KUAIDI100_KEY": ""}) is None
    assert tracking.latest(order, {"KUAIDI100_CUSTOMER": "", "KUAIDI100_KEY": ""}) is None
    assert kuaidi100.calls == []
    wrong_key = config_for(kuaidi100, KUAIDI100_KEY="WRONG")
    assert tracking.latest(order, wrong_key) is None  # refused: the page shows the link only
    with pytest.raises(tracking.TrackingError, match="sign error"):
        tracking.provider_for(wrong_key).track(carriers.find("ZTO"), "78123456789012", "")
    closed = config_for(kuaidi100, KUAIDI100_BASE_URL="http://127.0.0.1:9")
    assert tracking.latest(order, closed) is None


def test_tracking_is_cached_per_parcel(app, kuaidi100):
    app.config["TRACKING_CACHE_SECONDS"] = 300
    with app.app_context():
        order = paid_order()
        states.ship(order, "YD", "4312345678901", actor=order.merchant.user, now=NOW)
        config = config_for(kuaidi100)
        first = tracking.latest(order, config)
        again = tracking.latest(order, config)
        assert first == again and len(kuaidi100.calls) == 1
        db.session.rollback()
