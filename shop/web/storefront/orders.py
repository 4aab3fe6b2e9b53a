"""The buyer's orders: 我的订单 with its tabs and counts, an order's page, the paid page, the
buyer's actions (cancel, confirm receipt, ask for a refund) and 再次购买 (buy again)."""

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import selectinload

from shop.catalog import skus
from shop.catalog.models import Product
from shop.money import refund_views
from shop.orders import aftersales, carriers, states, tracking
from shop.orders.models import Order, OrderItem, OrderStatus
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.reviews import writing
from shop.reviews.models import Review, ReviewKind
from shop.reviews.rules import Rules
from shop.sharing import shops
from shop.web.common import confirm_first, now
from shop.web.forms import FlaskForm
from shop.web.storefront import bp
from shop.web.storefront.cart import MAX_LINES, _save, cart_lines, line_key
from shop.web.storefront.checkout import _own_order

PER_PAGE = 20
S = OrderStatus

#: The tabs of 我的订单, in the order shown: key, label.
TABS = (
    ("all", _l("All")),
    ("unpaid", _l("To pay")),
    ("unshipped", _l("To ship")),
    ("shipped", _l("To receive")),
    ("review", _l("To review")),
    ("aftersale", _l("After-sales")),
)
AFTER_SALE = (S.REFUND_REQUESTED, S.REFUNDED, S.REFUND_REJECTED)
#: The old ?status= links (e.g. after a checkout of several shops) and the tab they mean.
STATUS_TABS = {"placed": "unpaid", "paid": "unshipped", "shipped": "shipped"}


def _unreviewed():
    """A completed order none of whose items has a review yet."""
    return and_(
        Order.status == S.COMPLETED,
        ~exists().where(Review.order_id == Order.id, Review.kind == ReviewKind.INITIAL),
    )


def _tab_filter(tab: str):
    return {
        "unpaid": Order.status == S.PLACED,
        "unshipped": Order.status == S.PAID,
        "shipped": or_(
            Order.status == S.SHIPPED,
            and_(Order.status == S.REFUND_REJECTED, Order.refund_from == "shipped"),
        ),
        "review": _unreviewed(),
        "aftersale": Order.status.in_(AFTER_SALE),
    }.get(tab)


def tab_counts(buyer_id: int) -> dict[str, int]:
    """The number of orders under every tab, in one query."""
    columns = [func.count().label("all")]
    for key, _label in TABS[1:]:
        columns.append(func.coalesce(func.sum(case((_tab_filter(key), 1), else_=0)), 0).label(key))
    row = db.session.execute(select(*columns).where(Order.buyer_id == buyer_id)).one()
    return {key: int(value or 0) for key, value in row._mapping.items()}


