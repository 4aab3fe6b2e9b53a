"""Profit sharing (分账) in WeChat Pay's partner mode: after an order's money settles (the
return window passed, the merchant's share ``settled`` in its ledger), the stored split is sent
from the merchant's sub-merchant account to the platform, and the rest is unfrozen for the
merchant.

What goes to the platform is ``paid − merchant share`` = the sharers' rebates (which the
platform pays out to sharers through its payouts, with the team overrides it funds from its
fee) + the platform fee. Nothing to send (no rebate, no fee): the payment is only unfrozen.

Each order's sharing is a row first (:class:`ProfitShare`, out_order_no ``PS<order number>``:
WeChat Pay treats the same out_order_no as the same sharing), then a call outside any write
transaction; a failed call is retried by the next run; an accepted one is asked about until
it is finished; one that failed ``MAX_ATTEMPTS`` times is given up until an admin retries it
(/admin/profit-sharing). Orders refunded before settlement never share (their money went back
to the buyer). A refund after the sharing first takes the platform's part of it back
(分账回退, shop.money.profit_returns); a refund while the sharing is not sent yet lowers it.
"""

from datetime import datetime

from sqlalchemy import exists, select

from shop.catalog.models import Merchant
from shop.money import merchant_ledger, refund_queries
from shop.money.models import MerchantEntry, MerchantEntryKind, OrderSplit, ProfitShare
from shop.orders.gateways import providers
from shop.orders.gateways.base import GatewayError
from shop.orders.models import GatewayPayment, Order, OrderStatus, PaymentEvent
from shop.platform import audit
from shop.platform import db as dbsetup
from shop.platform.extensions import db

K = MerchantEntryKind
DESCRIPTION = "平台服务费及分享返利"
#: Failed sends before a sharing is given up (shown to admins, who may retry it).
MAX_ATTEMPTS = 8
#: Sharings nothing more is done with by `flask profit-sharing`.
CLOSED = ("done", "given_up", "void")
#: Sharings WeChat Pay has never accepted: a refund may still lower them.
UNSENT = ("pending", "failed", "given_up")


def platform_live(order: Order, split: OrderSplit) -> int:
    """What of the buyer's payment is the platform's now (its rebates and fee): paid, less
    what was refunded, less the merchant's live share (voided or clawed back by partial
    refunds); nothing once the order is refunded."""
    if order.status == OrderStatus.REFUNDED:
        return 0
    left = split.paid_cents - refund_queries.partly_refunded_cents(order)
    return max(0, left - merchant_ledger.live_share(order.id, split, settled=True))


def due(*, limit: int = 200) -> list[int]:
    """Orders paid by WeChat Pay whose merchant share settled (and was not clawed back), whose
    payment was made under a sub-merchant number, and that have no sharing yet."""
    settled = exists().where(MerchantEntry.order_id == Order.id, MerchantEntry.kind == K.SETTLED)
    reversed_ = exists().where(  # the whole order refunded (a partial refund's rows name it)
        MerchantEntry.order_id == Order.id,
        MerchantEntry.kind.in_([K.VOIDED, K.CLAWBACK]),
        MerchantEntry.refund_id.is_(None),
    )
    shared = exists().where(ProfitShare.order_id == Order.id)
    query = (
        select(Order.id)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .outerjoin(GatewayPayment, GatewayPayment.order_id == Order.id)
        .where(
            Order.payment_provider == "wechatpay",
            providers.recorded_sub_mchid() != "",
            settled,
            ~reversed_,
            ~shared,
        )
        .order_by(Order.id)
        .limit(limit)
    )
    return list(db.session.execute(query).scalars())


