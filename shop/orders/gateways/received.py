"""Payment callbacks: recorded when they arrive, applied by ``flask worker``.

A verified callback (WeChat Pay ``TRANSACTION.SUCCESS``, an Alipay trade notice) is answered
as soon as one outbox row holding the trade it reports is committed (:func:`record`): WeChat
Pay's own advice (verify, persist, answer fast, process asynchronously, expect duplicates).
The worker's outbox loop hands those rows to :func:`apply_rows`, which rebuilds the
:class:`TradeState` and applies it with :func:`flow.apply_trade`, the same code the browser's
return path and the sweep run: one paid transition per order, however many duplicate rows.

Rows are done at most :data:`CHUNK` per transaction (each is a paid transition of 18
statements with the claim and the row marked done: bench/profile_paid.py), with a pause
between chunks on SQLite, so the worker never holds the write lock long enough to make a
callback's own insert wait long. A row whose apply fails is retried with the outbox's backoff
and given up after ``outbox.MAX_ATTEMPTS``, kept with its error.
"""

import logging
from datetime import datetime

from sqlalchemy import select

from shop.orders.gateways import flow
from shop.orders.gateways.base import TradeState
from shop.orders.gateways.providers import notice_of
from shop.platform import outbox
from shop.platform.extensions import db

log = logging.getLogger(__name__)

TOPIC = "payment"
#: Payment rows done in one transaction, at most: one (about 3 ms of CPU since the paid
#: transition was made cheaper, 8-9 ms before, holding SQLite's write lock, several times
#: that in wall time on a busy machine). With 4, the callbacks' inserts
#: queued behind the chunks: p99 201 ms against 57 ms with 1 (bench/README.md, callbacks).
CHUNK = 1


def record(provider: str, state: TradeState, *, now: datetime) -> bool:
    """Add the verified ``state`` to the caller's transaction as one outbox row; False (and
    nothing written) when it is nothing the shop acts on (not a paid trade). The caller
    commits, then answers the gateway."""
    payload = payload_of(state)
    if payload is None:
        return False
    outbox.insert(TOPIC, provider, user_id=None, payload=payload, now=now)
    return True


def payload_of(state: TradeState) -> dict | None:
    """The outbox row's payload for ``state``; None when it is nothing the shop acts on."""
    if notice_of(state) is None:
        return None
    payload = {
        "order_number": state.order_number,
        "state": state.state,
        "amount_cents": state.amount_cents,
        "trade_id": state.trade_id,
        "paid_at": state.paid_at.isoformat() if state.paid_at else None,
    }
    if state.account:  # WeChat Pay partner mode: the sub-merchant the money went into
        payload["account"] = state.account
    return payload


def trade_of(payload: dict) -> TradeState:
    paid_at = payload.get("paid_at")
    return TradeState(
        order_number=payload["order_number"],
        state=payload["state"],
        amount_cents=int(payload["amount_cents"]),
        trade_id=payload.get("trade_id") or "",
        paid_at=datetime.fromisoformat(paid_at) if paid_at else None,
        account=payload.get("account") or "",
    )


@outbox.handler(TOPIC, chunk=CHUNK)
def apply_rows(rows: list, now: datetime) -> None:
    """Apply each claimed payment row, as of when its callback arrived (the payment's event
    and the order's paid time say when the gateway told us, not when the worker got to it).
    Outcomes other than paid or a replay are logged, as the callback did; the notice rows
    keep them (``PaymentEvent.outcome``)."""
    if all("payload" in row._fields for row in rows):  # claimed with them (a chunked topic)
        payloads = {row.id: row.payload for row in rows}
    else:  # a row retried alone is claimed by id, without its payload
        table = outbox.OutboxRow.__table__
        payloads = dict(
            db.session.execute(
                select(table.c.id, table.c.payload).where(table.c.id.in_([r.id for r in rows]))
            ).all()
        )
    for row in rows:
        state = trade_of(payloads[row.id])
        result = flow.apply_trade(row.kind, state, now=row.created_at)
        if result is not None and result.outcome not in ("paid", "replay"):
            log.warning("%s notice for %s: %s", row.kind, state.order_number, result.outcome)


def apply_due(*, now: datetime) -> int:
    """Apply every payment row still due, here and now (what the worker would do next): the
    order sweep runs this before it cancels unpaid orders, so a payment whose callback was
    answered while the worker was down is paid, not cancelled and refunded."""
    return outbox.process_topic(TOPIC, now=now)
