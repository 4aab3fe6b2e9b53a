"""WeChat Pay API v3 in partner mode (服务商模式,
https://pay.weixin.qq.com/doc/v3/partner/): the platform holds a partner account (``sp_mchid``,
``sp_appid``) and each merchant is a sub-merchant (``sub_mchid``). The buyer's money lands in the
merchant's own sub-merchant account, frozen for profit sharing (``settle_info.profit_sharing``);
once the order's money settles, profit sharing (分账) sends the platform its part and unfreezes
the rest for the merchant (shop.money.profit_sharing).

Signing, verification, callbacks and bills are the direct mode's (:class:`WeChatPay`), with the
partner's ids; payments, queries, closing and refunds go through the partner endpoints and name
the order's ``sub_mchid``, which ``sub_mchid_for(order_number)`` looks up: the one the order's
payment was created under (recorded then, shop.orders.models.GatewayPayment.sub_mchid), so a
merchant's number changed later does not move its old orders.
"""

import base64
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote, urlencode

from flask_babel import lazy_gettext as _l

from shop.orders.gateways.base import GatewayError, RefundState, TradeState
from shop.orders.gateways.wechatpay import BadCallback, WeChatPay

#: How WeChat Pay names the platform as a profit-sharing receiver of a sub-merchant.
RELATION = "SERVICE_PROVIDER"


