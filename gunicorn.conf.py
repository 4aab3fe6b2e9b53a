"""gunicorn settings for production (`make serve`, or `gunicorn -c gunicorn.conf.py wsgi:app`).

gunicorn also reads this file by itself when started from the project folder without `-c`
(tests/server and the benchmarks start it that way): their command-line flags win over every
value here, so nothing below may assume it is in production. Environment:

- HOST, PORT: where to listen (127.0.0.1:5000, as `make run`). Behind nginx or a load
  balancer keep 127.0.0.1 or a private address, never a public one.
- SHOP_WORKERS or WEB_CONCURRENCY: worker processes (default 2 x cores + 1).
- GUNICORN_CMD_ARGS: any other gunicorn flag, e.g. "--timeout 60".
"""

import os


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
