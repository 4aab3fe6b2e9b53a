"""How many statements the share burst's pages and the checkout send to the database, and on
PostgreSQL how many round trips (bench/README.md, "The share burst on PostgreSQL + Redis").

Counted, not timed: a statement is anything SQLAlchemy sends (BEGIN on SQLite included), and a
round trip is one the driver makes (libpq's own trace of what it sent: each simple query or
extended-query Sync is one). The numbers are what the pages need today; a change that adds a
lazy load or a repeated lookup fails here, and one that removes some lowers the numbers.
Caches are off (as in every test): this is what a page costs when it is rendered.
"""

import re
import tempfile
from datetime import timedelta

import pytest
from sqlalchemy import event

from shop.catalog.models import ShippingKind, ShippingTemplate
from shop.orders import coupons
from shop.orders.models import Order
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.sharing import shops
from shop.sharing.models import ShopItem
from tests.factories import DEFAULT_PASSWORD, make_product, make_review, make_user
from tests.web.test_checkout import ADDRESS
from tests.web.test_sharing import PHONE_UA, make_link

#: Statements per page besides BEGIN (SQLite sends one BEGIN per transaction; PostgreSQL one
#: per transaction that writes: see ROUND_TRIPS), the same on both databases.
STATEMENTS = {
    ("anonymous", "product"): 4,  # 8 before (2026-12-06)
    ("anonymous", "landing"): 7,  # 12
    ("anonymous", "shop"): 3,  # 3
    # Signed in: the user and the header's unread badge in one statement (2026-12-07; one
    # each before).
    ("signed in", "product"): 7,  # 13, 8
    ("signed in", "landing"): 11,  # 18, 12
    ("signed in", "shop"): 4,  # 5
    ("signed in", "checkout form"): 5,  # 11, 8 before 2026-12-06 evening, 6
    # the checkout key is checked by the orders' INSERT (ON CONFLICT DO NOTHING: a key placed
    # for one of its merchants) and, after it, for orders of other merchants (the same key
    # sent with another cart's shops); 15 before 2026-12-07 too (the look-up came first); 25,
    # 17; and a second transaction after the commit
    ("signed in", "checkout POST"): 15,
}

#: PostgreSQL's round trips: a page that only reads sends its statements and nothing else (no
#: BEGIN, no ROLLBACK: shop.platform.db.begin_when_needed); the checkout POST adds its BEGIN
#: and COMMIT. Before: every page added BEGIN and ROLLBACK.
ROUND_TRIPS = {
    page: count + (2 if page[1] == "checkout POST" else 0) for page, count in STATEMENTS.items()
}


