"""Paying through WeChat Pay and Alipay: sending the buyer to pay, the gateways' callbacks, and
the browser's way back (which asks the gateway rather than trusting the browser).

Callbacks are server-to-server: CSRF-exempt, their signature is the proof. A verified paid
trade is answered once its outbox row is committed (``received.record``); ``flask worker``
applies it. Whatever arrives (callback via the worker, return, sweep) ends in
``flow.apply_trade``: one paid transition per order.
"""

import io
import logging
from base64 import b64encode

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required
from sqlalchemy import select

from shop.orders import states
from shop.orders.gateways import flow, providers, received
from shop.orders.gateways.alipay import BadNotice
from shop.orders.gateways.base import GatewayError, RefundState, TradeState
from shop.orders.gateways.wechatpay import BadCallback
from shop.orders.models import GatewayRefund, Order
from shop.platform import db as dbsetup
from shop.platform import faults
from shop.platform.extensions import csrf, db
from shop.web.common import now
from shop.web.storefront import bp

log = logging.getLogger(__name__)


def adapters() -> dict:
    return providers.for_app(current_app._get_current_object())


def _buyer_openid(user, appid: str) -> str:
    """The buyer's openid of the WeChat Pay app id (the partner's sp_appid in partner mode),
    from WeChat sign-in when it is bound."""
    try:
        from shop.accounts import wechat  # WeChat sign-in (issue 20); absent until it lands
    except ImportError:
        return ""
    lookup = getattr(wechat, "openid_for", None)
    return lookup(user, appid) or "" if lookup else ""


def _own_order(order_id: int) -> Order:
    order = db.session.get(Order, order_id)
    if order is None or order.buyer_id != current_user.id:
        abort(404)
    return order


@bp.route("/orders/<int:order_id>/pay/gateway")
@login_required
def gateway_pay(order_id: int):
    """Create the payment at the gateway and send the buyer on: to the gateway's page (H5,
    Alipay), or a page here with WeChat's pay sheet (JSAPI) or a QR code (Native)."""
    order = _own_order(order_id)
    if order.status != states.S.PLACED:
        return redirect(url_for("storefront.order_detail", order_id=order.id))
    adapter = adapters().get(order.payment_provider)
    if adapter is None:
        abort(404)
    client = providers.Client(
        user_agent=request.user_agent.string,
        address=request.remote_addr or "",
        openid=_buyer_openid(current_user, adapter.appid) if adapter.name == "wechatpay" else "",
    )
    back = url_for("storefront.gateway_return", provider=adapter.name, order=order.number)
    page = {"order": order, "provider": adapter, "back": back}
    if adapter.name == "alipay" and client.in_wechat:
        # WeChat does not open Alipay's pages: say how to go on.
        return render_template("storefront/gateway_pay.html", **page, open_in_browser=True)
    if adapter.name == "wechatpay" and client.in_wechat and not client.openid:
        return render_template("storefront/gateway_pay.html", **page, needs_wechat_sign_in=True)
    # The gateway sends the browser back to the shop's public address, whatever host served us.
    return_url = current_app.config["PUBLIC_BASE_URL"].rstrip("/") + back
    try:
        made = providers.charge(adapter, order, client=client, return_url=return_url)
    except GatewayError as error:
        log.warning("gateway %s create %s failed: %s", adapter.name, order.number, error.code)
        return render_template("storefront/gateway_pay.html", **page, failed=True), 503
    channel = (
        providers.wechat_channel(client)
        if adapter.name == "wechatpay"
        else ("wap" if client.on_phone else "page")
    )
    with dbsetup.writing():
        db.session.rollback()
        flow.opened(
            order, provider=adapter.name, channel=channel, now=now(), sub_mchid=made.account
        )
        db.session.commit()
    if made.redirect_url:
        return redirect(made.redirect_url)
    qr = ""
    if made.qr_text:
        import qrcode  # it loads Pillow: only for a gateway that pays by scanning

        image = qrcode.make(made.qr_text, box_size=8, border=2)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        qr = "data:image/png;base64," + b64encode(buffer.getvalue()).decode()
    return render_template("storefront/gateway_pay.html", **page, qr=qr, jsapi=made.jsapi)


