"""Checkout: shipping addresses, quantities, checkout keys, the attribution lookup, and
placing orders.

:func:`place_order` makes the orders in their first state, ``placed``; every later change
goes through :func:`shop.orders.states.transition`.
"""

import secrets
from collections import defaultdict
from datetime import datetime, timedelta

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from shop.accounts.accounts import lock_account
from shop.accounts.models import User
from shop.catalog import catalog, skus, stockmoves
from shop.catalog.models import Product, Sku
from shop.money import sales
from shop.orders import coupons as coupon_rules
from shop.orders import shipping
from shop.orders.addresses import (  # noqa: F401  (the checkout's names for them)
    ShippingAddress,
    addresses_of,
    check_address,
    save_address,
)
from shop.orders.checkout_reads import (  # noqa: F401  (the checkout's names for them)
    attribution_clicks,
    existing_checkout,
    key_placed,
    line_parts,
    recent_repeat,
)
from shop.orders.models import Order, OrderStatus
from shop.orders.placing import discount_shares, insert_lines, insert_orders
from shop.platform import faults
from shop.platform.errors import Conflict, DomainError, NotFound, ValidationError
from shop.platform.extensions import db
from shop.sharing import attribution, shops
from shop.teams import teams


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


class PriceChanged(ValidationError):
    """A price changed since the buyer's page showed it. ``prices``: {sku id: price now}."""

    def __init__(self, title: str, old_cents: int, new_cents: int, prices: dict[int, int]):
        super().__init__(
            _l(
                "The price of “%(title)s” changed from ¥%(old)s to ¥%(new)s. "
                "Check it and submit again.",
                title=title,
                old=_yuan(old_cents),
                new=_yuan(new_cents),
            ),
            "price",
        )
        self.prices = prices


def _yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def new_checkout_key() -> str:
    return secrets.token_urlsafe(18)


def _order_number(now: datetime) -> str:
    return now.strftime("%y%m%d%H%M") + f"{secrets.randbelow(10**8):08d}"  # 8 random digits


class RepeatOrder(Conflict):
    """The buyer placed exactly these lines to this address moments ago (a checkout form
    fetched again, e.g. after going back from the payment). ``orders``: that checkout's."""

    def __init__(self, orders: list[Order]):
        super().__init__(_l("You just placed this order."))
        self.orders = orders


