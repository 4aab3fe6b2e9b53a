"""An administrator starts a partial refund (部分退款) of an order from /admin/refunds: finds
the order by its number, picks items and how many, an amount if less, and must give a reason;
bad input comes back with its message and nothing typed lost; the refund is done at once
(over the merchant), audited with the reason in the same transaction, and the same form sent
twice is one refund. Only administrators; the form needs its CSRF token."""

from sqlalchemy import select

from shop.money.models import RefundRequest, RefundStatus
from shop.orders.models import Order
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests import invariants
from tests.factories import make_user
from tests.web.test_money_pages import text_of
from tests.web.test_partial_refund_pages import setup


def admin_in(app):
    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
        return admin


def test_an_admin_finds_the_order_and_refunds_some_items_audited(app, english_client):
    order_id, items, buyer, owner, _foreign, _other = setup(app)
    with app.app_context():
        number = db.session.get(Order, order_id).number
    url = f"/admin/orders/{order_id}/refund-part"
    for outsider in (buyer, owner):  # the buyer and the merchant are not administrators
        assert english_client(outsider).get(url).status_code == 403
        assert english_client(outsider).post(url, data={"reason": "x"}).status_code == 403
    staff = english_client(admin_in(app))
    listed = text_of(staff.get("/admin/refunds"))
    assert 'id="refund-part-find"' in listed and "Refund some items of an order" in listed
    missing = staff.get("/admin/refund-part?number=123%20456")
    assert missing.status_code == 404
    assert "No order has the number 123456." in text_of(missing)
    assert 'value="123456"' in text_of(missing)
    found = staff.get(f"/admin/refund-part?number=%20{number}%20")
    assert found.status_code == 303 and found.headers["Location"].endswith(url)
    page = text_of(staff.get(url))
    assert f"qty-{items[0]}" in page and "Refund now" in page and "over the merchant" in page
    key = page.split('name="key" value="')[1].split('"')[0]
    form = {"key": key, "kind": "refund_only", f"qty-{items[0]}": "2", "amount": "50"}
    no_reason = staff.post(url, data=form)
    text = text_of(no_reason)
    assert no_reason.status_code == 422 and "Say why" in text
    assert 'value="50"' in text and '<option value="2" selected>' in text  # nothing lost
    too_much = staff.post(url, data={**form, "reason": "商家超时", "amount": "99"})
    assert too_much.status_code == 422 and "At most ¥66.66" in text_of(too_much)
    done = staff.post(url, data={**form, "reason": "商家超时未处理"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/refunds")
    again = staff.post(url, data={**form, "reason": "商家超时未处理"})  # the same form again
    assert again.status_code == 303
    with app.app_context():
        [refund] = db.session.execute(select(RefundRequest)).scalars().all()
        assert (refund.status, refund.source, refund.amount_cents, refund.reason) == (
            RefundStatus.REFUNDED, "admin", 5000, "商家超时未处理",
        )  # fmt: skip
        [entry] = db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "order.refund_part")
        ).scalars()
        assert (entry.object_id, entry.reason, entry.after) == (
            order_id, "商家超时未处理", {"amount_cents": 5000},
        )  # fmt: skip
        invariants.check(db.session)
    shown = text_of(english_client(buyer).get(f"/orders/{order_id}"))
    assert "Refunded so far" in shown and "−¥50.00" in shown


def test_the_admin_form_needs_its_csrf_token(app, english_client):
    order_id, items, _buyer, _owner, _foreign, _other = setup(app)
    staff = english_client(admin_in(app))
    app.config["WTF_CSRF_ENABLED"] = True
    forged = staff.post(
        f"/admin/orders/{order_id}/refund-part",
        data={"key": "k" * 32, "reason": "x", "kind": "refund_only", f"qty-{items[0]}": "1"},
    )
    assert forged.status_code == 400
    with app.app_context():
        assert db.session.execute(select(RefundRequest)).first() is None
