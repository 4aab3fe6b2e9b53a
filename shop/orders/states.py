"""Checkout and the life of an order.

Every state change goes through :func:`transition`: one guarded
``UPDATE orders SET status=:to ... WHERE id=:id AND status=:from``, then an order event, then
the ledger postings of that change, all in the caller's transaction. If the row changed under
us, nothing is written and Conflict is raised. The table below is the whole state machine.
"""

import re
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shop.accounts.accounts import PHONE_RE
from shop.accounts.models import User
from shop.catalog import catalog
from shop.catalog.models import Product
from shop.money import ledger, sales
from shop.orders.models import Address, Order, OrderEvent, OrderItem, OrderStatus
from shop.platform import audit, faults
from shop.platform.errors import (
    Conflict,
    InvalidTransition,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from shop.platform.extensions import db
from shop.sharing import attribution, shops
from shop.sharing.models import Click, ShareLink
from shop.teams import teams

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
) -> Order:
    """Move ``order`` to ``to`` if the table allows it for ``source``; write the event and
    the ledger postings. Raises InvalidTransition, or Conflict when someone else moved it
    first (nothing written)."""
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
    if to == S.PAID:
        values.setdefault("paid_at", now)  # the sales rollups count it on that day
    result = db.session.execute(
        update(Order)
        .where(Order.id == order.id, Order.status == current, Order.version == order.version)
        .values(status=to, version=Order.version + 1, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(order)
        raise Conflict(_l("This order was just changed by someone else. Please look again."))
    db.session.refresh(order)
    db.session.add(
        OrderEvent(
            order_id=order.id,
            from_status=str(current),
            to_status=str(to),
            actor_id=actor.id if actor else None,
            source=source,
            note=note[:200],
            created_at=now,
        )
    )
    # Product rows first, then the ledger and the rollups: the order placing an order takes
    # its locks in (stock, then rollups), so a payment and a checkout on the same product and
    # link never wait on each other in a circle (a deadlock on PostgreSQL).
    if to == S.PAID:
        _add_per_unit(order, Product.sales_count, +1)
        sales.order_paid(order, ledger.post_estimates(order, now=now))
    elif to == S.CANCELLED:
        _add_per_unit(order, Product.stock, +1)
    elif to == S.REFUNDED:
        _add_per_unit(order, Product.stock, +1)
        if order.paid_at is not None:
            _add_per_unit(order, Product.sales_count, -1)
        ledger.reverse_for_refund(order, now=now)
        sales.order_refunded(order)
    db.session.flush()
    return order


def _add_per_unit(order: Order, column, sign: int) -> None:
    """Add ``sign`` x each item's quantity to ``column`` of its product (stock released on
    cancel or refund, sales counted on payment and taken back on refund)."""
    for item in order.items:
        db.session.execute(
            update(Product)
            .where(Product.id == item.product_id)
            .values({column: column + sign * item.quantity})
            .execution_options(synchronize_session=False)
        )


# --- checkout ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShippingAddress:
    name: str
    phone: str
    region: str
    detail: str


def check_address(name: str, phone: str, region: str, detail: str) -> ShippingAddress:
    """Cleaned address fields; ValidationError naming the first bad field."""
    name = " ".join((name or "").split())
    phone = re.sub(r"[\s\-]", "", phone or "")
    if phone.startswith("+86"):
        phone = phone[3:]
    region = " ".join((region or "").split())
    detail = " ".join((detail or "").split())
    if not name or len(name) > 40:
        raise ValidationError(_l("Enter the recipient's name (at most 40 characters)."), "name")
    if not PHONE_RE.match(phone):
        raise ValidationError(
            _l("Enter an 11-digit mainland mobile number, e.g. 13800138000."), "phone"
        )
    if not region or len(region) > 60:
        raise ValidationError(
            _l("Enter the province, city and district (at most 60 characters)."), "region"
        )
    if len(detail) < 4 or len(detail) > 200:
        raise ValidationError(
            _l("Enter the street and house number (4 to 200 characters)."), "detail"
        )
    return ShippingAddress(name, phone, region, detail)


def save_address(user: User, address: ShippingAddress, *, now: datetime) -> Address:
    """Keep the address for next time, unless the same one is saved already."""
    existing = db.session.execute(
        select(Address).where(
            Address.user_id == user.id,
            Address.name == address.name,
            Address.phone == address.phone,
            Address.region == address.region,
            Address.detail == address.detail,
        )
    ).scalar_one_or_none()
    if existing is not None:
        return existing
    saved = Address(user_id=user.id, created_at=now, **address.__dict__)
    db.session.add(saved)
    db.session.flush()
    return saved


def addresses_of(user: User) -> list[Address]:
    return list(
        db.session.execute(
            select(Address).where(Address.user_id == user.id).order_by(Address.id.desc())
        ).scalars()
    )


def parse_quantity(raw: str | int | None, *, maximum: int) -> int:
    try:
        quantity = int(str(raw).strip())
    except (TypeError, ValueError):
        raise ValidationError(_l("Enter a whole number of items."), "quantity") from None
    if quantity < 1:
        raise ValidationError(_l("Buy at least 1."), "quantity")
    if quantity > maximum:
        raise ValidationError(_l("At most %(n)d per order.", n=maximum), "quantity")
    return quantity


def new_checkout_key() -> str:
    return secrets.token_urlsafe(18)


def _order_number(now: datetime) -> str:
    return now.strftime("%y%m%d%H%M") + "".join(secrets.choice("0123456789") for _ in range(8))


def attribution_clicks(visitor_id: str | None, *, before: datetime, window: timedelta):
    """The visitor's clicks that could matter for an order at ``before`` (twice the window
    back, so an order can say "outside window"), as attribution facts."""
    if not visitor_id:
        return []
    rows = db.session.execute(
        select(Click.id, ShareLink.sharer_id, Click.clicked_at, Click.uncounted_reason)
        .join(ShareLink, ShareLink.id == Click.link_id)
        .where(
            Click.visitor_id == visitor_id,
            Click.clicked_at <= before,
            Click.clicked_at >= before - 2 * window,
        )
    )
    return [
        attribution.ClickFact(click_id=r[0], sharer_id=r[1], clicked_at=r[2], counted=r[3] is None)
        for r in rows
    ]


def existing_checkout(buyer: User, checkout_key: str) -> list[Order]:
    return list(
        db.session.execute(
            select(Order)
            .where(Order.buyer_id == buyer.id, Order.checkout_key == checkout_key)
            .order_by(Order.id)
        ).scalars()
    )


def place_order(
    buyer: User,
    lines: list[tuple[int, int]],
    address: ShippingAddress,
    *,
    checkout_key: str,
    provider: str,
    visitor_id: str | None,
    now: datetime,
    window: timedelta,
    allow_self_purchase: bool,
    pay_within: timedelta,
    team_override_bps: int = 0,
) -> list[Order]:
    """Place one order per merchant for ``lines`` of (product id, quantity).

    Prices and rebate rates come from the database, never from the form. Stock is reserved
    with one guarded UPDATE per line (``stock >= :q``), so it never goes below zero. The
    caller commits: orders, items and stock changes are one transaction. A replayed
    ``checkout_key`` returns the orders the first call made. Raises ValidationError (a
    product unavailable or out of stock) or Conflict (the same key being placed right now).
    """
    again = existing_checkout(buyer, checkout_key)
    if again:
        return again
    if not lines:
        raise ValidationError(_l("Choose something to buy."), "quantity")
    products = {
        p.id: p
        for p in db.session.execute(
            select(Product).where(Product.id.in_([pid for pid, _ in lines]))
        ).scalars()
    }
    by_merchant: dict[int, list[tuple[Product, int]]] = defaultdict(list)
    for product_id, quantity in lines:
        product = products.get(product_id)
        if product is None:
            raise NotFound(_l("This product does not exist."))
        reason = shops.unavailable_reason(product)
        if reason == "sold_out" or (reason is None and product.stock < quantity):
            raise ValidationError(
                _l("Only %(n)d left of “%(title)s”.", n=max(product.stock, 0), title=product.title),
                "quantity",
            )
        if reason is not None:
            raise ValidationError(_l("“%(title)s” is no longer on sale.", title=product.title))
        by_merchant[product.merchant_id].append((product, quantity))

    decision = attribution.decide(
        attribution_clicks(visitor_id, before=now, window=window),
        order_at=now,
        buyer_id=buyer.id,
        window=window,
        allow_self_purchase=allow_self_purchase,
    )
    # The sharer's team leader and the override rate, fixed now for the order's whole life.
    leader_id, override_bps = (
        teams.override_for(decision.sharer_id, buyer.id, team_override_bps)
        if decision.earns
        else (None, 0)
    )
    link_id = lag_seconds = None
    if decision.click_id is not None:
        click = db.session.get(Click, decision.click_id)
        link_id = click.link_id
        lag_seconds = max(0, int((now - click.clicked_at).total_seconds()))
    orders = []
    try:
        with db.session.begin_nested():
            for merchant_id, items in sorted(by_merchant.items()):
                order = Order(
                    number=_order_number(now),
                    buyer_id=buyer.id,
                    merchant_id=merchant_id,
                    checkout_key=checkout_key,
                    status=OrderStatus.PLACED,
                    total_cents=sum(p.price_cents * q for p, q in items),
                    ship_name=address.name,
                    ship_phone=address.phone,
                    ship_region=address.region,
                    ship_detail=address.detail,
                    payment_provider=provider,
                    attribution_reason=str(decision.reason),
                    click_id=decision.click_id,
                    link_id=link_id,
                    click_lag_seconds=lag_seconds,
                    sharer_id=decision.sharer_id,
                    leader_id=leader_id,
                    override_bps=override_bps,
                    attribution_others={str(k): str(v) for k, v in decision.others.items()},
                    placed_at=now,
                    pay_deadline=now + pay_within,
                )
                for product, quantity in items:
                    reserved = db.session.execute(
                        update(Product)
                        .where(Product.id == product.id, Product.stock >= quantity)
                        .values(stock=Product.stock - quantity)
                        .execution_options(synchronize_session=False)
                    )
                    if reserved.rowcount != 1:
                        db.session.refresh(product)
                        raise ValidationError(
                            _l(
                                "Only %(n)d left of “%(title)s”.",
                                n=max(product.stock, 0),
                                title=product.title,
                            ),
                            "quantity",
                        )
                    order.items.append(
                        OrderItem(
                            product_id=product.id,
                            title=product.title,
                            unit_price_cents=product.price_cents,
                            quantity=quantity,
                            rebate_bps=product.rebate_bps,
                            rebate_cents=catalog.rebate_cents(
                                product.price_cents, product.rebate_bps, quantity
                            ),
                        )
                    )
                order.events.append(
                    OrderEvent(
                        from_status=None,
                        to_status=str(OrderStatus.PLACED),
                        actor_id=buyer.id,
                        source="buyer",
                        created_at=now,
                    )
                )
                db.session.add(order)
                orders.append(order)
            db.session.flush()
            for order in orders:
                sales.order_placed(order)
            faults.hit("place_order.after_stock")  # stock taken, rows written, not committed
    except IntegrityError:
        # The same checkout placed at the same moment by another request, now committed
        # (PostgreSQL waits on the unique key until then): answer with its orders.
        again = existing_checkout(buyer, checkout_key)
        if again:
            return again
        raise Conflict(
            _l("This order is being placed already. Please look at your orders.")
        ) from None
    for product in products.values():
        db.session.refresh(product)
    return orders


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


def request_refund(order: Order, reason: str, *, actor: User, now: datetime) -> Order:
    _own(order, actor)
    reason = " ".join((reason or "").split())
    if not reason or len(reason) > 200:
        raise ValidationError(_l("Say why, in at most 200 characters."), "reason")
    return transition(
        order,
        S.REFUND_REQUESTED,
        source="buyer",
        actor=actor,
        now=now,
        note=reason,
        values={"refund_reason": reason, "refund_from": str(order.status)},
    )


def ship(order: Order, carrier: str, tracking: str, *, actor: User, now: datetime) -> Order:
    carrier = " ".join((carrier or "").split())
    tracking = (tracking or "").strip()
    if not carrier or len(carrier) > 40:
        raise ValidationError(_l("Name the carrier (at most 40 characters)."), "carrier")
    if not re.fullmatch(r"[A-Za-z0-9-]{6,40}", tracking):
        raise ValidationError(
            _l("Enter the tracking number: 6 to 40 letters, digits or hyphens."), "tracking"
        )
    return transition(
        order,
        S.SHIPPED,
        source="merchant",
        actor=actor,
        now=now,
        note=f"{carrier} {tracking}",
        values={"carrier": carrier, "tracking_number": tracking, "shipped_at": now},
    )


def decide_refund(
    order: Order, approve: bool, *, actor: User, source: str, now: datetime, note: str = ""
) -> Order:
    """A merchant's (or an admin's) decision on a refund request."""
    if approve:
        return transition(
            order, S.REFUNDED, source=source, actor=actor, now=now, note=note,
            values={"closed_at": now},
        )  # fmt: skip
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
