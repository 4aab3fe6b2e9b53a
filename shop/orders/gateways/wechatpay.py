"""WeChat Pay, API v3 (https://pay.weixin.qq.com/doc/v3/merchant/): JSAPI inside WeChat, H5 in
other phone browsers, Native (a QR code) on desktop.

- Every request carries ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=..,nonce_str=..,
  signature=..,timestamp=..,serial_no=..``: SHA256withRSA with the merchant's API key over
  ``METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n``.
- Every answer and every callback is signed by WeChat Pay (``Wechatpay-Timestamp``,
  ``-Nonce``, ``-Signature``, ``-Serial``) over ``TIMESTAMP\\nNONCE\\nBODY\\n``; we verify it
  with WeChat Pay's public key (or platform certificate) and refuse a stale timestamp.
- A callback's ``resource`` is AEAD_AES_256_GCM-encrypted with the APIv3 key.
- Amounts are integers in fen; bills are in yuan and are converted exactly.
"""

import base64
import csv
import hashlib
import io
import json
import secrets
import time
from datetime import UTC, datetime
from urllib.parse import quote, urlencode, urlsplit

from flask_babel import lazy_gettext as _l

from shop.orders.gateways import keys
from shop.orders.gateways.base import (
    BillLine,
    Charge,
    GatewayError,
    RefundState,
    TradeState,
    http,
    in_china,
    yuan_to_fen,
)

#: A signed answer or callback older (or newer) than this is refused as a replay.
MAX_SKEW_SECONDS = 300
_TRADE_STATES = {
    "SUCCESS": "paid",
    "REFUND": "refunded",
    "NOTPAY": "unpaid",
    "USERPAYING": "unpaid",
    "CLOSED": "closed",
    "REVOKED": "closed",
    "PAYERROR": "closed",
}
_REFUND_STATES = {
    "SUCCESS": "done",
    "PROCESSING": "pending",
    "CLOSED": "failed",
    "ABNORMAL": "failed",
}


class BadCallback(GatewayError):
    """A callback (or answer) whose signature, age, or content does not verify."""


def rfc3339(moment: datetime) -> str:
    return in_china(moment).isoformat(timespec="seconds")


