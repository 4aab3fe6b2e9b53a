"""Fixed-window counters for the share-link limits (shop.platform.counters): counts, window
expiry, the pair rule (nothing counted beyond the outer limit), no thread per window, and the
same behaviour from Redis in one round trip."""

import shutil
import socket
import subprocess
import threading
import time

import pytest

from shop.platform import counters, resp
from shop.platform.counters import MemoryCounter, Window


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def outcomes(counter, outer, inner, times):
    return [counter.count_pair(outer, inner) for _ in range(times)]


def test_memory_counts_the_pair_and_stops_counting_inner_beyond_outer():
    clock = Clock()
    counter = MemoryCounter(clock=clock)
    outer, inner = Window("hard/a", 4, 60), Window("flood/a", 2, 60)
    results = outcomes(counter, outer, inner, 6)
    assert [r.retry_after for r in results[:4]] == [None] * 4
    assert [r.inner_exceeded for r in results[:4]] == [False, False, True, True]
    assert [r.retry_after for r in results[4:]] == [60, 60]
    clock.now += 59.5
    assert counter.count_pair(outer, inner).retry_after == 1  # rounded, never 0
    # Another key has its own windows.
    assert counter.count_pair(Window("hard/b", 4, 60), Window("flood/b", 2, 60)).retry_after is None


def test_memory_windows_end_and_are_swept_without_a_thread(monkeypatch):
    def no_threads(self):
        raise AssertionError("a counter must not start a thread")

    monkeypatch.setattr(threading.Thread, "start", no_threads)
    clock = Clock()
    counter = MemoryCounter(clock=clock)
    outer, inner = Window("hard/a", 1, 10), Window("flood/a", 1, 10)
    assert counter.count_pair(outer, inner).retry_after is None
    assert counter.count_pair(outer, inner).retry_after == 10
    clock.now += 10  # the window has ended: counting starts again
    assert counter.count_pair(outer, inner) == counters.PairResult(None, False)
    for n in range(50):
        counter.exceeded(Window(f"one/{n}", 5, 10))
    assert len(counter) == 52
    clock.now += counters.SWEEP_SECONDS + 11  # every window ended; the next call sweeps
    counter.count_pair(outer, inner)
    assert len(counter) == 2


def test_memory_single_window():
    counter = MemoryCounter(clock=Clock())
    window = Window("one", 2, 60)
    assert [counter.exceeded(window) for _ in range(3)] == [False, False, True]


@pytest.fixture(scope="module")
def redis_url():
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = counters.redis_client_for(url)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except Exception:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.05)
    yield url
    server.terminate()
    server.wait(10)


def test_redis_counts_the_pair_in_one_round_trip(redis_url):
    client = counters.redis_client_for(redis_url)
    client.execute_command("FLUSHDB")
    commands = []
    real = client.execute_command

    def recording(*args, **kwargs):
        commands.append(args[0])
        return real(*args, **kwargs)

    client.execute_command = recording
    counter = counters.RedisCounter(client)
    counter.count_pair(Window("warm", 1, 1), Window("warm2", 1, 1))  # loads the script once
    commands.clear()
    outer, inner = Window("hard/a", 4, 60), Window("flood/a", 2, 60)
    results = outcomes(counter, outer, inner, 6)
    assert [r.inner_exceeded for r in results[:4]] == [False, False, True, True]
    assert [r.retry_after is None for r in results] == [True] * 4 + [False] * 2
    assert all(0 < r.retry_after <= 60 for r in results[4:])
    # One command (one round trip) per pair once the script is loaded.
    assert commands == ["EVALSHA"] * 6
    # The inner count stopped at the outer limit; both windows expire.
    assert int(client.get(counter.prefix + inner.key)) == 4
    assert 0 < client.ttl(counter.prefix + outer.key) <= 60
    assert [counter.exceeded(Window("one", 1, 5)) for _ in range(2)] == [False, True]


def test_redis_client_only_for_redis_storage():
    assert counters.redis_client_for("memory://") is None
    assert counters.redis_client_for("memcached://127.0.0.1:11211") is None
    client = counters.redis_client_for("redis+unix:///tmp/redis.sock")
    assert isinstance(client, resp.Client) and client.address["path"] == "/tmp/redis.sock"
    client = counters.redis_client_for("fenxiang+redis://127.0.0.1:6390/2", {"socket_timeout": 1})
    assert isinstance(client, resp.Client) and client.address["port"] == 6390
    assert client.address["db"] == 2 and client.timeout == 1
    # TLS is left to redis-py.
    pytest.importorskip("redis")
    client = counters.redis_client_for("rediss://:pw@cache:6380/0")
    assert not isinstance(client, resp.Client)
    assert client.connection_pool.connection_kwargs["host"] == "cache"
