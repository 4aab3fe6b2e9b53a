"""What a payment event row says is what applying it did: when several fresh notices for one
order arrive at once (several taps on the gateway's pay button), one says ``paid`` and the
others say the order was already paid, never ``paid`` for a notice whose transition lost."""

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select, update

from shop.orders import payments, states
from shop.orders.models import Order, OrderEvent, OrderStatus, PaymentEvent
from shop.platform.extensions import db
from tests import invariants
from tests.factories import make_product, make_user
from tests.services.test_concurrency import race
from tests.services.test_orders import NOW, place, sandbox


def outcomes(order_id) -> Counter:
    rows = db.session.execute(
        select(PaymentEvent.outcome).where(PaymentEvent.order_id == order_id)
    ).scalars()
    return Counter(rows)


def test_a_notice_whose_guarded_transition_lost_is_not_recorded_as_paid(ctx, monkeypatch):
    """Another notice pays the order between this one's check and its guarded transition."""
    product = make_product(stock=5)
    [order] = place(make_user(), [(product.id, 1)])
    real_transition = states.transition

    def another_notice_wins_first(order, to, **kwargs):
        db.session.execute(
            update(Order)
            .where(Order.id == order.id)
            .values(status=OrderStatus.PAID, paid_at=NOW, version=Order.version + 1)
            .execution_options(synchronize_session=False)
        )
        return real_transition(order, to, **kwargs)

    monkeypatch.setattr(states, "transition", another_notice_wins_first)
    provider = sandbox()
    body = provider.notice_body(order)
    result = payments.apply_notice("sandbox", provider.parse(body, provider.sign(body)), now=NOW)
    assert (result.outcome, result.applied) == ("already_paid", False)
    assert outcomes(order.id) == {"already_paid": 1}


def test_ten_fresh_notices_at_once_record_one_paid(app):
    with app.app_context():
        product = make_product(stock=5)
        [order] = place(make_user(), [(product.id, 1)])
        db.session.commit()
        provider = sandbox()
        bodies = [provider.notice_body(order) for _ in range(10)]  # ten taps, ten event ids
        order_id = order.id

    def deliver(i):
        notice = provider.parse(bodies[i], provider.sign(bodies[i]))
        return payments.apply_notice("sandbox", notice, now=NOW + timedelta(seconds=1)).outcome

    results, _seconds = race(app, 10, deliver)
    assert Counter(results) == {"paid": 1, "already_paid": 9}, results
    with app.app_context():
        assert outcomes(order_id) == {"paid": 1, "already_paid": 9}
        paid = select(func.count(OrderEvent.id)).where(
            OrderEvent.order_id == order_id, OrderEvent.to_status == "paid"
        )
        assert db.session.execute(paid).scalar() == 1
        invariants.check(db.session)
