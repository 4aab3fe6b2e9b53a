"""The production profile seen through the test client (shop/ops.py): /healthz, request ids,
the structured request log, ProxyFix from settings, and Redis as the rate-limit storage."""

import json
import logging
import re
import shutil

import pytest
from flask import request
from flask_limiter.util import get_remote_address

from shop import create_app
from shop.platform import counters, ops, ratestore
from shop.platform.base import utcnow
from shop.platform.extensions import db, limiter
from tests.conftest import build_app
from tests.factories import DEFAULT_PASSWORD, make_user

UNREACHABLE_PG = "postgresql+psycopg://nobody@127.0.0.1:1/fenxiang"
GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines():
    """The request log's lines as dicts, caught on the logger itself (it does not propagate)."""
    lines: list[dict] = []

    class Catch(logging.Handler):
        def emit(self, record):
            lines.append(json.loads(record.getMessage()))

    handler = Catch()
    ops.request_log.addHandler(handler)
    yield lines
    ops.request_log.removeHandler(handler)


@pytest.fixture
def sqlite_url(sqlite_template, tmp_path):
    """A copy of the migrated SQLite template, for tests that need only one database."""
    path = tmp_path / "only.sqlite3"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_app(tmp_path):
    """``make_app(database_url, **settings)``: an app whose connections are closed at the end."""
    made = []

    def make(database_url, **overrides):
        app = build_app(database_url, tmp_path / f"instance-{len(made)}", **overrides)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def add_probe(app):
    """A route answering what the app thinks of the request (address, limiter key, HTTPS)."""

    @app.get("/_probe")
    def _probe():
        return {
            "remote_addr": request.remote_addr,
            "limiter_key": get_remote_address(),
            "secure": request.is_secure,
            "host": request.host,
        }

    return app


# --- /healthz ------------------------------------------------------------------------------


def test_healthz_answers_ok_with_the_database_checked(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert not any(name.startswith("X-RateLimit") for name in response.headers.keys())
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


def test_healthz_is_503_when_the_database_is_unreachable(make_app, log_lines):
    app = make_app(UNREACHABLE_PG, REQUEST_LOG=True)
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}
    assert "nobody" not in response.get_data(as_text=True)  # no connection details
    assert response.headers["Cache-Control"] == "no-store"
    # A failed check is news: it is logged (a passing one is not, see below).
    assert [(line["path"], line["status"]) for line in log_lines] == [("/healthz", 503)]


def test_healthz_is_never_rate_limited(client):
    assert {client.get("/healthz").status_code for _ in range(60)} == {200}


# --- request ids ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "incoming",
    ["3f2c9a1e-7b4d-4c1a-9e2f-0a1b2c3d4e5f", "Root=1-67891233-abcdef012345678912345678"],
)
def test_a_safe_incoming_request_id_is_kept(client, incoming):
    response = client.get("/auth/signin", headers={"X-Request-ID": incoming})
    assert response.headers["X-Request-ID"] == incoming


@pytest.mark.parametrize(
    "incoming", ["short", "has spaces in it", "a" * 129, "<script>alert(1)</script>", "\u4e2d" * 10]
)
def test_an_unsafe_incoming_request_id_is_replaced(client, incoming):
    response = client.get("/auth/signin", headers={"X-Request-ID": incoming})
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


# --- the request log -----------------------------------------------------------------------


def test_one_log_line_per_request_with_its_fields(database_url, make_app, log_lines):
    client = make_app(database_url, REQUEST_LOG=True).test_client()
    response = client.get("/auth/signin?next=/me&phone=13800138000")
    client.get("/no-such-page")

    first, missing = log_lines
    assert set(first) == {
        "time", "request_id", "method", "path", "status", "duration_ms", "user_id",
    }  # fmt: skip
    assert first["method"] == "GET" and first["status"] == 200
    assert first["path"] == "/auth/signin"  # never the query string
    assert "13800138000" not in json.dumps(log_lines)
    assert first["request_id"] == response.headers["X-Request-ID"]
    assert first["user_id"] is None
    assert isinstance(first["duration_ms"], float) and first["duration_ms"] >= 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert (missing["path"], missing["status"]) == ("/no-such-page", 404)