@bp.route("/payments/<any(wechatpay, alipay):provider>/return")
@login_required
def gateway_return(provider: str):
    """The buyer is back from paying (or says so): ask the gateway, never the browser."""
    number = request.args.get("order") or request.args.get("out_trade_no") or ""
    order = db.session.execute(select(Order).where(Order.number == number)).scalar_one_or_none()
    if order is None or order.buyer_id != current_user.id:
        abort(404)
    adapter = adapters().get(provider)
    if adapter is None or order.payment_provider != provider:
        abort(404)
    if order.status == states.S.PLACED:
        try:
            state = adapter.query(order.number)
        except GatewayError:
            state = None
            flash(_("We could not reach the payment service. Your payment is safe; the order "
                    "updates as soon as the service confirms it."), "warning")  # fmt: skip
        if state is not None:
            with dbsetup.writing():
                db.session.rollback()
                flow.apply_trade(provider, state, now=now())
                db.session.commit()
            db.session.refresh(order)
            if order.status == states.S.PLACED:
                flash(_("No payment has arrived for this order yet."), "warning")
    if order.status != states.S.PLACED and order.paid_at:
        return redirect(url_for("storefront.order_paid", order_id=order.id))
    return redirect(url_for("storefront.order_detail", order_id=order.id))


def _record_verified(provider: str, event) -> None:
    """One short transaction before the answer: a paid trade becomes one outbox row (the
    worker applies it); a refund's answer, one row update, is recorded here and now."""
    with dbsetup.writing():
        db.session.rollback()
        if isinstance(event, TradeState):
            received.record(provider, event, now=now())
            faults.hit("callback.after_record")  # the row written, not committed, no answer
        elif isinstance(event, RefundState):
            flow.refund_callback(event, now=now())
        db.session.commit()


@bp.route("/payments/wechatpay/notify", methods=["POST"])
@csrf.exempt  # a server-to-server callback: its signature is the proof, not a form token
def wechatpay_notify():
    adapter = adapters().get("wechatpay")
    if adapter is None:
        abort(404)
    try:
        event = adapter.parse_callback(request.headers, request.get_data())
    except BadCallback as error:
        log.warning("wechatpay callback refused: %s", error.code)
        return {"code": "FAIL", "message": error.code}, 401
    _record_verified("wechatpay", event)
    return "", 204  # documented: 200 or 204 with no body means received


@bp.route("/payments/alipay/notify", methods=["POST"])
@csrf.exempt  # a server-to-server callback: its signature is the proof, not a form token
def alipay_notify():
    adapter = adapters().get("alipay")
    if adapter is None:
        abort(404)
    try:
        event = adapter.parse_notice(request.form.to_dict())
    except BadNotice as error:
        log.warning("alipay notice refused: %s", error.code)
        return "failure", 400, {"Content-Type": "text/plain"}
    _record_verified("alipay", event)
    return "success", 200, {"Content-Type": "text/plain"}  # documented: stops the retries


@bp.app_template_global("gateway_label")
def gateway_label(name: str) -> str:
    return {"wechatpay": _("WeChat Pay"), "alipay": _("Alipay")}.get(name, name)


@bp.app_template_global("gateway_refunds_in_progress")
def refunds_in_progress(order: Order) -> list[GatewayRefund]:
    """What the order page shows while money is on its way back."""
    if order.payment_provider not in flow.GATEWAYS:
        return []
    return list(
        db.session.execute(
            select(GatewayRefund).where(
                GatewayRefund.order_id == order.id, GatewayRefund.state != "done"
            )
        ).scalars()
    )
