"""WeChat Pay API v3 in partner mode (服务商), as a fake: the direct fake (signatures on every
request and answer, callbacks, refunds, bills) plus the partner payment endpoints and profit
sharing, written from the documented request shapes:

- POST /v3/pay/partner/transactions/{jsapi,h5,native}: sp_appid, sp_mchid, sub_mchid (a known
  sub-merchant), settle_info.profit_sharing, payer.sp_openid for JSAPI;
- GET  /v3/pay/partner/transactions/out-trade-no/{no}?sp_mchid=&sub_mchid=, POST .../close;
- refunds and refund queries (GET .../refunds/{no}?sub_mchid=) name the trade's sub_mchid;
- POST /v3/profitsharing/receivers/add (sub_mchid, appid, type, account, relation_type; an
  encrypted name needs the Wechatpay-Serial header and decrypts with the platform key);
- POST /v3/profitsharing/orders: only for a paid trade of that sub-merchant made with
  profit_sharing, only to added receivers, never more than what is left unsplit; the same
  out_order_no with the same request is the same sharing, with another request an error;
- POST /v3/profitsharing/orders/unfreeze; GET /v3/profitsharing/orders/{out_order_no};
- POST /v3/profitsharing/return-orders (分账回退: sub_mchid, out_order_no or order_id of a
  finished sharing, out_return_no, return_mchid = a merchant receiver of it, amount at most
  what it received less what was returned, description; at most 50 per sharing; the same
  out_return_no with the same request is the same return, with another an error), answering
  result SUCCESS, PROCESSING or FAILED (``return_result``), or an error (``return_failure``);
  GET /v3/profitsharing/return-orders/{out_return_no}?sub_mchid=&out_order_no= (a PROCESSING
  return has succeeded by then);
- a refund is paid from what the trade left in the sub-merchant's account: never what profit
  sharing sent away and was not returned (403 NOT_ENOUGH).
"""

import base64
import re
import secrets
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from werkzeug.wrappers import Request, Response

from tests.fakes.wechatpay import CHINA, FakeWeChatPay

RELATIONS = {"SERVICE_PROVIDER", "STORE", "STAFF", "STORE_OWNER", "PARTNER", "HEADQUARTER",
             "BRAND", "DISTRIBUTOR", "USER", "SUPPLIER", "CUSTOM"}  # fmt: skip
_OUT_ORDER_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")


