"""Partial refunds (部分退款): a buyer asks for chosen item lines (and a quantity of each) of a
paid order back, for an amount up to what was paid for them; the merchant agrees or refuses;
an administrator can refund part of an order directly.

- The order keeps its status while parts of it are refunded; when everything it was paid has
  gone back it becomes refunded (``states.transition(..., whole=False)``). A whole-order
  refund (shop.orders.states.request_refund) after partial ones gives back what they left.
- At most one request is open per order (a partial unique index); its amount is *held* on the
  order's refund caps (:class:`RefundCap`) until it is decided, and every change of a cap is
  a guarded UPDATE under CHECKs, so no line and no order is ever refunded past what was paid.
- Each request's parts (rebate, override, fee, merchant share per line) are fixed when it is
  made, by :mod:`shop.money.refund_math` (cumulative floor; its docstring states the rule).
  Agreeing posts them: VOIDED (before settlement) or CLAWBACK (after) entries keyed by the
  refund in the rebate and merchant ledgers, so doing it twice posts nothing more.
- Every change first bumps the order's version with a guarded UPDATE: that locks the order
  row (PostgreSQL; SQLite's write transaction holds the database), so requests, decisions,
  withdrawals, whole-order refunds and settlement of one order never interleave.
"""

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select, update

from shop.accounts.models import User
from shop.catalog import stockmoves
from shop.catalog.models import Product
from shop.money import ledger, merchant_ledger, notices, refund_math, sales
from shop.money.models import EntryKind, RefundCap, RefundLine, RefundRequest, RefundStatus
from shop.money.refund_queries import has_open_refund
from shop.orders import notices as order_notices
from shop.orders import states
from shop.orders.gateways import flow
from shop.orders.models import Order, OrderStatus
from shop.platform import audit
from shop.platform import db as dbsetup
from shop.platform.errors import Conflict, PermissionDenied, ValidationError
from shop.platform.extensions import db
from shop.platform.stamps import mark_stale

S = OrderStatus
#: Orders a part of which may be asked back (not while a whole-order refund is open).
OPEN_FROM = (S.PAID, S.SHIPPED, S.COMPLETED)
SHIPPING = 0  #: the ``line`` of an order's shipping fee in its refund caps


def _frozen(order: Order) -> list[dict]:
    """The caps of ``order``: each item's value and its parts of the stored split."""
    earns = ledger.order_earns(order)
    split = merchant_ledger.split_of(order.id)
    values = [item.line_cents - item.discount_cents for item in order.items]
    rebates = [item.rebate_cents if earns else 0 for item in order.items]
    fees = refund_math.fee_by_item(
        split.fee_cents if split else 0,
        merchant_ledger.item_fees(order),
        [v - r for v, r in zip(values, rebates, strict=True)],
    )
    rows = [
        {
            "line": item.id,
            "cap_cents": value,
            "cap_quantity": item.quantity,
            "rebate_cents": rebate,
            "override_cents": ledger.override_of(order, item) if earns else 0,
            "fee_cents": fee,
        }
        for item, value, rebate, fee in zip(order.items, values, rebates, fees, strict=True)
    ]
    rows.append({"line": SHIPPING, "cap_cents": order.shipping_cents, "cap_quantity": 0})
    zero = dict.fromkeys(
        ("rebate_cents", "override_cents", "fee_cents", "held_cents", "held_quantity",
         "done_cents", "done_quantity"), 0,
    )  # fmt: skip
    return [{**zero, **row, "order_id": order.id} for row in rows]


def caps(order: Order, *, make: bool = False) -> dict[int, RefundCap]:
    """The order's refund caps by line; ``make`` them first (once) when there are none."""
    if make:
        rows = _frozen(order)
        db.session.execute(
            dbsetup.insert_for(db.session, RefundCap).values(rows).on_conflict_do_nothing()
        )
    found = db.session.execute(
        select(RefundCap)
        .where(RefundCap.order_id == order.id)
        .execution_options(populate_existing=True)
    ).scalars()
    return {cap.line: cap for cap in found}


