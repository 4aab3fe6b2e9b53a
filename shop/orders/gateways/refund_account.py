"""WeChat Pay partner mode: a refund the gateway reports from another sub-merchant than the one
the order's payment was recorded under (``gateway_payments.sub_mchid``). Neither done nor
failed on its word: the refund stays in progress (asked again in an hour, naming the order's
sub-merchant; a query answer names none, so only a callback can report another), is listed once
with the reconciliation differences (后台 → 对账, ``wrong_account``, subject refund) and logged.
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from shop.orders.gateways.base import RefundState
from shop.orders.models import GatewayPayment, GatewayRefund, ReconciliationItem
from shop.platform import db as dbsetup
from shop.platform.extensions import db
from shop.sharing.rollup import china_day

log = logging.getLogger("shop.orders.gateways.flow")


def refunded_from_another(refund: GatewayRefund, account: str) -> bool:
    recorded = db.session.execute(
        select(GatewayPayment.sub_mchid).where(GatewayPayment.order_id == refund.order_id)
    ).scalar_one_or_none()
    return bool(recorded) and recorded != account


def hold(refund: GatewayRefund, answer: RefundState, *, now: datetime) -> str:
    """Partner mode: the gateway says the refund went from another sub-merchant than the one
    the order's payment was recorded under. Neither done nor failed on its word: the refund
    stays in progress (asked again, naming the order's sub-merchant, in a while), is listed
    with the reconciliation differences (后台 → 对账) and logged."""
    log.warning(
        "refund %s of %s: the gateway names sub-merchant %s, not the order's",
        refund.refund_number, answer.order_number or refund.order_id, answer.account,
    )  # fmt: skip
    listed = db.session.execute(
        select(ReconciliationItem.id).where(
            ReconciliationItem.provider == refund.provider,
            ReconciliationItem.kind == "wrong_account",
            ReconciliationItem.subject == "refund",
            ReconciliationItem.reference == refund.refund_number[:64],
        )
    ).first()
    if listed is None:  # once per refund, whatever the day of a repeated report
        _list(refund, answer, now=now)
    if refund.state != "done":
        refund.gateway_refund_id = answer.refund_id or refund.gateway_refund_id
        refund.last_error = "wrong_account"
        refund.next_try_at = now + timedelta(hours=1)
    return refund.state


def _list(refund: GatewayRefund, answer: RefundState, *, now: datetime):
    db.session.execute(
        dbsetup.insert_for(db.session, ReconciliationItem)
        .values(
            provider=refund.provider,
            day=china_day(now),
            kind="wrong_account",
            subject="refund",
            reference=refund.refund_number[:64],
            order_number=refund.order.number[:24],
            ours_cents=refund.amount_cents,
            theirs_cents=answer.amount_cents or None,
            account=answer.account[:32],
            found_at=now,
            resolution="",
        )
        .on_conflict_do_nothing()
    )
