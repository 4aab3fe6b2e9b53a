"""What the HTTP benchmarks share: a free port, gunicorn on bench/bench_app.py, the demo
instance with one share link per shop item, a PostgreSQL database made and dropped for a run,
and a small HTTP/1.1 client on bare sockets (one connection per request, as sync workers close
them anyway). The client part uses the standard library only, so client processes started
with ``spawn`` stay light."""

import os
import re
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The production gunicorn settings, when the project has them; the benches then measure
#: that profile (workers and their class from the file, the bind and the app from here).
GUNICORN_CONF = ROOT / "gunicorn.conf.py"
PHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.50(0x1800323d) NetType/WIFI "
    "Language/zh_CN"
)
#: The truly bare Flask app the benches measure against (no extensions, no hooks).
BARE_APP = "bench.bare_app:app"
#: Every request and every wait of a client ends within this many seconds.
TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- the server --------------------------------------------------------------------------


def gunicorn_command(
    port: int,
    workers: int,
    *,
    use_conf: bool = False,
    app: str = "bench.bench_app:app",
    root: Path = ROOT,
) -> list[str]:
    """gunicorn serving ``app`` (bench/bench_app.py) on ``port``: with the project's
    gunicorn.conf.py when ``use_conf`` and it exists (its worker settings), else ``workers``
    sync workers. ``root``: another copy of the project to take the settings file from (this
    one's virtualenv runs it)."""
    command = [str(ROOT / ".venv" / "bin" / "gunicorn"), f"--bind=127.0.0.1:{port}"]
    conf = root / GUNICORN_CONF.name
    if use_conf and conf.exists():
        command += ["-c", str(conf)]
    else:
        command += [
            "--worker-class=sync",
            f"--workers={workers}",
            "--backlog=2048",
            "--log-level=warning",
        ]
    return [*command, app]


def start_server(
    port: int,
    env: dict,
    workers: int,
    *,
    log: Path | None = None,
    use_conf: bool = False,
    app: str = "bench.bench_app:app",
    wait: float = TIMEOUT,
    root: Path = ROOT,
) -> subprocess.Popen:
    """Start gunicorn and wait (at most ``wait`` seconds) until a worker answers (the master
    listens before its workers have imported the app); its output goes to ``log`` (the
    terminal when None). ``root``: another copy of the project to serve (its code first on
    the path, this one's virtualenv), e.g. the code before a change, to compare."""
    output = log.open("ab") if log is not None else None
    if root != ROOT:
        env = {**env, "PYTHONPATH": str(root)}
    try:
        server = subprocess.Popen(
            gunicorn_command(port, workers, use_conf=use_conf, app=app, root=root),
            cwd=root,
            env=env,
            stdout=output,
            stderr=output,
        )
    finally:
        if output is not None:
            output.close()  # the child has its own copy
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"gunicorn exited at start (status {server.returncode})")
        try:
            if http(port, "GET", "/_bench/template")[0]:
                return server
        except OSError:
            pass  # not listening yet
        time.sleep(0.05)
    server.kill()
    raise SystemExit("gunicorn did not answer")


def stop_server(server: subprocess.Popen) -> None:
    """A normal stop (SIGTERM: workers finish their request and flush queued clicks)."""
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(10)


# --- data --------------------------------------------------------------------------------


def prepare(extend=None) -> dict:
    """Migrate the database the environment names (SHOP_DATABASE_URL, or SQLite in
    SHOP_INSTANCE_PATH), seed the demo and make a WeChat-group link per public shop item.

    Returns ``codes`` (the links' codes), ``products`` (their landing paths) and whatever
    ``extend(setup, now)`` adds: it runs in the same app context before the commit, with
    ``setup["links"]``: (shop, item, link) for each of those links."""
    from datetime import UTC, datetime

    from flask_migrate import upgrade
    from sqlalchemy import select

    from shop import create_app
    from shop.demo import seed as demo
    from shop.platform.extensions import db
    from shop.sharing import links, shops
    from shop.sharing.models import Channel, Shop

    app = create_app()
    with app.app_context():
        upgrade()
        demo.seed_demo(now=datetime.now(UTC).replace(tzinfo=None))
        now = datetime.now(UTC).replace(tzinfo=None)
        setup: dict = {"codes": [], "products": [], "links": []}
        for shop in db.session.execute(select(Shop).order_by(Shop.id)).scalars():
            for item in shops.public_items(shop):
                link = links.get_or_create_link(shop, item.product, Channel.WECHAT_GROUP, now=now)
                setup["codes"].append(link.code)
                setup["products"].append(f"/s/{shop.slug}/p/{item.product.id}?ref={link.code}")
                setup["links"].append((shop, item, link))
        if extend is not None:
            extend(setup, now)
        db.session.commit()
        del setup["links"]  # ORM objects: not for after the session
        db.engine.dispose()
    return setup


def scalar(url: str, sql: str):
    """One value from the database at ``url`` (a fresh connection, closed after)."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).scalar()
    finally:
        engine.dispose()


@contextmanager
def database(url: str | None, sqlite_name: str):
    """(database URL, temporary folder) for a run: a SQLite file ``sqlite_name`` in the
    folder, or the PostgreSQL database named by ``url``, created for the run and dropped after
    it (names starting with "shop_test" belong to the test suite and are refused)."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    with tempfile.TemporaryDirectory() as tmp:
        if not url:
            yield f"sqlite:///{Path(tmp) / sqlite_name}", Path(tmp)
            return
        parsed = make_url(url)
        name = parsed.database or ""
        if not parsed.drivername.startswith("postgresql"):
            raise SystemExit("--database-url must be a PostgreSQL URL (SQLite is the default)")
        if (
            not name
            or name.startswith("shop_test")
            or name in ("postgres", "template0", "template1")
        ):
            raise SystemExit(f"refusing to drop and recreate the database {name!r}")
        admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield url, Path(tmp)
        finally:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()


