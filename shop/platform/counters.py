"""Fixed-window rate counters for paths that count on every request (the share link /r/).

The ``limits`` library's MemoryStorage starts a ``threading.Timer`` to expire its keys whenever
the previous one has ended: under a click burst that was a new thread every second or so per
worker, 16 % of a click's time. And each limit is one storage call, so two limits were two
Redis round trips. Here a pair of limits is counted in one call: in memory with the expiry kept
beside each count (expired windows are swept inline, at most once per ``SWEEP_SECONDS``), or in
Redis with one Lua script (one round trip for both).

The pair's rule: the ``outer`` limit (the hard one) is counted first; beyond it nothing else is
counted and the caller refuses the request. Within it the ``inner`` limit (the flood one) is
counted too, and its result says whether the request is within it.
"""

import threading
import time
from typing import NamedTuple

from shop.platform import ratestore, resp

#: How often at most the memory counter drops the windows that have ended.
SWEEP_SECONDS = 30.0


class Window(NamedTuple):
    """One limit for one key: at most ``amount`` hits per ``seconds``, counted under ``key``.
    (Named tuples: made on every share-link follow, a frozen dataclass costs several times
    as much to make.)"""

    key: str
    amount: int
    seconds: int


class PairResult(NamedTuple):
    #: Seconds until the outer window resets when the outer limit was passed, else None.
    retry_after: int | None
    #: True when within the outer limit but beyond the inner one.
    inner_exceeded: bool


_WITHIN = PairResult(None, False)
_FLOODED = PairResult(None, True)


class MemoryCounter:
    """Counts in this process. Thread-safe; starts no thread."""

    def __init__(self, clock=time.time):
        self._clock = clock
        self._windows: dict[str, list] = {}  # key -> [count, ends_at]
        self._lock = threading.Lock()
        self._next_sweep = 0.0

    def __len__(self) -> int:
        return len(self._windows)

    def _hit(self, window: Window, now: float) -> tuple[int, float]:
        found = self._windows.get(window.key)
        if found is None or found[1] <= now:
            found = self._windows[window.key] = [0, now + window.seconds]
        found[0] += 1
        return found[0], found[1]

    def count_pair(self, outer: Window, inner: Window) -> PairResult:
        now = self._clock()
        with self._lock:
            if now >= self._next_sweep:
                self._sweep(now)
            count, ends_at = self._hit(outer, now)
            if count > outer.amount:
                return PairResult(max(1, int(ends_at - now)), False)
            count, _ends = self._hit(inner, now)
            return _FLOODED if count > inner.amount else _WITHIN

    def exceeded(self, window: Window) -> bool:
        """Count one hit of ``window`` alone; True when it is beyond the limit."""
        now = self._clock()
        with self._lock:
            return self._hit(window, now)[0] > window.amount

    def _sweep(self, now: float) -> None:
        self._next_sweep = now + SWEEP_SECONDS
        ended = [key for key, (_count, ends_at) in self._windows.items() if ends_at <= now]
        for key in ended:
            del self._windows[key]


#: KEYS: outer, inner; ARGV: outer amount, outer seconds, inner seconds.
#: Returns {outer count, outer seconds left, inner count} (inner count 0 when not counted).
PAIR_SCRIPT = """
local function hit(key, seconds)
  local count = redis.call('INCR', key)
  if count == 1 or redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, seconds)
  end
  return count
end
local outer = hit(KEYS[1], tonumber(ARGV[2]))
if outer > tonumber(ARGV[1]) then
  return {outer, redis.call('TTL', KEYS[1]), 0}
end
return {outer, 0, hit(KEYS[2], tonumber(ARGV[3]))}
"""
#: KEYS: the window; ARGV: its seconds. Returns the count.
ONE_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('TTL', KEYS[1]) < 0 then
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[1]))
end
return count
"""


class RedisCounter:
    """Counts in Redis, shared by every process: one round trip (a Lua script) per pair."""

    def __init__(self, client, prefix: str = "fenxiang/count/"):
        self.client = client
        self.prefix = prefix
        self._script = client.register_script(PAIR_SCRIPT)
        self._one = client.register_script(ONE_SCRIPT)

    def count_pair(self, outer: Window, inner: Window) -> PairResult:
        outer_count, seconds_left, inner_count = self._script(
            keys=[self.prefix + outer.key, self.prefix + inner.key],
            args=[outer.amount, outer.seconds, inner.seconds],
        )
        if outer_count > outer.amount:
            return PairResult(max(1, int(seconds_left)), False)
        return PairResult(None, inner_count > inner.amount)

    def exceeded(self, window: Window) -> bool:
        return self._one(keys=[self.prefix + window.key], args=[window.seconds]) > window.amount


def redis_client_for(storage_uri: str, options: dict | None = None):
    """A Redis client for a Flask-Limiter storage URI, with its storage options (timeouts):
    this project's own (shop.platform.resp) for ``fenxiang+redis://``, ``redis://``,
    ``fenxiang+redis+unix://`` and ``redis+unix://``; redis-py for ``rediss://`` (TLS); None for
    any other storage."""
    storage_uri = storage_uri.removeprefix(ratestore.SCHEME)
    if storage_uri.startswith(("redis://", "redis+unix://")):
        return resp.Client.from_url(storage_uri, **(options or {}))
    if not storage_uri.startswith("rediss://"):
        return None
    import redis

    return redis.Redis.from_url(storage_uri, **(options or {}))
