"""gunicorn settings for production (`make serve`, or `gunicorn -c gunicorn.conf.py wsgi:app`).

gunicorn also reads this file by itself when started from the project folder without `-c`
(tests/server and the benchmarks start it that way): their command-line flags win over every
value here, so nothing below may assume it is in production. Environment:

- HOST, PORT: where to listen (127.0.0.1:5000, as `make run`). Behind nginx or a load
  balancer keep 127.0.0.1 or a private address, never a public one.
- SHOP_WORKERS or WEB_CONCURRENCY: worker processes (default 2 x cores + 1).
- GUNICORN_CMD_ARGS: any other gunicorn flag, e.g. "--timeout 60".
"""

import html
import os
import sys

from gunicorn import util as _gunicorn_util
from gunicorn.http import wsgi as _gunicorn_wsgi


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the CPUs this process may use (containers)
    except AttributeError:
        return os.cpu_count() or 1


def _int_env(*names: str) -> int | None:
    for name in names:
        value = os.environ.get(name, "").strip()
        if value:
            return int(value)
    return None


_host = os.environ.get("HOST") or "127.0.0.1"
if ":" in _host and not _host.startswith("["):
    _host = f"[{_host}]"  # an IPv6 address, e.g. HOST=::1
bind = f"{_host}:{os.environ.get('PORT') or '5000'}"

# Sync workers: one request at a time per process, each connection closed after its response.
# Threaded workers (gthread) were measured here to pile keep-alive connections onto one
# worker while the others idled; sync workers spread connections over every process, and
# nginx or the load balancer in front does the keep-alive with phones.
worker_class = "sync"
workers = _int_env("SHOP_WORKERS", "WEB_CONCURRENCY") or 2 * _cores() + 1

# A request running longer than this is a stuck worker: it is killed and replaced.
timeout = 30
# On SIGTERM a worker finishes its request and writes its queued clicks (shop.sharing.clicks)
# within this many seconds.
graceful_timeout = 30

# No preload: each worker imports the app itself after the fork, so no database connection,
# pool or click-writer thread is ever made in the master and shared by the forked workers
# (SQLAlchemy's pools must not cross a fork). Costs a little memory; keeps restarts simple.
preload_app = False

# The app writes one structured line per request itself (shop.request, SHOP_REQUEST_LOG),
# with its request id and user; gunicorn's access log would only repeat it with less.
accesslog = None
errorlog = "-"
loglevel = "info"
proc_name = "fenxiang"
# gunicorn's control socket defaults to one path per user ($HOME/.gunicorn/gunicorn.ctl), which
# every gunicorn of that user on the machine would share; manage the server with signals
# instead (HUP: reload workers; TERM: graceful stop; TTIN/TTOU: one worker more/less).
control_socket_disable = True


def post_worker_init(worker) -> None:
    """Move everything the worker built while loading the app (modules, templates, mappers) out
    of the garbage collector's reach: a full collection then walks only what requests made,
    instead of pausing a request for the whole heap (bench/README.md: the tail latency)."""
    import gc

    gc.collect()
    gc.freeze()
    _fixed_mmap_threshold()


#: glibc's mallopt parameters: M_TRIM_THRESHOLD, M_MMAP_THRESHOLD.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def _fixed_mmap_threshold(size: int = 128 * 1024) -> None:
    """Give large freed buffers back to the system. glibc raises its mmap threshold to the size
    of the largest block freed so far (up to 32 MB), so after one poster (a 1080x1920 image,
    decoded photos) every later image buffer comes from the heap, which never shrinks: 6-12 MB
    more per worker that drew posters (bench/README.md, worker memory; posters are now drawn
    in shop.sharing.drawing's process, which sets the same; uploads still decode here).
    A fixed threshold keeps
    such buffers in mappings of their own, returned when freed. Not glibc: nothing to do."""
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, size)
    mallopt(_M_TRIM_THRESHOLD, 2 * size)


#: A worker gives the heap's free pages back to the system every this many requests.
_TRIM_EVERY = 500
_served = 0
_malloc_trim = None


def post_request(worker, req, environ, resp) -> None:
    """Every ``_TRIM_EVERY`` requests, glibc's ``malloc_trim(0)``: the pages that requests freed
    inside the heap go back to the system (bench/README.md, worker memory). Costs well under a
    millisecond each time. Not glibc: nothing to do."""
    global _served, _malloc_trim
    _served += 1
    if _served % _TRIM_EVERY:
        return
    if _malloc_trim is None:
        import ctypes
        import ctypes.util

        try:
            _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


def when_ready(server) -> None:
    """Warn when several workers will each count rate limits on their own."""
    storage = os.environ.get("SHOP_RATELIMIT_STORAGE_URI") or "memory://"
    shared = os.environ.get("SHOP_REDIS_URL") or not storage.startswith("memory://")
    if server.cfg.workers > 1 and not shared:
        server.log.warning(
            "Rate limits count per worker process: %d workers each allow the full limit "
            "(sign-in, sign-up, share-link floods). Set SHOP_REDIS_URL=redis://host:6379/0 "
            "so all workers and machines count together.",
            server.cfg.workers,
        )


# --- gunicorn's own answers -----------------------------------------------------------------
# gunicorn answers some requests itself, before the app sees them: 400 (a malformed request
# line or header), 414 (a request line over limit_request_line, 4094 bytes), 431 (too many or
# too large headers), and it names itself in a `Server: gunicorn` header on every response.
# gunicorn has no setting for either, so this file, read by the master before any worker is
# forked, changes the two places: the response's default headers lose `Server`, and the error
# page writer sends the app's security headers (tests/server/test_production_server.py checks
# both against a real gunicorn, so an upgrade that moves them fails there).

#: What every gunicorn error page carries; the page has no script, style or image to allow.
ERROR_PAGE_HEADERS = (
    ("Content-Security-Policy",
     "default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    ("Cache-Control", "no-store"),
)  # fmt: skip


def write_error(sock, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's ``util.write_error`` with the headers above and without echoing the request
    (its message, e.g. the refused request line, goes only to gunicorn's log)."""
    body = (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{html.escape(reason)}"
        f"</title></head><body><h1>{status_int} {html.escape(reason)}</h1></body></html>"
    ).encode()
    head = [f"HTTP/1.1 {status_int} {reason}", "Connection: close",
            "Content-Type: text/html; charset=utf-8", f"Content-Length: {len(body)}"]  # fmt: skip
    head += [f"{name}: {value}" for name, value in ERROR_PAGE_HEADERS]
    _gunicorn_util.write_nonblock(sock, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)


def _install_server_changes() -> None:
    plain = getattr(_gunicorn_wsgi.Response, "default_headers", None)
    if plain is None or not hasattr(_gunicorn_util, "write_error"):
        print(
            "gunicorn.conf.py: this gunicorn has no Response.default_headers or "
            "util.write_error; its Server header and error pages are left as they are",
            file=sys.stderr,
        )
        return
    if getattr(plain, "drops_server", False):
        return  # the file is read again on HUP: already installed

    def default_headers(self):
        return [line for line in plain(self) if not line.startswith("Server:")]

    default_headers.drops_server = True
    _gunicorn_wsgi.Response.default_headers = default_headers
    _gunicorn_util.write_error = write_error


_install_server_changes()
