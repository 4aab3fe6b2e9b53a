"""The buyer's shipping notice by text message: opt-in, only that kind, through the SMS
provider of sign-in codes with the notice's own template, checked against the local fake of
the gateway; off (and not offered) without that template."""

from datetime import timedelta

from sqlalchemy import select

from shop.notify import delivery, endpoints
from shop.notify.models import Attempt, Delivery
from shop.orders import states
from shop.platform import outbox
from shop.platform.extensions import db
from tests.factories import make_product, make_user
from tests.services.test_orders import NOW, pay, place
from tests.sms_fakes import fake_gateway


def shipped_order(buyer):
    product = make_product(price_cents=5900)
    [order] = place(buyer, [(product.id, 1)], key=f"k{product.id}")
    pay(order, NOW)
    db.session.flush()
    states.ship(
        order, "顺丰速运", "SF1234567890", actor=product.merchant.user, now=NOW + timedelta(hours=1)
    )
    db.session.commit()
    return order


def run_worker(at):
    outbox.process_batch(now=at)
    return delivery.deliver_due(now_fn=lambda: at)


def test_the_shipping_text_goes_to_a_buyer_who_turned_it_on_and_only_that(app):
    with fake_gateway("aliyun") as fake:
        app.config.update(fake.settings(), ALIYUN_SMS_TEMPLATE_SHIPPED="SMS_SHIPPED_1")
        with app.app_context():
            wants, quiet = make_user(), make_user()
            endpoints.set_sms(wants, True, now=NOW)
            endpoints.set_sms(wants, True, now=NOW)  # twice: still one
            db.session.commit()
            assert endpoints.endpoints_of(wants) == []  # not listed among webhooks
            order = shipped_order(wants)
            shipped_order(quiet)
            # The buyer's other notices (a refund decision) never go by text message.
            states.request_refund(order, "不想要了", actor=order.buyer, now=NOW + timedelta(days=1))
            states.decide_refund(
                order, False, actor=order.merchant.user, source="merchant",
                now=NOW + timedelta(days=1), note="已发货",
            )  # fmt: skip
            db.session.commit()
            assert run_worker(NOW + timedelta(days=2)) == 1
            [sent] = db.session.execute(select(Delivery)).scalars().all()
            assert (sent.kind, sent.status) == ("order_shipped", "delivered")
            assert db.session.execute(select(Attempt)).scalar_one().ok
            phone = wants.phone
    (seen,) = fake.received
    assert seen["signature_ok"] and seen["params"]["PhoneNumbers"] == phone
    assert seen["params"]["TemplateCode"] == "SMS_SHIPPED_1"
    assert '"carrier":"顺丰速运"' in seen["params"]["TemplateParam"]
    assert '"number":"SF1234567890"' in seen["params"]["TemplateParam"]


def test_a_gateway_error_is_retried_and_logged(app):
    with fake_gateway("tencent") as fake:
        app.config.update(fake.settings(), TENCENT_SMS_TEMPLATE_SHIPPED="1600001",
                          NOTIFY_RETRY_BASE_SECONDS=30)  # fmt: skip
        fake.mode = "error"
        with app.app_context():
            buyer = make_user()
            endpoints.set_sms(buyer, True, now=NOW)
            db.session.commit()
            shipped_order(buyer)
            at = NOW + timedelta(hours=2)
            assert run_worker(at) == 1
            row = db.session.execute(select(Delivery)).scalar_one()
            assert row.status == "pending" and row.next_attempt_at > at
            attempt = db.session.execute(select(Attempt)).scalar_one()
            assert not attempt.ok and "tencent" in attempt.error
            fake.mode = "ok"
            assert run_worker(row.next_attempt_at) == 1
            db.session.refresh(row)
            assert row.status == "delivered"


def test_the_choice_is_offered_only_when_the_template_is_set(app, english_client):
    with app.app_context():
        buyer = make_user()
        db.session.commit()
    client = english_client(buyer)
    page = client.get("/inbox/preferences").get_data(as_text=True)
    assert "sms_shipped" not in page  # no SMS provider in the tests' settings
    app.config.update(SMS_PROVIDER="console")
    page = client.get("/inbox/preferences").get_data(as_text=True)
    assert 'name="sms_shipped"' in page and "Text me the carrier" in page
    client.post("/inbox/preferences", data={"sms_shipped": "1"})
    with app.app_context():
        assert endpoints.sms_endpoint(db.session.merge(buyer)) is not None
    client.post("/inbox/preferences", data={})
    with app.app_context():
        assert endpoints.sms_endpoint(db.session.merge(buyer)) is None
