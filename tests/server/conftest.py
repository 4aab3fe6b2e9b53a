"""Fixtures for tests against a real server process (see live.py)."""

import pytest

from tests.server.live import Server, server_env


@pytest.fixture
def start_server(database_url, tmp_path):
    """``start_server(**settings)``: a Server on the test's database (not yet waited for, so
    it boots while the test makes its data); every one is stopped at teardown."""
    started: list[Server] = []

    def start(*, workers: int = 2, threads: int = 4, **settings) -> Server:
        env = server_env(database_url, tmp_path / "instance", **settings)
        log = tmp_path / f"gunicorn-{len(started)}.log"
        server = Server(env, log, workers=workers, threads=threads)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
def db_name(database_url) -> str:
    """The database's name ("sqlite" or "postgresql") for the timings the tests print."""
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"
