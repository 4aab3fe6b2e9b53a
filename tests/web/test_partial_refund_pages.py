"""部分退款 pages: the buyer picks items and numbers and sees the amount; bad input (more than
paid, nothing chosen, an item of another order) comes back with its message and nothing
lost; the order page shows the refunded parts; the merchant's page shows what is asked and
takes a decision; an admin refunds part over the merchant's head; nobody else's request can
be named."""

from datetime import timedelta

from sqlalchemy import select

from shop.money.models import RefundRequest, RefundStatus
from shop.orders.models import Order
from shop.platform.extensions import db
from shop.platform.models import AuditEntry
from tests import invariants
from tests.factories import make_user
from tests.services.test_partial_refunds import order_of_two
from tests.web.test_money_pages import text_of


def setup(app):
    with app.app_context():
        order = order_of_two()
        other = order_of_two()
        db.session.commit()
        return (
            order.id,
            [item.id for item in order.items],
            order.buyer,
            order.merchant.user,
            other.items[0].id,
            other.merchant.user,
        )


def test_buyer_picks_items_sees_the_amount_and_bad_input_keeps_everything(app, english_client):
    order_id, items, buyer, _owner, foreign_item, _other = setup(app)
    client = english_client(buyer)
    page = client.get(f"/orders/{order_id}/refund-part")
    html = text_of(page)
    assert page.status_code == 200 and f'name="qty-{items[0]}"' in html
    assert 'data-values="0,3333,6666,9999"' in html  # what 0..3 units are worth, in fen
    assert "refund-part.js" in html and 'inputmode="decimal"' in html
    key = html.split('name="key" value="')[1].split('"')[0]
    form = {"key": key, "reason": "少了一件", "kind": "refund_only"}
    cases = [  # (fields, message, the field it stands under: after that input's id)
        ({f"qty-{items[0]}": "1", "amount": "33.34"}, "At most ¥33.33 can be refunded", "amount"),
        ({f"qty-{items[0]}": "0"}, "Choose at least one item to refund.", None),
        ({f"qty-{foreign_item}": "1"}, "That item is not in this order.", None),
        ({f"qty-{items[0]}": "1", "amount": "abc"}, "Enter the amount in yuan", "amount"),
        ({f"qty-{items[0]}": "x"}, "Choose how many of each item.", None),
    ]
    for fields, message, under in cases:
        bad = client.post(f"/orders/{order_id}/refund-part", data={**form, **fields})
        shown = text_of(bad)
        assert bad.status_code == 422 and message in shown, (fields, shown[:400])
        assert shown.count('id="refund-error"') == 1
        if under:  # the message stands at its field, not at the top of the form
            assert shown.index(f'id="{under}"') < shown.index('id="refund-error"')
        assert 'value="少了一件"' in shown and f'value="{key}"' in shown  # nothing lost
    kept = text_of(
        client.post(
            f"/orders/{order_id}/refund-part",
            data={**form, f"qty-{items[0]}": "2", "amount": "99999"},
        )
    )
    assert '<option value="2" selected>' in kept and 'value="99999"' in kept
    done = client.post(
        f"/orders/{order_id}/refund-part", data={**form, f"qty-{items[0]}": "1", "amount": "20"}
    )
    assert done.status_code == 302 and done.headers["Location"].endswith("#refunds")
    again = client.post(  # the same form sent again: the same request
        f"/orders/{order_id}/refund-part", data={**form, f"qty-{items[0]}": "1", "amount": "20"}
    )
    assert again.status_code == 302
    order_page = text_of(client.get(f"/orders/{order_id}"))
    assert "¥20.00" in order_page and "Waiting for the merchant" in order_page
    assert "Withdraw the refund request" in order_page and 'id="refund-some"' not in order_page
    with app.app_context():
        assert db.session.execute(select(RefundRequest)).scalars().all()[0].amount_cents == 2000
        assert len(db.session.execute(select(RefundRequest)).scalars().all()) == 1


def test_merchant_sees_what_is_asked_and_decides_and_the_buyer_sees_the_refunded_part(
    app, english_client
):
    order_id, items, buyer, owner, _foreign, other_owner = setup(app)
    client = english_client(buyer)
    page = text_of(client.get(f"/orders/{order_id}/refund-part"))
    key = page.split('name="key" value="')[1].split('"')[0]
    client.post(
        f"/orders/{order_id}/refund-part",
        data={"key": key, "reason": "坏了", "kind": "refund_only", f"qty-{items[1]}": "1"},
    )
    with app.app_context():
        part_id = db.session.execute(select(RefundRequest.id)).scalar_one()
    merchant = english_client(owner)
    order_page = text_of(merchant.get(f"/merchant/orders/{order_id}"))
    assert "Refunds of some items" in order_page and "Waiting for your answer" in order_page
    asked = text_of(merchant.get(f"/merchant/orders/{order_id}/refund-part/{part_id}"))
    assert "¥19.99" in asked and "坏了" in asked and "× 1" in asked
    url = f"/merchant/orders/{order_id}/refund-part/{part_id}"
    # Another merchant names this request: it does not exist for them.
    stranger = english_client(other_owner)
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, data={"decision": "approve"}).status_code == 404
    refused = merchant.post(url, data={"decision": "reject", "note": ""})
    assert refused.status_code == 422 and "Tell the buyer why" in text_of(refused)
    assert merchant.post(url, data={"decision": "approve"}).status_code == 303
    shown = text_of(client.get(f"/orders/{order_id}"))
    assert "Refunded so far" in shown and "−¥19.99" in shown and "Refunded 1, ¥19.99" in shown
    with app.app_context():
        assert db.session.get(RefundRequest, part_id).status == RefundStatus.REFUNDED
        assert db.session.get(Order, order_id).status == "paid"
        invariants.check(db.session)


