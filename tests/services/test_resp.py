"""The project's own Redis client (shop.platform.resp) and Flask-Limiter's storage on it
(shop.platform.ratestore), against real redis-servers on 127.0.0.1 (TCP, a unix socket, a
password): replies of every kind, errors, the script fallback when Redis lacks it, reconnecting,
timeouts, one connection per thread and per process, AUTH and SELECT from the URL."""

import os
import shutil
import socket
import subprocess
import threading
import time

import pytest
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from shop.platform import ratestore, resp

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="redis-server is not installed"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A throwaway redis-server (no persistence)."""

    def __init__(self, tmp_path, *args: str, port: int | None = None):
        self.port = port or _free_port()
        self.socket_path = str(tmp_path / f"redis-{self.port}.sock")
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--unixsocket", self.socket_path, *args],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not os.path.exists(self.socket_path):
            assert self.process.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not listen"
            time.sleep(0.02)

    def url(self, auth: str = "", db: int = 0) -> str:
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture
def server(tmp_path):
    started = Server(tmp_path)
    yield started
    started.stop()


@pytest.fixture
def client(server):
    made = resp.Client(server.url(), socket_timeout=2, socket_connect_timeout=2)
    yield made
    made.close()


def test_replies_of_every_kind(client):
    assert client.ping() is True
    assert client.execute_command("SET", "k", "值 value") == b"OK"  # a simple string
    assert client.get("k") == "值 value".encode()  # a bulk string, utf-8 as sent
    assert client.get("missing") is None  # a null bulk string
    assert client.execute_command("INCRBY", "n", 41) == 41  # an integer
    assert client.execute_command("RPUSH", "list", b"a\r\nb", "", 3) == 3
    assert client.execute_command("LRANGE", "list", 0, -1) == [b"a\r\nb", b"", b"3"]
    nested = client.execute_command("EVAL", "return {1, {'x', false}, 'y'}", 0)
    assert nested == [1, [b"x", None], b"y"]
    big = "x" * 200_000  # longer than one read
    client.execute_command("SET", "big", big)
    assert client.get("big") == big.encode()
    assert client.ttl("k") == -1 and client.delete("k", "n", "missing") == 2


def test_an_error_reply_is_raised_and_the_connection_stays_usable(client):
    with pytest.raises(resp.ResponseError, match="unknown command"):
        client.execute_command("NO-SUCH-COMMAND")
    client.execute_command("SET", "s", "text")
    with pytest.raises(resp.ResponseError, match="WRONGTYPE|not an integer"):
        client.execute_command("INCR", "s")
    assert client.get("s") == b"text"


def test_a_script_goes_by_its_sha_and_in_full_when_redis_lacks_it(client):
    commands = []
    real = client.execute_command

    def recording(*args):
        commands.append(args[0])
        return real(*args)

    client.execute_command = recording
    script = client.register_script("return redis.call('INCRBY', KEYS[1], ARGV[1])")
    assert script(keys=["c"], args=[2]) == 2  # Redis has never seen it: EVALSHA, then EVAL
    assert commands == ["EVALSHA", "EVAL"]
    commands.clear()
    assert script(keys=["c"], args=[3]) == 5
    assert commands == ["EVALSHA"]  # EVAL left it cached
    real("SCRIPT", "FLUSH")  # as after a restart of Redis
    commands.clear()
    assert script(keys=["c"], args=[1]) == 6
    assert commands == ["EVALSHA", "EVAL"]


def test_a_connection_closed_by_redis_is_replaced(server, client):
    first = client.execute_command("CLIENT", "ID")
    other = resp.Client(server.url())
    assert other.execute_command("CLIENT", "KILL", "ID", first) == 1
    second = client.execute_command("CLIENT", "ID")  # tried once more on a new connection
    assert second != first
    other.close()


def test_a_restarted_redis_is_reached_again(tmp_path):
    server = Server(tmp_path)
    client = resp.Client(server.url(), socket_timeout=2)
    assert client.execute_command("INCR", "n") == 1
    server.stop()
    with pytest.raises(resp.RedisConnectionError):
        client.ping()
    restarted = Server(tmp_path, port=server.port)
    try:
        assert client.execute_command("INCR", "n") == 1  # the same client, a new connection
    finally:
        client.close()
        restarted.stop()


def test_unreachable_and_silent_servers_fail_within_the_timeouts():
    refused = resp.Client(f"redis://127.0.0.1:{_free_port()}/0", socket_connect_timeout=1)
    with pytest.raises(resp.RedisConnectionError, match="cannot connect"):
        refused.ping()
    with socket.socket() as silent:  # accepts connections, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = resp.Client(f"redis://127.0.0.1:{silent.getsockname()[1]}/0", socket_timeout=0.3)
        started = time.monotonic()
        with pytest.raises(resp.RedisConnectionError):
            client.ping()
        assert 0.25 < time.monotonic() - started < 1.0  # one timeout: not tried again
        client.close()
    assert issubclass(resp.RedisConnectionError, ConnectionError)


def test_each_thread_and_each_process_has_its_own_connection(client):
    mine = client.execute_command("CLIENT", "ID")
    assert client.execute_command("CLIENT", "ID") == mine  # kept between commands
    seen = []
    thread = threading.Thread(target=lambda: seen.append(client.execute_command("CLIENT", "ID")))
    thread.start()
    thread.join()
    assert seen and seen[0] != mine
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: a new connection, the parent's socket untouched
        try:
            os.write(write, b"%d" % client.execute_command("CLIENT", "ID"))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    child = int(os.read(read, 64))
    os.close(read)
    os.close(write)
    assert child not in (mine, seen[0])
    assert client.execute_command("CLIENT", "ID") == mine


def test_password_username_and_database_from_the_url(tmp_path):
    server = Server(tmp_path, "--requirepass", "s3cret")
    try:
        with pytest.raises(resp.ResponseError, match="NOAUTH"):
            resp.Client(server.url()).ping()
        with pytest.raises(resp.ResponseError, match="WRONGPASS|invalid password"):
            resp.Client(server.url(":wrong@")).ping()
        in_three = resp.Client(server.url(":s3cret@", db=3))
        in_three.execute_command("SET", "where", "three")
        as_default = resp.Client(server.url("default:s3cret@", db=0))
        assert as_default.get("where") is None
        as_default.execute_command("SELECT", 3)
        assert as_default.get("where") == b"three"
        by_socket = resp.Client(f"unix://{server.socket_path}?db=3&password=s3cret")
        assert by_socket.get("where") == b"three"
        also = resp.Client(f"redis+unix://{server.socket_path}?db=3&password=s3cret")
        assert also.execute_command("CLIENT", "INFO").find(b"addr=/") >= 0
        for made in (in_three, as_default, by_socket, also):
            made.close()
    finally:
        server.stop()


def test_urls_are_read_as_redis_py_reads_them():
    assert resp.parse_url("redis://cache") == {
        "host": "cache",
        "port": 6379,
        "db": 0,
        "username": None,
        "password": None,
    }
    found = resp.parse_url("redis://me:p%40ss@10.0.0.5:6380/2")
    assert (found["username"], found["password"], found["port"], found["db"]) == (
        "me",
        "p@ss",
        6380,
        2,
    )
    assert resp.parse_url("unix:///run/redis.sock?db=4")["path"] == "/run/redis.sock"
    assert resp.parse_url("redis+unix:///run/redis.sock?db=4")["db"] == 4
    for wrong in ("rediss://cache:6380/0", "http://cache", "unix://"):
        with pytest.raises(ValueError):
            resp.parse_url(wrong)


def test_flask_limiter_storage_counts_fixed_windows_under_the_limits_prefix(server):
    storage = storage_from_string(
        "fenxiang+" + server.url(), socket_timeout=1, socket_connect_timeout=1
    )
    assert isinstance(storage, ratestore.RespRedisStorage)
    assert storage.check() is True
    limiter = FixedWindowRateLimiter(storage)
    limit = parse("2 per minute")
    assert [limiter.hit(limit, "signin", "1.2.3.4") for _ in range(3)] == [True, True, False]
    key = limit.key_for("signin", "1.2.3.4")
    raw = resp.Client(server.url())
    assert raw.get(f"LIMITS:{key}") == b"3"  # where limits' own RedisStorage keeps it
    assert 0 < raw.ttl(f"LIMITS:{key}") <= 60
    stats = limiter.get_window_stats(limit, "signin", "1.2.3.4")
    assert stats.remaining == 0 and time.time() < stats.reset_time <= time.time() + 61
    storage.clear(key)
    assert storage.get(key) == 0
    limiter.hit(limit, "other")
    assert storage.reset() == 1 and raw.execute_command("DBSIZE") == 0
    raw.close()
    storage.client.close()


def test_flask_limiter_storage_over_a_unix_socket_and_while_redis_is_down(tmp_path):
    server = Server(tmp_path)
    storage = storage_from_string(f"fenxiang+redis+unix://{server.socket_path}?db=1")
    assert storage.incr("k", 60) == 1 and storage.incr("k", 60, amount=2) == 3
    server.stop()
    assert storage.check() is False
    with pytest.raises(storage.base_exceptions):  # what Flask-Limiter's fallback catches
        storage.incr("k", 60)
    storage.client.close()


def test_arguments_are_sent_as_redis_reads_them(client):
    assert resp.pack(("SET", "k", 1.5)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\n1.5\r\n"
    client.execute_command("SET", "f", 2.25)
    assert client.execute_command("INCRBYFLOAT", "f", -0.25) == b"2"
    assert client.execute_command("SET", b"\xff\x00", "二") == b"OK"
    assert client.get(b"\xff\x00") == "二".encode()
    for wrong in (True, None, ["a"]):
        with pytest.raises(TypeError):
            client.execute_command("SET", "k", wrong)
    assert client.ping() is True  # nothing half-sent


def test_an_interrupted_exchange_leaves_no_reply_behind(client):
    """A reply half read (an exception from a signal handler, say) must not be taken for the
    next command's: that connection is closed and the next command gets a new one."""
    client.execute_command("RPUSH", "list", "a", "b", "c")
    connection = client._connection()
    real_exact, calls = connection._exact, []

    def interrupted(size):
        calls.append(size)
        data = real_exact(size)
        if len(calls) == 2:  # after the second element of the array
            raise KeyboardInterrupt
        return data

    connection._exact = interrupted
    with pytest.raises(KeyboardInterrupt):
        client.execute_command("LRANGE", "list", 0, -1)
    assert client.execute_command("ECHO", "next") == b"next"  # not "c", the rest of the list
    assert client._connection() is not connection