def _lock(order: Order) -> None:
    """Bump the order's version (a guarded UPDATE): the order row is ours until commit."""
    result = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.version == order.version)
        .values(version=Order.version + 1)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(order)
    if result.rowcount != 1:
        raise Conflict(_l("This order was just changed by someone else. Please look again."))


def _replay(order: Order, key: str) -> RefundRequest | None:
    return db.session.execute(
        select(RefundRequest).where(
            RefundRequest.order_id == order.id, RefundRequest.request_key == key
        )
    ).scalar_one_or_none()


def _clean_reason(reason: str) -> str:
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > 200:
        raise ValidationError(_l("Say why, in at most 200 characters."), "reason")
    return reason


def request(
    order: Order,
    picks: dict[int, int],
    *,
    reason: str,
    kind: str,
    key: str,
    actor: User,
    now: datetime,
    amount_cents: int | None = None,
    with_shipping: bool | None = None,
    source: str = "buyer",
) -> RefundRequest:
    """Ask for ``picks`` ({order item id: quantity}) of ``order`` back, for ``amount_cents``
    (default: what was paid for them, with the shipping when everything left is chosen, or
    when ``with_shipping``). ``key`` (the form's) makes a replay return the first request.
    An administrator (``source="admin"``) refunds it at once."""
    if source == "admin":
        if not actor.is_admin:
            raise PermissionDenied(_l("Only an administrator can override a refund decision."))
    elif order.buyer_id != actor.id:
        raise PermissionDenied(_l("This is not your order."))
    key = (key or "")[:40]
    if not key:
        raise ValidationError(_l("The form expired. Please try again."))
    found = _replay(order, key)
    if found is not None:
        return found
    reason = _clean_reason(reason)
    if kind not in (states.REFUND_ONLY, states.RETURN):
        raise ValidationError(_l("Choose a refund type."), "kind")
    if order.status not in OPEN_FROM:
        raise ValidationError(_l("Part of this order cannot be refunded now."))
    if kind == states.RETURN and order.status == S.PAID:
        raise ValidationError(_l("Nothing was shipped yet: ask for a refund only."), "kind")
    items = {item.id: item for item in order.items}
    if any(item_id not in items for item_id in picks):
        raise ValidationError(_l("That item is not in this order."), "items")
    picks = {item_id: n for item_id, n in picks.items() if n > 0}
    if not picks:
        raise ValidationError(_l("Choose at least one item to refund."), "items")
    try:
        _lock(order)
    except Conflict:
        found = _replay(order, key)  # the same form, sent twice at once: the first one
        if found is not None:
            return found
        raise
    if order.status not in OPEN_FROM:  # changed while we waited for the lock
        raise ValidationError(_l("Part of this order cannot be refunded now."))
    if has_open_refund(order):
        raise ValidationError(_l("A refund of this order is already waiting for the merchant."))
    have = caps(order, make=True)
    fulls, chosen = [], []
    for item_id, quantity in sorted(picks.items()):
        cap = have[item_id]
        left_q = cap.cap_quantity - cap.done_quantity - cap.held_quantity
        left_c = cap.cap_cents - cap.done_cents - cap.held_cents
        if quantity > left_q:
            raise ValidationError(
                _l("At most %(n)s of “%(title)s” can still be refunded.",
                   n=left_q, title=items[item_id].title),
                "items",
            )  # fmt: skip
        before = cap.done_quantity + cap.held_quantity
        value = refund_math.units_value(cap.cap_cents, cap.cap_quantity, before, quantity)
        fulls.append(left_c if quantity == left_q else min(value, left_c))
        chosen.append((cap, quantity))
    everything = all(
        have[item.id].done_quantity + have[item.id].held_quantity + picks.get(item.id, 0)
        >= item.quantity
        for item in order.items
    )
    ship = have[SHIPPING]
    if with_shipping is None:
        with_shipping = everything
    fulls.append(ship.cap_cents - ship.done_cents - ship.held_cents if with_shipping else 0)
    most = sum(fulls)
    amount = most if amount_cents is None else amount_cents
    if amount <= 0:
        raise ValidationError(_l("Enter an amount above ¥0."), "amount")
    if amount > most:
        raise ValidationError(
            _l("At most ¥%(most)s can be refunded for what you chose.", most=_yuan(most)),
            "amount",
        )
    pieces = refund_math.spread(amount, fulls)
    seq = 1 + int(
        db.session.execute(
            select(func.coalesce(func.max(RefundRequest.seq), 0)).where(
                RefundRequest.order_id == order.id
            )
        ).scalar_one()
    )
    refund = RefundRequest(
        order_id=order.id, seq=seq, request_key=key, status=RefundStatus.REQUESTED, kind=kind,
        reason=reason, amount_cents=amount, shipping_cents=pieces[-1], source=source,
        requested_by_id=actor.id, requested_at=now,
    )  # fmt: skip
    db.session.add(refund)
    db.session.flush()
    for (cap, quantity), piece in zip(chosen, pieces, strict=False):
        parts = refund_math.step(
            cap.done_cents, piece, value=cap.cap_cents, rebate=cap.rebate_cents,
            override=cap.override_cents, fee=cap.fee_cents,
        )  # fmt: skip
        db.session.add(
            RefundLine(
                refund_id=refund.id,
                order_item_id=cap.line,
                quantity=quantity,
                amount_cents=piece,
                **vars(parts),
            )  # fmt: skip
        )
        _move(order, cap.line, held=(piece, quantity))
    _move(order, SHIPPING, held=(pieces[-1], 0))
    db.session.flush()
    if source == "admin":
        decide(refund, True, actor=actor, source="admin", now=now, note=reason)
    else:
        order_notices.part_refund_requested(order, amount, reason, now=now)
    return refund


