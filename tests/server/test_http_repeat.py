"""One buyer's duplicate taps released together against a real gunicorn (2 processes x 4
threads) on a SQLite file or PostgreSQL: fresh checkout forms of several tabs (each its own
checkout key) give one order; taps on the gateway's pay button give one ``paid`` event."""

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from shop.catalog.models import Product
from shop.orders import payments
from shop.orders.models import Order, OrderEvent, PaymentEvent
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, make_user
from tests.server.live import (
    SECRET_KEY,
    Browser,
    Response,
    count,
    hidden_fields,
    ready_to_buy,
    release_together,
    statuses,
)
from tests.services.test_orders import place


def test_eight_tabs_with_fresh_forms_place_one_order(app, start_server, db_name):
    server = start_server()
    with app.app_context():
        product_id = make_product(stock=20).id
        account = make_user().phone
        db.session.commit()
    server.wait_ready()
    browser, _form = ready_to_buy(server, account, product_id)

    def fresh_form(_i):  # each tab fetched the form itself: a new checkout key each
        tab = browser.copy()
        page = tab.get(f"/checkout/{product_id}")
        return tab, {**_form, **hidden_fields(page.text)}

    with ThreadPoolExecutor(4) as pool:
        tabs = list(pool.map(fresh_form, range(8)))
    assert len({form["checkout_key"] for _tab, form in tabs}) == 8

    def submit(i):
        tab, form = tabs[i]
        return tab.post(f"/checkout/{product_id}", form)

    results, seconds = release_together(8, submit)
    answers = [r for r in results if isinstance(r, Response)]
    placed = [r for r in answers if r.status == 302]
    told = [r for r in answers if r.status == 200 and "You just placed this order." in r.text]
    assert (len(placed), len(told)) == (1, 7), (statuses(results), server.log())
    with app.app_context():
        assert count(Order) == 1
        assert db.session.get(Product, product_id).stock == 19
        invariants.check(db.session)
    print(f"\n[{db_name}] HTTP: 8 fresh forms of one buyer -> 1 order, 7 told, {seconds:.2f} s")


def test_ten_taps_on_the_gateway_pay_once_and_record_one_paid_event(app, start_server, db_name):
    server = start_server()
    with app.app_context():
        product = make_product(stock=5)
        [order] = place(make_user(), [(product.id, 1)])
        db.session.commit()
        provider = payments.providers(SECRET_KEY, ["sandbox"])["sandbox"]
        gateway = provider.start(order, "/payments/sandbox/return")
        number, order_id = order.number, order.id
    server.wait_ready()
    browser = Browser(server)
    page = browser.get(gateway)
    assert page.status == 200, page.text[:500]
    form = hidden_fields(page.text)

    def tap(_i):
        return browser.copy().post(f"/pay/sandbox/{number}", form)

    results, seconds = release_together(10, tap)
    seen = statuses(results)
    assert set(seen) <= {200, 303} and seen.get(303), (seen, server.log())
    with app.app_context():
        assert db.session.get(Order, order_id).status == "paid"
        paid = count(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.to_status == "paid")
        assert paid == 1
        recorded = Counter(
            db.session.execute(
                select(PaymentEvent.outcome).where(PaymentEvent.order_id == order_id)
            ).scalars()
        )
        assert recorded["paid"] == 1 and set(recorded) <= {"paid", "already_paid"}, recorded
        invariants.check(db.session)
    print(f"\n[{db_name}] HTTP: 10 pay taps -> 1 paid event, outcomes {dict(recorded)}, "
          f"answers {seen}, {seconds:.2f} s")  # fmt: skip
