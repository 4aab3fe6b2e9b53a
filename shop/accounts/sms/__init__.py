"""Text messages with a verification code, behind one interface.

``provider_for(config)`` returns the provider named by SMS_PROVIDER: ``console`` (writes the
code to the server log; `make run`), ``aliyun`` (Aliyun SMS, dysmsapi SendSms, RPC signature),
``tencent`` (Tencent Cloud SMS, SendSms 2021-01-11, TC3-HMAC-SHA256), or None when it is empty
(sign-in by code is off). A provider's ``send_code(phone, code, purpose)`` returns when the
gateway accepted the message and raises ``SmsError`` otherwise (an error answer, a timeout, a
refused connection): the caller then stores nothing."""

from typing import Protocol


class SmsError(Exception):
    """The gateway did not accept the message (its code and message, or the network error)."""


class SmsProvider(Protocol):
    name: str

    def send_code(self, phone: str, code: str, purpose: str) -> None: ...

    def send_notice(self, phone: str, purpose: str, values: dict) -> None: ...


def provider_for(config) -> SmsProvider | None:
    name = (config.get("SMS_PROVIDER") or "").strip().lower()
    if not name:
        return None
    if name == "console":
        from shop.accounts.sms.console import ConsoleProvider

        return ConsoleProvider()
    if name == "aliyun":
        from shop.accounts.sms.aliyun import AliyunProvider

        return AliyunProvider.from_config(config)
    if name == "tencent":
        from shop.accounts.sms.tencent import TencentProvider

        return TencentProvider.from_config(config)
    raise ValueError(f"SMS_PROVIDER must be console, aliyun or tencent, not {name!r}")


def template_for(config, prefix: str, purpose: str) -> str:
    """The template of ``purpose`` (``<prefix>_TEMPLATE_<PURPOSE>``), else the common one
    (``<prefix>_TEMPLATE``)."""
    return config.get(f"{prefix}_TEMPLATE_{purpose.upper()}") or config.get(f"{prefix}_TEMPLATE")


def notices_on(config) -> bool:
    """Whether notices (the buyer's "shipped" text) can be sent: a provider is configured and,
    for a real gateway, the notice's own template is set (ALIYUN_SMS_TEMPLATE_SHIPPED or
    TENCENT_SMS_TEMPLATE_SHIPPED)."""
    name = (config.get("SMS_PROVIDER") or "").strip().lower()
    if name == "console":
        return True
    if name in ("aliyun", "tencent"):
        return bool(config.get(f"{name.upper()}_SMS_TEMPLATE_SHIPPED"))
    return False