def _yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _move(order: Order, line: int, *, held=(0, 0), done=(0, 0)) -> None:
    """Add ``held`` and ``done`` (fen, units) to one cap: a guarded UPDATE that changes
    nothing and raises when it would take the line past what was paid for it."""
    if not any(held) and not any(done):
        return
    result = db.session.execute(
        update(RefundCap)
        .where(
            RefundCap.order_id == order.id,
            RefundCap.line == line,
            RefundCap.held_cents + held[0] >= 0,
            RefundCap.held_quantity + held[1] >= 0,
            RefundCap.held_cents + held[0] + RefundCap.done_cents + done[0] <= RefundCap.cap_cents,
            RefundCap.held_quantity + held[1] + RefundCap.done_quantity + done[1]
            <= RefundCap.cap_quantity,
        )
        .values(
            held_cents=RefundCap.held_cents + held[0],
            held_quantity=RefundCap.held_quantity + held[1],
            done_cents=RefundCap.done_cents + done[0],
            done_quantity=RefundCap.done_quantity + done[1],
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise ValidationError(_l("That is more than was paid for it."), "amount")


def _close(refund: RefundRequest, to: RefundStatus, *, actor: User, now: datetime, note: str):
    """requested -> ``to``, guarded. False when it was already ``to`` (a replay)."""
    try:
        _lock(refund.order)
    except Conflict:
        db.session.refresh(refund)  # the same answer, sent twice at once: the first one
        if refund.status == to:
            return False
        raise
    result = db.session.execute(
        update(RefundRequest)
        .where(RefundRequest.id == refund.id, RefundRequest.status == RefundStatus.REQUESTED)
        .values(status=to, decided_at=now, decided_by_id=actor.id, note=note[:200])
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(refund)
    if result.rowcount == 1:
        for line in refund.lines:  # the hold goes: back to nothing, or on to done
            moved = (line.amount_cents, line.quantity)
            _move(refund.order, line.order_item_id, held=(-moved[0], -moved[1]),
                  done=moved if to == RefundStatus.REFUNDED else (0, 0))  # fmt: skip
        shipping = refund.shipping_cents
        _move(refund.order, SHIPPING, held=(-shipping, 0),
              done=(shipping, 0) if to == RefundStatus.REFUNDED else (0, 0))  # fmt: skip
        return True
    if refund.status == to:
        return False
    raise ValidationError(_l("This refund request was decided already."))


def decide(
    refund: RefundRequest, approve: bool, *, actor: User, source: str, now: datetime, note=""
) -> RefundRequest:
    """The merchant's (or an administrator's) answer. Agreeing reverses the request's parts
    in both ledgers, gives back its units, sends its money through the order's gateway, and
    makes the order refunded once nothing paid is left."""
    note = " ".join((note or "").split())
    if not approve and not note:
        raise ValidationError(_l("Tell the buyer why the refund is rejected."), "note")
    to = RefundStatus.REFUNDED if approve else RefundStatus.REJECTED
    if not _close(refund, to, actor=actor, now=now, note=note):
        return refund  # decided so already: nothing more
    order = refund.order
    order_notices.part_refund_decided(order, approve, refund.amount_cents, now=now)
    if not approve:
        return refund
    _reverse(order, refund, now=now)
    for line in refund.lines:
        stockmoves.give_back(line.item.sku_id, line.item.product_id, line.quantity)
        db.session.execute(
            update(Product)
            .where(Product.id == line.item.product_id)
            .values(sales_count=Product.sales_count - line.quantity)
            .execution_options(synchronize_session=False)
        )
        mark_stale(line.item.product_id)
    sales.money_refunded(order, refund.amount_cents)
    flow.refund_part(
        order, seq=refund.seq, amount_cents=refund.amount_cents, reason=refund.reason, now=now
    )
    done = db.session.execute(
        select(func.sum(RefundCap.done_cents)).where(RefundCap.order_id == order.id)
    ).scalar_one()
    if done == order.total_cents:  # everything paid went back: the order is refunded
        states.transition(
            order, S.REFUNDED, source="partial", actor=actor, now=now,
            note=f"refund {refund.seq}", values={"closed_at": now}, whole=False,
        )  # fmt: skip
    if source == "admin":
        audit.record(
            actor=actor, action="order.refund_part", object_type="order", object_id=order.id,
            before={"refund": refund.seq}, after={"amount_cents": refund.amount_cents},
            reason=note or refund.reason, now=now,
        )  # fmt: skip
    return refund


def _reverse(order: Order, refund: RefundRequest, *, now: datetime) -> None:
    """Post the request's parts: the rebates (and overrides) of its lines, voided or clawed
    back item by item; the merchant's share (with the shipping) and the fee."""
    if ledger.order_earns(order):
        settled = ledger.settled_items(order)
        first = not ledger.had_reversal(order)
        voided = clawed = 0
        for line in refund.lines:
            kind = EntryKind.CLAWBACK if line.order_item_id in settled else EntryKind.VOIDED
            amounts = (line.rebate_cents, line.override_cents)
            ledger.post_item_part(order, line.item, kind, amounts, refund_id=refund.id, now=now)
            if kind == EntryKind.CLAWBACK:
                clawed += line.rebate_cents
            else:
                voided += line.rebate_cents
        ledger.rollup_reversal(order, voided=voided, clawed_back=clawed, first=first)
        notices.rebate_reversed(order, voided, clawback=False, now=now)
        notices.rebate_reversed(order, clawed, clawback=True, now=now)
    share = refund.shipping_cents + sum(line.merchant_cents for line in refund.lines)
    fee = sum(line.fee_cents for line in refund.lines)
    merchant_ledger.reverse_part(order, refund.id, share, fee, now=now)


def withdraw(refund: RefundRequest, *, actor: User, now: datetime) -> RefundRequest:
    """The buyer takes the request back: its hold goes, nothing else changed."""
    if refund.order.buyer_id != actor.id:
        raise PermissionDenied(_l("This is not your order."))
    _close(refund, RefundStatus.WITHDRAWN, actor=actor, now=now, note="withdrawn")
    return refund
