"""Admin: background work (the outbox, shop.platform.outbox) that failed: rows given up after
their attempts and rows failing and waiting for their next try, of every topic, each with a
readable summary of what it was for; an admin makes one due again (audited, once). And a
read-only page of one order, where a payment row links (its state, the gateway payment with
the sub-merchant it was made under, its gateway refunds)."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import format_timedelta
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from shop.orders.models import GatewayPayment, GatewayRefund, Order
from shop.platform import db as dbsetup
from shop.platform import outbox_review
from shop.platform.extensions import db
from shop.platform.outbox import MAX_ATTEMPTS
from shop.web.admin import bp
from shop.web.common import money, now
from shop.web.forms import FlaskForm

#: How much of a payload a summary shows: lines (one a key), characters a line.
SUMMARY_LINES = 8
SUMMARY_CHARS = 120


def _value(key: str, value) -> str:
    if key.endswith("_cents") and isinstance(value, int) and not isinstance(value, bool):
        return f"¥{money(value)}"
    return str(value)


def summary(row, orders: dict) -> dict:
    """What the row was for, in words: a payment row's order, amount and trade id (with the
    order's id to link to, when the order is ours); any other row's payload as key: value lines."""
    payload = row.payload or {}
    if row.topic == "payment":
        number = str(payload.get("order_number", ""))
        amount = payload.get("amount_cents")
        return {
            "order_number": number,
            "order_id": orders.get(number),
            "amount": f"¥{money(amount)}" if isinstance(amount, int) else "–",
            "trade_id": str(payload.get("trade_id") or "–"),
        }
    lines = []
    for key, value in sorted(payload.items()):
        line = f"{key}: {_value(key, value)}"
        lines.append(line if len(line) <= SUMMARY_CHARS else line[: SUMMARY_CHARS - 1] + "…")
    return {"lines": lines[:SUMMARY_LINES] or ["–"]}


def _order_ids(rows) -> dict:
    numbers = sorted(
        {str((r.payload or {}).get("order_number", "")) for r in rows if r.topic == "payment"}
        - {""}
    )
    if not numbers:
        return {}
    return dict(
        db.session.execute(select(Order.number, Order.id).where(Order.number.in_(numbers))).all()
    )


@bp.route("/outbox")
def outbox_list():
    given_up, retrying = outbox_review.troubled()
    orders = _order_ids(given_up + retrying)
    current = now()
    ages = {
        r.id: format_timedelta(current - r.created_at, granularity="minute")
        for r in given_up + retrying
    }
    return render_template(
        "admin/outbox.html",
        given_up=given_up,
        retrying=retrying,
        summaries={r.id: summary(r, orders) for r in given_up + retrying},
        ages=ages,
        max_attempts=MAX_ATTEMPTS,
        limit=outbox_review.LIMIT,
        form=FlaskForm(),
    )


@bp.route("/outbox/<int:row_id>/retry", methods=["POST"])
def outbox_retry(row_id: int):
    if not FlaskForm().validate_on_submit():
        abort(400)
    db.session.rollback()
    with dbsetup.writing():
        state = outbox_review.retry(row_id, actor=current_user._get_current_object(), now=now())
        db.session.commit()
    if state is None:
        abort(404)
    if state == "retried":
        flash(_("The work is due again: the worker tries it shortly."), "success")
    elif state == "due":
        flash(_("This work is already due: the worker tries it shortly."), "info")
    else:
        flash(_("This work is already done."), "info")
    return redirect(url_for("admin.outbox_list"), code=303)


@bp.route("/orders/<int:order_id>")
def order_detail(order_id: int):
    order = db.session.get(Order, order_id)
    if order is None:
        abort(404)
    refunds = db.session.execute(
        select(GatewayRefund).where(GatewayRefund.order_id == order_id).order_by(GatewayRefund.id)
    ).scalars()
    return render_template(
        "admin/order_detail.html",
        order=order,
        payment=db.session.get(GatewayPayment, order_id),
        refunds=list(refunds),
    )
