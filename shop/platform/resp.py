"""A small Redis client (RESP2) for the few commands the rate limits send.

Why not redis-py: each share-link follow (/r/<code>) sends one EVALSHA, and redis-py spent about
60 µs of CPU on it (connection pool checkout, command packing, response parsing, its retry
machinery) where the round trip itself costs about 10 µs; and importing it put 5-6 MB in every
worker's memory (bench/README.md, "The share burst on PostgreSQL + Redis"). This client sends
commands on one persistent socket per thread (and per process: a socket inherited through
``fork`` is never used), with the timeouts of the settings, and reconnects once when a connection
it had used before turned out closed (Redis restarted, or closed an idle client).

URLs: ``redis://[[user]:password@]host[:port][/db]`` and ``unix:///path`` or
``redis+unix:///path`` (``?db=N&password=...&username=...``). TLS (``rediss://``) is not spoken
here: callers keep redis-py for it (``shop.platform.counters.redis_client_for``).
"""

import hashlib
import os
import socket
import threading
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_PORT = 6379


class RedisError(Exception):
    """Anything that went wrong talking to Redis."""


class RedisConnectionError(RedisError, ConnectionError):
    """Redis could not be reached, timed out, or closed the connection."""


class ResponseError(RedisError):
    """Redis answered with an error (``-ERR ...``)."""


class NoScriptError(ResponseError):
    """EVALSHA of a script Redis does not have (a restart, SCRIPT FLUSH, another server)."""


def parse_url(url: str) -> dict:
    """The address and credentials in a Redis URL: ``host``/``port`` or ``path``, ``db``,
    ``username``, ``password``."""
    parts = urlsplit(url)
    query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
    found = {
        "username": unquote(parts.username) if parts.username else query.get("username"),
        "password": unquote(parts.password) if parts.password else query.get("password"),
        "db": int(query.get("db") or 0),
    }
    if parts.scheme in ("unix", "redis+unix"):
        if not parts.path:
            raise ValueError(f"a unix socket URL needs a path: {url!r}")
        found["path"] = unquote(parts.path)
    elif parts.scheme == "redis":
        found["host"] = parts.hostname or "127.0.0.1"
        found["port"] = parts.port or DEFAULT_PORT
        path = parts.path.strip("/")
        if path:
            found["db"] = int(path)
    else:
        raise ValueError(f"not a redis:// or unix:// URL: {url!r}")
    return found


def pack(args) -> bytes:
    """A command as RESP2 (an array of bulk strings): str (UTF-8), bytes, int and float."""
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        kind = type(arg)
        if kind is str:
            data = arg.encode()
        elif kind is int:
            data = b"%d" % arg
        elif kind is bytes:
            data = arg
        elif kind is float:
            data = repr(arg).encode()
        else:  # bool too: redis-py refuses it as well
            raise TypeError(f"cannot send {kind.__name__} to Redis: {arg!r}")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class Connection:
    """One socket to Redis and what has been read from it."""

    def __init__(self, address: dict, *, connect_timeout: float | None, timeout: float | None):
        if "path" in address:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target = address["path"]
        else:
            sock = None
            target = (address["host"], address["port"])
        try:
            if sock is None:
                sock = socket.create_connection(target, timeout=connect_timeout)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            else:
                sock.settimeout(connect_timeout)
                sock.connect(target)
            sock.settimeout(timeout)
        except OSError as error:
            if sock is not None:
                sock.close()
            raise RedisConnectionError(f"cannot connect to Redis at {target}: {error}") from error
        self.sock = sock
        self.pid = os.getpid()
        self.used = False
        self._buf = b""
        self._pos = 0
        if address.get("password"):
            user = address.get("username")
            credentials = (user, address["password"]) if user else (address["password"],)
            self.call(("AUTH", *credentials))
        if address.get("db"):
            self.call(("SELECT", address["db"]))

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass

    def __del__(self):  # a client or thread that goes away closes its socket (no warning)
        if getattr(self, "sock", None) is not None:
            self.close()

    def call(self, args):
        """Send one command, return its reply; a ``-ERR`` reply is raised as ResponseError."""
        data = pack(args)  # a TypeError here leaves nothing half-sent
        try:
            self.sock.sendall(data)
            reply = self._reply()
        except OSError as error:  # socket.timeout is an OSError too
            raise RedisConnectionError(f"Redis connection failed: {error}") from error
        self.used = True
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise OSError("Redis closed the connection")
        self._buf = self._buf[self._pos :] + chunk if self._pos < len(self._buf) else chunk
        self._pos = 0

    def _line(self) -> bytes:
        while True:
            end = self._buf.find(b"\r\n", self._pos)
            if end >= 0:
                line = self._buf[self._pos : end]
                self._pos = end + 2
                return line
            self._fill()

    def _exact(self, size: int) -> bytes:
        while len(self._buf) - self._pos < size + 2:
            self._fill()
        data = self._buf[self._pos : self._pos + size]
        self._pos += size + 2
        return data

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b":":
            return int(rest)
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else self._exact(size)
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [self._reply() for _ in range(size)]
        if kind == b"+":
            return rest
        if kind == b"-":
            message = rest.decode("utf-8", "replace")
            return (NoScriptError if message.startswith("NOSCRIPT") else ResponseError)(message)
        raise OSError(f"not a RESP2 reply: {line[:40]!r}")


