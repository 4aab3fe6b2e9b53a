"""The merchant's orders: by status; confirm a manual transfer, ship, decide refunds; what each
order costs in rebates."""

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from shop.catalog import catalog
from shop.money import earnings, refund_queries
from shop.orders import carriers, merchant_orders, payments, states
from shop.orders.models import Order, OrderStatus
from shop.platform.errors import DomainError
from shop.platform.extensions import db
from shop.web.common import now, show_domain_error
from shop.web.merchant import bp, order_filters
from shop.web.merchant.forms import EmptyForm, RefundDecisionForm, ShipForm

PER_PAGE = 20


def load_own_order(order_id: int) -> Order:
    """The signed-in merchant's order, or 404 (another merchant's id looks like none)."""
    order = db.session.get(Order, order_id)
    if order is None or order.merchant_id != g.merchant.id:
        abort(404)
    return order


@bp.context_processor
def _navigation_counts():
    """``to_ship_count()`` for the console's navigation: one count query, made only when a
    page drawing the navigation asks (never for redirects, files or posts)."""

    def to_ship_count() -> int:
        merchant = getattr(g, "merchant", None)
        return merchant_orders.to_ship_count(merchant.id) if merchant is not None else 0

    return {"to_ship_count": to_ship_count}


@bp.route("/orders")
def order_list():
    """订单管理: the status tabs with counts, the filters, a page of orders with the next
    action of each (发货, 处理售后)."""
    form, where, tab = order_filters.parse(request.args, g.merchant.id)
    open_parts = refund_queries.open_refunds()
    counts = merchant_orders.tab_counts(g.merchant.id, where, open_parts)
    pages = catalog.page_count(counts[tab], PER_PAGE)
    page = min(catalog.parse_page(request.args.get("page")), pages)
    found = merchant_orders.page_of(
        g.merchant.id, where, tab, page=page, per_page=PER_PAGE, open_parts=open_parts
    )
    waiting = refund_queries.waiting_amounts([o.id for o in found])
    return render_template(
        "merchant/orders.html",
        rows=[(o, earnings.merchant_cost(o)) for o in found],
        waiting=waiting,
        tabs=order_filters.TABS,
        tab=tab,
        counts=counts,
        form=form,
        filtered=bool(where.query or where.start or where.end or where.product_id),
        kept=order_filters.kept_params(form),
        tab_params=lambda key: order_filters.kept_params(form, tab=key),
        carrier_label=carriers.label,
        page=page,
        pages=pages,
    ), 422 if order_filters.has_errors(form) else 200


def _detail(order: Order, ship_form=None, refund_form=None, status: int = 200):
    return render_template(
        "merchant/order.html",
        order=order,
        cost=earnings.merchant_cost(order),
        events=sorted(order.events, key=lambda e: (e.created_at, e.id)),
        ship_form=ship_form or ShipForm(),
        refund_form=refund_form or RefundDecisionForm(),
        action_form=EmptyForm(),
        can_ship=states.can(order, OrderStatus.SHIPPED, "merchant"),
        carrier_name=carriers.label(order.carrier),
        return_carrier_name=carriers.label(order.return_carrier),
        current_merchant_return_address=g.merchant.return_address,
    ), status


@bp.route("/orders/<int:order_id>")
def order_detail(order_id: int):
    return _detail(load_own_order(order_id))


def _done(order: Order, message: str):
    flash(message, "success")
    return redirect(url_for("merchant.order_detail", order_id=order.id), code=303)


@bp.route("/orders/<int:order_id>/paid", methods=["POST"])
def order_mark_paid(order_id: int):
    order = load_own_order(order_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        payments.confirm_manual(order, actor=current_user, now=now())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
        return _detail(order, status=409)
    return _done(order, _("Payment confirmed. Ship the order next."))


@bp.route("/orders/<int:order_id>/ship", methods=["POST"])
def order_ship(order_id: int):
    order = load_own_order(order_id)
    form = ShipForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        states.ship(order, form.carrier.data, form.tracking.data, actor=current_user, now=now())
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return _detail(order, ship_form=form, status=422)
    return _done(order, _("Marked as shipped. The buyer can follow the parcel."))


@bp.route("/orders/<int:order_id>/refund", methods=["POST"])
def order_refund(order_id: int):
    order = load_own_order(order_id)
    form = RefundDecisionForm()
    if not form.validate_on_submit():
        abort(400)
    approve = form.decision.data == "approve"
    try:
        if form.decision.data not in ("approve", "reject"):
            raise DomainError(_("Choose to refund or to reject."), "decision")
        note = " ".join((form.note.data or "").split())
        if not approve and not note:
            raise DomainError(_("Tell the buyer why the refund is rejected."), "note")
        states.decide_refund(
            order, approve, actor=current_user, source="merchant", now=now(), note=note
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        show_domain_error(form, error)
        return _detail(order, refund_form=form, status=422)
    return _done(order, _("Refunded. Stock is back and the rebate is cancelled.") if approve
                 else _("Refund rejected. The buyer sees your reason."))  # fmt: skip
