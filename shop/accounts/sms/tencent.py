"""Tencent Cloud SMS (SendSms, version 2021-01-11) over its signed HTTP API (API 3.0).

TC3-HMAC-SHA256: the canonical request (method, "/", empty query, the signed headers
content-type, host and x-tc-action, and the SHA-256 of the JSON body), its SHA-256 in the
string to sign with the timestamp and the scope ``<date>/sms/tc3_request``; the key derived as
HMAC("TC3" + SecretKey, date) -> "sms" -> "tc3_request". The answer is
``{"Response": {"SendStatusSet": [{"Code": "Ok", ...}], "RequestId": ...}}`` on success, and
``{"Response": {"Error": {"Code", "Message"}, ...}}`` or a status Code other than "Ok" else."""

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from shop.accounts.sms import SmsError, template_for
from shop.accounts.sms.http import call

DEFAULT_ENDPOINT = "https://sms.tencentcloudapi.com/"
SERVICE = "sms"
ACTION = "SendSms"
VERSION = "2021-01-11"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host;x-tc-action"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signature(*, secret_key: str, host: str, payload: bytes, timestamp: int) -> str:
    canonical = "\n".join(
        [
            "POST",
            "/",
            "",
            f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:{ACTION.lower()}\n",
            SIGNED_HEADERS,
            hashlib.sha256(payload).hexdigest(),
        ]
    )
    date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    scope = f"{date}/{SERVICE}/tc3_request"
    to_sign = "\n".join(
        [
            "TC3-HMAC-SHA256",
            str(timestamp),
            scope,
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = _hmac(_hmac(_hmac(("TC3" + secret_key).encode(), date), SERVICE), "tc3_request")
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class TencentProvider:
    name = "tencent"

    def __init__(
        self, *, secret_id, secret_key, app_id, sign_name, templates, endpoint, region, timeout
    ):
        self.secret_id, self.secret_key, self.app_id = secret_id, secret_key, app_id
        self.sign_name, self.templates = sign_name, templates
        self.endpoint, self.region, self.timeout = endpoint, region, timeout

    @classmethod
    def from_config(cls, config) -> "TencentProvider":
        return cls(
            secret_id=config["TENCENT_SMS_SECRET_ID"],
            secret_key=config["TENCENT_SMS_SECRET_KEY"],
            app_id=str(config["TENCENT_SMS_SDK_APP_ID"]),
            sign_name=config["TENCENT_SMS_SIGN_NAME"],
            templates={
                **{
                    p: template_for(config, "TENCENT_SMS", p)
                    for p in ("signin", "reset", "change_phone")
                },
                # Notices have their own template only (never the code's).
                "shipped": config.get("TENCENT_SMS_TEMPLATE_SHIPPED"),
            },
            endpoint=config.get("TENCENT_SMS_ENDPOINT") or DEFAULT_ENDPOINT,
            region=config.get("TENCENT_SMS_REGION") or "ap-guangzhou",
            timeout=float(config.get("SMS_TIMEOUT_SECONDS") or 5),
        )

    def request(self, phone: str, code: str, purpose: str, *, timestamp: int | None = None):
        """The body and headers of one SendSms call with a code (signed)."""
        return self.notice_request(phone, purpose, [code], timestamp=timestamp)

    def notice_request(
        self, phone: str, purpose: str, values: list, *, timestamp: int | None = None
    ):
        """The body and headers of one SendSms call (signed); ``values`` in template order."""
        timestamp = int(time.time()) if timestamp is None else timestamp
        payload = json.dumps(
            {
                "PhoneNumberSet": [f"+86{phone}"],
                "SmsSdkAppId": self.app_id,
                "SignName": self.sign_name,
                "TemplateId": str(self.templates[purpose]),
                "TemplateParamSet": [str(value) for value in values],
            },
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode()
        host = urlsplit(self.endpoint).netloc
        date = datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
        sig = signature(secret_key=self.secret_key, host=host, payload=payload, timestamp=timestamp)
        headers = {
            "Authorization": (
                f"TC3-HMAC-SHA256 Credential={self.secret_id}/{date}/{SERVICE}/tc3_request, "
                f"SignedHeaders={SIGNED_HEADERS}, Signature={sig}"
            ),
            "Content-Type": CONTENT_TYPE,
            "Host": host,
            "X-TC-Action": ACTION,
            "X-TC-Timestamp": str(timestamp),
            "X-TC-Version": VERSION,
            "X-TC-Region": self.region,
        }
        return payload, headers

    def send_code(self, phone: str, code: str, purpose: str) -> None:
        self.send_notice(phone, purpose, {"code": code})

    def send_notice(self, phone: str, purpose: str, values: dict) -> None:
        """A message from ``purpose``'s template; ``values`` fill its {1}, {2}... in order."""
        if not self.templates.get(purpose):
            raise SmsError(f"tencent: no template for {purpose}")
        payload, headers = self.notice_request(phone, purpose, list(values.values()))
        answer = call(self.endpoint, data=payload, headers=headers, timeout=self.timeout)
        response = answer.get("Response") or {}
        if "Error" in response:
            error = response["Error"]
            raise SmsError(f"tencent {error.get('Code')}: {error.get('Message')}")
        statuses = response.get("SendStatusSet") or []
        if not statuses or statuses[0].get("Code") != "Ok":
            first = statuses[0] if statuses else {}
            raise SmsError(f"tencent {first.get('Code')}: {first.get('Message')}")
