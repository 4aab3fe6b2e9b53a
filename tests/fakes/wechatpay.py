"""A fake of WeChat Pay API v3 (the parts Fenxiang uses), written from the documentation.

It checks the merchant's ``Authorization`` signature on every request with the merchant's
public key, keeps transactions and refunds in memory, signs every answer with the "platform"
key (``Wechatpay-*`` headers), and makes callbacks the way WeChat Pay does: the event JSON with
an AEAD_AES_256_GCM-encrypted resource, signed with the platform key.
"""

import base64
import hashlib
import json
import re
import secrets
import time
from datetime import UTC, datetime, timedelta, timezone

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from werkzeug.wrappers import Request, Response

CHINA = timezone(timedelta(hours=8))
_AUTH = re.compile(r'(\w+)="([^"]*)"')


class FakeWeChatPay:
    def __init__(
        self,
        *,
        mchid,
        appid,
        merchant_public_pem,
        merchant_serial,
        platform_private_pem,
        platform_key_id,
        apiv3_key,
    ):
        self.mchid = mchid
        self.appid = appid
        self.merchant_key = serialization.load_pem_public_key(merchant_public_pem.encode())
        self.merchant_serial = merchant_serial
        self.platform_key = serialization.load_pem_private_key(
            platform_private_pem.encode(), password=None
        )
        self.platform_key_id = platform_key_id
        self.apiv3_key = apiv3_key.encode()
        self.trades: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.requests: list[dict] = []
        #: Set to a (status, code) pair to make refunds fail that way.
        self.refund_failure: tuple[int, str] | None = None
        #: Set to "PROCESSING" to make refunds wait for a callback or a query.
        self.refund_status = "SUCCESS"
        self.bill_text = ""  #: the bill of any day without one in ``bills``
        self.bills: dict[str, str] = {}  #: bill date (YYYY-MM-DD) -> its bill
        self.bill_files: dict[str, str] = {}  #: download token -> bill
        self.bill_asks: list[dict] = []  #: the query of every bill request

    # --- signing ------------------------------------------------------------------------------

    def sign(self, message: bytes) -> str:
        raw = self.platform_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()

    def signed_headers(self, body: bytes, *, timestamp: int | None = None) -> dict:
        timestamp = int(time.time()) if timestamp is None else timestamp
        nonce = secrets.token_hex(16)
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        return {
            "Wechatpay-Timestamp": str(timestamp),
            "Wechatpay-Nonce": nonce,
            "Wechatpay-Signature": self.sign(message),
            "Wechatpay-Serial": self.platform_key_id,
        }

    def _answer(self, status: int, data: dict | None = None) -> Response:
        body = b"" if data is None else json.dumps(data, ensure_ascii=False).encode()
        response = Response(body, status=status, content_type="application/json")
        if status < 400 and body:
            response.headers.update(self.signed_headers(body))
        return response

    def _error(self, status: int, code: str, message: str = "") -> Response:
        return self._answer(status, {"code": code, "message": message or code})

    def _check_authorization(self, request: Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("WECHATPAY2-SHA256-RSA2048 "):
            return False
        fields = dict(_AUTH.findall(header))
        if fields.get("mchid") != self.mchid or fields.get("serial_no") != self.merchant_serial:
            return False
        path = request.full_path.rstrip("?") if request.query_string else request.path
        message = (
            (
                f"{request.method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n"
            ).encode()
            + request.get_data()
            + b"\n"
        )
        try:
            self.merchant_key.verify(
                base64.b64decode(fields.get("signature", "")),
                message,
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:  # noqa: BLE001 - any failure is a bad signature
            return False
        return abs(time.time() - int(fields.get("timestamp", "0"))) <= 300

    # --- the callback WeChat Pay would send ----------------------------------------------------

    def encrypt(self, resource: dict, associated_data: str) -> dict:
        nonce = secrets.token_hex(6)
        plain = json.dumps(resource, ensure_ascii=False).encode()
        sealed = AESGCM(self.apiv3_key).encrypt(nonce.encode(), plain, associated_data.encode())
        return {
            "algorithm": "AEAD_AES_256_GCM",
            "ciphertext": base64.b64encode(sealed).decode(),
            "associated_data": associated_data,
            "original_type": associated_data,
            "nonce": nonce,
        }

    def callback(self, event_type: str, resource: dict, *, timestamp=None) -> tuple[dict, bytes]:
        kind = "refund" if event_type.startswith("REFUND.") else "transaction"
        event = {
            "id": secrets.token_hex(16),
            "create_time": datetime.now(CHINA).isoformat(timespec="seconds"),
            "resource_type": "encrypt-resource",
            "event_type": event_type,
            "summary": "支付成功" if kind == "transaction" else "退款成功",
            "resource": self.encrypt(resource, kind),
        }
        body = json.dumps(event, ensure_ascii=False).encode()
        return self.signed_headers(body, timestamp=timestamp), body

    def pay(self, order_number: str, *, amount: int | None = None) -> tuple[dict, bytes]:
        """The buyer pays: the trade succeeds and the payment callback is returned."""
        trade = self.trades[order_number]
        trade["trade_state"] = "SUCCESS"
        trade["transaction_id"] = "4200" + secrets.token_hex(12)
        trade["success_time"] = datetime.now(CHINA).isoformat(timespec="seconds")
        if amount is not None:
            trade["amount"]["total"] = amount
        return self.callback("TRANSACTION.SUCCESS", self._trade_view(trade))

    def _trade_view(self, trade: dict) -> dict:
        view = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": trade["out_trade_no"],
            "trade_state": trade["trade_state"],
            "trade_state_desc": trade["trade_state"],
            "amount": {**trade["amount"], "payer_total": trade["amount"]["total"]},
        }
        if trade.get("transaction_id"):
            view.update(
                transaction_id=trade["transaction_id"],
                success_time=trade["success_time"],
                trade_type=trade["trade_type"],
                payer={"openid": trade.get("openid", "")},
            )
        return view

    # --- the API --------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        self.requests.append({"method": request.method, "path": request.full_path})
        if not self._check_authorization(request):
            return self._error(401, "SIGN_ERROR", "签名错误")(environ, start_response)
        return self.route(request)(environ, start_response)

    def route(self, request: Request) -> Response:
        path, method = request.path, request.method
        match = re.fullmatch(r"/v3/pay/transactions/(jsapi|h5|native)", path)
        if match and method == "POST":
            return self._create(match.group(1).upper(), request.get_json())
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)", path)
        if match and method == "GET":
            trade = self.trades.get(match.group(1))
            if trade is None or request.args.get("mchid") != self.mchid:
                return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
            return self._answer(200, self._trade_view(trade))
        match = re.fullmatch(r"/v3/pay/transactions/out-trade-no/([^/]+)/close", path)
        if match and method == "POST":
            trade = self.trades.get(match.group(1))
            if trade is None:
                return self._error(404, "ORDER_NOT_EXIST")
            if trade["trade_state"] == "SUCCESS":
                return self._error(400, "ORDERPAID", "订单已支付")
            trade["trade_state"] = "CLOSED"
            return self._answer(204)
        if path == "/v3/refund/domestic/refunds" and method == "POST":
            return self._refund(request.get_json())
        match = re.fullmatch(r"/v3/refund/domestic/refunds/([^/]+)", path)
        if match and method == "GET":
            refund = self.refunds.get(match.group(1))
            if refund is None:
                return self._error(404, "RESOURCE_NOT_EXISTS")
            return self._answer(200, refund)
        if path == "/v3/bill/tradebill" and method == "GET":
            self.bill_asks.append(dict(request.args))
            text = self.bills.get(request.args.get("bill_date", ""), self.bill_text)
            sub = request.args.get("sub_mchid")
            if sub is not None:  # a partner asking for one sub-merchant's bill
                text = self._lines_of(text, sub)
            if text.count("\n`") == 0:
                # Documented: no bill is made for a day without a trade or a refund.
                return self._error(400, "NO_STATEMENT_EXIST", "请求的账单文件不存在")
            token = secrets.token_hex(8)
            self.bill_files[token] = text
            data = text.encode("utf-8")
            return self._answer(
                200,
                {
                    "hash_type": "SHA1",
                    "hash_value": hashlib.sha1(data).hexdigest(),  # noqa: S324 - documented
                    "download_url": f"{request.host_url}v3/billdownload/file?token={token}",
                },
            )
        if path == "/v3/billdownload/file" and method == "GET":
            text = self.bill_files.get(request.args.get("token", ""))
            if text is None:
                return self._error(404, "NOT_FOUND")
            return Response(text.encode("utf-8"), content_type="text/plain")
        return self._error(404, "NOT_FOUND")

    def _create(self, trade_type: str, data: dict) -> Response:
        if data.get("mchid") != self.mchid or data.get("appid") != self.appid:
            return self._error(400, "PARAM_ERROR", "mchid与appid不匹配")
        total = data.get("amount", {}).get("total")
        if not isinstance(total, int) or total <= 0:
            return self._error(400, "PARAM_ERROR", "amount.total")
        if trade_type == "JSAPI" and not data.get("payer", {}).get("openid"):
            return self._error(400, "PARAM_ERROR", "payer.openid")
        number = data["out_trade_no"]
        if number in self.trades and self.trades[number]["trade_state"] == "SUCCESS":
            return self._error(400, "ORDERPAID")
        self.trades[number] = {
            "out_trade_no": number,
            "trade_type": trade_type,
            "trade_state": "NOTPAY",
            "amount": {"total": total, "currency": "CNY"},
            "time_expire": data.get("time_expire"),
            "notify_url": data.get("notify_url"),
            "openid": data.get("payer", {}).get("openid", ""),
            "description": data.get("description"),
        }
        prepay = "wx" + secrets.token_hex(14)
        if trade_type == "JSAPI":
            return self._answer(200, {"prepay_id": prepay})
        if trade_type == "H5":
            return self._answer(200, {"h5_url": f"https://wx.tenpay.com/h5pay?prepay_id={prepay}"})
        return self._answer(200, {"code_url": f"weixin://wxpay/bizpayurl?pr={prepay[:10]}"})

    def _refund(self, data: dict) -> Response:
        trade = self.trades.get(data.get("out_trade_no", ""))
        if trade is None or trade["trade_state"] not in ("SUCCESS", "REFUND"):
            return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
        if self.refund_failure:
            status, code = self.refund_failure
            return self._error(status, code)
        number = data["out_refund_no"]
        if number in self.refunds:  # the same refund number asked again: the same refund
            return self._answer(200, self.refunds[number])
        amount = data["amount"]
        refunded = sum(
            r["amount"]["refund"]
            for r in self.refunds.values()
            if r["out_trade_no"] == trade["out_trade_no"]
        )
        if amount["refund"] + refunded > trade["amount"]["total"]:
            return self._error(403, "NOT_ENOUGH", "退款金额超过订单金额")
        self.refunds[number] = {
            "refund_id": "5030" + secrets.token_hex(12),
            "out_refund_no": number,
            "transaction_id": trade["transaction_id"],
            "out_trade_no": trade["out_trade_no"],
            "channel": "ORIGINAL",
            "status": self.refund_status,
            "create_time": datetime.now(UTC).astimezone(CHINA).isoformat(timespec="seconds"),
            "amount": {
                "total": amount["total"],
                "refund": amount["refund"],
                "payer_total": amount["total"],
                "payer_refund": amount["refund"],
                "currency": "CNY",
            },
        }
        trade["trade_state"] = "REFUND"
        return self._answer(200, self.refunds[number])

    def finish_refund(self, refund_number: str, status: str = "SUCCESS") -> tuple[dict, bytes]:
        """The pending refund ends; the refund callback is returned."""
        refund = self.refunds[refund_number]
        refund["status"] = status
        resource = {
            "mchid": self.mchid,
            "out_trade_no": refund["out_trade_no"],
            "transaction_id": refund["transaction_id"],
            "out_refund_no": refund_number,
            "refund_id": refund["refund_id"],
            "refund_status": status,
            "amount": refund["amount"],
        }
        return self.callback(
            f"REFUND.{status}" if status != "SUCCESS" else "REFUND.SUCCESS", resource
        )

    BILL_HEADER = (
        "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,"
        "交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,"
        "充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,"
        "费率备注"
    )

    @staticmethod
    def _lines_of(text: str, sub_mchid: str) -> str:
        """The bill with only the detail lines of one sub-merchant (特约商户号, column 4)."""
        lines = text.splitlines()
        if not lines:
            return text
        kept = [lines[0]] + [
            line for line in lines[1:]
            if not line.startswith("`") or line.split(",")[3] == f"`{sub_mchid}"
        ]  # fmt: skip
        return "\n".join(kept) + "\n"

    def write_bill(self, *, payments=(), refunds=(), day=None) -> None:
        """A bill in the documented layout: payments as (order number, amount in fen or None
        for the trade's own[, the sub-merchant it went through if not the trade's]), refunds
        as refund numbers. Each line names the trade's sub-merchant (特约商户号, a partner's
        trade) or "0". With ``day`` (a date), the bill of that day only; else of every day."""

        def yuan(cents):
            return f"{cents // 100}.{cents % 100:02d}"

        lines = [self.BILL_HEADER]
        for number, amount, *through in payments:
            trade = self.trades[number]
            total = trade["amount"]["total"] if amount is None else amount
            sub = through[0] if through else trade.get("sub_mchid", "0")
            lines.append(
                f"`2026-12-05 10:00:00,`{self.appid},`{self.mchid},`{sub},`,"
                f"`{trade['transaction_id']},`{number},`o1,`{trade['trade_type']},`SUCCESS,`CFT,`CNY,`{yuan(total)},`0.00,`0,"
                f"`0,`0.00,`0.00,`,`,`商品,`,`0.00000,`0.60%,`{yuan(total)},`0.00,`"
            )
        for refund_number in refunds:
            refund = self.refunds[refund_number]
            amount = yuan(refund["amount"]["refund"])
            sub = self.trades.get(refund["out_trade_no"], {}).get("sub_mchid", "0")
            lines.append(
                f"`2026-12-05 11:00:00,`{self.appid},`{self.mchid},`{sub},`,"
                f"`{refund['transaction_id']},`{refund['out_trade_no']},`o1,`NATIVE,`REFUND,`CFT,`CNY,`0.00,`0.00,"
                f"`{refund['refund_id']},`{refund_number},`{amount},`0.00,`ORIGINAL,`SUCCESS,"
                f"`商品,`,`0.00000,`0.60%,`0.00,`{amount},`"
            )
        lines.append(
            "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
        )
        lines.append("`0,`0.00,`0.00,`0.00,`0.00000,`0.00,`0.00")
        text = "\n".join(lines) + "\n"
        if day is None:
            self.bill_text = text
        else:
            self.bills[day.isoformat()] = text
