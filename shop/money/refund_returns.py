"""退货退款 of some items: the buyer's return parcel for an open partial refund request
(shop.money.refunds), checked as the whole-order return's is (shop.orders.aftersales)."""

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import update

from shop.accounts.models import User
from shop.money.models import RefundRequest, RefundStatus
from shop.orders import carriers, states
from shop.platform.errors import Conflict, PermissionDenied, ValidationError
from shop.platform.extensions import db


def enter_return_tracking(
    refund: RefundRequest, carrier: str, number: str, *, actor: User, now: datetime
) -> RefundRequest:
    """The buyer's parcel back to the merchant, for an open 退货退款 request (checked as the
    whole-order return's is)."""
    if refund.order.buyer_id != actor.id:
        raise PermissionDenied(_l("This is not your order."))
    if refund.status != RefundStatus.REQUESTED or refund.kind != states.RETURN:
        raise ValidationError(_l("Only an open return request takes a return tracking number."))
    found, number = carriers.checked(carrier, number)
    result = db.session.execute(
        update(RefundRequest)
        .where(RefundRequest.id == refund.id, RefundRequest.status == RefundStatus.REQUESTED)
        .values(return_carrier=found.code, return_tracking=number)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(_l("This order was just changed by someone else. Please look again."))
    db.session.refresh(refund)
    return refund