# --- the client --------------------------------------------------------------------------


def http(
    port: int,
    method: str,
    path: str,
    *,
    cookies: dict | None = None,
    body: bytes = b"",
    headers: dict | None = None,
) -> tuple[int, list[tuple[str, str]], bytes, float]:
    """One request on a new connection, read to the end: (status, headers, body, seconds).
    The status is 0 when the answer is not HTTP; OSError for a refused or timed-out one."""
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        f"User-Agent: {PHONE_UA}",
        "Accept: text/html",
        "Accept-Encoding: identity",
        "Connection: close",
    ]
    if cookies:
        lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
    if body or method == "POST":
        lines.append(f"Content-Length: {len(body)}")
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    payload = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
    begin = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(payload)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    elapsed = time.perf_counter() - begin
    raw = b"".join(chunks)
    head, _sep, content = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1."):
        return 0, [], raw, elapsed
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    found = []
    for line in header_lines:
        name, _colon, value = line.partition(":")
        found.append((name.strip().lower(), value.strip()))
    return int(status_line[9:12]), found, content, elapsed


def request(port: int, path: str) -> tuple[int, float]:
    """One GET as a new visitor (no cookie); (status, seconds)."""
    status, _headers, _body, elapsed = http(port, "GET", path)
    return status, elapsed


def header(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key == name), "")


def keep_cookies(cookies: dict, headers: list[tuple[str, str]]) -> None:
    """Apply an answer's Set-Cookie headers to ``cookies`` (deletions too)."""
    for key, value in headers:
        if key != "set-cookie":
            continue
        pair, *attributes = [part.strip() for part in value.split(";")]
        name, _eq, content = pair.partition("=")
        expired = any(a.lower() in ("max-age=0", "max-age=-1") for a in attributes) or any(
            a.lower().startswith("expires=") and "1970" in a for a in attributes
        )
        if content and not expired:
            cookies[name] = content
        else:
            cookies.pop(name, None)


class _HiddenInputs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.values.setdefault(found["name"], found.get("value") or "")


def hidden_fields(page: str) -> dict[str, str]:
    """The hidden inputs of a page (csrf_token, idempotency keys), by name; where two forms
    share a name (the footer's language form has its own ``next``), the first form's value,
    as the page's own form sends it."""
    parser = _HiddenInputs()
    parser.feed(page)
    return parser.values


LOCATION_PAY = re.compile(r"/orders/\d+/pay$")


def worker_memory_mb(master: int) -> list[tuple[float, float, float]]:
    """(RSS, PSS, USS) of each of gunicorn's workers (the master's children), in MB, from
    /proc/<pid>/smaps_rollup: RSS counts every page a worker maps, shared ones too (libraries,
    whatever the master loaded before the fork); PSS shares those out among the processes
    that map them; USS is what the worker alone holds (what stopping it would free)."""
    return [size for pid in _children(master) if (size := _memory_of(pid)) is not None]


def drawing_memory_mb(master: int) -> list[tuple[float, float, float]]:
    """The same for the workers' own children: the poster drawing processes
    (shop.sharing.drawing) still running."""
    return [
        size
        for worker in _children(master)
        for pid in _children(worker)
        if (size := _memory_of(pid)) is not None
    ]


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return []


def _memory_of(pid: str) -> tuple[float, float, float] | None:
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        if keep := os.environ.get("BENCH_KEEP_SMAPS"):  # a folder: each process's smaps
            Path(keep).mkdir(parents=True, exist_ok=True)
            Path(keep, f"{pid}.smaps").write_text(Path(f"/proc/{pid}/smaps").read_text())
    except OSError:
        return None
    kb = {}
    for line in rollup.splitlines()[1:]:
        name, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            kb[name] = int(rest.split()[0])
    uss = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
    return kb.get("Rss", 0) / 1024, kb.get("Pss", 0) / 1024, uss / 1024


def memory_line(
    sizes: list[tuple[float, float, float]],
    limit: float = 100,
    drawing: list[tuple[float, float, float]] | None = None,
) -> str:
    """The report's line on worker memory: RSS against ``limit``, with PSS and USS; and the
    poster drawing processes' when any runs."""
    if not sizes:
        return "shop worker memory after the load: not readable"
    rss = ", ".join(f"{r:.0f}" for r, _p, _u in sorted(sizes))
    pss = ", ".join(f"{p:.0f}" for _r, p, _u in sorted(sizes))
    uss = ", ".join(f"{u:.0f}" for _r, _p, u in sorted(sizes))
    verdict = "PASS" if max(r for r, _p, _u in sizes) <= limit else "MISS"
    return (
        f"shop worker memory after the load: RSS {rss} MB (max <= {limit:g} MB: {verdict}); "
        f"PSS {pss} MB; USS {uss} MB"
    ) + (
        "\nthe poster drawing process (shop.sharing.drawing; ends a minute after its last poster): "
        + "; ".join(f"RSS {r:.0f} PSS {p:.0f} USS {u:.0f}" for r, p, u in sorted(drawing))
        + " MB"
        if drawing
        else ""
    )
