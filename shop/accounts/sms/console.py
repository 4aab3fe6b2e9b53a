"""The development provider: the code goes to the server log (logger ``shop.sms``), nothing is
sent. In demo mode (DEMO_MODE, which `make run` turns on) the page also shows it."""

import logging

log = logging.getLogger("shop.sms")


class ConsoleProvider:
    name = "console"

    def send_code(self, phone: str, code: str, purpose: str) -> None:
        log.warning("SMS code for %s (%s): %s", phone, purpose, code)

    def send_notice(self, phone: str, purpose: str, values: dict) -> None:
        log.warning("SMS %s to %s: %s", purpose, phone, values)