def test_the_log_names_the_signed_in_user_and_never_the_password(database_url, make_app, log_lines):
    app = make_app(database_url, REQUEST_LOG=True)
    with app.app_context():
        user = make_user()
        user_id, account = user.id, user.phone
        db.session.commit()
    client = app.test_client()
    client.post("/auth/signin", data={"account": account, "password": DEFAULT_PASSWORD})
    client.get("/auth/account")

    signin, account_page = log_lines
    assert (signin["method"], signin["status"]) == ("POST", 302)
    assert account_page["user_id"] == user_id and account_page["status"] == 200
    assert DEFAULT_PASSWORD not in json.dumps(log_lines)


def test_a_request_that_ends_in_a_500_is_logged_once(make_app, sqlite_url, log_lines):
    app = make_app(sqlite_url, REQUEST_LOG=True, PROPAGATE_EXCEPTIONS=False)

    @app.get("/_boom")
    def _boom():
        raise RuntimeError("boom")

    response = app.test_client().get("/_boom", headers={"X-Request-ID": "trace-500-abcdef"})
    assert response.status_code == 500
    assert response.headers["X-Request-ID"] == "trace-500-abcdef"
    [line] = log_lines
    assert (line["path"], line["status"], line["error"]) == ("/_boom", 500, "RuntimeError")
    assert line["request_id"] == "trace-500-abcdef"


def test_an_after_request_hook_failing_is_logged_once_as_500(make_app, sqlite_url, log_lines):
    app = make_app(sqlite_url, REQUEST_LOG=True, PROPAGATE_EXCEPTIONS=False)

    @app.after_request
    def _fails_once(response):
        if response.status_code == 200:
            raise RuntimeError("after_request broke")
        return response

    assert app.test_client().get("/auth/signin").status_code == 500
    assert [(line["status"], line.get("error")) for line in log_lines] == [(500, "RuntimeError")]


def test_passing_health_checks_are_not_logged(database_url, make_app, log_lines):
    client = make_app(database_url, REQUEST_LOG=True).test_client()
    client.get("/healthz")
    assert log_lines == []


def test_the_request_log_is_off_unless_turned_on(client, log_lines):
    client.get("/auth/signin")
    assert log_lines == []


def test_the_request_log_writes_json_lines_to_stderr(make_app, sqlite_url, capfd):
    """With no logging configured (gunicorn configures only its own loggers), lines go to
    stderr as bare JSON, not through the app logger's "[time] INFO in ..." format."""
    handlers, propagate = list(ops.request_log.handlers), ops.request_log.propagate
    for handler in handlers:
        ops.request_log.removeHandler(handler)
    try:
        app = make_app(sqlite_url, REQUEST_LOG=True)
        app.test_client().get("/auth/signin")
        err = capfd.readouterr().err.strip().splitlines()
    finally:
        for handler in list(ops.request_log.handlers):
            ops.request_log.removeHandler(handler)
        for handler in handlers:
            ops.request_log.addHandler(handler)
        ops.request_log.propagate = propagate
    [line] = [json.loads(text) for text in err if text.startswith("{")]
    assert line["path"] == "/auth/signin"
    assert not any("INFO in" in text for text in err)


# --- proxies -------------------------------------------------------------------------------

SPOOFED = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_are_ignored_by_default(app):
    answer = add_probe(app).test_client().get("/_probe", headers=SPOOFED).get_json()
    assert answer == {
        "remote_addr": "127.0.0.1", "limiter_key": "127.0.0.1", "secure": False,
        "host": "localhost",
    }  # fmt: skip


def test_proxy_fix_settings_trust_that_many_proxies(database_url, make_app):
    app = make_app(
        database_url,
        PROXY_FIX_X_FOR=1,
        PROXY_FIX_X_PROTO=1,
        PROXY_FIX_X_HOST=1,
    )
    client = add_probe(app).test_client()
    # The one trusted proxy appended the address it saw; what a client put before it is not
    # believed.
    headers = {
        "X-Forwarded-For": "198.51.100.7, 203.0.113.9",
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "shop.example.cn",
    }
    answer = client.get("/_probe", headers=headers).get_json()
    assert answer == {
        "remote_addr": "203.0.113.9", "limiter_key": "203.0.113.9", "secure": True,
        "host": "shop.example.cn",
    }  # fmt: skip
    assert client.get("/_probe").get_json()["remote_addr"] == "127.0.0.1"  # no header