class Script:
    """A Lua script sent by its SHA1 (EVALSHA), and in full (EVAL) when Redis lacks it."""

    def __init__(self, client: "Client", source: str):
        self.client, self.source = client, source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # noqa: S324 - Redis names scripts so

    def __call__(self, keys=(), args=()):
        try:
            return self.client.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self.client.execute_command("EVAL", self.source, len(keys), *keys, *args)


class Client:
    """Thread-safe: each thread (of each process) has its own connection."""

    def __init__(
        self,
        url: str,
        *,
        socket_timeout: float | None = 1.0,
        socket_connect_timeout: float | None = 1.0,
        **_ignored,
    ):
        self.url = url
        self.address = parse_url(url)
        self.timeout = socket_timeout
        self.connect_timeout = socket_connect_timeout
        self._local = threading.local()

    @classmethod
    def from_url(cls, url: str, **options) -> "Client":
        return cls(url, **options)

    def _connection(self) -> Connection:
        connection = getattr(self._local, "connection", None)
        if connection is not None and connection.pid == os.getpid():
            return connection
        # None yet, or one inherited through fork: its socket is the parent's, never shared.
        connection = Connection(
            self.address, connect_timeout=self.connect_timeout, timeout=self.timeout
        )
        self._local.connection = connection
        return connection

    def _drop(self, connection: Connection) -> None:
        connection.close()
        if getattr(self._local, "connection", None) is connection:
            self._local.connection = None

    def execute_command(self, *args):
        connection = self._connection()
        try:
            return self._call(connection, args)
        except RedisConnectionError as error:
            # A connection that had worked may have been closed by Redis meanwhile (a restart,
            # an idle timeout): try once more on a new one. A timeout is not tried again.
            if not connection.used or isinstance(error.__cause__, TimeoutError):
                raise
        return self._call(self._connection(), args)

    def _call(self, connection: Connection, args):
        try:
            return connection.call(args)
        except (ResponseError, TypeError):
            raise  # the exchange was complete (or never started): the connection is fine
        except BaseException:
            # A failed socket, or anything that interrupted the exchange (a signal's
            # exception): part of a reply may be unread, so this socket is never used again.
            self._drop(connection)
            raise

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            self._drop(connection)

    def register_script(self, source: str) -> Script:
        return Script(self, source)

    def ping(self) -> bool:
        return self.execute_command("PING") == b"PONG"

    def get(self, key: str):
        return self.execute_command("GET", key)

    def delete(self, *keys: str) -> int:
        return self.execute_command("DEL", *keys)

    def ttl(self, key: str) -> int:
        return self.execute_command("TTL", key)