class WeChatPay:
    name = "wechatpay"
    label = _l("WeChat Pay")

    def __init__(
        self,
        *,
        mchid: str,
        appid: str,
        serial_no: str,
        private_key: str,
        apiv3_key: str,
        platform_key: str,
        platform_key_id: str,
        notify_url: str,
        base_url: str = "https://api.mch.weixin.qq.com",
        timeout: float = 10.0,
    ):
        if len(apiv3_key.encode()) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.mchid = mchid
        self.appid = appid
        self.serial_no = serial_no
        self.private_key = keys.private_key(private_key)
        self.apiv3_key = apiv3_key.encode()
        # cryptography loads with a configured gateway, not the app (tests/test_import_weight.py)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        #: Made once: every callback decrypts with the same key (bench/bench_callbacks.py).
        self.aead = AESGCM(self.apiv3_key)
        self.platform_key = keys.public_key(platform_key)
        self.platform_key_id = platform_key_id
        self.notify_url = notify_url
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # --- signing ------------------------------------------------------------------------------

    def authorization(self, method: str, url_path: str, body: str, *, now: int | None = None):
        timestamp = str(int(time.time()) if now is None else now)
        nonce = secrets.token_hex(16).upper()
        message = f"{method}\n{url_path}\n{timestamp}\n{nonce}\n{body}\n".encode()
        signature = keys.sign(self.private_key, message)
        return (
            f'WECHATPAY2-SHA256-RSA2048 mchid="{self.mchid}",nonce_str="{nonce}",'
            f'signature="{signature}",timestamp="{timestamp}",serial_no="{self.serial_no}"'
        )

    def verify(self, headers, body: bytes, *, now: float | None = None) -> None:
        """Raise BadCallback unless ``body`` carries WeChat Pay's valid, fresh signature."""
        get = {k.lower(): v for k, v in dict(headers).items()}.get
        timestamp, nonce = get("wechatpay-timestamp", ""), get("wechatpay-nonce", "")
        signature, serial = get("wechatpay-signature", ""), get("wechatpay-serial", "")
        if not (timestamp.isdigit() and nonce and signature):
            raise BadCallback(code="unsigned")
        if serial != self.platform_key_id:
            raise BadCallback(code="unknown_key")
        if abs((time.time() if now is None else now) - int(timestamp)) > MAX_SKEW_SECONDS:
            raise BadCallback(code="stale")
        message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
        if not keys.verify(self.platform_key, message, signature):
            raise BadCallback(code="bad_signature")

    def decrypt(self, resource: dict) -> dict:
        if resource.get("algorithm") != "AEAD_AES_256_GCM":
            raise BadCallback(code="algorithm")
        from cryptography.exceptions import InvalidTag  # with the gateway, not the app

        try:
            plain = self.aead.decrypt(
                str(resource["nonce"]).encode(),
                base64.b64decode(resource["ciphertext"]),
                str(resource.get("associated_data", "")).encode(),
            )
            return json.loads(plain)
        except (InvalidTag, KeyError, ValueError, TypeError):
            raise BadCallback(code="decrypt") from None

    # --- calls --------------------------------------------------------------------------------

    def call(
        self, method: str, path: str, payload: dict | None = None, *, signed_answer=True,
        extra_headers: dict | None = None,
    ):  # fmt: skip
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False)
        headers = {
            "Authorization": self.authorization(method, path, body),
            "Accept": "application/json",
            "User-Agent": "fenxiang",
            **(extra_headers or {}),
        }
        if payload is not None:
            headers["Content-Type"] = "application/json"
        answer = http(
            method,
            self.base_url + path,
            body=body.encode() if payload is not None else None,
            headers=headers,
            timeout=self.timeout,
        )
        if answer.status >= 400:
            try:
                error = answer.json()
            except ValueError:
                error = {}
            raise GatewayError(code=str(error.get("code", "")), status=answer.status)
        if signed_answer and answer.body:
            self.verify(answer.headers, answer.body)
        return answer

    # --- payments -----------------------------------------------------------------------------

    #: Where payments are made, and the payer's openid field (the partner API differs in both).
    PAY_PATH = "/v3/pay/transactions"
    PAYER_KEY = "openid"

    def _payee(self, order_number: str) -> dict:
        """Who is paid: the merchant's own app and account."""
        return {"appid": self.appid, "mchid": self.mchid}

    def create(
        self,
        *,
        order_number: str,
        amount_cents: int,
        description: str,
        expires_at: datetime,
        channel: str,
        openid: str = "",
        client_ip: str = "",
    ) -> Charge:
        """Create the payment (``channel``: jsapi, h5 or native) and say how the buyer pays."""
        payload = {
            **self._payee(order_number),
            "description": description[:127],
            "out_trade_no": order_number,
            "time_expire": rfc3339(expires_at),
            "notify_url": self.notify_url,
            "amount": {"total": amount_cents, "currency": "CNY"},
        }
        if channel == "jsapi":
            if not openid:
                raise GatewayError(_l("Sign in with WeChat to pay inside WeChat."), code="openid")
            payload["payer"] = {self.PAYER_KEY: openid}
        elif channel == "h5":
            payload["scene_info"] = {"payer_client_ip": client_ip, "h5_info": {"type": "Wap"}}
        elif channel != "native":
            raise ValueError(channel)
        data = self.call("POST", f"{self.PAY_PATH}/{channel}", payload).json()
        account = str(payload.get("sub_mchid", ""))
        if channel == "jsapi":
            return Charge(jsapi=self.jsapi_params(str(data["prepay_id"])), account=account)
        if channel == "h5":
            return Charge(redirect_url=str(data["h5_url"]), account=account)
        return Charge(qr_text=str(data["code_url"]), account=account)

    def jsapi_params(self, prepay_id: str) -> dict:
        """What WeixinJSBridge's getBrandWCPayRequest takes, signed with the merchant key."""
        timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
        package = f"prepay_id={prepay_id}"
        message = f"{self.appid}\n{timestamp}\n{nonce}\n{package}\n".encode()
        return {
            "appId": self.appid,
            "timeStamp": timestamp,
            "nonceStr": nonce,
            "package": package,
            "signType": "RSA",
            "paySign": keys.sign(self.private_key, message),
        }

    def _account(self, order_number: str) -> dict:
        """Whose trade it is, as queries and closing name it: the merchant's own account."""
        return {"mchid": self.mchid}

    def query(self, order_number: str) -> TradeState:
        path = (
            f"{self.PAY_PATH}/out-trade-no/{quote(order_number)}"
            f"?{urlencode(self._account(order_number))}"
        )
        try:
            data = self.call("GET", path).json()
        except GatewayError as error:
            if error.code == "ORDER_NOT_EXIST":
                return TradeState(order_number, "unknown", 0)
            raise
        return self._trade(data)

    def _trade(self, data: dict) -> TradeState:
        mine = (data.get("mchid", self.mchid), data.get("appid", self.appid))
        if mine != (self.mchid, self.appid):
            raise BadCallback(code="merchant")
        paid_at = None
        if data.get("success_time"):
            paid_at = datetime.fromisoformat(data["success_time"]).astimezone(UTC)
        return TradeState(
            order_number=str(data["out_trade_no"]),
            state=_TRADE_STATES.get(str(data.get("trade_state")), "unknown"),
            amount_cents=int((data.get("amount") or {}).get("total") or 0),
            trade_id=str(data.get("transaction_id") or ""),
            paid_at=paid_at.replace(tzinfo=None) if paid_at else None,
        )

    def close(self, order_number: str) -> None:
        path = f"{self.PAY_PATH}/out-trade-no/{quote(order_number)}/close"
        self.call("POST", path, self._account(order_number))

    def refund(
        self,
        *,
        order_number: str,
        refund_number: str,
        amount_cents: int,
        total_cents: int,
        reason: str,
        notify_url: str = "",
    ) -> RefundState:
        payload = {
            **self._refund_account(order_number),
            "out_trade_no": order_number,
            "out_refund_no": refund_number,
            "reason": reason[:80],
            "notify_url": notify_url or self.notify_url,
            "amount": {"refund": amount_cents, "total": total_cents, "currency": "CNY"},
        }
        return self._refund(self.call("POST", "/v3/refund/domestic/refunds", payload).json())

    def _refund_account(self, order_number: str) -> dict:
        """Whose refund it is: the merchant signing the request (nothing more to name)."""
        return {}

    def query_refund(self, refund_number: str, *, order_number: str = "") -> RefundState:
        path = f"/v3/refund/domestic/refunds/{quote(refund_number)}"
        return self._refund(self.call("GET", path).json())

    @staticmethod
    def _refund(data: dict) -> RefundState:
        return RefundState(
            refund_number=str(data["out_refund_no"]),
            order_number=str(data.get("out_trade_no", "")),
            state=_REFUND_STATES.get(
                str(data.get("status") or data.get("refund_status")), "pending"
            ),
            amount_cents=int((data.get("amount") or {}).get("refund") or 0),
            refund_id=str(data.get("refund_id") or ""),
        )

    # --- callbacks ----------------------------------------------------------------------------

    def parse_callback(self, headers, body: bytes, *, now: float | None = None):
        """The verified, decrypted event: a TradeState (TRANSACTION.*) or RefundState
        (REFUND.*). Raises BadCallback."""
        self.verify(headers, body, now=now)
        try:
            event = json.loads(body)
            kind = str(event["event_type"])
            resource = self.decrypt(event["resource"])
        except (ValueError, KeyError, TypeError):
            raise BadCallback(code="malformed") from None
        if kind.startswith("TRANSACTION."):
            return self._trade(resource)
        if kind.startswith("REFUND."):
            if resource.get("mchid", self.mchid) != self.mchid:
                raise BadCallback(code="merchant")
            state = self._refund(resource)
            return state
        raise BadCallback(code="event_type")

    # --- bills --------------------------------------------------------------------------------

    def bill(self, day) -> list[BillLine]:
        """The trade bill of ``day`` (a date): payments and refunds, amounts in fen."""
        query = urlencode({"bill_date": day.isoformat(), "bill_type": "ALL"})
        try:
            info = self.call("GET", f"/v3/bill/tradebill?{query}").json()
        except GatewayError as error:
            # No bill is made for a day without a payment or a refund (WeChat Pay's FAQ); a
            # bill still being made (STATEMENT_CREATING) is an error: run it again later.
            if error.code == NO_BILL:
                return []
            raise
        parts = urlsplit(str(info["download_url"]))
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        # The file itself is not signed by WeChat Pay; its SHA-1 from the signed answer is.
        data = self.call("GET", path, signed_answer=False).body
        if hashlib.sha1(data).hexdigest() != str(info.get("hash_value", "")).lower():  # noqa: S324
            raise GatewayError(code="bill_hash")
        return parse_bill(data.decode("utf-8-sig"))


