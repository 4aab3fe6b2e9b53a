"""部分退款 for the buyer: choose items (and how many of each) of a paid order, see the amount,
lower it if agreed with the merchant, and send; withdraw a request still open. The money side
is shop.money.refunds; bad input comes back on the same page with everything kept."""

import re
import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from shop.money import refund_math, refund_returns, refund_views, refunds
from shop.money.models import RefundRequest
from shop.orders import states
from shop.platform.errors import DomainError, ValidationError
from shop.platform.extensions import db
from shop.web.common import now
from shop.web.forms import FlaskForm
from shop.web.storefront import bp
from shop.web.storefront.checkout import _own_order

_AMOUNT = re.compile(r"^(\d{1,7})(?:\.(\d{1,2}))?$")


def parse_amount(raw: str) -> int | None:
    """ "19.9" -> 1990 fen, exactly (no floats); "" -> None (the full amount)."""
    text = (raw or "").strip().replace(",", "").lstrip("¥￥").strip()
    if not text:
        return None
    match = _AMOUNT.match(text)
    if not match:
        raise ValidationError(_l("Enter the amount in yuan, e.g. 19.90."), "amount")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def _picks(form) -> dict[int, int]:
    """{order item id: units} from ``qty-<item id>`` fields (a chosen box without a number
    means one unit); anything that is not a whole number is refused, never guessed."""
    picks = {}
    for name, value in form.items():
        if not name.startswith("qty-"):
            continue
        try:
            item_id, units = int(name[4:]), int(value or "0")
        except ValueError:
            raise ValidationError(_l("Choose how many of each item."), "items") from None
        if units < 0:
            raise ValidationError(_l("Choose how many of each item."), "items")
        picks[item_id] = units
    return picks


def _unit_values(line) -> list[int]:
    """What 0, 1, 2... of the units left are worth (for the amount shown as boxes change)."""
    cap_q = line.item.quantity
    before = cap_q - line.left_quantity
    values = [
        refund_math.units_value(line.paid_cents, cap_q, before, n)
        for n in range(line.left_quantity + 1)
    ]
    if values:
        values[-1] = line.left_cents  # the last units take what is left
    return [min(v, line.left_cents) for v in values]


def _page(order, *, key, values=None, error=None, status=200):
    lines = [line for line in refund_views.lines(order) if line.left_quantity > 0]
    caps = refund_views.caps(order)
    ship = caps.get(refunds.SHIPPING)
    shipping_left = (
        ship.cap_cents - ship.done_cents - ship.held_cents if ship else order.shipping_cents
    )
    return (
        render_template(
            "storefront/refund_part.html",
            order=order,
            lines=lines,
            unit_values={line.item.id: _unit_values(line) for line in lines},
            shipping_left=shipping_left,
            key=key,
            values=values or {},
            error=error,
            form=FlaskForm(),
        ),
        status,
    )


@bp.route("/orders/<int:order_id>/refund-part", methods=["GET", "POST"])
@login_required
def order_refund_part(order_id: int):
    order = _own_order(order_id)
    if request.method == "GET":
        if order.status not in refunds.OPEN_FROM:
            flash(_("Part of this order cannot be refunded now."), "error")
            return redirect(url_for("storefront.order_detail", order_id=order.id))
        return _page(order, key=secrets.token_hex(16))
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)
    values = {name: value for name, value in request.form.items() if name.startswith("qty-")}
    values.update(
        key=request.form.get("key", ""),
        reason=request.form.get("reason", ""),
        kind=request.form.get("kind", ""),
        amount=request.form.get("amount", ""),
        shipping=request.form.get("shipping", ""),
    )
    key = values["key"][:40]
    try:
        refund = refunds.request(
            order,
            _picks(request.form),
            reason=values["reason"],
            kind=values["kind"] or states.REFUND_ONLY,
            key=key,
            actor=current_user,
            now=now(),
            amount_cents=parse_amount(values["amount"]),
            with_shipping=True if values["shipping"] else None,
        )
        db.session.commit()
    except DomainError as error:
        db.session.rollback()
        db.session.refresh(order)
        return _page(order, key=key, values=values, error=error, status=422)
    flash(
        _("Refund of ¥%(amount)s requested. The merchant will decide.",
          amount=f"{refund.amount_cents // 100}.{refund.amount_cents % 100:02d}"),
        "success",
    )  # fmt: skip
    return redirect(url_for("storefront.order_detail", order_id=order.id, _anchor="refunds"))


@bp.route("/orders/<int:order_id>/refund-part/<int:part_id>/withdraw", methods=["POST"])
@login_required
def order_refund_part_withdraw(order_id: int, part_id: int):
    order = _own_order(order_id)
    refund = db.session.get(RefundRequest, part_id)
    if refund is None or refund.order_id != order.id:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        refunds.withdraw(refund, actor=current_user, now=now())
        db.session.commit()
        flash(_("Refund request withdrawn."), "success")
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    return redirect(url_for("storefront.order_detail", order_id=order.id, _anchor="refunds"))


@bp.route("/orders/<int:order_id>/refund-part/<int:part_id>/return", methods=["POST"])
@login_required
def order_refund_part_return(order_id: int, part_id: int):
    """退货退款 of some items: the buyer's return carrier and tracking number."""
    order = _own_order(order_id)
    refund = db.session.get(RefundRequest, part_id)
    if refund is None or refund.order_id != order.id:
        abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        refund_returns.enter_return_tracking(
            refund, request.form.get("carrier", ""), request.form.get("tracking", ""),
            actor=current_user, now=now(),
        )  # fmt: skip
        db.session.commit()
        flash(_("Return tracking number saved. The merchant sees it."), "success")
    except DomainError as error:
        db.session.rollback()
        flash(error.message, "error")
    return redirect(url_for("storefront.order_detail", order_id=order.id, _anchor="refunds"))
