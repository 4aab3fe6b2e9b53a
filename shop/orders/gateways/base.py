"""What every gateway adapter shares: amounts in fen, the HTTP call, the results it returns."""

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone

from flask_babel import lazy_gettext as _l

from shop.platform.errors import DomainError

#: Both gateways speak Beijing time.
CHINA = timezone(timedelta(hours=8))
_YUAN = re.compile(r"(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?")


class GatewayError(DomainError):
    """The gateway could not be reached, refused the call, or answered something unverifiable.
    Nothing of ours changed; the caller may retry."""

    def __init__(self, message=None, *, code: str = "", status: int = 0):
        super().__init__(message or _l("The payment service did not answer. Please try again."))
        self.code = code
        self.status = status


def yuan_to_fen(text: str) -> int:
    """``"12.3"`` -> 1230, exactly (no floats). Raises ValueError on anything else."""
    match = _YUAN.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"not an amount in yuan: {text!r}")
    return int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))


def in_china(moment: datetime) -> datetime:
    """``moment`` (naive means UTC, as the shop stores times) in Beijing time."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA)


def fen_to_yuan(cents: int) -> str:
    """1230 -> ``"12.30"``."""
    if cents < 0:
        raise ValueError("negative amount")
    return f"{cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Charge:
    """How the buyer pays a created payment: a page to send them to, a QR code to show
    (Native), or the parameters of WeChat's in-app payment sheet (JSAPI)."""

    redirect_url: str = ""
    qr_text: str = ""
    jsapi: dict = field(default_factory=dict)
    #: WeChat Pay partner mode: the sub-merchant the payment was made under ("" otherwise).
    account: str = ""


@dataclass(frozen=True)
class TradeState:
    """A payment as the gateway sees it (a query or a bill line)."""

    order_number: str
    state: str  #: paid, unpaid, closed, refunded, unknown
    amount_cents: int
    trade_id: str = ""
    paid_at: datetime | None = None
    #: WeChat Pay partner mode: the sub-merchant (``sub_mchid``) the gateway says the trade
    #: was paid into; "" when it does not say (direct mode, Alipay).
    account: str = ""


@dataclass(frozen=True)
class RefundState:
    refund_number: str
    order_number: str
    state: str  #: done, pending, failed
    amount_cents: int
    refund_id: str = ""
    #: WeChat Pay partner mode: the sub-merchant (``sub_mchid``) the gateway says the refund
    #: was made from; "" when it does not say (direct mode, Alipay).
    account: str = ""


@dataclass(frozen=True)
class BillLine:
    """One line of a gateway's daily trade bill."""

    kind: str  #: payment or refund
    order_number: str
    trade_id: str
    amount_cents: int
    refund_number: str = ""
    #: WeChat Pay partner mode: the sub-merchant (特约商户号) whose account the money went
    #: through; "" when the bill does not say (direct mode, Alipay).
    account: str = ""


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


def http(method: str, url: str, *, body: bytes | None = None, headers=None, timeout=10.0):
    """One HTTP call; any answer (2xx or not) comes back as an Answer. A connection failure
    or timeout raises GatewayError."""
    request = urllib.request.Request(url, data=body, method=method, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return Answer(response.status, dict(response.headers.items()), response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, dict(error.headers.items()), error.read())
    except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
        raise GatewayError(code="unreachable") from error
