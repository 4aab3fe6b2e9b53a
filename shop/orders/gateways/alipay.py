"""Alipay OpenAPI with RSA2 (https://opendocs.alipay.com/): 手机网站支付 (alipay.trade.wap.pay)
in phone browsers and 电脑网站支付 (alipay.trade.page.pay) on desktop.

- A request's parameters (the common ones plus ``biz_content`` as JSON) are sorted by name,
  joined as ``k=v&k=v`` (empty values left out) and signed SHA256withRSA with the app's
  private key (``sign_type=RSA2``).
- A synchronous answer is ``{"<method>_response": {...}, "sign": "..."}``; the signature covers
  the exact text of the response object, which we cut out of the answer before parsing.
- An asynchronous notice is a form POST; its signature covers every field but ``sign`` and
  ``sign_type``, sorted and joined the same way. We answer ``success`` once it is handled.
- Amounts are yuan strings with two decimals; we convert them exactly to fen.
"""

import csv
import io
import json
import zipfile
from datetime import UTC, datetime
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _l

from shop.orders.gateways import keys
from shop.orders.gateways.base import (
    CHINA,
    BillLine,
    Charge,
    GatewayError,
    RefundState,
    TradeState,
    fen_to_yuan,
    http,
    in_china,
    yuan_to_fen,
)

_TRADE_STATES = {
    "TRADE_SUCCESS": "paid",
    "TRADE_FINISHED": "paid",
    "WAIT_BUYER_PAY": "unpaid",
    "TRADE_CLOSED": "closed",
}


class BadNotice(GatewayError):
    """A notice or answer whose signature or content does not verify."""


def china_time(moment: datetime) -> str:
    return in_china(moment).strftime("%Y-%m-%d %H:%M:%S")


def signing_text(params: dict) -> str:
    return "&".join(
        f"{key}={params[key]}"
        for key in sorted(params)
        if key not in ("sign", "sign_type") and params[key] not in ("", None)
    )


def response_text(body: str, key: str) -> str:
    """The exact JSON text of ``key``'s value in ``body``, as Alipay signed it."""
    marker = json.dumps(key)
    start = body.find(marker)
    if start < 0:
        raise BadNotice(code="no_response")
    start = body.index(":", start + len(marker)) + 1
    while body[start] in " \t\r\n":
        start += 1
    _value, end = json.JSONDecoder().raw_decode(body, start)
    return body[start:end]


