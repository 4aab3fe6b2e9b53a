"""A fake of Alipay's OpenAPI gateway (the parts Fenxiang uses), written from the documentation.

Requests are form POSTs (or, for the buyer's page, a GET) signed RSA2 with the app's private
key; the fake verifies them with the app's public key, keeps trades and refunds in memory, and
answers ``{"<method>_response": {...}, "sign": "..."}`` signed with "Alipay's" private key
over the exact text of the response object. Notices are signed form dicts.
"""

import base64
import csv
import io
import json
import secrets
import zipfile
from datetime import datetime, timedelta, timezone

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from werkzeug.wrappers import Request, Response

CHINA = timezone(timedelta(hours=8))


def content(params: dict) -> str:
    return "&".join(
        f"{k}={params[k]}"
        for k in sorted(params)
        if k not in ("sign", "sign_type") and params[k] != ""
    )


def yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def cents(text: str) -> int:
    whole, _, part = text.partition(".")
    return int(whole) * 100 + int((part or "0").ljust(2, "0"))


class FakeAlipay:
    def __init__(self, *, app_id, app_public_pem, alipay_private_pem):
        self.app_id = app_id
        self.app_key = serialization.load_pem_public_key(app_public_pem.encode())
        self.alipay_key = serialization.load_pem_private_key(alipay_private_pem.encode(), None)
        self.trades: dict[str, dict] = {}
        self.refunds: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.refund_failure: str | None = None  #: a sub_code to fail refunds with
        self.bill_rows: list[list[str]] = []
        self.base_url = ""

    def sign(self, text: str) -> str:
        raw = self.alipay_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        return base64.b64encode(raw).decode()

    def verify(self, params: dict) -> bool:
        try:
            self.app_key.verify(
                base64.b64decode(params.get("sign", "")),
                content(params).encode(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except Exception:  # noqa: BLE001 - any failure is a bad signature
            return False
        return params.get("sign_type") == "RSA2" and params.get("app_id") == self.app_id

    def answer(self, method: str, data: dict, *, signed: bool = True) -> Response:
        text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        key = method.replace(".", "_") + "_response"
        body = f'{{"{key}":{text}' + (f',"sign":"{self.sign(text)}"}}' if signed else "}")
        return Response(body.encode(), content_type="application/json;charset=utf-8")

    def fail(self, method: str, sub_code: str, msg: str = "") -> Response:
        data = {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": msg}
        return self.answer(method, data)

    # --- what the buyer and Alipay's servers do -------------------------------------------------

    def notice(self, order_number: str, *, status="TRADE_SUCCESS", amount: int | None = None):
        """The asynchronous notice Alipay posts, as a signed form dict."""
        trade = self.trades[order_number]
        now = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        fields = {
            "notify_time": now,
            "notify_type": "trade_status_sync",
            "notify_id": secrets.token_hex(16),
            "charset": "utf-8",
            "version": "1.0",
            "sign_type": "RSA2",
            "app_id": self.app_id,
            "trade_no": trade["trade_no"],
            "out_trade_no": order_number,
            "trade_status": status,
            "total_amount": yuan(trade["total"] if amount is None else amount),
            "gmt_payment": trade.get("gmt_payment", now),
            "subject": trade["subject"],
        }
        fields["sign"] = self.sign(content(fields))
        return fields

    def pay(self, order_number: str, **kwargs) -> dict:
        trade = self.trades[order_number]
        trade["status"] = "TRADE_SUCCESS"
        trade["gmt_payment"] = datetime.now(CHINA).strftime("%Y-%m-%d %H:%M:%S")
        return self.notice(order_number, **kwargs)

    # --- the gateway ----------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        request = Request(environ)
        if request.path.startswith("/bill/"):
            return self._bill_file()(environ, start_response)
        params = {k: v for k, v in request.values.items()}
        self.requests.append({"http": request.method, **params})
        method = params.get("method", "")
        if not self.verify(params):
            data = {
                "code": "40002",
                "msg": "Invalid Arguments",
                "sub_code": "isv.invalid-signature",
            }
            return self.answer(method, data, signed=False)(environ, start_response)
        biz = json.loads(params.get("biz_content") or "{}")
        if method in ("alipay.trade.wap.pay", "alipay.trade.page.pay"):
            return self._open(params, biz)(environ, start_response)
        handler = {
            "alipay.trade.query": self._query,
            "alipay.trade.close": self._close,
            "alipay.trade.refund": self._refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
            "alipay.data.dataservice.bill.downloadurl.query": self._bill_url,
        }.get(method)
        if handler is None:
            return self.fail(method, "isv.invalid-method")(environ, start_response)
        return handler(method, biz)(environ, start_response)

    def _open(self, params: dict, biz: dict) -> Response:
        number = biz["out_trade_no"]
        trade = self.trades.get(number)
        if trade is None or trade["status"] == "WAIT_BUYER_PAY":
            self.trades[number] = {
                "out_trade_no": number,
                "trade_no": "2026" + secrets.token_hex(12),
                "status": "WAIT_BUYER_PAY",
                "total": cents(biz["total_amount"]),
                "subject": biz["subject"],
                "notify_url": params.get("notify_url", ""),
                "return_url": params.get("return_url", ""),
                "product_code": biz.get("product_code"),
            }
        return Response("<html><body>支付宝收银台</body></html>", content_type="text/html")

    def _trade_view(self, trade: dict) -> dict:
        return {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade["trade_no"],
            "out_trade_no": trade["out_trade_no"],
            "trade_status": trade["status"],
            "total_amount": yuan(trade["total"]),
            **({"send_pay_date": trade["gmt_payment"]} if trade.get("gmt_payment") else {}),
        }

    def _query(self, method, biz):
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self.fail(method, "ACQ.TRADE_NOT_EXIST", "交易不存在")
        return self.answer(method, self._trade_view(trade))

    def _close(self, method, biz):
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None:
            return self.fail(method, "ACQ.TRADE_NOT_EXIST")
        if trade["status"] != "WAIT_BUYER_PAY":
            return self.fail(method, "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        trade["status"] = "TRADE_CLOSED"
        data = {"code": "10000", "msg": "Success", "out_trade_no": trade["out_trade_no"]}
        return self.answer(method, data)

    def _refund(self, method, biz):
        trade = self.trades.get(biz.get("out_trade_no", ""))
        if trade is None or trade["status"] not in ("TRADE_SUCCESS", "TRADE_CLOSED"):
            return self.fail(method, "ACQ.TRADE_NOT_EXIST")
        if self.refund_failure:
            return self.fail(method, self.refund_failure)
        number = biz["out_request_no"]
        fresh = number not in self.refunds
        if fresh:
            amount = cents(biz["refund_amount"])
            done = sum(
                r["amount"] for r in self.refunds.values() if r["trade"] == trade["out_trade_no"]
            )
            if amount + done > trade["total"]:
                return self.fail(method, "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            self.refunds[number] = {"trade": trade["out_trade_no"], "amount": amount}
            if amount + done == trade["total"]:
                trade["status"] = "TRADE_CLOSED"
        refunded = sum(
            r["amount"] for r in self.refunds.values() if r["trade"] == trade["out_trade_no"]
        )
        data = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade["trade_no"],
            "out_trade_no": trade["out_trade_no"],
            "fund_change": "Y" if fresh else "N",
            "refund_fee": yuan(refunded),
        }
        return self.answer(method, data)

    def _refund_query(self, method, biz):
        refund = self.refunds.get(biz.get("out_request_no", ""))
        if refund is None:
            data = {"code": "10000", "msg": "Success"}  # documented: no refund_status yet
            return self.answer(method, data)
        trade = self.trades[refund["trade"]]
        data = {
            "code": "10000",
            "msg": "Success",
            "trade_no": trade["trade_no"],
            "out_trade_no": trade["out_trade_no"],
            "out_request_no": biz["out_request_no"],
            "refund_amount": yuan(refund["amount"]),
            "total_amount": yuan(trade["total"]),
            "refund_status": "REFUND_SUCCESS",
        }
        return self.answer(method, data)

    def _bill_url(self, method, biz):
        data = {
            "code": "10000",
            "msg": "Success",
            "bill_download_url": f"{self.base_url}/bill/{secrets.token_hex(8)}",
        }
        return self.answer(method, data)

    def _bill_file(self) -> Response:
        header = [
            "支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间",
            "门店编号", "门店名称", "操作员", "终端号", "对方账户", "订单金额（元）",
            "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）",
            "商家优惠（元）", "券核销金额（元）", "券名称", "商家红包消费金额（元）",
            "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注",
        ]  # fmt: skip
        out = io.StringIO()
        out.write("#支付宝业务明细查询\n#账号：[20880000000000000156]\n")
        writer = csv.writer(out)
        writer.writerow(header)
        for row in self.bill_rows:
            writer.writerow(row + [""] * (len(header) - len(row)))
        out.write("#-----------------------------------------业务明细列表结束\n")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as bundle:
            bundle.writestr(
                "20880000000000000156_20261205_业务明细.csv", out.getvalue().encode("gbk")
            )
            bundle.writestr(
                "20880000000000000156_20261205_业务明细(汇总).csv", "#汇总\n".encode("gbk")
            )
        return Response(archive.getvalue(), content_type="application/zip")
