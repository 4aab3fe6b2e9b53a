"""/admin/outbox: background work (outbox rows) given up after its attempts, or failing and
waiting for its next try, of every topic, with a readable summary (a payment row's order,
amount and trade id, linked to the order); an admin makes a row due again (POST, CSRF,
audited, once: a row already due or done is not changed again); admins only. The admin
home counts the rows given up. A payment row retried is applied by the worker's own code."""

from datetime import timedelta

from sqlalchemy import select, update

from shop.orders.gateways import received
from shop.orders.gateways.base import TradeState
from shop.orders.models import Order, OrderStatus
from shop.platform import outbox, outbox_review
from shop.platform.base import utcnow
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests.factories import make_product, make_user
from tests.services.test_orders import place
from tests.web.test_gateway_payments import work

ERROR = "OperationalError: database is locked"
TRADE = "4200000000202612060001"


def setup(app):
    """An order paid by a callback whose row was given up; a notification row retrying; a
    row done; a row due."""
    with app.app_context():
        product = make_product(price_cents=10000, stock=5)
        buyer = make_user()
        [order] = place(buyer, [(product.id, 1)], provider="wechatpay", at=utcnow())
        at = utcnow()
        state = TradeState(order.number, "paid", order.total_cents, trade_id=TRADE)
        assert received.record("wechatpay", state, now=at)
        for kind, payload in (
            ("order_shipped", {"order_number": "X1", "amount_cents": 1234, "title": "茶具"}),
            ("done_kind", {}),
            ("due_kind", {}),
        ):
            outbox.emit("notify", kind, user_id=buyer.id, payload=payload, now=at)
        db.session.commit()
        ids = dict(db.session.execute(select(outbox.OutboxRow.kind, outbox.OutboxRow.id)).all())
        rows = outbox.OutboxRow
        db.session.execute(
            update(rows)
            .where(rows.id == ids["wechatpay"])
            .values(done_at=at, attempts=outbox.MAX_ATTEMPTS, last_error=ERROR)
        )
        db.session.execute(
            update(rows)
            .where(rows.id == ids["order_shipped"])
            .values(attempts=2, last_error="TimeoutError: smtp")
            .values(available_at=at + timedelta(hours=1))
        )
        db.session.execute(update(rows).where(rows.id == ids["done_kind"]).values(done_at=at))
        admin = make_user(is_admin=True)
        db.session.commit()
        admin.id  # loaded while the session is open  # noqa: B018
        return ids, order.id, order.number, admin, buyer


def audits(app):
    with app.app_context():
        return db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "outbox.retry").order_by(AuditEntry.id)
        ).scalars().all()  # fmt: skip


def test_admin_sees_failed_work_and_retries_it_once(app, english_client):
    ids, order_id, number, admin, _buyer = setup(app)
    staff = english_client(admin)
    home = staff.get("/admin/").get_data(as_text=True)
    assert 'id="outbox-given-up-count">1<' in home and 'href="/admin/outbox"' in home
    page = staff.get("/admin/outbox").get_data(as_text=True)
    given_up = page.split('id="outbox-given-up"')[1].split('id="outbox-retrying"')[0]
    assert f'href="/admin/orders/{order_id}">{number}</a>' in given_up
    assert "¥100.00" in given_up and TRADE in given_up and ERROR in given_up
    assert f"{outbox.MAX_ATTEMPTS} / {outbox.MAX_ATTEMPTS}" in given_up
    retrying = page.split('id="outbox-retrying"')[1]
    assert "amount_cents: ¥12.34" in retrying and "title: 茶具" in retrying
    assert "TimeoutError: smtp" in retrying and "2 / 8" in retrying
    assert "done_kind" not in page and "due_kind" not in page

    url = f"/admin/outbox/{ids['wechatpay']}/retry"
    answer = staff.post(url, follow_redirects=True)
    assert "The work is due again" in answer.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(outbox.OutboxRow, ids["wechatpay"])
        assert (row.done_at, row.attempts, row.last_error) == (None, 0, "")
        assert row.available_at <= utcnow()
        assert outbox_review.given_up_count() == 0
    again = staff.post(url, follow_redirects=True).get_data(as_text=True)
    assert "already due" in again
    [entry] = audits(app)
    assert (entry.object_type, entry.object_id, entry.actor_id) == ("outbox", ids["wechatpay"],
                                                                     admin.id)  # fmt: skip
    assert entry.before["state"] == "given_up" and entry.before["last_error"] == ERROR
    work(app)  # the worker applies the payment row: the order is paid
    with app.app_context():
        assert db.session.get(Order, order_id).status == OrderStatus.PAID
        assert db.session.get(outbox.OutboxRow, ids["wechatpay"]).done_at is not None
    done = staff.post(url, follow_redirects=True).get_data(as_text=True)
    assert "already done" in done and len(audits(app)) == 1

    # A retrying row is brought forward, keeping its count and error.
    staff.post(f"/admin/outbox/{ids['order_shipped']}/retry")
    with app.app_context():
        row = db.session.get(outbox.OutboxRow, ids["order_shipped"])
        assert (row.attempts, row.last_error, row.done_at) == (2, "TimeoutError: smtp", None)
        assert row.available_at <= utcnow()
    assert [e.before["state"] for e in audits(app)] == ["given_up", "retrying"]
    assert staff.post("/admin/outbox/999999/retry").status_code == 404
    order_page = staff.get(f"/admin/orders/{order_id}").get_data(as_text=True)
    assert number in order_page and "Paid at" in order_page
    assert staff.get("/admin/orders/999999").status_code == 404


def test_only_admins_and_only_with_the_csrf_token(app, english_client, client):
    ids, order_id, _number, admin, buyer = setup(app)
    url = f"/admin/outbox/{ids['wechatpay']}/retry"
    for path in ("/admin/outbox", f"/admin/orders/{order_id}"):
        assert english_client(buyer).get(path).status_code == 403
        signin = client.get(path)
        assert signin.status_code == 302 and "/auth/signin" in signin.headers["Location"]
    assert english_client(buyer).post(url).status_code == 403
    staff = english_client(admin)
    app.config["WTF_CSRF_ENABLED"] = True
    assert staff.post(url).status_code == 400
    app.config["WTF_CSRF_ENABLED"] = False
    with app.app_context():
        row = db.session.get(outbox.OutboxRow, ids["wechatpay"])
        assert (row.attempts, row.last_error) == (outbox.MAX_ATTEMPTS, ERROR)
    assert audits(app) == []
