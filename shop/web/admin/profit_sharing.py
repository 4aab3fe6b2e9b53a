"""Admin: profit sharings (分账, WeChat Pay partner mode) that failed or were given up, and
profit-sharing returns (分账回退) not done. An admin can send a sharing again now (audited);
a return is sent again with its refund (/admin/gateway-refunds)."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from shop.catalog.models import Merchant
from shop.money import profit_returns, profit_sharing
from shop.money.models import ProfitShare
from shop.orders.gateways import providers
from shop.orders.models import Order
from shop.platform.extensions import db
from shop.web.admin import bp
from shop.web.common import now
from shop.web.forms import FlaskForm

#: The sharings this page lists.
LISTED = ("failed", "given_up")


@bp.route("/profit-sharing")
def profit_sharing_list():
    rows = db.session.execute(
        select(ProfitShare, Order.number, Merchant.name)
        .join(Order, Order.id == ProfitShare.order_id)
        .join(Merchant, Merchant.id == Order.merchant_id)
        .where(ProfitShare.state.in_(LISTED))
        .order_by(ProfitShare.created_at)
        .limit(200)
    ).all()
    return render_template(
        "admin/profit_sharing.html",
        rows=rows,
        returns=profit_returns.open_returns(),
        partner=getattr(providers.for_app_current().get("wechatpay"), "partner", False),
        max_attempts=profit_sharing.MAX_ATTEMPTS,
        form=FlaskForm(),
    )


@bp.route("/profit-sharing/<int:order_id>/retry", methods=["POST"])
def profit_sharing_retry(order_id: int):
    if not FlaskForm().validate_on_submit():
        abort(400)
    share = db.session.get(ProfitShare, order_id)
    if share is None:
        abort(404)
    adapter = providers.for_app_current().get("wechatpay")
    if not getattr(adapter, "partner", False) or share.state not in LISTED:
        db.session.rollback()
        flash(_("This profit sharing cannot be sent from here."), "error")
        return redirect(url_for("admin.profit_sharing_list"), code=303)
    db.session.rollback()
    state = profit_sharing.retry(
        order_id, adapter, actor=current_user._get_current_object(), now=now()
    )
    if state == "done":
        flash(_("The profit sharing went through."), "success")
    elif state == "sent":
        flash(_("WeChat Pay accepted the profit sharing; it finishes shortly."), "success")
    else:
        error = db.session.get(ProfitShare, order_id).last_error
        flash(_("WeChat Pay refused the profit sharing again (%(error)s).", error=error), "error")
    return redirect(url_for("admin.profit_sharing_list"), code=303)