@bp.route("/orders")
@login_required
def my_orders():
    tab = request.args.get("tab") or STATUS_TABS.get(request.args.get("status", ""), "all")
    if tab not in dict(TABS):
        tab = "all"
    counts = tab_counts(current_user.id)
    query = select(Order).where(Order.buyer_id == current_user.id)
    condition = _tab_filter(tab)
    if condition is not None:
        query = query.where(condition)
    pages = max(1, -(-counts[tab] // PER_PAGE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    found = db.session.execute(
        query.options(
            selectinload(Order.items).selectinload(OrderItem.product).selectinload(Product.images),
            selectinload(Order.merchant),
        )
        .order_by(Order.id.desc())
        .limit(PER_PAGE)
        .offset((page - 1) * PER_PAGE)
    ).scalars()
    orders = list(found)
    reviewed = _reviewed_ids([o.id for o in orders if o.status == S.COMPLETED])
    return render_template(
        "storefront/orders.html",
        orders=orders,
        tabs=TABS,
        tab=tab,
        counts=counts,
        page=page,
        pages=pages,
        reviewed=reviewed,
        form=FlaskForm(),
    )


def _reviewed_ids(order_ids: list[int]) -> set[int]:
    if not order_ids:
        return set()
    rows = db.session.execute(
        select(Review.order_id).where(
            Review.order_id.in_(order_ids), Review.kind == ReviewKind.INITIAL
        )
    ).scalars()
    return set(rows)


#: A partial refund request's states, as the buyer's order page names them.
PART_LABELS = {
    "requested": _l("Waiting for the merchant"),
    "refunded": _l("Refunded"),
    "rejected": _l("Rejected by the merchant"),
    "withdrawn": _l("Withdrawn"),
}

#: Kuaidi100's parcel states, as the order page names them.
TRACKING_STATES = {
    "in_transit": _l("In transit"),
    "collected": _l("Collected by the carrier"),
    "problem": _l("Delivery problem"),
    "delivered": _l("Delivered"),
    "returned": _l("Returned to the sender"),
    "delivering": _l("Out for delivery"),
    "returning": _l("On its way back to the sender"),
    "transferred": _l("Handed to another carrier"),
    "refused": _l("Refused by the receiver"),
}


@bp.route("/orders/<int:order_id>")
@login_required
def order_detail(order_id: int):
    order = _own_order(order_id)
    written = writing.reviews_of_order(order)
    rules, at = Rules.current(), now()
    review_states = {
        item.id: writing.item_state(item, written.get(item.id), now=at, rules=rules)
        for item in order.items
    }
    return render_template(
        "storefront/order.html",
        order=order,
        form=FlaskForm(),
        review_states=review_states,
        carrier_name=carriers.label(order.carrier),
        tracking_url=carriers.tracking_url(order.carrier, order.tracking_number),
        tracking=tracking.latest(order, current_app.config) if order.tracking_number else None,
        tracking_states=TRACKING_STATES,
        carriers=carriers.CARRIERS,
        return_carrier_name=carriers.label(order.return_carrier),
        part_refunds=refund_views.requests_of(order),
        part_lines={line.item.id: line for line in refund_views.lines(order)},
        refunded_cents=refund_views.refunded_cents(order),
        part_labels=PART_LABELS,
        carrier_label=carriers.label,
    )


@bp.route("/orders/<int:order_id>/paid")
@login_required
def order_paid(order_id: int):
    """After paying: 支付成功, the amount, and where to go next. 继续逛 leads back to the
    sharer's shop when the order came through a share link."""
    order = _own_order(order_id)
    if order.paid_at is None:  # not paid (yet, or cancelled unpaid): the order's own page
        return redirect(url_for("storefront.order_detail", order_id=order.id))
    shop_url = None
    if order.link is not None and order.link.shop is not None:
        shop_url = url_for("storefront.shop_page", slug=order.link.shop.slug)
    return render_template(
        "storefront/paid.html",
        order=order,
        continue_url=shop_url or url_for("storefront.home"),
    )


@bp.route("/orders/<int:order_id>/buy-again", methods=["POST"])
@login_required
def order_buy_again(order_id: int):
    """再次购买: the order's items back in the cart, at today's prices; what changed is said."""
    order = _own_order(order_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    lines = cart_lines()
    maximum = current_app.config["MAX_ORDER_QUANTITY"]
    added = 0
    for item in order.items:
        product = db.session.get(Product, item.product_id)
        reason = shops.unavailable_reason(product) if product is not None else "gone"
        # The same spec as bought (its SKU), when the product still sells it.
        sku = skus.sku_of(product, item.sku_id) if reason is None else None
        if reason is not None or sku is None or sku.stock < 1:
            flash(_("“%(title)s” is no longer on sale.", title=item.title), "error")
            continue
        key = line_key(product.id, sku.id)
        if key not in lines and len(lines) >= MAX_LINES:
            flash(_("Your cart is full. Check out first."), "error")
            break
        lines[key] = min(lines.get(key, 0) + item.quantity, maximum, sku.stock)
        added += 1
        if sku.price_cents != item.unit_price_cents:
            flash(
                _(
                    "“%(title)s” now costs ¥%(now)s (you paid ¥%(then)s).",
                    title=product.title,
                    now=f"{sku.price_cents // 100}.{sku.price_cents % 100:02d}",
                    then=f"{item.unit_price_cents // 100}.{item.unit_price_cents % 100:02d}",
                ),
                "info",
            )
    _save(lines)
    if added:
        flash(_("Added to your cart at today's prices."), "success")
    return redirect(url_for("storefront.cart"), code=303)


@bp.route("/orders/<int:order_id>/<string:action>", methods=["POST"])
@login_required
def order_action(order_id: int, action: str):
    order = _own_order(order_id)
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    if action == "confirm":
        page = confirm_first(
            _("Did you receive everything in this order?"),
            _("Yes, I received it"),
            url_for("storefront.order_detail", order_id=order.id),
            _("The order then completes; a refund needs the merchant's agreement."),
        )
        if page is not None:
            return page
    try:
        if action == "cancel":
            states.cancel_by_buyer(order, actor=current_user, now=now())
            message = _("Order cancelled.")
        elif action == "confirm":
            states.confirm_receipt(order, actor=current_user, now=now())
            message = _("Thank you! The order is complete.")
        elif action == "refund":
            kind = request.form.get("kind") or states.REFUND_ONLY
            states.request_refund(
                order, request.form.get("reason", ""), actor=current_user, now=now(), kind=kind
            )
            message = (
                _("Return requested. Send the goods to the address shown and enter the number.")
                if kind == states.RETURN
                else _("Refund requested. The merchant will decide.")
            )
        elif action == "withdraw":
            aftersales.cancel_request(order, actor=current_user, now=now())
            message = _("Refund request withdrawn.")
        elif action == "return":
            aftersales.enter_return_tracking(
                order,
                request.form.get("carrier", ""),
                request.form.get("tracking", ""),
                actor=current_user,
                now=now(),
            )
            message = _("Return tracking number saved. The merchant sees it.")
        else:
            abort(404)
        db.session.commit()
        flash(message, "success")
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    back = request.form.get("back") == "list"
    if back:
        return redirect(url_for("storefront.my_orders"))
    return redirect(url_for("storefront.order_detail", order_id=order.id))
