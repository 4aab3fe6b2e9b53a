"""The real gateways as payment providers of the shop: built from settings (off until every
setting is filled in), choosing how the buyer pays from where they are, and turning what a
gateway reports into the shop's :class:`~shop.orders.payments.PaymentNotice`."""

from dataclasses import dataclass, replace
from urllib.parse import quote

from sqlalchemy import func, select

from shop.catalog.models import Merchant
from shop.orders.gateways.alipay import Alipay
from shop.orders.gateways.base import Charge, GatewayError, TradeState
from shop.orders.gateways.wechatpay import WeChatPay
from shop.orders.gateways.wechatpay_partner import WeChatPayPartner
from shop.orders.models import GatewayPayment, Order
from shop.orders.payments import PaymentNotice
from shop.platform.extensions import db

WECHATPAY_SETTINGS = (
    "WECHATPAY_MCHID",
    "WECHATPAY_APPID",
    "WECHATPAY_SERIAL_NO",
    "WECHATPAY_PRIVATE_KEY",
    "WECHATPAY_APIV3_KEY",
    "WECHATPAY_PUBLIC_KEY",
    "WECHATPAY_PUBLIC_KEY_ID",
)
#: Partner mode: the partner's ids instead of WECHATPAY_MCHID/APPID, with the same keys.
WECHATPAY_PARTNER_SETTINGS = (
    "WECHATPAY_SP_MCHID",
    "WECHATPAY_SP_APPID",
    *WECHATPAY_SETTINGS[2:],
)
ALIPAY_SETTINGS = ("ALIPAY_APP_ID", "ALIPAY_PRIVATE_KEY", "ALIPAY_PUBLIC_KEY")
TEXT_SETTINGS = (
    *WECHATPAY_SETTINGS,
    "WECHATPAY_SP_MCHID",
    "WECHATPAY_SP_APPID",
    "WECHATPAY_SP_NAME",
    *ALIPAY_SETTINGS,
    "WECHATPAY_BASE_URL",
    "ALIPAY_GATEWAY_URL",
    "PUBLIC_BASE_URL",
)


@dataclass(frozen=True)
class Client:
    """Where the buyer is paying from."""

    user_agent: str = ""
    address: str = ""
    #: The buyer's openid of the WeChat Pay app id (from WeChat sign-in), if bound.
    openid: str = ""

    @property
    def in_wechat(self) -> bool:
        return "MicroMessenger" in self.user_agent

    @property
    def on_phone(self) -> bool:
        return any(mark in self.user_agent for mark in ("Mobile", "Android", "iPhone", "iPad"))


def _filled(config, names) -> bool:
    return bool(config.get("PUBLIC_BASE_URL")) and all(config.get(name) for name in names)


