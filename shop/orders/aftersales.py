"""After-sales (售后) around a refund request: the buyer withdraws it or sends the goods back
(退货退款: the merchant's return address, the buyer's return tracking number), and requests a
merchant leaves unanswered are escalated to the administrators.

The request itself and its decision are in :mod:`shop.orders.states` (request_refund,
decide_refund); every status change goes through ``states.transition``.
"""

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update

from shop.accounts.models import User
from shop.catalog.models import Merchant
from shop.orders import carriers, states
from shop.orders.models import Order, OrderStatus
from shop.platform.errors import Conflict, PermissionDenied, ValidationError
from shop.platform.extensions import db

S = OrderStatus


def _own(order: Order, actor: User) -> None:
    if order.buyer_id != actor.id:
        raise PermissionDenied(_l("This is not your order."))


def cancel_request(order: Order, *, actor: User, now: datetime) -> Order:
    """The buyer withdraws a refund request: the order goes back to the status it came from
    (paid, shipped or completed), and its timers go on from there."""
    _own(order, actor)
    back = S(order.refund_from) if order.refund_from else None
    if order.status != S.REFUND_REQUESTED or back is None:
        raise ValidationError(_l("There is no refund request to withdraw."))
    return states.transition(
        order,
        back,
        source="withdrawal",
        actor=actor,
        now=now,
        note="refund request withdrawn",
        values={"refund_escalated_at": None, "return_carrier": "", "return_tracking": ""},
    )


def enter_return_tracking(
    order: Order, carrier: str, number: str, *, actor: User, now: datetime
) -> Order:
    """The buyer's parcel back to the merchant, for a 退货退款 request still open."""
    _own(order, actor)
    if order.status != S.REFUND_REQUESTED or order.refund_kind != states.RETURN:
        raise ValidationError(_l("Only an open return request takes a return tracking number."))
    found, number = carriers.checked(carrier, number)
    result = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == S.REFUND_REQUESTED)
        .values(return_carrier=found.code, return_tracking=number)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(_l("This order was just changed by someone else. Please look again."))
    db.session.refresh(order)
    return order


def set_return_address(merchant: Merchant, text: str) -> Merchant:
    text = " ".join((text or "").split())
    if len(text) > 200:
        raise ValidationError(_l("At most 200 characters."), "return_address")
    merchant.return_address = text
    db.session.flush()
    return merchant


def escalate_unanswered(*, now: datetime, after: timedelta) -> int:
    """Mark refund requests the merchant has not answered for ``after`` as escalated (the
    admin refunds page lists them first). Idempotent: each request is escalated once."""
    due = select(Order.id).where(
        Order.status == S.REFUND_REQUESTED,
        Order.refund_requested_at.is_not(None),
        Order.refund_requested_at <= now - after,
        Order.refund_escalated_at.is_(None),
    )
    result = db.session.execute(
        update(Order)
        .where(Order.id.in_(due.scalar_subquery()), Order.refund_escalated_at.is_(None))
        .values(refund_escalated_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount
