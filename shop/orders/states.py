"""The life of an order: its state machine, and the changes people and the timed sweeps make.

Every state change goes through :func:`transition`: one guarded
``UPDATE orders SET status=:to ... WHERE id=:id AND status=:from``, then an order event, then
the ledger postings of that change, all in the caller's transaction. If the row changed under
us, nothing is written and Conflict is raised. The table below is the whole state machine.
Orders are made by :func:`shop.orders.checkout.place_order`.
"""

from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from shop.accounts.models import User
from shop.catalog import stockmoves
from shop.catalog.models import Product
from shop.money import ledger, refund_queries, sales
from shop.orders import carriers, coupons, notices, order_rows
from shop.orders.models import Order, OrderStatus
from shop.platform import audit
from shop.platform.errors import (
    Conflict,
    InvalidTransition,
    PermissionDenied,
    ValidationError,
)
from shop.platform.extensions import db

S = OrderStatus
#: (from, to) -> who may make the change. "payment" is a verified payment notification (or a
#: merchant confirming a manual transfer), "system" the timed sweeps.
TRANSITIONS: dict[tuple[OrderStatus, OrderStatus], frozenset[str]] = {
    (S.PLACED, S.PAID): frozenset({"payment"}),
    (S.PLACED, S.CANCELLED): frozenset({"buyer", "system", "admin"}),
    (S.PAID, S.SHIPPED): frozenset({"merchant"}),
    (S.SHIPPED, S.COMPLETED): frozenset({"buyer", "system"}),
    (S.PAID, S.REFUND_REQUESTED): frozenset({"buyer"}),
    (S.SHIPPED, S.REFUND_REQUESTED): frozenset({"buyer"}),
    (S.COMPLETED, S.REFUND_REQUESTED): frozenset({"buyer"}),
    (S.REFUND_REQUESTED, S.REFUNDED): frozenset({"merchant", "admin"}),
    (S.REFUND_REQUESTED, S.REFUND_REJECTED): frozenset({"merchant", "admin"}),
    # After a rejected refund the order goes on from where it was (see _allowed), or an
    # administrator overrides the merchant and refunds it.
    (S.REFUND_REJECTED, S.REFUNDED): frozenset({"admin"}),
    (S.REFUND_REJECTED, S.SHIPPED): frozenset({"merchant"}),
    (S.REFUND_REJECTED, S.COMPLETED): frozenset({"buyer", "system"}),
    # The buyer withdraws a refund request ("withdrawal", only by aftersales.cancel_request, so
    # confirming receipt cannot end a request): back to where it was (see _allowed).
    (S.REFUND_REQUESTED, S.PAID): frozenset({"withdrawal"}),
    (S.REFUND_REQUESTED, S.SHIPPED): frozenset({"withdrawal"}),
    (S.REFUND_REQUESTED, S.COMPLETED): frozenset({"withdrawal"}),
    # Partial refunds (shop.money.refunds) gave back everything the order was paid.
    (S.PAID, S.REFUNDED): frozenset({"partial"}),
    (S.SHIPPED, S.REFUNDED): frozenset({"partial"}),
    (S.COMPLETED, S.REFUNDED): frozenset({"partial"}),
}
#: Where a refund request came from decides how a rejected refund goes on.
RESUME_FROM = {S.SHIPPED: S.PAID, S.COMPLETED: S.SHIPPED}

STATUS_LABELS = {
    S.PLACED: _l("awaiting payment"),
    S.PAID: _l("paid, awaiting shipment"),
    S.SHIPPED: _l("shipped"),
    S.COMPLETED: _l("completed"),
    S.CANCELLED: _l("cancelled"),
    S.REFUND_REQUESTED: _l("refund requested"),
    S.REFUNDED: _l("refunded"),
    S.REFUND_REJECTED: _l("refund rejected"),
}


def status_label(status) -> str:
    return str(STATUS_LABELS[OrderStatus(status)])


def _allowed(order: Order, to: OrderStatus, source: str) -> bool:
    sources = TRANSITIONS.get((order.status, to))
    if sources is None or source not in sources:
        return False
    if order.status == S.REFUND_REJECTED and to in RESUME_FROM:
        return order.refund_from == RESUME_FROM[to]
    if order.status == S.REFUND_REQUESTED and to in (S.PAID, S.SHIPPED, S.COMPLETED):
        return order.refund_from == to  # a withdrawn request: back where it came from
    return True


def can(order: Order, to: OrderStatus, source: str) -> bool:
    """Whether ``source`` may move ``order`` to ``to`` now (to show only the buttons that work)."""
    return _allowed(order, to, source)


def transition(
    order: Order,
    to: OrderStatus,
    *,
    source: str,
    actor: User | None,
    now: datetime,
    note: str = "",
    values: dict | None = None,
    whole: bool = True,
) -> Order:
    """Move ``order`` to ``to`` if the table allows it for ``source``; write the event and
    the ledger postings. Raises InvalidTransition, or Conflict when someone else moved it
    first (nothing written). ``whole=False``: the order becomes refunded because partial
    refunds gave everything back (shop.money.refunds), each having restocked and reversed
    its own part already."""
    current = order.status
    if not _allowed(order, to, source):
        raise InvalidTransition(
            _l(
                "An order that is %(status)s cannot become %(target)s.",
                status=status_label(current),
                target=status_label(to),
            )
        )
    values = dict(values or {})
    paying = to == S.PAID and current == S.PLACED  # not a withdrawn refund request
    if paying:
        values.setdefault("paid_at", now)  # the sales rollups count it on that day
    if not order_rows.guarded_update(order, current, to, values):
        db.session.refresh(order)
        raise Conflict(_l("This order was just changed by someone else. Please look again."))
    order_rows.add_event(
        order, current, to, actor_id=actor.id if actor else None, source=source, note=note,
        now=now,
    )  # fmt: skip
    # Product rows first, then the ledger and the rollups: the order placing an order takes
    # its locks in (stock, then rollups), so a payment and a checkout on the same product and
    # link never wait on each other in a circle (a deadlock on PostgreSQL).
    estimate = 0
    if paying:
        order_rows.load_items(order)
        order_rows.add_per_unit(order, Product.sales_count, +1)
        estimate = ledger.post_estimates(order, now=now)
        sales.order_paid(order, estimate)
    elif to == S.CANCELLED:
        _restock(order)
        coupons.give_back(order)  # unpaid: the coupon can be used again (a refund keeps it)
    elif to == S.REFUNDED and not whole:
        sales.order_refunded(order, 0)
    elif to == S.REFUNDED:
        # After partial refunds, only what they left: units, rebates, shares and money.
        gone = refund_queries.refunded_units(order)
        _restock(order, gone)
        if order.paid_at is not None:
            order_rows.add_per_unit(order, Product.sales_count, -1, gone)
        ledger.reverse_for_refund(order, now=now)
        sales.order_refunded(order, order.total_cents - refund_queries.partly_refunded_cents(order))
    notices.order_changed(order, current, now=now, estimate_cents=estimate)  # the outbox
    db.session.flush()
    return order


def _restock(order: Order, gone: dict[int, int] | None = None) -> None:
    """Each item's quantity back to its SKU (and product) on cancel or refund (less the
    units ``gone`` back already with partial refunds)."""
    for item in order.items:
        quantity = item.quantity - (gone or {}).get(item.id, 0)
        if quantity > 0:
            stockmoves.give_back(item.sku_id, item.product_id, quantity)


# --- actions by people -----------------------------------------------------------------------


def cancel_by_buyer(order: Order, *, actor: User, now: datetime) -> Order:
    _own(order, actor)
    return transition(
        order, S.CANCELLED, source="buyer", actor=actor, now=now, values={"closed_at": now}
    )


def confirm_receipt(order: Order, *, actor: User, now: datetime) -> Order:
    _own(order, actor)
    return transition(
        order, S.COMPLETED, source="buyer", actor=actor, now=now, values={"completed_at": now}
    )


#: Refund types: 仅退款 (the money only) and 退货退款 (the goods go back first).
REFUND_ONLY, RETURN = "refund_only", "return"


def request_refund(
    order: Order, reason: str, *, actor: User, now: datetime, kind: str = REFUND_ONLY
) -> Order:
    _own(order, actor)
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > 200:
        raise ValidationError(_l("Say why, in at most 200 characters."), "reason")
    if kind not in (REFUND_ONLY, RETURN):
        raise ValidationError(_l("Choose a refund type."), "kind")
    if kind == RETURN and order.status == S.PAID:
        raise ValidationError(_l("Nothing was shipped yet: ask for a refund only."), "kind")
    if refund_queries.has_open_refund(order):
        raise ValidationError(
            _l("A refund of some items is waiting for the merchant: withdraw it first.")
        )
    return transition(
        order,
        S.REFUND_REQUESTED,
        source="buyer",
        actor=actor,
        now=now,
        note=reason,
        values={
            "refund_reason": reason,
            "refund_from": str(order.status),
            "refund_kind": kind,
            "refund_requested_at": now,
            "refund_escalated_at": None,
            "return_carrier": "",
            "return_tracking": "",
        },
    )


def ship(order: Order, carrier: str, tracking: str, *, actor: User, now: datetime) -> Order:
    """The merchant hands the parcel to ``carrier`` (a code or name from
    :mod:`shop.orders.carriers`); the order stores the carrier's code."""
    found, tracking = carriers.checked(carrier, tracking)
    return transition(
        order,
        S.SHIPPED,
        source="merchant",
        actor=actor,
        now=now,
        note=f"{found.code} {tracking}",
        values={"carrier": found.code, "tracking_number": tracking, "shipped_at": now},
    )


def decide_refund(
    order: Order, approve: bool, *, actor: User, source: str, now: datetime, note: str = ""
) -> Order:
    """A merchant's (or an admin's) decision on a refund request."""
    if approve:
        transition(
            order, S.REFUNDED, source=source, actor=actor, now=now, note=note,
            values={"closed_at": now},
        )  # fmt: skip
        # Paid through a real gateway: the money goes back the way it came (sent by
        # `flask payments-sync`, retried until the gateway confirms; admins see it meanwhile).
        from shop.orders.gateways import flow

        flow.refund_order(
            order,
            reason=note or order.refund_reason or "",
            now=now,
            amount_cents=order.total_cents - refund_queries.partly_refunded_cents(order),
        )
        return order
    return transition(order, S.REFUND_REJECTED, source=source, actor=actor, now=now, note=note)


def refund_by_admin(order: Order, reason: str, *, actor: User, now: datetime) -> Order:
    """An administrator refunds an order whose refund is requested or was rejected by the
    merchant (overriding the merchant). The reason is required, and audited with the change."""
    if not actor.is_admin:
        raise PermissionDenied(_l("Only an administrator can override a refund decision."))
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > 200:
        raise ValidationError(_l("Say why, in at most 200 characters."), "reason")
    before = {"status": str(order.status)}
    decide_refund(order, True, actor=actor, source="admin", now=now, note=reason)
    audit.record(
        actor=actor,
        action="order.refund",
        object_type="order",
        object_id=order.id,
        before=before,
        after={"status": str(order.status)},
        reason=reason,
        now=now,
    )
    return order


def _own(order: Order, actor: User) -> None:
    if order.buyer_id != actor.id:
        raise PermissionDenied(_l("This is not your order."))


# --- timed sweeps ----------------------------------------------------------------------------


def cancel_unpaid(*, now: datetime) -> int:
    """Cancel orders whose payment deadline has passed (stock released). Returns how many."""
    done = 0
    due = db.session.execute(
        select(Order).where(Order.status == S.PLACED, Order.pay_deadline <= now)
    ).scalars()
    for order in list(due):
        try:
            transition(
                order, S.CANCELLED, source="system", actor=None, now=now,
                note="payment timeout", values={"closed_at": now},
            )  # fmt: skip
            done += 1
        except (Conflict, InvalidTransition):
            continue  # paid (or cancelled) meanwhile
    return done


def complete_shipped(*, now: datetime, after: timedelta) -> int:
    """Complete orders shipped at least ``after`` ago that the buyer did not confirm."""
    done = 0
    due = db.session.execute(
        select(Order).where(
            Order.status.in_([S.SHIPPED, S.REFUND_REJECTED]),
            Order.shipped_at.is_not(None),
            Order.shipped_at <= now - after,
        )
    ).scalars()
    for order in list(due):
        if order.status == S.REFUND_REJECTED and order.refund_from != S.SHIPPED:
            continue
        try:
            transition(
                order, S.COMPLETED, source="system", actor=None, now=now,
                note="automatic completion", values={"completed_at": now},
            )  # fmt: skip
            done += 1
        except (Conflict, InvalidTransition):
            continue
    return done
