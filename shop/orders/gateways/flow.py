"""Money through the real gateways, from the shop's side: the payments buyers open, what a
gateway reports about them, refunds sent back, and the sweep for what no callback told us.

Rules (docs/payments.md):
- A paid trade, however we learn of it (callback, the browser's return, the sweep), is one
  :class:`PaymentNotice` keyed by the gateway's trade id: one paid transition.
- A payment that arrives after the order was cancelled (the buyer paid at the last second,
  the sweep cancelled it meanwhile) is refunded in full automatically, and shown to admins.
  Refunding is the choice because the goods are already back in stock and the buyer was
  told the order is cancelled; reviving it could oversell.
- A refund is a row first (same transaction as the order's change), then a call to the
  gateway; a refund the gateway refuses or cannot take stays ``failed`` and is retried with
  backoff; admins see every refund that is not done.
- In WeChat Pay's partner mode, a trade the gateway says was paid into another sub-merchant
  than the one the order's payment was created under pays nothing (``wrong_account``): it is
  listed at once with the reconciliation differences (后台 → 对账) for an admin to resolve.
  Not refunded automatically: a refund names the order's sub-merchant, not the one holding
  the money. A refund callback naming another sub-merchant than the order's neither finishes
  nor fails the refund (shop.orders.gateways.refund_account): it stays in progress (asked
  again later), is listed once alike (``wrong_account``, subject refund) and logged.
- A refund once done stays done: a late or repeated report of it changes nothing.
- In WeChat Pay's partner mode, a refund of an order whose profit sharing already sent the
  platform its part first takes that part back (分账回退, shop.money.profit_returns): the
  refund waits for the return, and a failed return fails the refund's try (retried alike).
"""

import logging
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select, update

from shop.orders import payments
from shop.orders.gateways import refund_account
from shop.orders.gateways.base import GatewayError, RefundState, TradeState
from shop.orders.gateways.providers import notice_of
from shop.orders.models import (
    GatewayPayment,
    GatewayRefund,
    Order,
    OrderStatus,
    ReconciliationItem,
)
from shop.platform import db as dbsetup
from shop.platform.extensions import db
from shop.sharing.rollup import china_day

log = logging.getLogger(__name__)

GATEWAYS = ("wechatpay", "alipay")
#: Ask the gateway about an open payment once it is this old (its callback is late).
QUERY_AFTER = timedelta(minutes=2)
MAX_BACKOFF = timedelta(hours=6)
#: A refund waiting for its profit-sharing return (partner mode) is tried again this soon.
HOLD = timedelta(minutes=2)


def opened(
    order: Order, *, provider: str, channel: str, now: datetime, sub_mchid: str = ""
) -> None:
    """The buyer was sent to pay ``order`` on ``provider``: remember it for the sweep, with
    the sub-merchant (partner mode) the payment was created under, the first one kept."""
    db.session.execute(
        dbsetup.insert_for(db.session, GatewayPayment)
        .values(
            order_id=order.id,
            provider=provider,
            channel=channel,
            opened_at=now,
            sub_mchid=sub_mchid,
        )
        .on_conflict_do_nothing()
    )
    if sub_mchid:  # a row made before numbers were recorded, or while none was known
        db.session.execute(
            update(GatewayPayment)
            .where(GatewayPayment.order_id == order.id, GatewayPayment.sub_mchid == "")
            .values(sub_mchid=sub_mchid)
        )


def apply_trade(provider: str, state: TradeState, *, now: datetime) -> payments.Outcome | None:
    """Apply what the gateway says about a trade. A paid trade pays the order once; a payment
    for an order that was cancelled meanwhile is refunded. The caller commits."""
    notice = notice_of(state)
    if notice is None:
        return None
    result = payments.apply_notice(provider, notice, now=now)
    order = result.order
    if order is None:
        return result
    if result.outcome in ("paid", "already_paid", "replay"):
        _settle(order.id, now)
    elif result.outcome == "not_payable" and order.status == OrderStatus.CANCELLED:
        plan_refund(
            order,
            kind="late_payment",
            amount_cents=notice.amount_cents,
            reason="订单已取消后到账，自动全额退款",
            now=now,
        )
        _settle(order.id, now)
    elif result.outcome == "wrong_account":  # for an admin now, not for the sweep to ask
        _flag_wrong_account(provider, state, order, now=now)
        _settle(order.id, now)
    return result


