"""The one HTTP call the gateways need, on the standard library, with a timeout; every failure
(refused, timed out, not JSON) comes back as SmsError."""

import json
import urllib.error
import urllib.request

from shop.accounts.sms import SmsError


def call(url: str, *, data: bytes | None, headers: dict, timeout: float) -> dict:
    request = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            body = response.read()
    except urllib.error.HTTPError as error:  # an error answer still carries its JSON
        body = error.read()
    except (OSError, ValueError) as error:  # refused, reset, timed out, bad URL
        raise SmsError(f"request failed: {error}") from error
    try:
        return json.loads(body)
    except ValueError as error:
        raise SmsError(f"answer is not JSON: {body[:200]!r}") from error