def test_buyer_withdraws_and_others_cannot_name_the_order_or_the_request(app, english_client):
    order_id, items, buyer, _owner, _foreign, _other = setup(app)
    client = english_client(buyer)
    page = text_of(client.get(f"/orders/{order_id}/refund-part"))
    key = page.split('name="key" value="')[1].split('"')[0]
    client.post(
        f"/orders/{order_id}/refund-part",
        data={"key": key, "reason": "坏了", "kind": "refund_only", f"qty-{items[0]}": "3"},
    )
    with app.app_context():
        part_id = db.session.execute(select(RefundRequest.id)).scalar_one()
    intruder = english_client(make_user_in(app))
    assert intruder.get(f"/orders/{order_id}/refund-part").status_code == 404
    url = f"/orders/{order_id}/refund-part/{part_id}/withdraw"
    assert intruder.post(url).status_code == 404
    assert client.post(url).status_code == 302
    with app.app_context():
        assert db.session.get(RefundRequest, part_id).status == RefundStatus.WITHDRAWN


def make_user_in(app):
    with app.app_context():
        user = make_user()
        db.session.commit()
        return user


def test_an_admin_refunds_an_open_part_over_the_merchant_with_a_reason(app, english_client):
    order_id, items, buyer, _owner, _foreign, _other = setup(app)
    client = english_client(buyer)
    page = text_of(client.get(f"/orders/{order_id}/refund-part"))
    key = page.split('name="key" value="')[1].split('"')[0]
    client.post(
        f"/orders/{order_id}/refund-part",
        data={"key": key, "reason": "商家不理", "kind": "refund_only", f"qty-{items[1]}": "1"},
    )
    with app.app_context():
        admin = make_user(is_admin=True)
        db.session.commit()
        part_id = db.session.execute(select(RefundRequest.id)).scalar_one()
    staff = english_client(admin)
    listed = text_of(staff.get("/admin/refunds"))
    assert "Refunds of some items waiting on a merchant (1)" in listed and "商家不理" in listed
    assert "Escalated" not in listed.split('id="part-refunds"')[1]  # asked just now
    with app.app_context():
        part = db.session.get(RefundRequest, part_id)
        part.requested_at -= timedelta(days=4)  # the merchant left it past 3 days
        db.session.commit()
    listed = text_of(staff.get("/admin/refunds")).split('id="part-refunds"')[1]
    assert "Escalated" not in listed  # not before `flask sweep-orders` says so
    with app.app_context():  # as `flask` runs a command
        swept = app.test_cli_runner().invoke(args=["sweep-orders"])
        assert "partial refund requests escalated: 1" in swept.output, swept.output
        again = app.test_cli_runner().invoke(args=["sweep-orders"])
        assert "partial refund requests escalated: 0" in again.output  # once
        assert db.session.get(RefundRequest, part_id).escalated_at is not None
    listed = text_of(staff.get("/admin/refunds")).split('id="part-refunds"')[1]
    assert "Escalated: the merchant did not answer" in listed
    url = f"/admin/refund-parts/{part_id}"
    staff.post(url, data={"decision": "approve", "reason": ""})
    with app.app_context():
        assert db.session.get(RefundRequest, part_id).status == RefundStatus.REQUESTED
    assert staff.post(url, data={"decision": "approve", "reason": "超时未处理"}).status_code == 303
    with app.app_context():
        assert db.session.get(RefundRequest, part_id).status == RefundStatus.REFUNDED
        assert db.session.execute(
            select(AuditEntry).where(AuditEntry.action == "order.refund_part")
        ).scalar_one()
        invariants.check(db.session)


def test_a_return_of_some_items_takes_the_buyers_tracking_number(app, english_client):
    from shop.orders import states

    with app.app_context():
        order = order_of_two()
        other = order_of_two()
        states.ship(order, "SF", "SF1234567890", actor=order.merchant.user, now=order.paid_at)
        order.merchant.return_address = "王五 13800000000 上海市浦东新区 1 号"
        db.session.commit()
        order_id, items, buyer = order.id, [i.id for i in order.items], order.buyer
        owner, intruder = order.merchant.user, other.buyer
    client = english_client(buyer)
    page = text_of(client.get(f"/orders/{order_id}/refund-part"))
    key = page.split('name="key" value="')[1].split('"')[0]
    client.post(
        f"/orders/{order_id}/refund-part",
        data={"key": key, "reason": "尺码不对", "kind": "return", f"qty-{items[1]}": "1"},
    )
    with app.app_context():
        part_id = db.session.execute(select(RefundRequest.id)).scalar_one()
    shown = text_of(client.get(f"/orders/{order_id}"))
    assert "上海市浦东新区" in shown and 'id="part-1-carrier"' in shown
    url = f"/orders/{order_id}/refund-part/{part_id}/return"
    assert english_client(intruder).post(url, data={"carrier": "ZTO"}).status_code == 404
    client.post(url, data={"carrier": "ZTO", "tracking": "1"})  # too short: refused
    with app.app_context():
        assert db.session.get(RefundRequest, part_id).return_tracking == ""
    client.post(url, data={"carrier": "ZTO", "tracking": "78123456789012"})
    assert "中通快递 78123456789012" in text_of(client.get(f"/orders/{order_id}"))
    merchant = english_client(owner)
    decision = text_of(merchant.get(f"/merchant/orders/{order_id}/refund-part/{part_id}"))
    assert "中通快递 78123456789012" in decision
