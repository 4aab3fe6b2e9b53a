"""A small per-process cache with a time to live, for values that hot pages show and that may be
a few seconds old (a merchant's credit, a product's review preview). Each worker process has
its own; nothing here is shared between servers, so a change reaches every page within the
TTL. A TTL of 0 turns caching off (the tests do)."""

import threading
import time
from collections.abc import Callable, Hashable
from typing import Any

from flask import current_app


class TTLCache:
    """Values by key, each kept ``ttl`` seconds; at most ``size`` keys (then it starts over)."""

    def __init__(self, ttl: float, size: int = 5_000) -> None:
        self.ttl, self.size = ttl, size
        self._entries: dict[Hashable, tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        clock = time.monotonic()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] > clock:
            return entry[1]
        value = compute()
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) >= self.size:
                    self._entries.clear()
                self._entries[key] = (clock + self.ttl, value)
        return value

    def forget(self, key: Hashable) -> None:
        with self._lock:
            self._entries.pop(key, None)


def app_cache(name: str, setting: str) -> TTLCache:
    """This app's cache called ``name``, its TTL read once from the setting ``setting``."""
    cache = current_app.extensions.get(name)
    if cache is None:
        cache = TTLCache(float(current_app.config[setting]))
        cache = current_app.extensions.setdefault(name, cache)
    return cache
