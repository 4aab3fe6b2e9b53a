"""A real server for the tests in this folder: gunicorn (gthread workers) on 127.0.0.1
serving ``wsgi:app`` against the test's database (a SQLite file, or PostgreSQL), and a small
cookie-keeping client on the standard library's http.client. CSRF stays on: clients read the
token from the form, as a browser does."""

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
from copy import copy as shallow_copy
from dataclasses import dataclass
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from sqlalchemy import func, select

from bench.bench_http import free_port
from bench.common import hidden_fields
from shop import PROJECT_ROOT
from shop.platform.extensions import db
from tests.conftest import TEST_CONFIG
from tests.factories import DEFAULT_PASSWORD

#: Every request and every wait in this folder ends within this many seconds.
TIMEOUT = 30.0
SECRET_KEY = TEST_CONFIG["SECRET_KEY"]
CHECKOUT_ADDRESS = {
    "name": "王小二",
    "phone": "13912345678",
    "province": "330000",
    "city": "330100",
    "district": "330106",
    "detail": "文三路 90 号",
}


def server_env(database_url: str, instance: Path, **settings) -> dict:
    """The environment of a server process: the test's database and secret (so the test can
    sign gateway notices), cheap password hashing, no caches or batching that would make
    what a request wrote appear later. ``settings`` add ``SHOP_<KEY>`` variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("SHOP_")}
    values = {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "SECRET_KEY": SECRET_KEY,
        "ARGON2_TIME_COST": TEST_CONFIG["ARGON2_TIME_COST"],
        "ARGON2_MEMORY_COST": TEST_CONFIG["ARGON2_MEMORY_COST"],
        "ARGON2_PARALLELISM": TEST_CONFIG["ARGON2_PARALLELISM"],
        "LINK_CACHE_SECONDS": 0,
        "CLICK_BATCH_SECONDS": 0,
        **settings,
    }
    env.update({f"SHOP_{key}": str(value) for key, value in values.items()})
    return env


class Server:
    """One gunicorn master and its workers; output goes to ``log_path``."""

    def __init__(self, env: dict, log_path: Path, *, workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.log_path = log_path
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable, "-m", "gunicorn", "wsgi:app",
                    f"--bind=127.0.0.1:{self.port}",
                    "--worker-class=gthread", f"--workers={workers}", f"--threads={threads}",
                    f"--timeout={int(TIMEOUT)}", "--graceful-timeout=5", "--log-level=warning",
                ],
                cwd=PROJECT_ROOT, env=env, stdout=log, stderr=log,
            )  # fmt: skip
        self._ready = False

    def wait_ready(self) -> "Server":
        """Block until a worker answers a page (the app is imported and configured)."""
        deadline = time.monotonic() + TIMEOUT
        while not self._ready:
            if self.process.poll() is not None:
                raise AssertionError(f"gunicorn exited at start:\n{self.log()}")
            try:
                self._ready = Browser(self, timeout=2).get("/auth/signin").status == 200
            except (OSError, http.client.HTTPException):
                pass  # not listening yet, or a worker still booting
            if not self._ready:
                if time.monotonic() > deadline:
                    raise AssertionError(f"gunicorn did not answer in {TIMEOUT} s:\n{self.log()}")
                time.sleep(0.05)
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def wait_for_log(self, text: str) -> bool:
        deadline = time.monotonic() + 10
        while text not in self.log():
            if time.monotonic() > deadline:
                return False
            time.sleep(0.05)
        return True

    def stop(self) -> None:
        """Quick shutdown (SIGQUIT: workers end at once, no draining); SIGKILL if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


# --- the client ----------------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    text: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class Browser:
    """One person's browser: keeps cookies, sends English as its language, never follows
    redirects, opens a new connection per request (with a timeout) and closes it."""

    def __init__(self, server: Server, *, timeout: float = TIMEOUT):
        self.port = server.port
        self.timeout = timeout
        self.cookies: dict[str, str] = {}

    def copy(self) -> "Browser":
        """Another tab of the same browser (same cookies), safe to use from another thread."""
        twin = shallow_copy(self)
        twin.cookies = dict(self.cookies)
        return twin

    def request(self, method: str, path: str, body: bytes = b"", headers=None) -> Response:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        sent = {"Accept-Language": "en", "Connection": "close", **(headers or {})}
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        try:
            connection.request(method, path, body=body or None, headers=sent)
            answer = connection.getresponse()
            text = answer.read().decode("utf-8", errors="replace")
        finally:
            connection.close()
        for header in answer.headers.get_all("Set-Cookie") or []:
            for name, morsel in SimpleCookie(header).items():
                if morsel.value and morsel["max-age"] != "0":
                    self.cookies[name] = morsel.value
                else:
                    self.cookies.pop(name, None)
        return Response(answer.status, answer.headers, text)

    def get(self, path: str) -> Response:
        return self.request("GET", path)

    def post(self, path: str, form: dict) -> Response:
        return self.request(
            "POST",
            path,
            urlencode(form).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"},
        )


def sign_in(server: Server, account: str, password: str = DEFAULT_PASSWORD) -> Browser:
    """A Browser signed in through the real form (CSRF token and all)."""
    browser = Browser(server)
    form = hidden_fields(browser.get("/auth/signin").text)
    answer = browser.post("/auth/signin", {**form, "account": account, "password": password})
    assert answer.status == 302, answer.text[:500]
    return browser


def release_together(count: int, work) -> tuple[list, float]:
    """Run ``work(i)`` in ``count`` threads released by one barrier; (results, seconds from
    the release until the last one finished). An exception is kept as the result."""
    barrier = threading.Barrier(count + 1, timeout=TIMEOUT)
    results: list = [None] * count

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except Exception as error:  # a refused connection or a timeout is a result too
            results[i] = error

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()  # every thread is at the barrier: go
    begin = time.perf_counter()
    deadline = time.monotonic() + 2 * TIMEOUT
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0))
    seconds = time.perf_counter() - begin
    assert not any(thread.is_alive() for thread in threads), "client threads still running"
    return results, seconds


def ready_to_buy(server: Server, account: str, product_id: int) -> tuple[Browser, dict]:
    """A signed-in buyer with the checkout form filled in, one click from placing the order."""
    browser = sign_in(server, account)
    page = browser.get(f"/checkout/{product_id}")
    assert page.status == 200, page.text[:500]
    form = {**hidden_fields(page.text), **CHECKOUT_ADDRESS, "quantity": "1", "provider": "sandbox"}
    return browser, form


def statuses(results) -> dict:
    """How many of each status (or exception class) the clients saw."""
    seen: dict = {}
    for result in results:
        key = result.status if isinstance(result, Response) else type(result).__name__
        seen[key] = seen.get(key, 0) + 1
    return seen


def count(model, *where) -> int:
    """Rows of ``model`` matching ``where``, in the test process (inside an app context)."""
    return db.session.execute(select(func.count()).select_from(model).where(*where)).scalar()