def _flag_wrong_account(provider: str, state: TradeState, order: Order, *, now: datetime):
    """List a payment into another sub-merchant's account with the reconciliation differences,
    under the key the day's reconciliation would give it (the trade's China day), so running
    the reconciliation later adds nothing and keeps what an admin wrote."""
    db.session.execute(
        dbsetup.insert_for(db.session, ReconciliationItem)
        .values(
            provider=provider,
            day=china_day(state.paid_at or now),
            kind="wrong_account",
            subject="payment",
            reference=state.trade_id[:64],
            order_number=order.number[:24],
            ours_cents=state.amount_cents,
            theirs_cents=state.amount_cents,
            account=state.account[:32],
            found_at=now,
            resolution="",
        )
        .on_conflict_do_nothing()
    )


def _settle(order_id: int, now: datetime) -> None:
    db.session.execute(_SETTLE, {"b_order_id": order_id, "now": now})


_SETTLE = (  # built once: every paid trade runs it
    GatewayPayment.__table__.update()
    .where(
        GatewayPayment.__table__.c.order_id == bindparam("b_order_id"),
        GatewayPayment.__table__.c.settled_at.is_(None),
    )
    .values(settled_at=bindparam("now"))
)


def plan_refund(
    order: Order, *, kind: str, amount_cents: int, reason: str, now: datetime, number: str = ""
):
    """Record that ``amount_cents`` of ``order`` goes back through its gateway (once per order
    and kind, or per ``number``: a partial refund's own). Returns the row. The caller commits;
    :func:`push` or the sweep sends it."""
    number = number or f"{order.number}-{'L' if kind == 'late_payment' else 'R'}"
    db.session.execute(
        dbsetup.insert_for(db.session, GatewayRefund)
        .values(
            order_id=order.id,
            provider=order.payment_provider,
            refund_number=number,
            kind=kind,
            amount_cents=amount_cents,
            reason=reason[:200],
            state="pending",
            attempts=0,
            last_error="",
            next_try_at=now,
            gateway_refund_id="",
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return db.session.execute(
        select(GatewayRefund).where(GatewayRefund.refund_number == number)
    ).scalar_one()


def refund_order(
    order: Order, *, reason: str, now: datetime, amount_cents: int | None = None
) -> GatewayRefund | None:
    """The refund of an order paid through a gateway was granted: send the money back (all
    of it, or ``amount_cents``: what partial refunds left)."""
    if order.payment_provider not in GATEWAYS or order.paid_at is None:
        return None
    amount = order.total_cents if amount_cents is None else amount_cents
    if amount <= 0:
        return None
    return plan_refund(order, kind="refund", amount_cents=amount, reason=reason, now=now)


def refund_part(
    order: Order, *, seq: int, amount_cents: int, reason: str, now: datetime
) -> GatewayRefund | None:
    """A partial refund was agreed: its money goes back through the order's gateway with its
    own refund number (``<order number>-P<seq>``), retried and shown to admins like any."""
    if order.payment_provider not in GATEWAYS or order.paid_at is None:
        return None
    return plan_refund(
        order, kind="partial", amount_cents=amount_cents, reason=reason, now=now,
        number=f"{order.number}-P{seq}",
    )  # fmt: skip


def _failed(refund: GatewayRefund, error: GatewayError, *, now: datetime) -> str:
    refund.attempts += 1
    refund.state = "failed"
    refund.last_error = (error.code or f"http {error.status}")[:80]
    refund.next_try_at = now + min(timedelta(minutes=2**refund.attempts), MAX_BACKOFF)
    return "failed"


def record_refund_state(refund: GatewayRefund, answer: RefundState, *, now: datetime) -> str:
    if answer.account and refund_account.refunded_from_another(refund, answer.account):
        return refund_account.hold(refund, answer, now=now)
    if refund.state == "done":  # a late or repeated report changes a finished refund no more
        return "done"
    if answer.amount_cents and answer.amount_cents != refund.amount_cents:
        refund.state, refund.last_error = "failed", "amount_mismatch"
        refund.next_try_at = now + MAX_BACKOFF
        return "failed"
    refund.gateway_refund_id = answer.refund_id or refund.gateway_refund_id or "accepted"
    if answer.state == "done":
        refund.state, refund.done_at, refund.last_error = "done", now, ""
    elif answer.state == "failed":
        refund.attempts += 1
        refund.state, refund.last_error = "failed", "refused"
        refund.gateway_refund_id = ""  # a closed refund: the next try asks for it afresh
        refund.next_try_at = now + min(timedelta(minutes=2**refund.attempts), MAX_BACKOFF)
    else:
        refund.state = "pending"
        refund.next_try_at = now + timedelta(minutes=2)
    return refund.state


def refund_callback(answer: RefundState, *, now: datetime) -> GatewayRefund | None:
    """A refund callback from the gateway (already verified)."""
    refund = db.session.execute(
        select(GatewayRefund)
        .where(GatewayRefund.refund_number == answer.refund_number)
        .with_for_update()
    ).scalar_one_or_none()
    if refund is not None:
        record_refund_state(refund, answer, now=now)
    return refund


def due_refunds(*, now: datetime, limit: int = 100) -> list[GatewayRefund]:
    return list(
        db.session.execute(
            select(GatewayRefund)
            .where(GatewayRefund.state != "done", GatewayRefund.next_try_at <= now)
            .order_by(GatewayRefund.next_try_at)
            .limit(limit)
        ).scalars()
    )


def open_payments(*, now: datetime, limit: int = 200) -> list[GatewayPayment]:
    """Payments opened a while ago that nothing has settled: ask the gateway."""
    return list(
        db.session.execute(
            select(GatewayPayment)
            .where(
                GatewayPayment.settled_at.is_(None), GatewayPayment.opened_at <= now - QUERY_AFTER
            )
            .order_by(GatewayPayment.opened_at)
            .limit(limit)
        ).scalars()
    )


def sync(adapters: dict, *, now: datetime) -> dict:
    """The sweep (``flask payments-sync``): ask about open payments, close those of cancelled
    or expired orders at the gateway, send and check refunds. Gateway calls happen outside
    any write transaction; each order's change is committed on its own, so one gateway failure
    never undoes the others. Running it again changes nothing more."""
    counts = {"paid": 0, "closed": 0, "refunds_done": 0, "errors": 0}
    work = [(p.order_id, p.provider, p.order.number) for p in open_payments(now=now)]
    db.session.rollback()
    for order_id, provider, number in work:
        adapter = adapters.get(provider)
        if adapter is None:
            continue
        try:
            state = adapter.query(number)
            if state.state == "paid":
                with dbsetup.writing():
                    db.session.rollback()
                    result = apply_trade(provider, state, now=now)
                    db.session.commit()
                counts["paid"] += bool(result and result.applied)
                continue
            order = db.session.get(Order, order_id)
            db.session.rollback()
            if order.status == OrderStatus.CANCELLED or now >= order.pay_deadline:
                adapter.close(number)
                if order.status == OrderStatus.CANCELLED:
                    with dbsetup.writing():
                        db.session.rollback()
                        _settle(order_id, now)
                        db.session.commit()
                    counts["closed"] += 1
        except GatewayError as error:
            db.session.rollback()
            counts["errors"] += error.code != "ORDERPAID"  # paid since: the next run applies it
    for refund_id, provider in [(r.id, r.provider) for r in due_refunds(now=now)]:
        adapter = adapters.get(provider)
        db.session.rollback()
        if adapter is None:
            continue
        state = send(refund_id, adapter, now=now)
        counts["refunds_done"] += state == "done"
        counts["errors"] += state == "failed"
    return counts


def send(refund_id: int, adapter, *, now: datetime) -> str:
    """Push one refund: the gateway call outside the write transaction, the answer inside."""
    refund = db.session.get(GatewayRefund, refund_id)
    if refund is None or refund.state == "done":
        db.session.rollback()
        return "done"
    order = refund.order
    request = {
        "number": refund.refund_number,
        "query": bool(refund.gateway_refund_id),
        "order_number": order.number,
        "amount": refund.amount_cents,
        "total": order.total_cents,
        "reason": refund.reason or "退款",
    }
    db.session.rollback()
    from shop.money import profit_returns  # partner mode: the platform's part back first

    held = answer = failure = None
    try:
        if request["query"]:
            answer = adapter.query_refund(request["number"], order_number=request["order_number"])
        else:
            held = profit_returns.before_refund(refund_id, adapter, now=now)
            if held is None:
                answer = adapter.refund(
                    order_number=request["order_number"],
                    refund_number=request["number"],
                    amount_cents=request["amount"],
                    total_cents=request["total"],
                    reason=request["reason"],
                )
    except GatewayError as error:
        failure = error
    with dbsetup.writing():
        db.session.rollback()
        refund = db.session.execute(
            select(GatewayRefund).where(GatewayRefund.id == refund_id).with_for_update()
        ).scalar_one()
        if refund.state == "done":
            state = "done"
        elif failure is not None and refund.last_error == "wrong_account" and request["query"]:
            # Held for an admin: WeChat Pay named another sub-merchant, and asked under the
            # order's own it knows no such refund (or errs). Still neither done nor refused.
            refund.next_try_at = now + timedelta(hours=1)
            state = refund.state
        elif failure is not None:
            state = _failed(refund, failure, now=now)
        elif held is not None:  # waits for the profit-sharing return, not a failure
            refund.last_error, refund.next_try_at = held, now + HOLD
            state = "held"
        else:
            refund.last_error = ""  # answered: an earlier error or wait is over
            state = record_refund_state(refund, answer, now=now)
        db.session.commit()
    return state
