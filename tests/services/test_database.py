"""The schema comes from migrations and matches the models; SQLite is set up safely."""

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from shop import create_app
from shop.platform.extensions import db


def test_migrations_produce_exactly_the_models_schema(app):
    with app.app_context(), db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []


def test_migrations_go_down_to_nothing_and_back_up(app):
    with app.app_context():
        downgrade(revision="base")
        names = set(inspect(db.engine).get_table_names()) - {"alembic_version"}
        assert names == set()
        upgrade()
        assert "users" in inspect(db.engine).get_table_names()


def test_sqlite_connections_are_configured(app):
    with app.app_context():
        if db.engine.dialect.name != "sqlite":
            pytest.skip("SQLite pragmas")
        with db.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000


def test_secret_key_is_generated_once_and_kept(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOP_SECRET_KEY", raising=False)
    instance = tmp_path / "inst"
    first = create_app({"INSTANCE_PATH": str(instance)})
    second = create_app({"INSTANCE_PATH": str(instance)})
    key_file = Path(instance) / "secret_key"
    assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"] == key_file.read_text()
    assert len(first.config["SECRET_KEY"]) == 64
    assert oct(os.stat(key_file).st_mode & 0o777) == "0o600"
    other = create_app({"INSTANCE_PATH": str(tmp_path / "other")})
    assert other.config["SECRET_KEY"] != first.config["SECRET_KEY"]


def test_settings_come_from_shop_environment_variables(tmp_path, monkeypatch):
    monkeypatch.setenv("SHOP_MAX_CONTENT_LENGTH", "1234")
    monkeypatch.setenv("SHOP_DATABASE_URL", f"sqlite:///{tmp_path}/x.sqlite3")
    monkeypatch.setenv("SHOP_SECRET_KEY", "from-env")
    app = create_app({"INSTANCE_PATH": str(tmp_path)})
    assert app.config["MAX_CONTENT_LENGTH"] == 1234
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path}/x.sqlite3"
    assert app.config["SECRET_KEY"] == "from-env"
