"""The server killed in the middle of placing an order.

The worker is started with the fault point ``place_order.after_stock`` armed (shop/faults.py):
it ends itself with ``os._exit`` after the stock UPDATE and the order, item and event INSERTs,
before the commit, as a power cut or an OOM kill would. An order, its items and its stock change
are one transaction, so nothing of it may remain; and the same form must go through once a
healthy server is back.
"""

import http.client
import time

import pytest
from sqlalchemy import text

from shop.catalog.models import Product
from shop.orders.models import Order, OrderEvent, OrderItem
from shop.platform import faults
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, make_user
from tests.server.live import count, ready_to_buy


def test_a_worker_dying_mid_checkout_leaves_no_partial_order(app, start_server, db_name):
    crashing = start_server(workers=1, threads=2, FAULT="place_order.after_stock")
    with app.app_context():
        product_id = make_product(stock=5).id
        account = make_user().phone
        db.session.commit()
    crashing.wait_ready()
    browser, form = ready_to_buy(crashing, account, product_id)

    begin = time.perf_counter()
    with pytest.raises((ConnectionError, http.client.HTTPException)):
        browser.post(f"/checkout/{product_id}", form)
    # The master saw the worker end at the fault point, not somewhere else.
    assert crashing.wait_for_log(f"exited with code {faults.EXIT_CODE}"), crashing.log()
    crashed = time.perf_counter() - begin
    crashing.stop()
    server = start_server(workers=1)  # boots while the database is looked at

    with app.app_context():
        assert (count(Order), count(OrderItem), count(OrderEvent)) == (0, 0, 0)
        assert db.session.get(Product, product_id).stock == 5
        invariants.check(db.session)
        if db_name == "sqlite":
            assert db.session.execute(text("PRAGMA integrity_check")).scalar() == "ok"
        db.session.rollback()

    # Restarted without the fault: the buyer's same form (same checkout key) places one order.
    begin = time.perf_counter()
    browser.port = server.wait_ready().port
    answer = browser.post(f"/checkout/{product_id}", form)
    assert answer.status == 302, (answer.text[:500], server.log())
    placed = time.perf_counter() - begin
    with app.app_context():
        [order] = db.session.execute(db.select(Order)).scalars().all()
        assert [(i.product_id, i.quantity) for i in order.items] == [(product_id, 1)]
        assert db.session.get(Product, product_id).stock == 4
        invariants.check(db.session)
    print(f"\n[{db_name}] crash mid-checkout: worker gone {crashed:.2f} s after the POST, nothing "
          f"kept; after restart the same form placed one order ({placed:.2f} s)")  # fmt: skip