@pytest.fixture
def scene(app):
    """A sharer's link to a product with a shipping template, a published review and a
    coupon on the shop item, three more products in the shop, and a buyer with a saved
    address (from a first checkout), who followed the link."""
    with app.app_context():
        link = make_link(price_cents=12800, stock=1000)
        product = link.product
        template = ShippingTemplate(
            merchant_id=product.merchant_id,
            name="快递",
            kind=ShippingKind.FLAT,
            first_fee_cents=600,
            extra_fee_cents=200,
        )
        db.session.add(template)
        db.session.flush()
        product.shipping_template_id = template.id
        make_review(product)
        now = utcnow()
        coupon = coupons.create_coupon(
            product.merchant,
            product_id=None,
            off_cents=500,
            threshold_cents=0,
            total_count=100,
            per_buyer=1,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=10),
            now=now,
        )
        item = db.session.execute(
            db.select(ShopItem).where(ShopItem.product_id == product.id)
        ).scalar_one()
        coupons.attach(coupon, sharer=link.shop.user, item=item)
        for _ in range(3):
            shops.add_item(
                link.shop, make_product(merchant=product.merchant), recommendation="好", now=now
            )
        buyer = make_user(display_name="买家")
        db.session.commit()
        code, product_id, slug = link.code, product.id, link.shop.slug
        account = buyer.account_label
    signed = app.test_client()
    answer = signed.post("/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 302
    signed.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    first = _checkout_post(signed, product_id, code)
    assert first.status_code == 302 and "/pay" in first.headers["Location"]
    anonymous = app.test_client()
    anonymous.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    return {
        "clients": {"anonymous": anonymous, "signed in": signed},
        "paths": {
            "product": f"/p/{product_id}",
            "landing": f"/s/{slug}/p/{product_id}?ref={code}",
            "shop": f"/s/{slug}",
            "checkout form": f"/checkout/{product_id}?ref={code}",
        },
        "product_id": product_id,
        "code": code,
    }


def _checkout_post(client, product_id: int, code: str, page=None):
    page = page or client.get(f"/checkout/{product_id}?ref={code}")
    html = page.get_data(as_text=True)
    hidden = {}
    for tag in re.findall(r"<input[^>]*>", html):
        name, value = re.search(r'name="(\w+)"', tag), re.search(r'value="([^"]*)"', tag)
        if 'type="hidden"' in tag and name and value:
            hidden[name[1]] = value[1]
    typed = {k: v for k, v in ADDRESS.items() if k != "saved_address"}
    data = {**typed, **hidden, "quantity": "1", "ref": code, "repeat": "1"}
    if not hidden.get("saved_address"):
        data["saved_address"] = ""
    return client.post(f"/checkout/{product_id}", data=data)


class Statements:
    """Every statement SQLAlchemy sends while it is open."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.seen: list[str] = []

    def _note(self, _conn, _cursor, statement, *_args):
        self.seen.append(" ".join(statement.split()))

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "before_cursor_execute", self._note)


class RoundTrips:
    """PostgreSQL: the round trips of every pooled connection checked out while it is open,
    from libpq's trace of the protocol (one ReadyForQuery answers each of them)."""

    def __init__(self, app):
        with app.app_context():
            self.engine = db.engine
        self.trace = tempfile.TemporaryFile()

    def _on_checkout(self, dbapi_connection, _record, _proxy):
        from psycopg import pq

        dbapi_connection.pgconn.trace(self.trace.fileno())
        dbapi_connection.pgconn.set_trace_flags(
            pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE
        )

    def _on_checkin(self, dbapi_connection, _record):
        dbapi_connection.pgconn.untrace()

    def __enter__(self):
        event.listen(self.engine, "checkout", self._on_checkout)
        event.listen(self.engine, "checkin", self._on_checkin)
        return self

    def __exit__(self, *_exc):
        event.remove(self.engine, "checkout", self._on_checkout)
        event.remove(self.engine, "checkin", self._on_checkin)
        self.trace.seek(0)
        self.lines = self.trace.read().decode().splitlines()
        self.trace.close()

    @property
    def sent(self) -> list[str]:
        """What the client sent, a line per message."""
        return [line for line in self.lines if line[:2] == "F\t"]

    @property
    def count(self) -> int:
        """Messages up to a Sync (or a simple Query) that executed something. psycopg prepares
        a statement on its fifth use on a connection (prepare_threshold): that Parse goes
        alone, once per connection and statement, and is not counted."""
        trips, executes = 0, False
        for line in self.sent:
            kind = line.split("\t")[2]
            if kind == "Query":
                trips += 1
            elif kind == "Execute":
                executes = True
            elif kind == "Sync":
                trips += executes
                executes = False
        return trips


def _measure(app, scene, who: str, page: str, meter=Statements):
    client, paths = scene["clients"][who], scene["paths"]
    if page == "checkout POST":
        form = client.get(paths["checkout form"])
        with meter(app) as seen:
            answer = _checkout_post(client, scene["product_id"], scene["code"], page=form)
        assert answer.status_code == 302 and "/pay" in answer.headers["Location"]
    else:
        with meter(app) as seen:
            answer = client.get(paths[page])
        assert answer.status_code == 200
    return seen


@pytest.mark.parametrize(("who", "page"), list(STATEMENTS))
def test_statements_per_page(app, scene, who, page):
    seen = _measure(app, scene, who, page).seen
    counted = [s for s in seen if not s.startswith("BEGIN")]
    assert len(counted) == STATEMENTS[(who, page)], "\n".join(seen)


@pytest.mark.parametrize(("who", "page"), list(ROUND_TRIPS))
def test_round_trips_per_page_on_postgresql(app, scene, who, page):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("round trips are PostgreSQL's")
    trips = _measure(app, scene, who, page, meter=RoundTrips)
    assert trips.count == ROUND_TRIPS[(who, page)], "\n".join(trips.sent)
    assert not any('"ROLLBACK"' in line for line in trips.sent)


def test_a_request_that_runs_no_statement_makes_no_round_trip(app):
    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("round trips are PostgreSQL's")
    client = app.test_client()
    client.get("/healthz")  # a first request may open the pool's first connection
    with RoundTrips(app) as trips:
        for path in ("/static/css/app.css", "/auth/signin"):
            answer = client.get(path)
            assert answer.status_code == 200
            answer.close()
    assert trips.count == 0, trips.sent


#: A buyer's first checkout of a product through a link whose coupon they do not hold yet:
#: the form offers the link's coupon (the coupon row: one query for the buyer's claims and
#: the link's coupon), and the POST claims it, checks the buyer placed nothing like it a
#: moment ago (the account row locked on PostgreSQL, then the recent orders) and places the
#: order, and keeps the address typed in its book (one query for the book's size and the same
#: address; the first address is the default from its INSERT). Besides BEGIN. SQLite has no
#: row lock to take: its write lock (BEGIN IMMEDIATE) orders the checkouts already, so the
#: POST there sends one statement fewer.
#: POST: 26 before 2026-12-07, 29 (2026-12-06 night); form: 6 before 2026-12-07 (the unread
#: badge read with the user).
FIRST_CHECKOUT = {"form": 5, "POST": 26}
FIRST_CHECKOUT_SQLITE = {"form": 5, "POST": 25}


def test_statements_of_a_first_checkout_with_the_links_coupon(app):
    with app.app_context():
        link = make_link(price_cents=12800, stock=1000)
        now = utcnow()
        coupon = coupons.create_coupon(
            link.product.merchant,
            product_id=None,
            off_cents=500,
            threshold_cents=0,
            total_count=100,
            per_buyer=1,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=10),
            now=now,
        )
        coupons.attach(coupon, sharer=link.shop.user, link=link)
        buyer = make_user(display_name="买家")
        db.session.commit()
        code, product_id, account = link.code, link.product_id, buyer.account_label
        coupon_id = coupon.id
    client = app.test_client()
    answer = client.post("/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD})
    assert answer.status_code == 302
    client.get(f"/r/{code}", headers={"User-Agent": PHONE_UA})
    with Statements(app) as form_seen:
        page = client.get(f"/checkout/{product_id}?ref={code}")
    assert page.status_code == 200
    assert 'value="link"' in page.get_data(as_text=True)  # the link's coupon is offered
    html = page.get_data(as_text=True)
    hidden = dict(re.findall(r'<input id="\w+" name="(\w+)" type="hidden" value="([^"]*)"', html))
    typed = {k: v for k, v in ADDRESS.items() if k != "saved_address"}
    data = {**typed, **hidden, "quantity": "1", "saved_address": ""}
    with Statements(app) as post_seen:
        answer = client.post(f"/checkout/{product_id}", data=data)
    assert answer.status_code == 302 and "/pay" in answer.headers["Location"]
    with app.app_context():
        order = db.session.execute(db.select(Order)).scalar_one()
        assert (order.coupon_id, order.discount_cents) == (coupon_id, 500)
        assert order.total_cents == order.goods_cents - 500 + order.shipping_cents
        assert [(i.quantity, i.discount_cents) for i in order.items] == [(1, 500)]
        assert [e.to_status for e in order.events] == ["placed"]
    counted = {
        "form": [s for s in form_seen.seen if not s.startswith("BEGIN")],
        "POST": [s for s in post_seen.seen if not s.startswith("BEGIN")],
    }
    on_postgresql = app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql")
    for part, count in (FIRST_CHECKOUT if on_postgresql else FIRST_CHECKOUT_SQLITE).items():
        assert len(counted[part]) == count, "\n".join(counted[part])
