"""A checkout key placed already: the orders' INSERT writes nothing for it (ON CONFLICT DO
NOTHING on the buyer, key and merchant) and the checkout answers with that key's orders, with
no look-up of the key before the INSERT; a form that no longer checks out (sold out) still
answers a replayed key with its orders rather than refusing it."""

from sqlalchemy import event, func, select

from shop.catalog.models import Product
from shop.orders.models import Order, OrderEvent, OrderItem
from shop.platform.extensions import db
from tests.factories import make_merchant, make_product, make_user
from tests.services.test_orders import place


def counts():
    return tuple(
        db.session.scalar(select(func.count(model.id))) for model in (Order, OrderItem, OrderEvent)
    )


def test_a_replayed_key_is_answered_by_the_insert_without_a_lookup_first(ctx):
    product = make_product(stock=5)
    buyer = make_user()
    [first] = place(buyer, [(product.id, 1)], key="replayed-key-001")
    seen = []
    engine = db.session.get_bind()

    def note(_conn, _cursor, statement, *_args):
        seen.append(" ".join(statement.split())[:60])

    event.listen(engine, "before_cursor_execute", note)
    try:
        [again] = place(buyer, [(product.id, 1)], key="replayed-key-001")
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert again.id == first.id and counts() == (1, 1, 1)
    assert not any(s.startswith("SELECT orders.id FROM orders") for s in seen), seen
    assert any(s.startswith("INSERT INTO orders") for s in seen), seen
    db.session.expire_all()
    assert db.session.get(Product, product.id).stock == 4  # taken once


def test_a_replayed_key_of_a_product_sold_out_since_returns_its_orders(ctx):
    product = make_product(stock=1, price_cents=1000)
    buyer = make_user()
    [first] = place(buyer, [(product.id, 1)], key="sold-out-key-001")
    db.session.expire_all()
    assert db.session.get(Product, product.id).stock == 0
    [again] = place(buyer, [(product.id, 1)], key="sold-out-key-001")  # only 0 left now
    assert again.id == first.id and counts() == (1, 1, 1)


def test_a_replayed_key_with_a_shop_more_writes_nothing_new(ctx):
    """The key placed for one merchant, sent again with a second merchant's line: the new
    merchant's order row is taken back and the first checkout's orders answer."""
    a, b = make_merchant(), make_merchant()
    pa, pb = make_product(merchant=a, stock=5), make_product(merchant=b, stock=5)
    buyer = make_user()
    [first] = place(buyer, [(pa.id, 1)], key="grown-key-00001")
    found = place(buyer, [(pa.id, 1), (pb.id, 1)], key="grown-key-00001")
    assert [o.id for o in found] == [first.id] and counts() == (1, 1, 1)
    db.session.expire_all()
    assert (db.session.get(Product, pa.id).stock, db.session.get(Product, pb.id).stock) == (4, 5)
