"""A small per-process cache with a time to live, for values that hot pages show and that may be
a few seconds old (a merchant's credit, a product's review preview). Each worker process has
its own; nothing here is shared between servers, so a change reaches every page within the
TTL. A TTL of 0 turns caching off (the tests do).

A cache keyed by product id may also be checked against the product's change stamps
(shop.platform.stamps, ``by_product=True``): a value is then used only while the stamps read
before it was computed are unchanged, so a committed change shows at once in every process of
the host, and the TTL bounds only what a stamp cannot tell (another host)."""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app

from shop.platform import stamps


class TTLCache:
    """Values by key, each kept ``ttl`` seconds; at most ``size`` keys (then it starts over).
    With ``stamp`` (key -> its change stamp now), a value is kept only while its stamp is
    the one read before it was computed."""

    def __init__(
        self,
        ttl: float,
        size: int = 5_000,
        stamp: Callable[[Hashable], Hashable] | None = None,
    ) -> None:
        self.ttl, self.size, self.stamp = ttl, size, stamp
        self._entries: dict[Hashable, tuple[float, Hashable, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        clock = time.monotonic()
        stamp = self.stamp(key) if self.stamp is not None and self.ttl > 0 else None
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] > clock and entry[1] == stamp:
            return entry[2]
        value = compute()
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.size:
                    self._entries.clear()
                self._entries[key] = (clock + self.ttl, stamp, value)
        return value

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)


def app_cache(name: str, setting: str, by_product: bool = False) -> TTLCache:
    """This app's cache called ``name``, its TTL read once from the setting ``setting``;
    ``by_product``: keyed by product id and checked against its change stamps."""
    cache = current_app.extensions.get(name)
    if cache is None:
        stamp = stamps.current().read if by_product else None
        cache = TTLCache(float(current_app.config[setting]), stamp=stamp)
        cache = current_app.extensions.setdefault(name, cache)
    return cache
