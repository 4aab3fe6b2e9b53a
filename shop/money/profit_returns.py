"""Profit-sharing returns (分账回退): a refund of an order whose sharing (shop.money.profit_sharing)
already sent the platform its part must first take the platform's part of what is refunded
back to the sub-merchant's account, or that account may not hold the money to refund
(WeChat Pay: "如果订单已经分账, 在退款时, 可以先调此接口 ... 回退给分账方, 再发起退款").

The gateway refund sender (:func:`shop.orders.gateways.flow.send`, run by `flask payments-sync`
and the admin's "send again") asks :func:`before_refund` before its first call for a refund:

- **No sharing, or nothing was sent to the platform**: the refund goes.
- **The sharing was accepted and is processing (or its send is in flight)**: the refund waits
  (``sharing_in_progress``) and is tried again by the sweep; WeChat Pay finishes a sharing
  within minutes, and its amount is then known.
- **The sharing was never accepted (pending, failed, given up)**: the money is still frozen
  in the sub-merchant's account, from which WeChat Pay refunds directly ("申请退款金额 ≤ 订单
  未分账冻结金额, 直接可退"). The refund goes, and the sharing is lowered, in the same locked
  transaction, to what the platform's part is now; an order refunded in full voids it
  (nothing is left to share or to unfreeze). A sharing whose send failed is first asked about
  (``GET /v3/profitsharing/orders/{out_order_no}``): WeChat Pay may have accepted it and the
  answer been lost; only one it does not know (RESOURCE_NOT_EXISTS) is lowered, and one it
  knows is recorded as sent or done and handled as such.
- **The sharing is done**: the return is a row first (one per gateway refund, unique
  ``out_return_no`` = ``PR<refund number>``), then the call; the refund goes once WeChat Pay
  says SUCCESS. PROCESSING holds the refund and asks again next time (with the same number, as
  WeChat Pay asks); FAILED (or a refused call) fails the refund's try, which the refund sweep
  retries with backoff; after a FAILED result the next try uses a new number (``_<n>``).

The amount, in fen: a partial refund returns its lines' rebates and fee (its platform part,
fixed by shop.money.refund_math when it was asked); a whole-order refund returns everything
still shared. Either is capped by what the sharing sent beyond the platform's live part and
by what is left unreturned, so it is never negative and never more than was shared, and a
refund already left out of the sharing (decided before it was planned) returns nothing.
"""

from datetime import datetime

from sqlalchemy import func, select

from shop.money import profit_sharing
from shop.money.models import OrderSplit, ProfitReturn, ProfitShare, RefundRequest
from shop.orders.gateways.base import GatewayError
from shop.orders.models import GatewayRefund, Order, OrderStatus
from shop.platform import db as dbsetup
from shop.platform.extensions import db

DESCRIPTION = "买家退款，回退平台分账"
#: What a refund that waits for its return says (the gateway refund's last error).
IN_PROGRESS = "sharing_in_progress"
RETURNING = "return_processing"
#: A failed sharing must be asked about before a refund may lower it.
CHECK = "check_sharing"


def _platform_part(refund: GatewayRefund) -> int | None:
    """The platform's part of one gateway refund: a partial refund's lines' rebates and fee;
    None for a whole-order refund (everything still shared); 0 for anything else."""
    if refund.kind == "refund":
        return None
    if refund.kind != "partial":
        return 0
    seq = int(refund.refund_number.rsplit("-P", 1)[1])
    request = db.session.execute(
        select(RefundRequest).where(
            RefundRequest.order_id == refund.order_id, RefundRequest.seq == seq
        )
    ).scalar_one_or_none()
    if request is None:
        return 0
    return sum(line.rebate_cents + line.fee_cents for line in request.lines)


def amount_to_return(share: ProfitShare, refund: GatewayRefund, order: Order) -> int:
    """What to take back before ``refund``, in fen (see the module's docstring)."""
    split = db.session.get(OrderSplit, order.id)
    returned = int(
        db.session.execute(
            select(func.coalesce(func.sum(ProfitReturn.amount_cents), 0)).where(
                ProfitReturn.order_id == order.id
            )
        ).scalar_one()
    )
    unreturned = share.amount_cents - returned
    live = profit_sharing.platform_live(order, split) if split is not None else 0
    amount = unreturned - live
    part = _platform_part(refund)
    if part is not None:
        amount = min(amount, part)
    return max(0, min(amount, unreturned))


def _decide(refund_id: int, *, now: datetime, checked: int | None) -> tuple[str | None, int | None]:
    """Under the sharing's lock: (a reason to hold the refund, the return to send). A sharing
    whose send failed is lowered only once WeChat Pay said it does not know it (``checked``:
    the failed attempts it had then); until then the answer is ``CHECK``."""
    refund = db.session.get(GatewayRefund, refund_id)
    share = db.session.execute(
        select(ProfitShare).where(ProfitShare.order_id == refund.order_id).with_for_update()
    ).scalar_one_or_none()
    if share is None or share.state == "void":
        return None, None
    order = refund.order
    if share.state in profit_sharing.UNSENT and share.attempts and checked != share.attempts:
        return CHECK, None  # its answer may have been lost after WeChat Pay accepted it
    if share.state in profit_sharing.UNSENT:
        if order.status == OrderStatus.REFUNDED:
            share.state, share.last_error = "void", ""
        else:
            split = db.session.get(OrderSplit, order.id)
            share.amount_cents = min(share.amount_cents, profit_sharing.platform_live(order, split))
        return None, None
    if share.state != "done":  # sending or sent: its amount is not known to be final
        return IN_PROGRESS, None
    found = db.session.execute(
        select(ProfitReturn).where(ProfitReturn.refund_id == refund_id)
    ).scalar_one_or_none()
    if found is None:
        amount = amount_to_return(share, refund, order)
        if amount <= 0:
            return None, None
        found = ProfitReturn(
            refund_id=refund_id, order_id=order.id, out_return_no=f"PR{refund.refund_number}",
            seq=0, sub_mchid=share.sub_mchid, out_order_no=share.out_order_no,
            amount_cents=amount, state="pending", attempts=0, last_error="",
            gateway_return_id="", created_at=now,
        )  # fmt: skip
        db.session.add(found)
        db.session.flush()
    if found.state == "done":
        return None, None
    return None, found.id


