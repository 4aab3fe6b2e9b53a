"""Fixtures: an app per test on SQLite (always) and PostgreSQL (when SHOP_TEST_DATABASE_URL is
set), both with the schema made by the Alembic migrations, never by ``create_all``."""

import os
import shutil
from pathlib import Path

import pytest
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import create_engine, inspect, text

from shop import PROJECT_ROOT, create_app
from shop.accounts.models import User
from shop.platform.extensions import db

PG_URL = os.environ.get("SHOP_TEST_DATABASE_URL", "")

#: Settings every test app gets; cheap argon2 keeps sign-ups fast.
TEST_CONFIG = {
    "TESTING": True,
    "SECRET_KEY": "test-secret-key",
    "WTF_CSRF_ENABLED": False,
    "ARGON2_TIME_COST": 1,
    "ARGON2_MEMORY_COST": 1024,
    "ARGON2_PARALLELISM": 1,
    "RATELIMIT_STORAGE_URI": "memory://",
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    # Tests see every change at once; tests/services/test_links_and_clicks.py covers the cache.
    "LINK_CACHE_SECONDS": 0,
    "CREDIT_CACHE_SECONDS": 0,
    "REVIEW_PREVIEW_SECONDS": 0,
    "LANDING_CACHE_SECONDS": 0,
    "STATS_CACHE_SECONDS": 0,
    "TRACKING_CACHE_SECONDS": 0,
    "STATS_PAST_DAYS_SECONDS": 0,
    "OVERVIEW_PAST_DAYS_SECONDS": 0,
    "CLICK_BATCH_SECONDS": 0,  # clicks written in the request; the writer has its own tests
}


def pytest_configure(config):
    # Compiled catalogues are build output (not committed); make them fresh for this run.
    for po_path in (PROJECT_ROOT / "shop" / "translations").glob("*/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as handle:
            catalog = read_po(handle)
        with po_path.with_suffix(".mo").open("wb") as handle:
            write_mo(handle, catalog)


def build_app(database_url: str, instance: Path, **overrides):
    config = {
        **TEST_CONFIG,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "INSTANCE_PATH": str(instance),
        **overrides,
    }
    return create_app(config)


@pytest.fixture
def make_apps(database_url, tmp_path):
    """make(**settings): another app on the test's database, in an instance folder of its own
    (or ``instance=``, a name under tmp_path), like another worker of the same site; every app
    made is closed (session removed, engine disposed) after the test."""
    made = []

    def make(instance: str | None = None, **settings):
        app = build_app(database_url, tmp_path / (instance or f"instance{len(made)}"), **settings)
        made.append(app)
        return app

    yield make
    for app in made:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def migrate_to_head(database_url: str, instance: Path) -> None:
    from flask_migrate import upgrade

    app = build_app(database_url, instance)
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    folder = tmp_path_factory.mktemp("sqlite-template")
    path = folder / "template.sqlite3"
    migrate_to_head(f"sqlite:///{path}", folder)
    # Fold the WAL into the main file so a plain copy is complete.
    engine = create_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.exec_driver_sql("PRAGMA journal_mode=DELETE")
    engine.dispose()
    return path


def reset_postgres_schema(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    if not PG_URL:
        pytest.skip("PostgreSQL tests need SHOP_TEST_DATABASE_URL (.ci/run sets it)")
    # With the variable set, an unreachable server is a failure, not a skip.
    reset_postgres_schema(PG_URL)
    migrate_to_head(PG_URL, tmp_path_factory.mktemp("pg-instance"))
    return PG_URL


def truncate_postgres(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        tables = (
            conn.execute(
                text(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                    "AND tablename <> 'alembic_version'"
                )
            )
            .scalars()
            .all()
        )
        if tables:
            names = ", ".join(f'"{t}"' for t in tables)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "test.sqlite3"
        shutil.copyfile(template, path)
        yield f"sqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_url")
        yield url
        truncate_postgres(url)


@pytest.fixture
def app(database_url, tmp_path):
    application = build_app(database_url, tmp_path / "instance")
    yield application
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    """An app context for service tests (never held around test-client calls)."""
    with app.app_context():
        yield
        db.session.rollback()


def sign_in(client, account: str, password: str):
    response = client.post("/auth/signin", data={"account": account, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


@pytest.fixture
def user_client(app):
    """A factory of signed-in test clients: ``user_client(user)``."""
    from tests.factories import DEFAULT_PASSWORD

    def make(user, password: str = DEFAULT_PASSWORD):
        # The user may come from a closed app context: look the account up afresh by its key.
        with app.app_context():
            account = db.session.get(User, inspect(user).identity[0]).account_label
        return sign_in(app.test_client(), account, password)

    return make


@pytest.fixture
def english_client(user_client):
    """``user_client`` reading English, so the messages a test checks read as written."""

    def make(user):
        client = user_client(user)
        client.set_cookie("lang", "en")
        return client

    return make
