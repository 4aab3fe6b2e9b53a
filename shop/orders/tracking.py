"""Where a parcel is: a tracking-provider interface and its Kuaidi100 adapter.

Off unless configured (KUAIDI100_CUSTOMER and KUAIDI100_KEY; docs/settings.md): the buyer then
still sees the carrier, the number and the carrier's public tracking page
(:func:`shop.orders.carriers.tracking_url`). When on, the order page shows the latest events,
asked of the provider at most once per TRACKING_CACHE_SECONDS per parcel (per worker).

Kuaidi100's real-time query (实时查询): ``POST {base}/poll/query.do`` with the form fields
``customer``, ``param`` (JSON ``{"com", "num", "phone"?}``) and ``sign`` =
``MD5(param + key + customer)`` in upper-case hex. It answers JSON: ``{"message": "ok",
"state": "0", "status": "200", "data": [{"ftime": "...", "context": "..."}, ...]}`` (newest
first), or ``{"result": false, "returnCode": "400", "message": "..."}``.
"""

import hashlib
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Protocol

from shop.orders import carriers
from shop.platform.cache import app_cache

log = logging.getLogger(__name__)

#: Kuaidi100's state codes (the ``state`` field), as shown to buyers.
STATES = {
    "0": "in_transit",
    "1": "collected",
    "2": "problem",
    "3": "delivered",
    "4": "returned",
    "5": "delivering",
    "6": "returning",
    "7": "transferred",
    "14": "refused",
}


class TrackingError(Exception):
    """The provider could not be asked or did not answer usefully."""


@dataclass(frozen=True)
class TrackingEvent:
    time: str  #: as the provider gives it, local China time "2026-12-06 10:15:00"
    text: str


@dataclass(frozen=True)
class Tracking:
    state: str  #: one of STATES' values, or "" when unknown
    events: tuple[TrackingEvent, ...]  #: newest first


class TrackingProvider(Protocol):
    def track(self, carrier: carriers.Carrier, number: str, phone: str) -> Tracking: ...


class Kuaidi100:
    """Kuaidi100's real-time query API."""

    def __init__(self, customer: str, key: str, base_url: str, timeout: float = 5.0) -> None:
        self.customer, self.key = customer, key
        self.url = base_url.rstrip("/") + "/poll/query.do"
        self.timeout = timeout

    def sign(self, param: str) -> str:
        return hashlib.md5((param + self.key + self.customer).encode()).hexdigest().upper()  # noqa: S324

    def track(self, carrier: carriers.Carrier, number: str, phone: str) -> Tracking:
        fields = {"com": carrier.kuaidi100, "num": number}
        if phone:  # SF and a few others want the receiver's or sender's phone
            fields["phone"] = phone
        param = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
        body = urllib.parse.urlencode(
            {"customer": self.customer, "param": param, "sign": self.sign(param)}
        ).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise TrackingError(f"HTTP {error.code}") from error
        except (OSError, ValueError) as error:
            raise TrackingError(f"request failed: {error}") from error
        try:
            answer = json.loads(raw)
        except ValueError as error:
            raise TrackingError(f"answer is not JSON: {raw[:200]!r}") from error
        if not isinstance(answer, dict) or str(answer.get("status")) != "200":
            message = answer.get("message") if isinstance(answer, dict) else ""
            raise TrackingError(f"refused: {message}")
        events = tuple(
            TrackingEvent(str(e.get("ftime") or e.get("time") or ""), str(e.get("context") or ""))
            for e in answer.get("data") or ()
            if isinstance(e, dict)
        )
        return Tracking(STATES.get(str(answer.get("state")), ""), events)


def provider_for(config) -> TrackingProvider | None:
    """The configured provider, or None (tracking events off)."""
    if config.get("KUAIDI100_CUSTOMER") and config.get("KUAIDI100_KEY"):
        return Kuaidi100(
            config["KUAIDI100_CUSTOMER"],
            config["KUAIDI100_KEY"],
            config["KUAIDI100_BASE_URL"],
            float(config["TRACKING_TIMEOUT_SECONDS"]),
        )
    return None


def latest(order, config, *, limit: int = 5) -> Tracking | None:
    """The parcel's latest events for the order page, or None when tracking is off, the
    carrier is not one of ours, or the provider failed (logged; the page shows the link)."""
    provider = provider_for(config)
    carrier = carriers.find(order.carrier)
    if provider is None or carrier is None or not order.tracking_number:
        return None
    phone = order.ship_phone or ""

    def ask():
        try:
            return provider.track(carrier, order.tracking_number, phone)
        except TrackingError as error:
            log.warning("tracking %s %s: %s", carrier.code, order.tracking_number, error)
            return None

    found = app_cache("tracking_cache", "TRACKING_CACHE_SECONDS").get(
        (carrier.code, order.tracking_number), ask
    )
    if found is None:
        return None
    return Tracking(found.state, found.events[:limit])