class FakeWeChatPayPartner(FakeWeChatPay):
    """``mchid``/``appid`` are the partner's; ``sub_mchids`` the sub-merchants it serves."""

    def __init__(self, *, sub_mchids, **kwargs):
        super().__init__(**kwargs)
        self.sub_mchids = set(sub_mchids)
        self.receivers: dict[str, dict[str, dict]] = {}  #: sub_mchid -> account -> receiver
        self.sharings: dict[str, dict] = {}  #: out_order_no -> sharing
        self.bodies: list[tuple[str, dict]] = []  #: (path, JSON body) of every POST
        #: Set to (status, code) to make profit sharing fail that way.
        self.sharing_failure: tuple[int, str] | None = None
        #: Set to True to accept sharings but answer 500 (the answer lost on the way).
        self.lose_sharing_answers = False
        self.returns: dict[str, dict] = {}  #: out_return_no -> return
        #: Set to (status, code) to make returns fail that way; ``return_result`` is how an
        #: accepted return ends (SUCCESS, PROCESSING, FAILED).
        self.return_failure: tuple[int, str] | None = None
        self.return_result = "SUCCESS"
        #: order number -> the sub-merchant its callbacks and query answers name instead of
        #: the one it was created for (money paid into another account; signed as always).
        self.paid_into: dict[str, str] = {}
        #: refund number -> the sub-merchant its callback and query answers name instead of
        #: the one its trade was created for (signed as always).
        self.refunded_from: dict[str, str] = {}

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        body = request.get_json(silent=True) or {}
        if method == "POST":
            self.bodies.append((path, body))
        match = re.fullmatch(r"/v3/pay/partner/transactions/(jsapi|h5|native)", path)
        if match and method == "POST":
            return self._partner_create(match.group(1).upper(), body)
        match = re.fullmatch(r"/v3/pay/partner/transactions/out-trade-no/([^/]+)", path)
        if match and method == "GET":
            trade = self.trades.get(match.group(1))
            if trade is None or request.args.get("sp_mchid") != self.mchid:
                return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
            if request.args.get("sub_mchid") != trade["sub_mchid"]:
                return self._error(400, "PARAM_ERROR", "sub_mchid")
            return self._answer(200, self._trade_view(trade))
        match = re.fullmatch(r"/v3/pay/partner/transactions/out-trade-no/([^/]+)/close", path)
        if match and method == "POST":
            trade = self.trades.get(match.group(1))
            if trade is None or body.get("sp_mchid") != self.mchid:
                return self._error(404, "ORDER_NOT_EXIST")
            if body.get("sub_mchid") != trade["sub_mchid"]:
                return self._error(400, "PARAM_ERROR", "sub_mchid")
            if trade["trade_state"] == "SUCCESS":
                return self._error(400, "ORDERPAID", "订单已支付")
            trade["trade_state"] = "CLOSED"
            return self._answer(204)
        if path == "/v3/refund/domestic/refunds" and method == "POST":
            trade = self.trades.get(body.get("out_trade_no", ""))
            if trade is not None and body.get("sub_mchid") != trade["sub_mchid"]:
                return self._error(400, "PARAM_ERROR", "sub_mchid")
            if trade is not None and body.get("out_refund_no") not in self.refunds:
                if (body.get("amount") or {}).get("refund", 0) > self._refundable(trade):
                    return self._error(403, "NOT_ENOUGH", "基本账户余额不足")
        match = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if match and method == "GET":  # a partner names the refund's sub-merchant
            refund = self.refunds.get(match.group(1))
            trade = self.trades.get(refund["out_trade_no"]) if refund else None
            if trade is not None and request.args.get("sub_mchid") != trade["sub_mchid"]:
                return self._error(400, "PARAM_ERROR", "sub_mchid")
            if refund is not None and self._refunded_from(refund) != trade["sub_mchid"]:
                # made from another sub-merchant: not found under the one asked (the answer
                # never names a sub-merchant: the documented query answer has no sub_mchid)
                return self._error(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
            if refund is not None:
                return self._answer(200, refund)
        if path == "/v3/profitsharing/return-orders" and method == "POST":
            return self._return(body)
        match = re.fullmatch(r"/v3/profitsharing/return-orders/([^/]+)", path)
        if match and method == "GET":
            found = self.returns.get(match.group(1))
            if (
                found is None
                or request.args.get("sub_mchid") != found["sub_mchid"]
                or request.args.get("out_order_no") != found["out_order_no"]
            ):
                return self._error(404, "RESOURCE_NOT_EXISTS", "回退单不存在")
            if found["result"] == "PROCESSING":  # processed since it was accepted
                found["result"] = "SUCCESS"
                self._returned_of(found["out_order_no"])[found["return_mchid"]] += found["amount"]
            return self._answer(200, {k: v for k, v in found.items() if k != "request"})
        if path == "/v3/profitsharing/receivers/add" and method == "POST":
            return self._add_receiver(request, body)
        if path == "/v3/profitsharing/orders" and method == "POST":
            answer = self._share(body)
            if self.lose_sharing_answers and answer.status_code == 200:
                return self._error(500, "SYSTEM_ERROR", "系统繁忙")  # done, but not said
            return answer
        if path == "/v3/profitsharing/orders/unfreeze" and method == "POST":
            return self._unfreeze(body)
        match = re.fullmatch(r"/v3/profitsharing/orders/([^/]+)", path)
        if match and method == "GET":
            sharing = self.sharings.get(match.group(1))
            if sharing is None or request.args.get("sub_mchid") != sharing["sub_mchid"]:
                return self._error(404, "RESOURCE_NOT_EXISTS", "分账单不存在")
            sharing["state"] = "FINISHED"  # processed since it was accepted
            return self._answer(200, sharing)
        return super().route(request)

    # --- payments -------------------------------------------------------------------------------

    def _partner_create(self, trade_type: str, data: dict) -> Response:
        if data.get("sp_mchid") != self.mchid or data.get("sp_appid") != self.appid:
            return self._error(400, "PARAM_ERROR", "sp_mchid与sp_appid不匹配")
        if data.get("sub_mchid") not in self.sub_mchids:
            return self._error(400, "PARAM_ERROR", "sub_mchid无效")
        if "mchid" in data or "appid" in data:
            return self._error(400, "PARAM_ERROR", "服务商模式不接受 mchid/appid")
        if trade_type == "JSAPI" and not data.get("payer", {}).get("sp_openid"):
            return self._error(400, "PARAM_ERROR", "payer.sp_openid")
        direct = {**data, "mchid": self.mchid, "appid": self.appid,
                  "payer": {"openid": data.get("payer", {}).get("sp_openid", "")}}  # fmt: skip
        answer = self._create(trade_type, direct)
        trade = self.trades.get(data.get("out_trade_no"))
        if trade is not None and answer.status_code == 200:
            trade["sub_mchid"] = data["sub_mchid"]
            trade["profit_sharing"] = (data.get("settle_info") or {}).get("profit_sharing") is True
            trade["shared"] = 0
        return answer

    def _refunded_from(self, refund: dict) -> str:
        number = refund["out_refund_no"]
        return self.refunded_from.get(number, self.trades[refund["out_trade_no"]]["sub_mchid"])

    def finish_refund(self, refund_number: str, status: str = "SUCCESS") -> tuple[dict, bytes]:
        """The pending refund ends; the partner's refund callback (sp_mchid, sub_mchid)."""
        refund = self.refunds[refund_number]
        refund["status"] = status
        resource = {
            "sp_mchid": self.mchid,
            "sub_mchid": self._refunded_from(refund),
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": refund_number,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "amount": refund["amount"],
        }
        return self.callback(f"REFUND.{status}", resource)

    def _trade_view(self, trade: dict) -> dict:
        view = super()._trade_view(trade)
        del view["mchid"], view["appid"]
        sub = self.paid_into.get(trade["out_trade_no"], trade.get("sub_mchid"))
        view.update(sp_mchid=self.mchid, sp_appid=self.appid, sub_mchid=sub)
        if "payer" in view:
            view["payer"] = {"sp_openid": trade.get("openid", "")}
        return view

    # --- profit sharing ---------------------------------------------------------------------

    def _add_receiver(self, request: Request, data: dict) -> Response:
        if data.get("sub_mchid") not in self.sub_mchids or data.get("appid") != self.appid:
            return self._error(400, "PARAM_ERROR", "sub_mchid/appid")
        if data.get("type") not in ("MERCHANT_ID", "PERSONAL_OPENID") or not data.get("account"):
            return self._error(400, "PARAM_ERROR", "type/account")
        if data.get("relation_type") not in RELATIONS:
            return self._error(400, "PARAM_ERROR", "relation_type")
        name = ""
        if data.get("name"):
            if request.headers.get("Wechatpay-Serial") != self.platform_key_id:
                return self._error(400, "PARAM_ERROR", "Wechatpay-Serial")
            try:
                name = self.platform_key.decrypt(
                    base64.b64decode(data["name"]),
                    padding.OAEP(
                        mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None
                    ),  # fmt: skip
                ).decode()
            except ValueError:
                return self._error(400, "PARAM_ERROR", "name 解密失败")
        receiver = {key: data[key] for key in ("sub_mchid", "type", "account", "relation_type")}
        added = self.receivers.setdefault(data["sub_mchid"], {})
        added[data["account"]] = {**receiver, "name": name}
        return self._answer(200, receiver)

    def _paid_trade(self, data: dict):
        for trade in self.trades.values():
            if trade.get("transaction_id") == data.get("transaction_id"):
                if trade["sub_mchid"] == data.get("sub_mchid") and trade["trade_state"] in (
                    "SUCCESS",
                    "REFUND",
                ):
                    return trade
        return None

    def _share(self, data: dict) -> Response:
        if self.sharing_failure:
            return self._error(*self.sharing_failure)
        if data.get("appid") != self.appid or not _OUT_ORDER_NO.fullmatch(
            str(data.get("out_order_no", ""))
        ):
            return self._error(400, "PARAM_ERROR", "appid/out_order_no")
        if not isinstance(data.get("unfreeze_unsplit"), bool):
            return self._error(400, "PARAM_ERROR", "unfreeze_unsplit")
        number = data["out_order_no"]
        if number in self.sharings:
            if self.sharings[number]["request"] != data:
                return self._error(400, "PARAM_ERROR", "同一分账单号的请求不一致")
            return self._answer(200, self.sharings[number])
        trade = self._paid_trade(data)
        if trade is None:
            return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if not trade.get("profit_sharing"):
            return self._error(403, "NO_AUTH", "下单时未指定分账")
        receivers = data.get("receivers") or []
        added = self.receivers.get(trade["sub_mchid"], {})
        total = 0
        for receiver in receivers:
            if receiver.get("account") not in added or receiver.get("type") != "MERCHANT_ID":
                return self._error(400, "RECEIVER_INVALID", "分账接收方未添加")
            if not isinstance(receiver.get("amount"), int) or receiver["amount"] <= 0:
                return self._error(400, "PARAM_ERROR", "amount")
            if not receiver.get("description"):
                return self._error(400, "PARAM_ERROR", "description")
            total += receiver["amount"]
        refunded = sum(r["amount"]["refund"] for r in self.refunds.values()
                       if r["out_trade_no"] == trade["out_trade_no"])  # fmt: skip
        if not receivers or total > trade["amount"]["total"] - refunded - trade["shared"]:
            return self._error(403, "NOT_ENOUGH", "分账金额超过可分金额")
        trade["shared"] += total
        return self._record(number, data, trade, receivers)

    def _unfreeze(self, data: dict) -> Response:
        trade = self._paid_trade(data)
        if trade is None or not data.get("description"):
            return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        number = str(data.get("out_order_no", ""))
        if number in self.sharings:
            return self._answer(200, self.sharings[number])
        return self._record(number, data, trade, [])

    def _record(self, number: str, data: dict, trade: dict, receivers: list) -> Response:
        self.sharings[number] = {
            "sub_mchid": trade["sub_mchid"],
            "transaction_id": trade["transaction_id"],
            "out_order_no": number,
            "order_id": "3008" + secrets.token_hex(12),
            "state": "PROCESSING",
            "receivers": [{**r, "result": "PENDING"} for r in receivers],
            "request": data,
        }
        trade["unfrozen"] = True
        return self._answer(200, self.sharings[number])

    # --- returns (分账回退) -------------------------------------------------------------------

    def _refundable(self, trade: dict) -> int:
        """What the trade left in the sub-merchant's account: paid, less refunds, less what
        profit sharing sent away and was not returned."""
        refunded = sum(r["amount"]["refund"] for r in self.refunds.values()
                       if r["out_trade_no"] == trade["out_trade_no"])  # fmt: skip
        away = 0
        for number, sharing in self.sharings.items():
            if sharing["transaction_id"] == trade.get("transaction_id"):
                returned = sum(self._returned_of(number).values())
                away += sum(r["amount"] for r in sharing["receivers"]) - returned
        return trade["amount"]["total"] - refunded - away

    def _returned_of(self, out_order_no: str) -> dict[str, int]:
        """What each receiver of a sharing gave back so far (successful returns)."""
        sharing = self.sharings[out_order_no]
        return sharing.setdefault("returned", {r["account"]: 0 for r in sharing["receivers"]})

    def _return(self, data: dict) -> Response:
        if self.return_failure:
            return self._error(*self.return_failure)
        number = str(data.get("out_return_no", ""))
        if not _OUT_ORDER_NO.fullmatch(number):
            return self._error(400, "PARAM_ERROR", "out_return_no")
        if not data.get("description") or len(data["description"]) > 80:
            return self._error(400, "PARAM_ERROR", "description")
        if number in self.returns:
            if self.returns[number]["request"] != data:
                return self._error(400, "PARAM_ERROR", "同一回退单号的请求不一致")
            found = self.returns[number]
            return self._answer(200, {k: v for k, v in found.items() if k != "request"})
        sharing = self.sharings.get(str(data.get("out_order_no", "")))
        if sharing is None and data.get("order_id"):
            sharing = next((s for s in self.sharings.values()
                            if s["order_id"] == data["order_id"]), None)  # fmt: skip
        if sharing is None or sharing["sub_mchid"] != data.get("sub_mchid"):
            return self._error(404, "RESOURCE_NOT_EXISTS", "分账单不存在")
        if sharing["state"] != "FINISHED":
            return self._error(400, "INVALID_REQUEST", "分账单未完成")
        received = {r["account"]: r["amount"] for r in sharing["receivers"]
                    if r["type"] == "MERCHANT_ID"}  # fmt: skip
        account = data.get("return_mchid")
        if account not in received:
            return self._error(400, "PARAM_ERROR", "return_mchid 不是该分账单的商户接收方")
        amount = data.get("amount")
        if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
            return self._error(400, "PARAM_ERROR", "amount")
        returned = self._returned_of(sharing["out_order_no"])
        tries = [r for r in self.returns.values() if r["out_order_no"] == sharing["out_order_no"]]
        if len(tries) >= 50:
            return self._error(403, "FREQUENCY_LIMITED", "回退次数超过50次")
        pending = sum(r["amount"] for r in tries
                      if r["result"] == "PROCESSING" and r["return_mchid"] == account)  # fmt: skip
        if amount > received[account] - returned[account] - pending:
            return self._error(403, "NOT_ENOUGH", "回退金额超过分给该接收方的金额")
        result = self.return_result
        now = datetime.now(UTC).astimezone(CHINA).isoformat(timespec="seconds")
        found = {
            "sub_mchid": sharing["sub_mchid"],
            "order_id": sharing["order_id"],
            "out_order_no": sharing["out_order_no"],
            "out_return_no": number,
            "return_id": "3008" + secrets.token_hex(12),
            "return_mchid": account,
            "amount": amount,
            "description": data["description"],
            "result": result,
            "create_time": now,
            "finish_time": now,
            "request": data,
        }
        if result == "FAILED":
            found["fail_reason"] = "ACCOUNT_ABNORMAL"
        elif result == "SUCCESS":
            returned[account] += amount
        self.returns[number] = found
        return self._answer(200, {k: v for k, v in found.items() if k != "request"})