def plan(order: Order, *, now: datetime) -> ProfitShare | None:
    """The sharing row of a settled order (once). None when it has no split or no recorded
    WeChat Pay trade. The caller commits."""
    split = db.session.get(OrderSplit, order.id)
    trade_id = db.session.execute(
        select(PaymentEvent.event_id).where(
            PaymentEvent.order_id == order.id,
            PaymentEvent.provider == "wechatpay",
            PaymentEvent.outcome == "paid",
        )
    ).scalar_one_or_none()
    if split is None or not trade_id:
        return None
    db.session.execute(
        dbsetup.insert_for(db.session, ProfitShare)
        .values(
            order_id=order.id,
            out_order_no=f"PS{order.number}",
            # The sub-merchant the payment was made under (where the money is frozen), not
            # the merchant's number now.
            sub_mchid=providers.sub_mchid_of_order(order.number),
            transaction_id=trade_id,
            # What the buyer's payment still holds beyond the merchant's share: the rebates,
            # overrides and fee that partial refunds left (paid - refunded = share + rest).
            amount_cents=platform_live(order, split),
            state="pending",
            attempts=0,
            last_error="",
            gateway_order_id="",
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    return db.session.get(ProfitShare, order.id)


def send(order_id: int, adapter, *, now: datetime, receivers: set[str]) -> str:
    """Send (or ask about) one order's sharing; returns its state. ``receivers``: the
    sub-merchants this run has already added the platform to as a receiver."""
    with dbsetup.writing():
        db.session.rollback()
        share = db.session.execute(
            select(ProfitShare).where(ProfitShare.order_id == order_id).with_for_update()
        ).scalar_one_or_none()
        if share is None or share.state in CLOSED:
            state = share.state if share is not None else "done"
            db.session.rollback()
            return state
        ask = dict(
            sub_mchid=share.sub_mchid,
            transaction_id=share.transaction_id,
            out_order_no=share.out_order_no,
        )
        asking = share.state == "sent"
        if not asking:  # a refund meanwhile waits for the answer (it cannot lower it now)
            share.state = "sending"
        amount = share.amount_cents
        db.session.commit()
    try:
        if asking:
            answer = adapter.share_query(**ask)
        else:
            if amount > 0 and ask["sub_mchid"] not in receivers:
                adapter.add_receiver(ask["sub_mchid"])
                receivers.add(ask["sub_mchid"])
            answer = adapter.share(**ask, amount_cents=amount, description=DESCRIPTION)
        failure = None
    except GatewayError as error:
        answer, failure = None, error
    with dbsetup.writing():
        db.session.rollback()
        share = db.session.execute(
            select(ProfitShare).where(ProfitShare.order_id == order_id).with_for_update()
        ).scalar_one()
        if share.state not in CLOSED:
            if failure is not None:
                share.attempts += 1
                share.state = "sent" if asking else "failed"
                if not asking and share.attempts >= MAX_ATTEMPTS:
                    share.state = "given_up"
                share.last_error = (failure.code or f"http {failure.status}")[:80]
            else:
                share.gateway_order_id = answer["order_id"] or share.gateway_order_id
                share.last_error = ""
                if answer["state"] == "FINISHED":
                    share.state, share.done_at = "done", now
                else:
                    share.state = "sent"
        state = share.state
        db.session.commit()
    return state


def run(adapter, *, now: datetime) -> dict[str, int]:
    """`flask profit-sharing`: plan the sharing of every settled order due, then send what is
    pending or failed and ask about what was accepted. Running it again changes nothing more."""
    counts = {"planned": 0, "done": 0, "waiting": 0, "failed": 0}
    if adapter is None or not getattr(adapter, "partner", False):
        return counts
    for order_id in due():
        with dbsetup.writing():
            db.session.rollback()
            order = db.session.get(Order, order_id)
            counts["planned"] += plan(order, now=now) is not None
            db.session.commit()
    open_ids = list(
        db.session.execute(
            select(ProfitShare.order_id)
            .where(ProfitShare.state.not_in(CLOSED))
            .order_by(ProfitShare.order_id)
        ).scalars()
    )
    db.session.rollback()
    receivers: set[str] = set()
    for order_id in open_ids:
        state = send(order_id, adapter, now=now, receivers=receivers)
        counts[{"done": "done", "sent": "waiting"}.get(state, "failed")] += 1
    return counts


def retry(order_id: int, adapter, *, actor, now: datetime) -> str:
    """An admin sends a failed or given-up sharing again now (audited); returns its state."""
    with dbsetup.writing():
        db.session.rollback()
        share = db.session.execute(
            select(ProfitShare).where(ProfitShare.order_id == order_id).with_for_update()
        ).scalar_one_or_none()
        if share is None or share.state not in ("failed", "given_up"):
            state = share.state if share is not None else ""
            db.session.rollback()
            return state
        before = {"state": share.state, "attempts": share.attempts}
        share.state = "failed"
        db.session.commit()
    state = send(order_id, adapter, now=now, receivers=set())
    with dbsetup.writing():
        db.session.rollback()
        share = db.session.get(ProfitShare, order_id)
        audit.record(
            actor=actor, action="profit_share.retry", object_type="order", object_id=order_id,
            before=before, after={"state": share.state, "attempts": share.attempts},
            reason=share.last_error or None, now=now,
        )  # fmt: skip
        db.session.commit()
    return state