class WeChatPayPartner(WeChatPay):
    """``mchid``/``appid`` are the partner's (sp_mchid, sp_appid)."""

    partner = True

    def __init__(self, *, sub_mchid_for: Callable[[str], str], sp_name: str = "", **settings):
        super().__init__(**settings)
        self.sub_mchid_for = sub_mchid_for
        #: The partner's registered full name (商户全称), sent encrypted when adding it as a
        #: receiver; WeChat Pay asks for it for a MERCHANT_ID receiver.
        self.sp_name = sp_name

    def takes(self, merchant) -> bool:
        """Whether this gateway can take money for ``merchant``: only into a sub-merchant
        account, so not before the merchant has its number (checkout offers another way)."""
        return bool(merchant.wechatpay_sub_mchid)

    def _sub(self, order_number: str) -> str:
        sub = self.sub_mchid_for(order_number)
        if not sub:
            raise GatewayError(
                _l("This shop cannot take WeChat Pay yet. Please choose another way to pay."),
                code="no_sub_mchid",
            )
        return sub

    # --- payments -----------------------------------------------------------------------------

    PAY_PATH = "/v3/pay/partner/transactions"
    PAYER_KEY = "sp_openid"

    def _payee(self, order_number: str) -> dict:
        """The partner's app and account for the sub-merchant, the money frozen in the
        sub-merchant's account until profit sharing sends the platform its part."""
        return {
            "sp_appid": self.appid,
            "sp_mchid": self.mchid,
            "sub_mchid": self._sub(order_number),
            "settle_info": {"profit_sharing": True},
        }

    def _account(self, order_number: str) -> dict:
        return {"sp_mchid": self.mchid, "sub_mchid": self._sub(order_number)}

    def _refund_account(self, order_number: str) -> dict:
        return {"sub_mchid": self._sub(order_number)}

    def query_refund(self, refund_number: str, *, order_number: str = "") -> RefundState:
        """A partner asks about a refund naming the sub-merchant (GET ...?sub_mchid=)."""
        query = urlencode({"sub_mchid": self._sub(order_number)})
        path = f"/v3/refund/domestic/refunds/{quote(refund_number)}?{query}"
        return self._refund(self.call("GET", path).json())

    def _trade(self, data: dict) -> TradeState:
        mine = (data.get("sp_mchid", self.mchid), data.get("sp_appid", self.appid))
        if mine != (self.mchid, self.appid) or "mchid" in data:
            raise BadCallback(code="merchant")
        state = super()._trade({**data, "mchid": self.mchid, "appid": self.appid})
        # Which sub-merchant's account the money is in: compared with the one the payment was
        # created under before it pays anything (shop.orders.payments, ``wrong_account``).
        return replace(state, account=str(data.get("sub_mchid") or ""))

    def _refund(self, data: dict) -> RefundState:
        # The refund callback's resource names the partner and the sub-merchant the refund
        # went from: the sub-merchant is compared with the order's recorded one before the
        # refund is marked done or failed (shop.orders.gateways.flow, ``wrong_account``). A
        # query answer names neither (none is documented): nothing to compare then.
        if data.get("sp_mchid", self.mchid) != self.mchid or "mchid" in data:
            raise BadCallback(code="merchant")
        return replace(super()._refund(data), account=str(data.get("sub_mchid") or ""))

    # --- profit sharing (分账) ---------------------------------------------------------------

    def _encrypt(self, text: str) -> str:
        """Sensitive fields go encrypted with WeChat Pay's public key (RSA-OAEP, SHA-1)."""
        from cryptography.hazmat.primitives import hashes  # with the gateway, not the app
        from cryptography.hazmat.primitives.asymmetric import padding

        sealed = self.platform_key.encrypt(
            text.encode(),
            padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None),  # noqa: S303
        )
        return base64.b64encode(sealed).decode()

    def add_receiver(self, sub_mchid: str) -> None:
        """Make the platform a receiver of ``sub_mchid``'s profit sharing (adding it again is
        accepted as the same receiver)."""
        payload = {
            "sub_mchid": sub_mchid,
            "appid": self.appid,
            "type": "MERCHANT_ID",
            "account": self.mchid,
            "relation_type": RELATION,
        }
        headers = {}
        if self.sp_name:
            payload["name"] = self._encrypt(self.sp_name)
            headers["Wechatpay-Serial"] = self.platform_key_id
        self.call("POST", "/v3/profitsharing/receivers/add", payload, extra_headers=headers)

    def share(self, *, sub_mchid: str, transaction_id: str, out_order_no: str,
              amount_cents: int, description: str) -> dict:  # fmt: skip
        """Send ``amount_cents`` of the payment to the platform and unfreeze the rest for the
        merchant; with nothing to send, only unfreeze. The same ``out_order_no`` asked again is
        the same sharing. Returns {"state": PROCESSING|FINISHED, "order_id": 分账单号}."""
        if amount_cents <= 0:
            payload = {
                "sub_mchid": sub_mchid,
                "transaction_id": transaction_id,
                "out_order_no": out_order_no,
                "description": description[:80],
            }
            data = self.call("POST", "/v3/profitsharing/orders/unfreeze", payload).json()
        else:
            payload = {
                "sub_mchid": sub_mchid,
                "appid": self.appid,
                "transaction_id": transaction_id,
                "out_order_no": out_order_no,
                "receivers": [
                    {
                        "type": "MERCHANT_ID",
                        "account": self.mchid,
                        "amount": amount_cents,
                        "description": description[:80],
                    }
                ],
                "unfreeze_unsplit": True,
            }
            data = self.call("POST", "/v3/profitsharing/orders", payload).json()
        return {"state": str(data.get("state", "")), "order_id": str(data.get("order_id", ""))}

    def share_query(self, *, sub_mchid: str, transaction_id: str, out_order_no: str) -> dict:
        query = urlencode({"sub_mchid": sub_mchid, "transaction_id": transaction_id})
        data = self.call("GET", f"/v3/profitsharing/orders/{quote(out_order_no)}?{query}").json()
        return {"state": str(data.get("state", "")), "order_id": str(data.get("order_id", ""))}

    # --- profit-sharing returns (分账回退) -------------------------------------------------

    def return_share(self, *, sub_mchid: str, out_order_no: str, out_return_no: str,
                     amount_cents: int, description: str) -> dict:  # fmt: skip
        """Take ``amount_cents`` the sharing ``out_order_no`` sent the platform back to the
        sub-merchant (POST /v3/profitsharing/return-orders), before a refund. The same
        ``out_return_no`` asked again is the same return. Returns {"state": PROCESSING|SUCCESS|
        FAILED, "return_id": 微信回退单号, "fail_reason": ...}."""
        payload = {
            "sub_mchid": sub_mchid,
            "out_order_no": out_order_no,
            "out_return_no": out_return_no,
            "return_mchid": self.mchid,
            "amount": amount_cents,
            "description": description[:80],
        }
        return _returned(self.call("POST", "/v3/profitsharing/return-orders", payload).json())

    def return_query(self, *, sub_mchid: str, out_order_no: str, out_return_no: str) -> dict:
        query = urlencode({"sub_mchid": sub_mchid, "out_order_no": out_order_no})
        path = f"/v3/profitsharing/return-orders/{quote(out_return_no)}?{query}"
        return _returned(self.call("GET", path).json())


def _returned(data: dict) -> dict:
    state = str(data.get("result", ""))
    return {
        "state": "FAILED" if state == "FAIL" else state,  # the brand API spells it FAIL
        "return_id": str(data.get("return_id") or data.get("return_no") or ""),
        "amount": data.get("amount"),
        "fail_reason": str(data.get("fail_reason", "")),
    }
