"""Extension objects, created bare and bound to an app in ``create_app``."""

from functools import cached_property

import click
from flask import current_app, request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Stable constraint names, so Alembic migrations can name what they alter or drop.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Migrations:
    """Flask-Migrate, imported only when something migrates (`flask db ...`, the migrations'
    env.py, ``flask_migrate.upgrade``): it brings Alembic, Mako and Pygments, about 11 MB in
    every web worker, which never migrates (bench/README.md, worker memory)."""

    def init_app(self, app, db, **options) -> None:
        app.extensions["migrate"] = _MigrateConfigWhenUsed(db, options)
        app.cli.add_command(_MigrationCommands())


class _MigrateConfigWhenUsed:
    """Stands for Flask-Migrate's ``app.extensions["migrate"]`` until it is first read."""

    def __init__(self, db, options: dict):
        self._db, self._options = db, options

    @cached_property
    def _config(self):
        from flask_migrate import Migrate, _MigrateConfig

        migrate = Migrate(db=self._db, **self._options)
        return _MigrateConfig(migrate, self._db, **migrate.alembic_ctx_kwargs)

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._config, name)


class _MigrationCommands(click.Group):
    """`flask db`: Flask-Migrate's command group, imported when the command runs."""

    def __init__(self):
        super().__init__("db", help="Perform database migrations.")

    @staticmethod
    def _real() -> click.Group:
        from flask_migrate.cli import db as commands

        return commands

    def make_context(self, info_name, args, parent=None, **extra):
        return self._real().make_context(info_name, args, parent=parent, **extra)

    def list_commands(self, ctx):
        return self._real().list_commands(ctx)

    def get_command(self, ctx, name):
        return self._real().get_command(ctx, name)


db = SQLAlchemy(model_class=Base)
migrate = Migrations()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
limiter = Limiter(key_func=get_remote_address, default_limits=[])


@limiter.request_filter
def _view_has_no_limits() -> bool:
    """Skip Flask-Limiter's work on requests whose view carries no @limiter.limit: with no
    default or blueprint limits (keep it so) those have nothing to count, and the check cost
    every page about 0.1 ms. Views that count limits themselves (/r/<code>) do so directly."""
    view = current_app.view_functions.get(request.endpoint or "")
    return view is None or not hasattr(view, "__wrapper-limiter-instance")


def skip_limiter_hook_for_unlimited_views(app) -> None:
    """Run Flask-Limiter's before-request hook only for views that carry limits: for the
    others ``_view_has_no_limits`` makes it count nothing anyway, but the hook gathered every
    limit before asking the filter (about 0.1 ms per page). Call after ``limiter.init_app``."""
    hooks = app.before_request_funcs.setdefault(None, [])
    check = limiter._check_request_limit
    if check not in hooks:
        return

    def limited_views_only():
        if not _view_has_no_limits():
            return check()
        return None

    hooks[hooks.index(check)] = limited_views_only


class Passwords:
    """argon2id hashing with parameters from the app config (cheap ones in tests)."""

    def __init__(self):
        from argon2 import PasswordHasher

        self._hasher = PasswordHasher()

    def init_app(self, app) -> None:
        from argon2 import PasswordHasher

        self._hasher = PasswordHasher(
            time_cost=app.config["ARGON2_TIME_COST"],
            memory_cost=app.config["ARGON2_MEMORY_COST"],
            parallelism=app.config["ARGON2_PARALLELISM"],
        )

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        from argon2.exceptions import InvalidHashError, VerificationError

        try:
            return self._hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


passwords = Passwords()
