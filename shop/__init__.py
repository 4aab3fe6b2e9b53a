"""Fenxiang (分享小店): personal micro-shops with share links and honest rebates."""

import importlib
import json
import os
import secrets
from pathlib import Path

from flask import Flask
from flask.cli import AppGroup

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Every domain's tables, imported when the app is built so that SQLAlchemy resolves relations
#: named by string and Alembic sees the whole schema.
MODEL_MODULES = (
    "shop.platform.models",
    "shop.accounts.models",
    "shop.accounts.signin_models",
    "shop.catalog.models",
    "shop.sharing.models",
    "shop.teams.models",
    "shop.orders.models",
    "shop.money.models",
    "shop.reviews.models",
    "shop.platform.outbox",
    "shop.notify.models",
)


def create_app(config: dict | None = None) -> Flask:
    """Build the app. Settings come from ``shop.platform.config.Defaults``, then ``SHOP_*``
    environment variables, then ``config`` (tests pass theirs here)."""
    app = Flask(
        __name__,
        instance_path=os.environ.get("SHOP_INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    configure(app, config)
    register_extensions(app)
    register_inputs(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_hooks(app)
    register_commands(app)
    return app


def configure(app: Flask, config: dict | None) -> None:
    from shop.platform import ops
    from shop.platform.config import Defaults

    app.config.from_object(Defaults)
    app.config.from_prefixed_env("SHOP", loads=_loads)
    if config:
        app.config.update(config)
    if app.config.get("INSTANCE_PATH"):
        app.instance_path = app.config["INSTANCE_PATH"]
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        app.config["SQLALCHEMY_DATABASE_URI"] = app.config.get("DATABASE_URL") or (
            "sqlite:///" + str(Path(app.instance_path) / "fenxiang.sqlite3")
        )
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _instance_secret_key(Path(app.instance_path))
    app.config.setdefault("MEDIA_ROOT", str(Path(app.instance_path) / "media"))
    ops.configure_rate_limit_storage(app.config)
    ops.configure_trusted_hosts(app.config)


def _loads(value: str):
    """Environment values: JSON when they parse as JSON, else the plain string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _instance_secret_key(instance: Path) -> str:
    """The key kept in ``instance/secret_key``, created on first run with owner-only access."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


def register_extensions(app: Flask) -> None:
    from shop.platform import db as dbsetup
    from shop.platform import extensions, i18n
    from shop.platform.extensions import babel, csrf, db, limiter, login_manager, migrate, passwords

    for module in MODEL_MODULES:
        importlib.import_module(module)
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            dbsetup.configure_engine(engine, busy_timeout_ms=app.config["SQLITE_BUSY_TIMEOUT_MS"])
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), render_as_batch=True)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale)
    limiter.init_app(app)
    extensions.skip_limiter_hook_for_unlimited_views(app)
    passwords.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.signin"
    login_manager.login_message_category = "info"
    from shop.web.common import load_user_from_session

    login_manager.user_loader(load_user_from_session)
    from flask_babel import lazy_gettext

    login_manager.login_message = lazy_gettext("Please sign in to continue.")


def register_inputs(app: Flask) -> None:
    """Ids in routes within the database's range, no NUL in query and form values
    (``shop.platform.inputs``); before the blueprints add their rules."""
    from shop.platform import inputs

    inputs.init_app(app)


def register_blueprints(app: Flask) -> None:
    from shop.web.admin import bp as admin_bp
    from shop.web.auth import bp as auth_bp
    from shop.web.inbox import bp as inbox_bp
    from shop.web.merchant import bp as merchant_bp
    from shop.web.sharer import bp as sharer_bp
    from shop.web.storefront import bp as storefront_bp

    for blueprint in (storefront_bp, auth_bp, sharer_bp, merchant_bp, admin_bp, inbox_bp):
        app.register_blueprint(blueprint)


def register_errorhandlers(app: Flask) -> None:
    from shop.web.common import register_error_pages

    register_error_pages(app)


def register_hooks(app: Flask) -> None:
    from shop.platform import delivery, ops
    from shop.web.hooks import install_request_hooks
    from shop.web.sharer import posterpath
    from shop.web.storefront import callbackpath, fastpath, keptpath

    install_request_hooks(app)
    delivery.init_app(app)  # compression, hashed static URLs and their cache headers
    fastpath.install(app)  # ordinary /r/<code> follows answered before Flask (inside ProxyFix)
    keptpath.install(app)  # kept pages for visitors not signed in, answered before Flask too
    callbackpath.install(app)  # verified WeChat Pay payment callbacks, recorded before Flask
    posterpath.install(app)  # a sharer's poster already drawn, answered before Flask too
    ops.register(app)  # request ids and log, /healthz, ProxyFix (docs/production.md)


def register_commands(app: Flask) -> None:
    """The shop's own commands (shop.cli) are added when `flask` first lists or looks one up,
    not with the app: they import the backup, reconciliation and split backfill code (and
    sqlite3 on PostgreSQL) that a web worker never runs, about 1 MB each (bench/README.md)."""
    app.cli = _CommandsWhenUsed(app)


class _CommandsWhenUsed(AppGroup):
    """``app.cli``, with the commands already registered on it (blueprints', `flask db`), and
    shop.cli's added on first use."""

    def __init__(self, app: Flask):
        super().__init__(app.cli.name, commands=dict(app.cli.commands))
        self._app, self._added = app, False

    def _add_shop_commands(self) -> None:
        if not self._added:
            self._added = True
            from shop.cli import register

            register(self._app)

    def list_commands(self, ctx):
        self._add_shop_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx, cmd_name):
        self._add_shop_commands()
        return super().get_command(ctx, cmd_name)