class Alipay:
    name = "alipay"
    label = _l("Alipay")

    def __init__(
        self,
        *,
        app_id: str,
        private_key: str,
        alipay_public_key: str,
        notify_url: str,
        gateway_url: str = "https://openapi.alipay.com/gateway.do",
        timeout: float = 10.0,
    ):
        self.app_id = app_id
        self.private_key = keys.private_key(private_key)
        self.alipay_key = keys.public_key(alipay_public_key)
        self.notify_url = notify_url
        self.gateway_url = gateway_url
        self.timeout = timeout

    def signed(self, method: str, biz: dict, *, now: datetime | None = None, **extra) -> dict:
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": china_time(now or datetime.now(UTC)),
            "version": "1.0",
            "biz_content": json.dumps(biz, ensure_ascii=False, separators=(",", ":")),
            **{key: value for key, value in extra.items() if value},
        }
        params["sign"] = keys.sign(self.private_key, signing_text(params).encode())
        return params

    # --- paying -------------------------------------------------------------------------------

    def create(
        self,
        *,
        order_number: str,
        amount_cents: int,
        description: str,
        expires_at: datetime,
        channel: str,
        return_url: str,
    ) -> Charge:
        """Where to send the buyer: the gateway's page with the signed request (``channel``:
        wap for phones, page for desktop). Nothing is sent to Alipay until the buyer goes."""
        if channel == "wap":
            method, product = "alipay.trade.wap.pay", "QUICK_WAP_WAY"
        elif channel == "page":
            method, product = "alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY"
        else:
            raise ValueError(channel)
        biz = {
            "out_trade_no": order_number,
            "total_amount": fen_to_yuan(amount_cents),
            "subject": description[:256],
            "product_code": product,
            "time_expire": china_time(expires_at),
        }
        params = self.signed(method, biz, notify_url=self.notify_url, return_url=return_url)
        return Charge(redirect_url=f"{self.gateway_url}?{urlencode(params)}")

    # --- calls --------------------------------------------------------------------------------

    def call(self, method: str, biz: dict) -> dict:
        answer = http(
            "POST",
            self.gateway_url,
            body=urlencode(self.signed(method, biz)).encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"},
            timeout=self.timeout,
        )
        if answer.status != 200:
            raise GatewayError(code="http", status=answer.status)
        text = answer.body.decode("utf-8")
        key = method.replace(".", "_") + "_response"
        try:
            signed_text = response_text(text, key)
            signature = str(json.loads(text).get("sign", ""))
        except (ValueError, IndexError):
            raise BadNotice(code="malformed") from None
        data = json.loads(signed_text)
        # An error answer may come unsigned (e.g. a bad app id); a success never does.
        if signature and not keys.verify(self.alipay_key, signed_text.encode(), signature):
            raise BadNotice(code="bad_signature")
        if data.get("code") != "10000":
            raise GatewayError(code=str(data.get("sub_code") or data.get("code") or ""))
        if not signature:
            raise BadNotice(code="unsigned")
        return data

    def query(self, order_number: str) -> TradeState:
        try:
            data = self.call("alipay.trade.query", {"out_trade_no": order_number})
        except GatewayError as error:
            if error.code == "ACQ.TRADE_NOT_EXIST":
                return TradeState(order_number, "unknown", 0)
            raise
        return self._trade(data)

    @staticmethod
    def _trade(data: dict) -> TradeState:
        paid_at = None
        if data.get("send_pay_date") or data.get("gmt_payment"):
            local = datetime.strptime(
                data.get("send_pay_date") or data["gmt_payment"], "%Y-%m-%d %H:%M:%S"
            )
            paid_at = local.replace(tzinfo=CHINA).astimezone(UTC).replace(tzinfo=None)
        return TradeState(
            order_number=str(data["out_trade_no"]),
            state=_TRADE_STATES.get(str(data.get("trade_status")), "unknown"),
            amount_cents=yuan_to_fen(str(data.get("total_amount") or "0")),
            trade_id=str(data.get("trade_no") or ""),
            paid_at=paid_at,
        )

    def close(self, order_number: str) -> None:
        try:
            self.call("alipay.trade.close", {"out_trade_no": order_number})
        except GatewayError as error:
            # Never paid, never opened: nothing to close on Alipay's side.
            if error.code != "ACQ.TRADE_NOT_EXIST":
                raise

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
        biz = {
            "out_trade_no": order_number,
            "refund_amount": fen_to_yuan(amount_cents),
            "out_request_no": refund_number,
            "refund_reason": reason[:256],
        }
        data = self.call("alipay.trade.refund", biz)
        # fund_change Y: money moved by this call; N on a repeated request that already moved
        # it. Either way the query tells the truth.
        if data.get("fund_change") == "Y":
            return RefundState(refund_number, order_number, "done", amount_cents, data["trade_no"])
        return self.query_refund(refund_number, order_number=order_number)

    def query_refund(self, refund_number: str, *, order_number: str = "") -> RefundState:
        biz = {"out_request_no": refund_number, "out_trade_no": order_number}
        data = self.call("alipay.trade.fastpay.refund.query", biz)
        done = data.get("refund_status") == "REFUND_SUCCESS"
        amount = str(data.get("refund_amount") or "0")
        return RefundState(
            refund_number=refund_number,
            order_number=str(data.get("out_trade_no") or order_number),
            state="done" if done else "pending",
            amount_cents=yuan_to_fen(amount),
            refund_id=str(data.get("trade_no") or ""),
        )

    # --- notices ------------------------------------------------------------------------------

    def parse_notice(self, form: dict) -> TradeState:
        """The verified trade state in an asynchronous notice (a form POST). Raises BadNotice."""
        fields = {key: str(value) for key, value in form.items()}
        if fields.get("sign_type", "RSA2") != "RSA2":
            raise BadNotice(code="sign_type")
        if not keys.verify(self.alipay_key, signing_text(fields).encode(), fields.get("sign", "")):
            raise BadNotice(code="bad_signature")
        if fields.get("app_id") != self.app_id:
            raise BadNotice(code="app_id")
        try:
            return self._trade(fields)
        except (KeyError, ValueError):
            raise BadNotice(code="malformed") from None

    # --- bills --------------------------------------------------------------------------------

    def bill(self, day) -> list[BillLine]:
        data = self.call(
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": day.isoformat()},
        )
        answer = http("GET", str(data["bill_download_url"]), timeout=self.timeout)
        if answer.status != 200:
            raise GatewayError(code="bill_download", status=answer.status)
        return parse_bill(answer.body)


def parse_bill(archive: bytes) -> list[BillLine]:
    """The 业务明细 file of a trade bill archive (zipped GBK CSV files): 交易 and 退款 lines."""
    lines = []
    with zipfile.ZipFile(io.BytesIO(archive)) as bundle:
        for name in bundle.namelist():
            text = bundle.read(name).decode("gbk")
            rows = [row for row in csv.reader(io.StringIO(text)) if row and row[0][:1] != "#"]
            if not rows or "业务类型" not in [cell.strip() for cell in rows[0]]:
                continue
            header = [cell.strip() for cell in rows[0]]
            for row in rows[1:]:
                value = dict(zip(header, (cell.strip() for cell in row), strict=False))
                kind = value.get("业务类型")
                if kind not in ("交易", "退款"):
                    continue
                amount = yuan_to_fen(value["订单金额（元）"].lstrip("-"))
                lines.append(
                    BillLine(
                        "payment" if kind == "交易" else "refund",
                        value["商户订单号"],
                        value["支付宝交易号"],
                        amount,
                        value.get("退款批次号/请求号", ""),
                    )
                )
    return lines
