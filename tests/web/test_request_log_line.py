"""The request log's own writer (shop.platform.ops.write_request_line): while the logger is as
install_request_log left it, a line goes straight to its stderr handler's stream, exactly as
the logging call would write it; configured otherwise, through the logger. And the log's time,
formatted once per second."""

import io
import re
from datetime import UTC, datetime

import pytest

from shop.platform import ops
from shop.platform.extensions import db
from tests.conftest import build_app
from tests.web.test_sharing import make_link

HEADERS = {"X-Request-ID": "req-0123456789", "User-Agent": "Mozilla/5.0 (iPhone)"}


@pytest.fixture
def plain_log():
    """The request log with nothing configured (as under gunicorn), restored afterwards.
    Handlers are taken off when the test runs (pytest's log capture may sit on it)."""
    logger = ops.request_log
    propagate, plain, kept = logger.propagate, ops._plain_handler, []

    def bare():
        for handler in list(logger.handlers):
            logger.removeHandler(handler)
            kept.append(handler)
        return logger

    yield bare
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in kept:
        logger.addHandler(handler)
    logger.propagate, ops._plain_handler = propagate, plain


def test_lines_written_directly_are_the_logging_call_s(
    database_url, tmp_path, plain_log, monkeypatch
):
    plain_log = plain_log()
    app = build_app(database_url, tmp_path / "instance", REQUEST_LOG=True)
    try:
        with app.app_context():
            code = make_link().code
            db.session.commit()
        [handler] = plain_log.handlers
        assert handler is ops._plain_handler
        records = []
        make_record = plain_log.makeRecord
        monkeypatch.setattr(
            plain_log, "makeRecord", lambda *a, **k: records.append(1) or make_record(*a, **k)
        )

        def lines() -> list[str]:
            stream = io.StringIO()
            handler.setStream(stream)
            client = app.test_client()
            assert client.get(f"/r/{code}", headers=HEADERS).status_code == 303  # thin path
            assert client.get("/r/ZZZZZZZZ", headers=HEADERS).status_code == 404  # Flask
            assert client.get("/auth/signin", headers=HEADERS).status_code == 200  # Flask
            text = stream.getvalue()
            assert text.endswith("\n")
            return [re.sub(r'"(time|duration_ms)": [^,]+', "", line) for line in text.splitlines()]

        direct = lines()
        assert records == [] and len(direct) == 3  # no LogRecord made
        plain_log.addFilter(lambda record: True)  # configured otherwise: through the logger
        try:
            through_logging = lines()
        finally:
            plain_log.filters.clear()
        assert len(records) == 3
        assert direct == through_logging
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_the_log_time_is_utc_with_milliseconds_and_follows_the_second(monkeypatch):
    found = ops.log_time()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", found)
    parsed = datetime.strptime(found, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - parsed).total_seconds()) < 2
    clock = iter([1_700_000_000.9994, 1_700_000_000.9995, 1_700_000_001.0, 1_700_000_061.25])
    monkeypatch.setattr(ops.time, "time", lambda: next(clock))
    assert [ops.log_time() for _ in range(4)] == [
        "2023-11-14T22:13:20.999Z",
        "2023-11-14T22:13:20.999Z",
        "2023-11-14T22:13:21.000Z",
        "2023-11-14T22:14:21.250Z",
    ]