def build(config) -> dict:
    """The configured gateway adapters by name (none when their settings are empty)."""
    base = (config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    timeout = float(config.get("GATEWAY_TIMEOUT_SECONDS") or 10)
    # Ids made of digits (商户号, app ids) arrive as numbers when an environment variable is
    # read as JSON: every gateway setting is text.
    config = {key: str(config[key]) for key in TEXT_SETTINGS if config.get(key)}
    found = {}
    wechat_keys = {
        "serial_no": config.get("WECHATPAY_SERIAL_NO"),
        "private_key": config.get("WECHATPAY_PRIVATE_KEY"),
        "apiv3_key": config.get("WECHATPAY_APIV3_KEY"),
        "platform_key": config.get("WECHATPAY_PUBLIC_KEY"),
        "platform_key_id": config.get("WECHATPAY_PUBLIC_KEY_ID"),
        "notify_url": f"{base}/payments/wechatpay/notify",
        "base_url": config.get("WECHATPAY_BASE_URL") or "https://api.mch.weixin.qq.com",
        "timeout": timeout,
    }
    if _filled(config, WECHATPAY_PARTNER_SETTINGS):
        found["wechatpay"] = WeChatPayPartner(
            mchid=config["WECHATPAY_SP_MCHID"],
            appid=config["WECHATPAY_SP_APPID"],
            sp_name=config.get("WECHATPAY_SP_NAME") or "",
            sub_mchid_for=sub_mchid_of_order,
            **wechat_keys,
        )
    elif _filled(config, WECHATPAY_SETTINGS):
        found["wechatpay"] = WeChatPay(
            mchid=config["WECHATPAY_MCHID"], appid=config["WECHATPAY_APPID"], **wechat_keys
        )
    if _filled(config, ALIPAY_SETTINGS):
        found["alipay"] = Alipay(
            app_id=config["ALIPAY_APP_ID"],
            private_key=config["ALIPAY_PRIVATE_KEY"],
            alipay_public_key=config["ALIPAY_PUBLIC_KEY"],
            notify_url=f"{base}/payments/alipay/notify",
            gateway_url=config.get("ALIPAY_GATEWAY_URL") or "https://openapi.alipay.com/gateway.do",
            timeout=timeout,
        )
    return found


def recorded_sub_mchid():
    """The sub-merchant number an order's payment was created under, else (never opened, or
    opened before it was recorded without one) its merchant's number now; for a query that
    joins Order, Merchant and (outer) GatewayPayment."""
    return func.coalesce(func.nullif(GatewayPayment.sub_mchid, ""), Merchant.wechatpay_sub_mchid)


def sub_mchid_of_order(order_number: str) -> str:
    """The sub-merchant number every gateway call about the order names: the one its payment
    was created under (an admin may have changed the merchant's since), else the merchant's
    ("" when it has none)."""
    found = db.session.execute(
        select(recorded_sub_mchid())
        .select_from(Order)
        .join(Merchant, Order.merchant_id == Merchant.id)
        .outerjoin(GatewayPayment, GatewayPayment.order_id == Order.id)
        .where(Order.number == order_number)
    ).scalar_one_or_none()
    return found or ""


def description(order: Order) -> str:
    titles = [item.title for item in order.items]
    text = titles[0] if titles else order.number
    return f"{text} 等{len(titles)}件" if len(titles) > 1 else text


def wechat_channel(client: Client) -> str:
    """JSAPI inside WeChat, H5 in other phone browsers, Native (a QR code) on a computer."""
    if client.in_wechat:
        return "jsapi"
    return "h5" if client.on_phone else "native"


def charge(adapter, order: Order, *, client: Client, return_url: str) -> Charge:
    """Create (or create again: the gateways treat the same order number and amount as the
    same payment) the payment of ``order`` and say how the buyer pays it. Raises GatewayError."""
    common = {
        "order_number": order.number,
        "amount_cents": order.total_cents,
        "description": description(order),
        "expires_at": order.pay_deadline,
    }
    if isinstance(adapter, WeChatPay):
        channel = wechat_channel(client)
        made = adapter.create(
            **common, channel=channel, openid=client.openid, client_ip=client.address
        )
        if channel == "h5":
            # WeChat's cashier sends the buyer back here when done (documented redirect_url).
            back = quote(return_url, safe="")
            return replace(made, redirect_url=f"{made.redirect_url}&redirect_url={back}")
        return made
    if isinstance(adapter, Alipay):
        channel = "wap" if client.on_phone else "page"
        return adapter.create(**common, channel=channel, return_url=return_url)
    raise GatewayError(code="unknown_gateway")


def notice_of(state: TradeState) -> PaymentNotice | None:
    """A paid trade as the shop's payment notice, keyed by the gateway's trade id, so the
    callback, the return path and the sweep all apply it once."""
    if state.state != "paid" or not state.trade_id:
        return None
    return PaymentNotice(
        event_id=state.trade_id[:64],
        order_number=state.order_number,
        amount_cents=state.amount_cents,
        account=state.account,
    )


def for_app(app) -> dict:
    """The app's configured gateway adapters, built once (keys parsed once)."""
    found = app.extensions.get("fenxiang.gateways")
    if found is None:
        found = app.extensions["fenxiang.gateways"] = build(app.config)
    return found


def for_app_current() -> dict:
    from flask import current_app

    return for_app(current_app._get_current_object())
