"""Requests released together against a real gunicorn (2 processes x 4 threads) on a SQLite
file or PostgreSQL: the races of tests/services/test_concurrency.py, now through routing,
sessions, CSRF, the request hooks that take SQLite's write lock, and the views' commits."""

import json
import re
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

from sqlalchemy import func, select

from shop.catalog.models import Product
from shop.money import ledger
from shop.money.models import EntryKind, LedgerEntry, Payout
from shop.orders import checkout, payments, states
from shop.orders.models import Order, OrderEvent, OrderItem, PaymentEvent
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
    sign_in,
    statuses,
)
from tests.services.test_orders import earning_sharer, place, shared_click

ONLY_LEFT = re.compile(r"Only \d+ left of")


def test_fifty_buyers_for_five_in_stock_buy_exactly_five(app, start_server, db_name):
    server = start_server()
    with app.app_context():
        product_id = make_product(stock=5).id
        accounts = [make_user().phone for _ in range(50)]
        db.session.commit()
    server.wait_ready()
    with ThreadPoolExecutor(8) as pool:
        buyers = list(pool.map(lambda a: ready_to_buy(server, a, product_id), accounts))

    def buy(i):
        browser, form = buyers[i]
        return browser.post(f"/checkout/{product_id}", form)

    results, seconds = release_together(50, buy)
    answers = [r for r in results if isinstance(r, Response)]
    placed = [r for r in answers if r.status == 302]
    refused = [r for r in answers if r.status == 200 and ONLY_LEFT.search(r.text)]
    assert (len(placed), len(refused)) == (5, 45), (statuses(results), server.log())
    assert all(re.fullmatch(r"/orders/\d+/pay", r.location) for r in placed)
    with app.app_context():
        assert db.session.get(Product, product_id).stock == 0
        assert count(Order) == 5
        assert count(OrderItem, OrderItem.product_id == product_id, OrderItem.quantity == 1) == 5
        assert db.session.execute(select(func.count(func.distinct(Order.buyer_id)))).scalar() == 5
        invariants.check(db.session)
    print(f"\n[{db_name}] HTTP: 50 buyers for stock 5 -> 5 placed, 45 told what is left, "
          f"{seconds:.2f} s")  # fmt: skip


def test_two_hundred_notices_and_the_return_path_pay_once(app, start_server, db_name):
    server = start_server()
    with app.app_context():
        product = make_product(stock=5)
        sharer = shared_click(product, visitor="v" * 32)
        [order] = place(make_user(), [(product.id, 1)], visitor="v" * 32)
        assert order.sharer_id == sharer.id  # so paying it posts an estimated rebate
        db.session.commit()
        provider = payments.providers(SECRET_KEY, ["sandbox"])["sandbox"]
        body = provider.notice_body(order)
        signature = provider.sign(body)
        order_id, sharer_id, rebate_cents = order.id, sharer.id, order.items[0].rebate_cents
    server.wait_ready()
    returning = "/payments/sandbox/return?" + urlencode({"body": body.decode(), "sig": signature})
    notify_headers = {"Content-Type": "application/json", "X-Sandbox-Signature": signature}

    def deliver(i):
        browser = Browser(server)
        if i % 11 == 10:  # 20 browsers come back while the gateway's 200 notices arrive
            return "return", browser.get(returning)
        return "notify", browser.request("POST", "/payments/sandbox/notify", body, notify_headers)

    results, seconds = release_together(220, deliver)
    failed = [r for r in results if not isinstance(r, tuple)]
    assert not failed, (failed[:3], server.log())
    notified = [answer for road, answer in results if road == "notify"]
    returned = [answer for road, answer in results if road == "return"]
    assert len(notified) == 200 and len(returned) == 20
    assert all(a.status == 200 for a in notified), (statuses(notified), server.log())
    outcomes = [json.loads(a.text)["outcome"] for a in notified]
    assert set(outcomes) <= {"paid", "replay"} and outcomes.count("paid") <= 1, set(outcomes)
    back = {(a.status, a.location) for a in returned}
    assert back == {(302, f"/orders/{order_id}/paid")}, (statuses(returned), server.log())
    with app.app_context():
        assert db.session.get(Order, order_id).status == states.S.PAID
        paid = count(OrderEvent, OrderEvent.order_id == order_id, OrderEvent.to_status == "paid")
        assert paid == 1
        assert count(PaymentEvent, PaymentEvent.order_id == order_id) == 1
        estimated = db.session.execute(
            select(LedgerEntry).where(LedgerEntry.kind == EntryKind.ESTIMATED)
        ).scalars().all()  # fmt: skip
        assert [(e.order_id, e.sharer_id, e.amount_cents) for e in estimated] == [
            (order_id, sharer_id, rebate_cents)
        ]
        invariants.check(db.session)
    road = "the callback" if "paid" in outcomes else "the return path"
    print(f"\n[{db_name}] HTTP: 200 notices + 20 returns -> 1 paid (by {road}), 1 estimate, "
          f"{seconds:.2f} s")  # fmt: skip


def test_fifty_payout_requests_give_one_payout(app, start_server, db_name):
    server = start_server()
    with app.app_context():
        sharer = earning_sharer(50)  # ¥50 settled, a payout account saved
        account, sharer_id = sharer.phone, sharer.id
        db.session.commit()
    server.wait_ready()
    browser = sign_in(server, account)
    page = browser.get("/me/earnings")
    assert page.status == 200, page.text[:500]
    form = hidden_fields(page.text)
    # Half the requests replay one form (a double tap); the others are other tabs.
    keys = [form["idempotency_key"] if i % 2 else checkout.new_checkout_key() for i in range(50)]

    def ask(i):
        return browser.copy().post(
            "/me/earnings/payout", {**form, "idempotency_key": keys[i], "amount": "40"}
        )

    results, seconds = release_together(50, ask)
    seen = statuses(results)
    assert set(seen) <= {303, 422} and seen.get(303), (seen, server.log())
    with app.app_context():
        [payout] = db.session.execute(select(Payout)).scalars().all()
        assert (payout.user_id, payout.amount_cents) == (sharer_id, 4000)
        assert count(LedgerEntry, LedgerEntry.kind == EntryKind.PAYOUT) == 1
        assert ledger.balances(sharer_id).available_cents == 1000
        invariants.check(db.session)
        replayed_won = payout.idempotency_key == form["idempotency_key"]
    if replayed_won:  # every copy of the winning form is answered as the first one was
        replays = statuses([r for i, r in enumerate(results) if i % 2])
        assert replays == {303: 25}, replays
    print(f"\n[{db_name}] HTTP: 50 payout requests on ¥50 -> 1 payout "
          f"({'the replayed form' if replayed_won else 'a single tab'} won; answers {seen}), "
          f"{seconds:.2f} s")  # fmt: skip
