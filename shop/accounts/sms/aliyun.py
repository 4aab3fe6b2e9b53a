"""Aliyun SMS (dysmsapi 2017-05-25, SendSms) over its signed HTTP API.

The RPC signature (Alibaba Cloud, "签名机制"): every parameter but Signature sorted by name,
names and values percent-encoded by RFC 3986 (space %20, ``*`` %2A, ``~`` kept), joined with
``=`` and ``&``; the string to sign is ``POST&%2F&`` + the encoded query; the signature is
base64(HMAC-SHA1(AccessKeySecret + "&", string to sign)). The answer is JSON with ``Code``
"OK" on success, else an error ``Code`` and ``Message``."""

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime
from urllib.parse import quote

from shop.accounts.sms import SmsError, template_for
from shop.accounts.sms.http import call

DEFAULT_ENDPOINT = "https://dysmsapi.aliyuncs.com/"


def percent_encode(value: str) -> str:
    return quote(str(value), safe="-_.~")


def string_to_sign(params: dict, method: str = "POST") -> str:
    query = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(query)}"


def sign(params: dict, secret: str, method: str = "POST") -> str:
    digest = hmac.new(
        (secret + "&").encode(), string_to_sign(params, method).encode(), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


class AliyunProvider:
    name = "aliyun"

    def __init__(self, *, key_id, key_secret, sign_name, templates, endpoint, region, timeout):
        self.key_id, self.key_secret = key_id, key_secret
        self.sign_name, self.templates = sign_name, templates
        self.endpoint, self.region, self.timeout = endpoint, region, timeout

    @classmethod
    def from_config(cls, config) -> "AliyunProvider":
        return cls(
            key_id=config["ALIYUN_SMS_ACCESS_KEY_ID"],
            key_secret=config["ALIYUN_SMS_ACCESS_KEY_SECRET"],
            sign_name=config["ALIYUN_SMS_SIGN_NAME"],
            templates={
                **{
                    p: template_for(config, "ALIYUN_SMS", p)
                    for p in ("signin", "reset", "change_phone")
                },
                # Notices have their own template only (never the code's).
                "shipped": config.get("ALIYUN_SMS_TEMPLATE_SHIPPED"),
            },
            endpoint=config.get("ALIYUN_SMS_ENDPOINT") or DEFAULT_ENDPOINT,
            region=config.get("ALIYUN_SMS_REGION") or "cn-hangzhou",
            timeout=float(config.get("SMS_TIMEOUT_SECONDS") or 5),
        )

    def params(self, phone: str, code: str, purpose: str, *, now: datetime | None = None) -> dict:
        return self.notice_params(phone, purpose, {"code": code}, now=now)

    def notice_params(
        self, phone: str, purpose: str, values: dict, *, now: datetime | None = None
    ) -> dict:
        moment = now or datetime.now(UTC)
        params = {
            "AccessKeyId": self.key_id,
            "Action": "SendSms",
            "Format": "JSON",
            "RegionId": self.region,
            "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": secrets.token_hex(16),
            "SignatureVersion": "1.0",
            "Timestamp": moment.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "Version": "2017-05-25",
            "PhoneNumbers": phone,
            "SignName": self.sign_name,
            "TemplateCode": self.templates[purpose],
            "TemplateParam": json.dumps(values, separators=(",", ":"), ensure_ascii=False),
        }
        params["Signature"] = sign(params, self.key_secret)
        return params

    def send_code(self, phone: str, code: str, purpose: str) -> None:
        self.send_notice(phone, purpose, {"code": code})

    def send_notice(self, phone: str, purpose: str, values: dict) -> None:
        """A message from ``purpose``'s template with its ``values`` (its variables by name)."""
        if not self.templates.get(purpose):
            raise SmsError(f"aliyun: no template for {purpose}")
        params = self.notice_params(phone, purpose, values)
        body = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in params.items())
        answer = call(
            self.endpoint,
            data=body.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=self.timeout,
        )
        if answer.get("Code") != "OK":
            raise SmsError(f"aliyun {answer.get('Code')}: {answer.get('Message')}")
