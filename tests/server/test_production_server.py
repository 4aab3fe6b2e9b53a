"""The production profile as `make serve` runs it: gunicorn with the project's gunicorn.conf.py
(sync workers from SHOP_WORKERS, bind from HOST/PORT), the request log on, and rate limits
counted in a real redis-server when SHOP_REDIS_URL is set (skipped without redis-server;
.ci/run installs it)."""

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shop import PROJECT_ROOT
from tests.server.live import TIMEOUT, Browser, hidden_fields, server_env
from tests.server.live import free_port as _free_port

PER_WORKER_WARNING = "Rate limits count per worker process"


class ServeProcess:
    """gunicorn started the way `make serve` starts it (the Makefile's install and migrate
    steps are the test fixtures' job here)."""

    def __init__(self, env: dict, log_path: Path):
        self.port = _free_port()
        self.log_path = log_path
        env = {**env, "HOST": "127.0.0.1", "PORT": str(self.port), "SHOP_REQUEST_LOG": "true"}
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log,
            )  # fmt: skip

    def wait_ready(self) -> "ServeProcess":
        deadline = time.monotonic() + TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited at start:\n{self.log()}")
            try:
                if Browser(self, timeout=2).get("/healthz").status == 200:
                    return self
            except OSError:
                pass
            assert time.monotonic() < deadline, f"no answer in {TIMEOUT} s:\n{self.log()}"
            time.sleep(0.05)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def request_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.log().splitlines() if line.startswith("{")]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def serve(tmp_path):
    """``serve(database_url, **settings)``: a started ServeProcess, stopped at teardown."""
    started: list[ServeProcess] = []

    def start(database_url: str, **settings) -> ServeProcess:
        env = server_env(database_url, tmp_path / "instance", **settings)
        server = ServeProcess(env, tmp_path / f"serve-{len(started)}.log")
        started.append(server)
        return server.wait_ready()

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def redis_url(tmp_path):
    """A throwaway redis-server on 127.0.0.1 (no persistence); its URL."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            break
        except OSError:
            assert process.poll() is None, "redis-server exited at start"
            assert time.monotonic() < deadline, "redis-server did not listen"
            time.sleep(0.05)
    url = f"redis://127.0.0.1:{port}/0"
    yield url
    if process.poll() is None:
        process.terminate()
        process.wait(10)


def test_serve_runs_sync_workers_and_logs_each_request_once(serve, database_url):
    server = serve(database_url, WORKERS=2)
    browser = Browser(server)

    health = browser.get("/healthz")
    assert (health.status, json.loads(health.text)) == (200, {"status": "ok", "database": "ok"})
    page = browser.request("GET", "/auth/signin?next=/me", headers={"X-Request-ID": "live-0001"})
    assert page.status == 200 and page.headers["X-Request-ID"] == "live-0001"
    assert browser.get("/no-such-page").status == 404

    deadline = time.monotonic() + 10  # lines are written as the workers finish each request
    while len(server.request_lines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = server.request_lines()
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/auth/signin", 200), ("/no-such-page", 404),
    ], server.log()  # fmt: skip
    assert lines[0]["request_id"] == "live-0001"
    log = server.log()
    assert "Using worker: sync" in log
    assert log.count("Booting worker") == 2
    assert '"GET /auth/signin' not in log  # no gunicorn access log beside the app's own
    assert PER_WORKER_WARNING in log  # two workers and no Redis: said at start


def failed_signins(browser: Browser, count: int) -> list[int]:
    """Statuses of ``count`` failed sign-ins (CSRF token and all), each for another unknown
    account so only the per-address limit can stop them; one connection each, so the sync
    workers share them out."""
    form = hidden_fields(browser.get("/auth/signin").text)
    statuses = []
    for n in range(count):
        answer = browser.post(
            "/auth/signin", {**form, "account": f"1370000{n:04d}", "password": "wrong-pass-1"}
        )
        statuses.append(answer.status)
    return statuses


def test_with_redis_every_worker_counts_the_same_limit(serve, sqlite_template, tmp_path, redis_url):
    from shop.platform import resp

    database = tmp_path / "serve.sqlite3"
    shutil.copyfile(sqlite_template, database)
    server = serve(
        f"sqlite:///{database}", WORKERS=2, REDIS_URL=redis_url, LOGIN_LIMIT_PER_IP="3 per minute"
    )
    assert PER_WORKER_WARNING not in server.log()

    browser = Browser(server)
    assert failed_signins(browser, 8) == [200, 200, 200] + [429] * 5, server.log()
    redis = resp.Client(redis_url)
    assert redis.execute_command("KEYS", "LIMITS*"), "no rate-limit counter in Redis"

    # Redis going away does not take sign-in down: the workers count in memory meanwhile.
    try:
        redis.execute_command("SHUTDOWN", "NOSAVE")
    except resp.RedisConnectionError:
        pass  # the server closes the connection as it exits
    redis.close()
    statuses = failed_signins(browser, 2)
    assert set(statuses) <= {200, 429}, server.log()
    assert browser.get("/healthz").status == 200


def raw_exchange(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send ``request`` bytes as they are on a new connection; the status line, the headers
    (lower-case names) and the body, read until gunicorn closes the connection."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as conn:
        conn.sendall(request)
        chunks = []
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


#: Requests gunicorn refuses itself, before the app: a request line over limit_request_line
#: (4094 bytes), more header fields than limit_request_fields (100), a malformed header.
REFUSED_BY_GUNICORN = {
    "414": b"GET /p/" + b"a" * 5000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    "431": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n" + b"X-Pad: 1\r\n" * 120 + b"\r\n",
    "400": b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon <script>\r\n\r\n",
}


def test_gunicorns_own_answers_carry_the_security_headers_and_no_server(
    serve, sqlite_template, tmp_path
):
    """gunicorn answers 400, 414 and 431 itself, and names itself in `Server` on every answer;
    gunicorn.conf.py gives its error pages the app's security headers and drops `Server`."""
    database = tmp_path / "serve.sqlite3"
    shutil.copyfile(sqlite_template, database)
    server = serve(f"sqlite:///{database}", WORKERS=1, TRUSTED_HOSTS='["127.0.0.1"]')
    problems = []
    for expected, request in REFUSED_BY_GUNICORN.items():
        status, headers, body = raw_exchange(server.port, request)
        label = f"{expected} ({status})"
        if status.split()[1] != expected:
            problems.append(f"{label}: answered {status}")
        for name, value in {
            "x-content-type-options": "nosniff",
            "x-frame-options": "DENY",
            "content-security-policy": "default-src 'none'; base-uri 'none'; "
            "form-action 'none'; frame-ancestors 'none'",
        }.items():
            if headers.get(name) != value:
                problems.append(f"{label}: {name} is {headers.get(name)!r}")
        if "server" in headers:
            problems.append(f"{label}: Server: {headers['server']}")
        if b"aaaa" in body or b"<script>" in body:
            problems.append(f"{label}: the page echoes the request")
    # The app's own answers: no Server either; an unknown Host is refused (SHOP_TRUSTED_HOSTS
    # as JSON in the environment), with the app's headers.
    get = b"GET /admin HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
    status, headers, _ = raw_exchange(server.port, get % b"127.0.0.1")
    if not status.startswith("HTTP/1.1 308") or "server" in headers:
        problems.append(f"trusted host: {status}, {headers}")
    if headers.get("location", "").split("/")[2:3] != ["127.0.0.1"]:
        problems.append(f"trusted host: Location {headers.get('location')}")
    status, headers, _ = raw_exchange(server.port, get % b"evil.example")
    if not status.startswith("HTTP/1.1 400") or "evil.example" in headers.get("location", ""):
        problems.append(f"untrusted host: {status}, {headers}")
    if headers.get("x-frame-options") != "DENY" or "server" in headers:
        problems.append(f"untrusted host: headers {headers}")
    assert not problems, "\n".join(problems) + "\n" + server.log()[-3000:]