# --- trusted hosts -------------------------------------------------------------------------


def test_without_trusted_hosts_any_host_is_answered(app):
    """The default (`make run`, the tests): no list, every Host answered as before."""
    response = app.test_client().get("/admin", headers={"Host": "evil.example"})
    assert response.status_code == 308
    assert response.headers["Location"] == "http://evil.example/admin/"


def test_trusted_hosts_refuse_a_host_not_on_the_list(database_url, make_app):
    app = make_app(database_url, TRUSTED_HOSTS=["shop.example.cn", ".m.example.cn"])
    client = app.test_client()
    for host in ("shop.example.cn", "a.m.example.cn", "shop.example.cn:8443"):
        response = client.get("/admin", headers={"Host": host})
        assert response.status_code == 308, host
        assert response.headers["Location"] == f"http://{host}/admin/"
    for host in ("evil.example", "shop.example.cn.evil.example", "example.cn"):
        response = client.get("/admin", headers={"Host": host})
        assert response.status_code == 400, host
        assert "Location" not in response.headers
        assert host not in response.get_data(as_text=True)
        assert response.headers["X-Frame-Options"] == "DENY"  # the app's security headers
        assert "本站不接受此请求中的网址" in response.get_data(as_text=True)  # Chinese first
    # A POST is refused the same way, and a page too.
    assert client.post("/auth/signin", headers={"Host": "evil.example"}).status_code == 400
    assert client.get("/", headers={"Host": "evil.example"}).status_code == 400


def test_trusted_hosts_check_the_forwarded_host_a_trusted_proxy_sets(database_url, make_app):
    app = make_app(database_url, TRUSTED_HOSTS=["shop.example.cn"], PROXY_FIX_X_HOST=1)
    client = app.test_client()
    good = client.get("/admin", headers={"X-Forwarded-Host": "shop.example.cn"})
    assert good.headers["Location"] == "http://shop.example.cn/admin/"
    assert client.get("/admin", headers={"X-Forwarded-Host": "evil.example"}).status_code == 400


@pytest.mark.parametrize(
    "value, expected",
    [('["a.example.cn", "b.example.cn"]', ["a.example.cn", "b.example.cn"]),
     ("a.example.cn, .b.example.cn", ["a.example.cn", ".b.example.cn"]),
     ("", None), ("[]", None)],
)  # fmt: skip
def test_trusted_hosts_from_the_environment(monkeypatch, tmp_path, value, expected):
    monkeypatch.setenv("SHOP_TRUSTED_HOSTS", value)
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "INSTANCE_PATH": str(tmp_path)})
    assert app.config["TRUSTED_HOSTS"] == expected


def failed_signins(client, count: int, forwarded_for=None) -> list[int]:
    """Statuses of ``count`` failed sign-ins, each for another unknown account (so only the
    per-address limit can stop them)."""
    statuses = []
    for n in range(count):
        headers = {"X-Forwarded-For": forwarded_for(n)} if forwarded_for else {}
        form = {"account": f"1390000{n:04d}", "password": "wrong-password-1"}
        statuses.append(client.post("/auth/signin", data=form, headers=headers).status_code)
    return statuses


def test_a_spoofed_forwarded_for_does_not_escape_the_sign_in_limit(database_url, make_app):
    app = make_app(database_url, LOGIN_LIMIT_PER_IP="3 per minute")
    statuses = failed_signins(app.test_client(), 5, forwarded_for=lambda n: f"198.51.100.{n}")
    assert statuses == [200, 200, 200, 429, 429]


def test_behind_a_trusted_proxy_the_sign_in_limit_counts_per_client(database_url, make_app):
    app = make_app(
        database_url,
        LOGIN_LIMIT_PER_IP="3 per minute",
        PROXY_FIX_X_FOR=1,
    )
    client = app.test_client()
    assert failed_signins(client, 5, forwarded_for=lambda n: f"198.51.100.{n}") == [200] * 5
    assert failed_signins(client, 4, forwarded_for=lambda n: "198.51.100.200") == [
        200, 200, 200, 429,
    ]  # fmt: skip