def place_order(
    buyer: User,
    lines: list[tuple],
    address: ShippingAddress,
    *,
    checkout_key: str,
    shown_prices: dict[int, int] | None = None,
    provider: str,
    visitor_id: str | None,
    now: datetime,
    window: timedelta,
    allow_self_purchase: bool,
    pay_within: timedelta,
    team_override_bps: int = 0,
    repeat_window: timedelta | None = None,
    note: str = "",
    coupons: dict[int, int] | None = None,
) -> list[Order]:
    """Place one order per merchant for ``lines`` of (product id, quantity[, SKU id]); a line
    without a SKU buys the product's only SKU (ValidationError when it has several).

    Prices and rebate rates come from the database (the SKU's), never from the form; with
    ``shown_prices`` ({SKU id: fen} as the buyer's page showed them) a SKU whose price is no
    longer the one shown raises PriceChanged. Stock is reserved with one guarded UPDATE per
    line on the SKU (``stock >= :q``), so it never goes below zero. The
    caller commits: orders, items and stock changes are one transaction. A replayed
    ``checkout_key`` returns the orders the first call made (the same key placed at the same
    moment by another request too: PostgreSQL's INSERT waits for it). Raises ValidationError
    (a product unavailable or out of stock) or Conflict (an order number drawn twice).

    With ``repeat_window``, a new key for what the buyer placed within that window (same
    lines, same address, not cancelled: :func:`recent_repeat`) raises RepeatOrder instead of
    placing it twice; the buyer's row is locked first (PostgreSQL; SQLite's write lock does
    the same), so forms submitted at once are checked one after the other. ``None`` places
    it anyway (the buyer asked to order again).

    Each order's shipping fee comes from its products' templates to the address's province
    (:func:`shop.orders.shipping.order_fee`; raises shipping.Unreachable, a ValidationError,
    when a merchant does not deliver there); ``total_cents = goods_cents + shipping_cents``.
    ``note`` is the buyer's note to the merchant, kept on every order of the checkout.

    ``coupons`` ({merchant id: the buyer's coupon claim id}) takes each claim's discount off
    that merchant's order (:mod:`shop.orders.coupons`): ``total_cents = goods_cents -
    discount_cents + shipping_cents``; the discount is spread over the coupon's items and
    each item's rebate is on its amount after its share. The claim is used by one guarded
    UPDATE in the same transaction (ValidationError when it is gone, expired, below its
    threshold or for another product).
    """
    if repeat_window is not None and db.session.get_bind().dialect.name == "postgresql":
        # SQLite: the transaction's write lock (BEGIN IMMEDIATE) orders them already, and
        # a SELECT there locks nothing: one statement fewer.
        lock_account(buyer.id)
    # A replayed form (its checkout key placed already) is answered with that checkout's
    # orders: by the orders' INSERT, which writes nothing for a key placed already (no query
    # of its own before it), or, when the form no longer checks out (sold out, a price or
    # coupon changed, a repeat), by a look at the key before refusing it.
    try:
        if not lines:
            raise ValidationError(_l("Choose something to buy."), "quantity")
        if repeat_window is not None:
            repeated = recent_repeat(buyer, lines, address, since=now - repeat_window)
            if repeated:
                raise RepeatOrder(repeated)
        products = catalog.products_by_id([line[0] for line in lines])
        by_merchant: dict[int, list[tuple[Product, Sku, int]]] = defaultdict(list)
        for product_id, quantity, sku_id in (line_parts(line) for line in lines):
            product = products.get(product_id)
            if product is None:
                raise NotFound(_l("This product does not exist."))
            sku = skus.sku_of(product, sku_id)
            if sku is None:
                raise ValidationError(
                    _l("Choose a spec of “%(title)s”.", title=product.title), "sku"
                )
            reason = shops.unavailable_reason(product)
            if reason in (None, "sold_out") and sku.stock < quantity:
                raise _short(product, sku)
            if reason is not None:
                raise ValidationError(_l("“%(title)s” is no longer on sale.", title=product.title))
            shown = (shown_prices or {}).get(sku.id)
            if shown is not None and shown != sku.price_cents:
                raise PriceChanged(
                    _line_label(product, sku),
                    shown,
                    sku.price_cents,
                    {s.id: s.price_cents for p in products.values() for s in p.active_skus},
                )
            by_merchant[product.merchant_id].append((product, sku, quantity))

        facts = attribution_clicks(visitor_id, before=now, window=window)
        decision = attribution.decide(
            facts,
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
        province = shipping.province_of(address.region_code)
        fees = {
            merchant_id: shipping.order_fee(
                items[0][0].merchant, [(product, q) for product, _sku, q in items], province
            )
            for merchant_id, items in by_merchant.items()
        }
        note = " ".join((note or "").split())[:200]
        link_id = lag_seconds = None
        if decision.click_id is not None:
            click = next(f for f in facts if f.click_id == decision.click_id)
            link_id = click.link_id
            lag_seconds = max(0, int((now - click.clicked_at).total_seconds()))
        picked = {}
        for merchant_id, claim_id in (coupons or {}).items():
            if merchant_id in by_merchant and claim_id:
                goods = defaultdict(int)
                for product, sku, q in by_merchant[merchant_id]:
                    goods[product.id] += sku.price_cents * q
                picked[merchant_id] = coupon_rules.checked_claim(
                    claim_id, buyer=buyer, merchant_id=merchant_id, goods=goods, now=now
                )
    except DomainError:
        if key_placed(buyer.id, checkout_key):
            return existing_checkout(buyer, checkout_key)
        raise
    rows, parts = [], sorted(by_merchant.items())
    for merchant_id, items in parts:
        claim, discount = picked.get(merchant_id, (None, 0))
        goods = sum(sku.price_cents * q for _p, sku, q in items)
        rows.append(
            {
                "number": _order_number(now),
                "buyer_id": buyer.id,
                "merchant_id": merchant_id,
                "checkout_key": checkout_key,
                "status": OrderStatus.PLACED,
                "goods_cents": goods,
                "shipping_cents": fees[merchant_id],
                "coupon_id": claim.coupon_id if claim else None,
                "discount_cents": discount,
                "total_cents": goods - discount + fees[merchant_id],
                "buyer_note": note,
                "ship_region_code": address.region_code,
                "ship_name": address.name,
                "ship_phone": address.phone,
                "ship_region": address.region,
                "ship_detail": address.detail,
                "payment_provider": provider,
                "attribution_reason": str(decision.reason),
                "click_id": decision.click_id,
                "link_id": link_id,
                "click_lag_seconds": lag_seconds,
                "sharer_id": decision.sharer_id,
                "leader_id": leader_id,
                "override_bps": override_bps,
                "attribution_others": {str(k): str(v) for k, v in decision.others.items()},
                "placed_at": now,
                "pay_deadline": now + pay_within,
            }
        )
    try:
        with db.session.begin_nested():
            orders = insert_orders(rows)
            if orders is None:  # the key placed already (nothing written): its orders below
                return existing_checkout(buyer, checkout_key)
            try:
                items_of = []
                for merchant_id, items in parts:
                    claim, discount = picked.get(merchant_id, (None, 0))
                    lines = []
                    for (product, sku, quantity), share in zip(
                        items, discount_shares(claim, discount, items), strict=True
                    ):
                        if not stockmoves.take_stock(sku.id, product.id, quantity):
                            db.session.refresh(sku)
                            raise _short(product, sku)
                        rate = skus.rebate_bps_of(product, sku)
                        lines.append(
                            {
                                "product_id": product.id,
                                "sku_id": sku.id,
                                "spec_text": skus.spec_text(product, sku)[:80],
                                "title": product.title,
                                "unit_price_cents": sku.price_cents,
                                "quantity": quantity,
                                "rebate_bps": rate,
                                "rebate_cents": catalog.rebate_cents(
                                    sku.price_cents * quantity - share, rate
                                ),
                                "discount_cents": share,
                            }
                        )
                    items_of.append(lines)
                insert_lines(orders, items_of, actor_id=buyer.id, now=now)
                for order in orders:
                    if order.merchant_id in picked:
                        coupon_rules.use_claim(picked[order.merchant_id][0], order, now=now)
                    sales.order_placed(order)
                faults.hit("place_order.after_stock")  # stock taken, rows written, uncommitted
            except BaseException:
                # The savepoint takes the rows back; the objects made from them go too (the
                # session did not make them, so its rollback would leave them behind).
                for order in orders:
                    if order in db.session:
                        db.session.expunge(order)
                raise
    except IntegrityError:
        # A unique key the orders' INSERT does not skip (their numbers): its savepoint taken
        # back, the checkout is refused unless its key was placed meanwhile.
        again = existing_checkout(buyer, checkout_key)
        if again:
            return again
        raise Conflict(
            _l("This order is being placed already. Please look at your orders.")
        ) from None
    # The guarded UPDATEs moved the stock behind the ORM's back: whoever reads it next (a
    # page rendered in this request) loads it afresh; a redirect reads nothing.
    for product in products.values():
        db.session.expire(product, ["stock", "updated_at"])
        for sku in product.skus:
            db.session.expire(sku, ["stock"])
    return orders


def _short(product: Product, sku: Sku) -> ValidationError:
    """The refusal of a line asking for more than the SKU's stock (checked before writing,
    and by the guarded UPDATE that takes it)."""
    return ValidationError(
        _l(
            "Only %(n)d left of “%(title)s”.",
            n=max(sku.stock, 0),
            title=_line_label(product, sku),
        ),
        "quantity",
    )


def _line_label(product: Product, sku: Sku) -> str:
    """ "Title (颜色：红；尺码：M)", or the title alone without specs."""
    text = skus.spec_text(product, sku)
    return f"{product.title}（{text}）" if text else product.title
