"""Flask-Limiter's storage in Redis over this project's own client (shop.platform.resp).

``limits`` registers storages by URL scheme: this one answers ``fenxiang+redis://`` and
``fenxiang+redis+unix://``, the URIs ``shop.platform.ops.configure_rate_limit_storage`` makes of
``REDIS_URL``. It keeps what ``limits``' own RedisStorage writes (the ``LIMITS:`` key prefix and
its fixed-window script), so both can count the same limits during a rolling upgrade; it supports
the fixed-window strategy, Flask-Limiter's default and the only one this app uses. Its errors are
``resp.RedisError``: Flask-Limiter's in-memory fallback takes over while Redis is unreachable.
"""

import time

from limits.storage import Storage

from shop.platform import resp

#: limits' resources/redis/lua_scripts/incr_expire.lua: the count, whose window starts with it.
INCR_EXPIRE = """
local current
local amount = tonumber(ARGV[2])
current = redis.call("incrby", KEYS[1], amount)

if tonumber(current) == amount then
    redis.call("expire", KEYS[1], ARGV[1])
end

return current
"""
#: limits' clear_keys.lua: delete every key of a prefix, 5000 at a time.
CLEAR_KEYS = """
local keys = redis.call('keys', KEYS[1])
local res = 0

for i=1,#keys,5000 do
    res = res + redis.call(
        'del', unpack(keys, i, math.min(i+4999, #keys))
    )
end

return res
"""
SCHEME = "fenxiang+"


class RespRedisStorage(Storage):
    STORAGE_SCHEME = ["fenxiang+redis", "fenxiang+redis+unix"]
    PREFIX = "LIMITS"

    def __init__(
        self, uri: str, wrap_exceptions: bool = False, key_prefix: str = PREFIX, **options
    ) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.key_prefix = key_prefix
        self.client = resp.Client.from_url(uri.removeprefix(SCHEME), **options)
        self._incr = self.client.register_script(INCR_EXPIRE)
        self._clear_keys = self.client.register_script(CLEAR_KEYS)

    @property
    def base_exceptions(self):
        return resp.RedisError

    def prefixed_key(self, key: str) -> str:
        return f"{self.key_prefix}:{key}"

    def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        return int(self._incr([self.prefixed_key(key)], [int(expiry), int(amount)]))

    def get(self, key: str) -> int:
        return int(self.client.get(self.prefixed_key(key)) or 0)

    def get_expiry(self, key: str) -> float:
        return max(self.client.ttl(self.prefixed_key(key)), 0) + time.time()

    def check(self) -> bool:
        try:
            return self.client.ping()
        except Exception:  # noqa: BLE001 - any failure means not healthy
            return False

    def reset(self) -> int | None:
        return int(self._clear_keys([self.prefixed_key("*")]))

    def clear(self, key: str) -> None:
        self.client.delete(self.prefixed_key(key))