# --- rate-limit storage --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ({}, "memory://"),
        # On the project's own Redis client (shop.platform.ratestore), TLS on redis-py.
        ({"REDIS_URL": "redis://10.0.0.5:6379/2"}, "fenxiang+redis://10.0.0.5:6379/2"),
        ({"REDIS_URL": "rediss://:pw@cache:6380/0"}, "rediss://:pw@cache:6380/0"),
        (
            {"REDIS_URL": "unix:///run/redis/redis.sock"},
            "fenxiang+redis+unix:///run/redis/redis.sock",
        ),
        (
            {"REDIS_URL": "redis+unix:///run/redis/redis.sock?db=2"},
            "fenxiang+redis+unix:///run/redis/redis.sock?db=2",
        ),
        # An explicitly chosen storage wins over REDIS_URL.
        (
            {"REDIS_URL": "redis://cache:6379/0", "RATELIMIT_STORAGE_URI": "memcached://mc:11211"},
            "memcached://mc:11211",
        ),
    ],
)
def test_redis_url_becomes_the_rate_limit_storage(settings, expected):
    config = {"RATELIMIT_STORAGE_URI": "memory://", **settings}
    ops.configure_rate_limit_storage(config)
    assert config["RATELIMIT_STORAGE_URI"] == expected
    uses_redis = expected.startswith(("fenxiang+redis", "rediss"))
    assert config.get("RATELIMIT_IN_MEMORY_FALLBACK_ENABLED", False) is uses_redis
    if uses_redis:
        assert config["RATELIMIT_STORAGE_OPTIONS"]["socket_timeout"] <= 2


def test_a_redis_url_of_another_scheme_is_refused():
    with pytest.raises(ValueError, match="REDIS_URL"):
        ops.configure_rate_limit_storage({"REDIS_URL": "http://cache:6379"})


def test_shop_redis_url_from_the_environment_reaches_flask_limiter(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOP_REDIS_URL", "redis://127.0.0.1:6399/3")
    app = create_app({"INSTANCE_PATH": str(tmp_path / "instance"), "SECRET_KEY": "x"})
    assert app.config["RATELIMIT_STORAGE_URI"] == "fenxiang+redis://127.0.0.1:6399/3"
    storage = limiter.storage
    assert isinstance(storage, ratestore.RespRedisStorage)
    assert storage.client.address == {
        "host": "127.0.0.1",
        "port": 6399,
        "db": 3,
        "username": None,
        "password": None,
    }
    assert storage.client.timeout == 1  # RATELIMIT_STORAGE_OPTIONS reach the client


def test_share_links_keep_working_while_the_rate_limit_storage_is_down(database_url, tmp_path):
    """With Redis configured but unreachable, /r/<code> counts its click limits in the
    process instead of answering 500: a shared link must not break with the cache."""
    from sqlalchemy import func, select

    from shop.sharing import links
    from shop.sharing.models import Channel, Click
    from tests.factories import make_product, make_shop

    app = build_app(database_url, tmp_path / "instance", REDIS_URL="redis://127.0.0.1:9/0")
    try:
        with app.app_context():
            link = links.get_or_create_link(
                make_shop(), make_product(), Channel.WECHAT_GROUP, now=utcnow()
            )
            db.session.commit()
            code = link.code
        client = app.test_client()
        calls = []
        with app.app_context():
            from shop.web.storefront import sharing

            shared = sharing._click_counters()["shared"]
        assert isinstance(shared, counters.RedisCounter)
        real_count = shared.count_pair

        def counting(*args, **kwargs):
            calls.append(1)
            return real_count(*args, **kwargs)

        shared.count_pair = counting
        for _ in range(3):
            response = client.get(f"/r/{code}")
            assert response.status_code in (302, 303), response.status_code
        # The unreachable storage was tried once, not on every click after it failed.
        assert len(calls) == 1
        with app.app_context():
            assert db.session.execute(select(func.count(Click.id))).scalar() == 3
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