def test_with_redis_share_link_limits_are_counted_there_and_survive_its_loss(
    serve, sqlite_template, tmp_path, redis_url
):
    """/r/<code> on two workers counts its two limits in Redis through the app's own client
    (shop.platform.resp): one count for every worker, beyond the hard limit the 429 page; with
    Redis gone the links keep answering (each worker counts in its own memory)."""
    from shop.platform import resp
    from shop.platform.extensions import db
    from tests.conftest import build_app
    from tests.web.test_sharing import make_link

    database = tmp_path / "serve.sqlite3"
    shutil.copyfile(sqlite_template, database)
    setup = build_app(f"sqlite:///{database}", tmp_path / "setup")
    with setup.app_context():
        code = make_link().code
        db.session.commit()
        db.engine.dispose()
    server = serve(
        f"sqlite:///{database}",
        WORKERS=2,
        REDIS_URL=redis_url,
        CLICK_HARD_LIMIT="3 per minute",
        CLICK_FLOOD_LIMIT="2 per minute",
    )
    phone = {"User-Agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.40"}
    statuses = [
        Browser(server).request("GET", f"/r/{code}", headers=phone).status for _ in range(6)
    ]
    assert statuses == [303, 303, 303, 429, 429, 429], server.log()
    redis = resp.Client(redis_url)
    keys = sorted(key.decode() for key in redis.execute_command("KEYS", "fenxiang/count/*"))
    assert [key.split("/")[2] for key in keys] == ["CLICK_FLOOD_LIMIT", "CLICK_HARD_LIMIT"]
    assert redis.get(keys[1]) == b"6" and redis.get(keys[0]) == b"3"  # inner: within outer only
    assert 0 < redis.ttl(keys[1]) <= 60

    try:
        redis.execute_command("SHUTDOWN", "NOSAVE")
    except resp.RedisConnectionError:
        pass  # the server closes the connection as it exits
    redis.close()
    answer = Browser(server).request("GET", f"/r/{code}", headers=phone)
    assert answer.status == 303, server.log()
    assert "Traceback" not in server.log()
