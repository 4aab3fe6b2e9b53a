"""Requests to addresses users give us (webhooks), guarded against server-side request forgery.

A URL must be ``https://`` with a host name. The host is resolved once; if any address it
resolves to is loopback, private, link-local, multicast, reserved, unspecified or otherwise not
public (IPv4-mapped and 6to4 IPv6 forms are unwrapped first), the request is refused. The
connection is then made to the very address that was checked (TLS still verifies the
certificate against the host name), so a second DNS answer cannot slip a private address in
between the check and the connection. Redirects are never followed.

Tests serve their fake receivers on 127.0.0.1: ``allow_loopback`` (the setting
NOTIFY_ALLOW_LOOPBACK) lets loopback addresses through and nothing else.
"""

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Why a URL was refused (the web layer turns these into messages in the user's language).
NOT_A_URL, NOT_HTTPS, NOT_PUBLIC, UNRESOLVABLE = "not_a_url", "not_https", "not_public", "dns"


class Refused(Exception):
    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str  #: path and query, "/" at least


def parse(url: str) -> Target:
    """The parts of an ``https://`` URL; raises Refused(NOT_A_URL or NOT_HTTPS)."""
    url = (url or "").strip()
    try:
        parts = urlsplit(url)
        port = parts.port or 443
        host = parts.hostname
    except ValueError:
        raise Refused(NOT_A_URL) from None
    if parts.scheme.lower() == "http" and host:
        raise Refused(NOT_HTTPS)
    if parts.scheme.lower() != "https" or not host or parts.username or parts.password:
        raise Refused(NOT_A_URL)
    if any(ch.isspace() or ord(ch) < 32 for ch in url) or len(url) > 500:
        raise Refused(NOT_A_URL)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(host=host, port=port, path=path)


def _public(address: str, *, allow_loopback: bool) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip.sixtofour is not None:
            ip = ip.sixtofour
        elif ip.teredo is not None:
            return False
    if ip.is_loopback:
        return allow_loopback
    return ip.is_global and not (
        ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )


def resolve(host: str, port: int, *, allow_loopback: bool) -> str:
    """The address to connect to: the first that ``host`` resolves to, when every address it
    resolves to is public. Raises Refused(UNRESOLVABLE or NOT_PUBLIC)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise Refused(UNRESOLVABLE, host) from None
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise Refused(UNRESOLVABLE, host)
    for address in addresses:
        if not _public(address, allow_loopback=allow_loopback):
            raise Refused(NOT_PUBLIC, address)
    return addresses[0]


def check(url: str, *, allow_loopback: bool) -> Target:
    """Everything :func:`post` checks before connecting (for a form: refuse early)."""
    target = parse(url)
    resolve(target.host, target.port, allow_loopback=allow_loopback)
    return target


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """HTTPS to a fixed address, with SNI and certificate checks against the host name."""

    def __init__(self, host: str, port: int, address: str, *, timeout: float, context):
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  #: the first 4 KB
    seconds: float


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    timeout: float,
    allow_loopback: bool,
    ca_file: str | None = None,
) -> Answer:
    """POST ``body`` to ``url`` after the checks above. Raises Refused, or OSError
    (including timeouts and TLS failures) when the receiver cannot be reached."""
    target = parse(url)
    address = resolve(target.host, target.port, allow_loopback=allow_loopback)
    context = ssl.create_default_context(cafile=ca_file)
    started = time.perf_counter()
    connection = _PinnedHTTPSConnection(
        target.host, target.port, address, timeout=timeout, context=context
    )
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read(4096)
        return Answer(response.status, data, time.perf_counter() - started)
    except http.client.HTTPException as error:
        raise OSError(f"bad HTTP answer: {error}") from None
    finally:
        connection.close()
