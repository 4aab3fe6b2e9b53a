"""Local fakes of the SMS gateways' HTTP APIs on 127.0.0.1 (port 0), for the adapters' tests.

Each fake checks the signature of what it receives by computing it again from the documented
algorithm with the test secret (written here from the documentation, not with the adapter's
functions), and answers in the gateway's documented JSON: success, a business error, or a
signature error. ``mode`` picks the answer: "ok", "error", "slow" (answers after 3 s)."""

import base64
import hashlib
import hmac
import json
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote

ALIYUN_KEY_ID = "LTAI-test-key"
ALIYUN_SECRET = "aliyun-test-secret"
TENCENT_ID = "AKID-test-id"
TENCENT_KEY = "tencent-test-key"


def _aliyun_expected(params: dict) -> str:
    def enc(text):
        return quote(text, safe="~-._")

    pairs = sorted((k, v) for k, v in params.items() if k != "Signature")
    canonical = "&".join(f"{enc(k)}={enc(v)}" for k, v in pairs)
    to_sign = "POST&" + enc("/") + "&" + enc(canonical)
    mac = hmac.new((ALIYUN_SECRET + "&").encode(), to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(mac).decode()


def _tencent_expected(headers, body: bytes) -> str:
    timestamp = int(headers["X-TC-Timestamp"])
    day = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical_headers = (
        f"content-type:{headers['Content-Type']}\nhost:{headers['Host']}\n"
        f"x-tc-action:{headers['X-TC-Action'].lower()}\n"
    )
    canonical_request = (
        f"POST\n/\n\n{canonical_headers}\ncontent-type;host;x-tc-action\n"
        + hashlib.sha256(body).hexdigest()
    )
    to_sign = (
        f"TC3-HMAC-SHA256\n{timestamp}\n{day}/sms/tc3_request\n"
        + hashlib.sha256(canonical_request.encode()).hexdigest()
    )

    def mac(key, msg):
        return hmac.new(key, msg.encode(), hashlib.sha256).digest()

    signing = mac(mac(mac(("TC3" + TENCENT_KEY).encode(), day), "sms"), "tc3_request")
    return hmac.new(signing, to_sign.encode(), hashlib.sha256).hexdigest()


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _answer(self, status: int, payload: dict):
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except BrokenPipeError:
            pass  # the client gave up waiting (the timeout test)

    def do_POST(self):
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if fake.mode == "slow":
            time.sleep(3)
        if fake.kind == "aliyun":
            params = dict(parse_qsl(body.decode(), keep_blank_values=True))
            signed = params.get("Signature") == _aliyun_expected(params)
            fake.received.append({"params": params, "signature_ok": signed})
            if not signed or params.get("AccessKeyId") != ALIYUN_KEY_ID:
                return self._answer(
                    400,
                    {
                        "RequestId": "8906582E-6722",
                        "Code": "SignatureDoesNotMatch",
                        "Message": "Specified signature is not matched with our calculation.",
                    },
                )
            if fake.mode == "error":
                return self._answer(
                    200,
                    {
                        "RequestId": "F655A8D5-B967",
                        "Code": "isv.BUSINESS_LIMIT_CONTROL",
                        "Message": "触发分钟级流控Permits:1",
                    },
                )
            return self._answer(
                200,
                {
                    "RequestId": "F655A8D5-B967",
                    "BizId": "900619746936498440^0",
                    "Code": "OK",
                    "Message": "OK",
                },
            )
        # tencent
        expected = _tencent_expected(self.headers, body)
        auth = self.headers.get("Authorization", "")
        signed = auth.endswith(f"Signature={expected}") and f"Credential={TENCENT_ID}/" in auth
        payload = json.loads(body)
        fake.received.append(
            {
                "payload": payload,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "signature_ok": signed,
            }
        )
        if not signed:
            return self._answer(
                200,
                {
                    "Response": {
                        "Error": {
                            "Code": "AuthFailure.SignatureFailure",
                            "Message": "The provided credentials could not be "
                            "validated. Please check your signature is correct.",
                        },
                        "RequestId": "ed93f3cb-f35e",
                    }
                },
            )
        phone = payload["PhoneNumberSet"][0]
        if fake.mode == "error":
            status = {
                "SerialNo": "",
                "PhoneNumber": phone,
                "Fee": 0,
                "SessionContext": "",
                "Code": "LimitExceeded.PhoneNumberDailyLimit",
                "Message": "the number of SMS messages sent from a single mobile number "
                "every day exceeds the upper limit",
                "IsoCode": "CN",
            }
        else:
            status = {
                "SerialNo": "5000:1045710669157053657849499619",
                "PhoneNumber": phone,
                "Fee": 1,
                "SessionContext": "",
                "Code": "Ok",
                "Message": "send success",
                "IsoCode": "CN",
            }
        return self._answer(
            200, {"Response": {"SendStatusSet": [status], "RequestId": "a0aabda6-cf91"}}
        )


class Fake:
    def __init__(self, kind: str):
        self.kind = kind
        self.mode = "ok"
        self.received: list[dict] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.url = f"http://127.0.0.1:{self.server.server_port}/"

    def settings(self) -> dict:
        if self.kind == "aliyun":
            return {
                "SMS_PROVIDER": "aliyun",
                "ALIYUN_SMS_ACCESS_KEY_ID": ALIYUN_KEY_ID,
                "ALIYUN_SMS_ACCESS_KEY_SECRET": ALIYUN_SECRET,
                "ALIYUN_SMS_SIGN_NAME": "分享小店",
                "ALIYUN_SMS_TEMPLATE": "SMS_154950909",
                "ALIYUN_SMS_ENDPOINT": self.url,
                "SMS_TIMEOUT_SECONDS": 1,
            }
        return {
            "SMS_PROVIDER": "tencent",
            "TENCENT_SMS_SECRET_ID": TENCENT_ID,
            "TENCENT_SMS_SECRET_KEY": TENCENT_KEY,
            "TENCENT_SMS_SDK_APP_ID": "1400006666",
            "TENCENT_SMS_SIGN_NAME": "分享小店",
            "TENCENT_SMS_TEMPLATE": "449739",
            "TENCENT_SMS_ENDPOINT": self.url,
            "SMS_TIMEOUT_SECONDS": 1,
        }


@contextmanager
def fake_gateway(kind: str):
    fake = Fake(kind)
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield fake
    finally:
        fake.server.shutdown()
        fake.server.server_close()
        thread.join(5)