#: The answer for a day with no trade and no refund: an empty bill, not an error.
NO_BILL = "NO_STATEMENT_EXIST"


def parse_bill(text: str) -> list[BillLine]:
    """The detail part of a trade bill: a header line, then lines whose fields start with "`",
    then a summary part (another header). Only the detail lines are returned."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = [name.strip() for name in rows[0]]
    at = {name: header.index(name) for name in header}
    lines = []
    for row in rows[1:]:
        if not row or not row[0].startswith("`"):
            break  # the summary part
        value = {name: row[i].lstrip("`").strip() for name, i in at.items() if i < len(row)}
        # A partner's bill names the sub-merchant of each line (特约商户号); "0" in direct mode.
        account = value.get("特约商户号", "")
        account = "" if account in ("", "0") else account
        if value.get("交易状态") == "REFUND":
            lines.append(
                BillLine(
                    "refund",
                    value["商户订单号"],
                    value["微信订单号"],
                    yuan_to_fen(value["退款金额"]),
                    value.get("商户退款单号", ""),
                    account,
                )
            )
        elif value.get("交易状态") == "SUCCESS":
            lines.append(
                BillLine(
                    "payment",
                    value["商户订单号"],
                    value["微信订单号"],
                    yuan_to_fen(value.get("订单金额") or value["应结订单金额"]),
                    account=account,
                )
            )
    return lines