def before_refund(refund_id: int, adapter, *, now: datetime) -> str | None:
    """Run before the first call for gateway refund ``refund_id``: None when the refund may
    go now; a reason (stored as its last error) when it must wait and be tried again.
    Raises GatewayError when the return failed (the refund's try fails, and is retried)."""
    if not getattr(adapter, "partner", False):
        return None
    checked = None
    for _ in range(3):
        with dbsetup.writing():
            db.session.rollback()
            hold, return_id = _decide(refund_id, now=now, checked=checked)
            db.session.commit()
        if hold != CHECK:
            break
        checked = _check_share(refund_id, adapter, now=now)
    else:
        return IN_PROGRESS
    if return_id is None:
        return hold
    ret = db.session.get(ProfitReturn, return_id)
    ask = dict(sub_mchid=ret.sub_mchid, out_order_no=ret.out_order_no,
               out_return_no=ret.out_return_no)  # fmt: skip
    amount, asking = ret.amount_cents, ret.state == "sent"
    db.session.rollback()
    try:
        if asking:
            answer = adapter.return_query(**ask)
        else:
            answer = adapter.return_share(**ask, amount_cents=amount, description=DESCRIPTION)
        failure = None
    except GatewayError as error:
        answer, failure = None, error
    with dbsetup.writing():
        db.session.rollback()
        ret = db.session.execute(
            select(ProfitReturn).where(ProfitReturn.id == return_id).with_for_update()
        ).scalar_one()
        outcome = _record(ret, answer, failure, asking=asking, now=now)
        db.session.commit()
    if outcome == "done":
        return None
    if outcome == "sent":
        return RETURNING
    raise GatewayError(code=f"return {outcome}"[:80], status=failure.status if failure else 0)


def _check_share(refund_id: int, adapter, *, now: datetime) -> int | None:
    """Ask WeChat Pay about a sharing whose send failed: not known there (never accepted),
    returns the failed attempts it had (it may be lowered); accepted after all, records it as
    sent or done (the next decision holds the refund or returns). Raises GatewayError when
    WeChat Pay cannot say."""
    order_id = db.session.get(GatewayRefund, refund_id).order_id
    share = db.session.get(ProfitShare, order_id)
    ask = dict(sub_mchid=share.sub_mchid, transaction_id=share.transaction_id,
               out_order_no=share.out_order_no)  # fmt: skip
    attempts = share.attempts
    db.session.rollback()
    try:
        answer = adapter.share_query(**ask)
    except GatewayError as error:
        if error.code == "RESOURCE_NOT_EXISTS":
            return attempts
        raise GatewayError(
            code=f"sharing {error.code or error.status}"[:80], status=error.status
        ) from error
    with dbsetup.writing():
        db.session.rollback()
        share = db.session.execute(
            select(ProfitShare).where(ProfitShare.order_id == order_id).with_for_update()
        ).scalar_one()
        if share.state in profit_sharing.UNSENT:
            share.gateway_order_id = answer["order_id"] or share.gateway_order_id
            share.last_error = ""
            if answer["state"] == "FINISHED":
                share.state, share.done_at = "done", now
            else:
                share.state = "sent"
        db.session.commit()
    return None


def _record(ret: ProfitReturn, answer, failure, *, asking: bool, now: datetime) -> str:
    """Store what WeChat Pay said about a return: done, sent, or the error."""
    if ret.state == "done":
        return "done"
    if failure is not None:
        error = failure.code or f"http {failure.status}"
        if not asking:
            ret.state = "failed"
        ret.attempts += 1
        ret.last_error = error[:80]
        return error
    if answer["amount"] is not None and answer["amount"] != ret.amount_cents:
        ret.state, ret.last_error = "failed", "amount_mismatch"
        return "amount_mismatch"
    ret.gateway_return_id = answer["return_id"] or ret.gateway_return_id
    if answer["state"] == "SUCCESS":
        ret.state, ret.done_at, ret.last_error = "done", now, ""
        return "done"
    if answer["state"] == "PROCESSING":
        ret.state = "sent"
        return "sent"
    # FAILED: that number is spent; the next try asks afresh with a new one.
    ret.attempts += 1
    ret.seq += 1
    ret.state = "failed"
    ret.last_error = (answer["fail_reason"] or "FAILED")[:80]
    base = ret.out_return_no.rsplit("_", 1)[0] if ret.seq > 1 else ret.out_return_no
    ret.out_return_no = f"{base}_{ret.seq}"[:64]
    return ret.last_error


def open_returns(*, limit: int = 200) -> list[ProfitReturn]:
    """Returns not done: failed ones (retried with their refund) and those processing."""
    return list(
        db.session.execute(
            select(ProfitReturn)
            .where(ProfitReturn.state != "done")
            .order_by(ProfitReturn.created_at)
            .limit(limit)
        ).scalars()
    )
