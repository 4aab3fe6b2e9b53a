"""What a web worker imports: libraries only some commands or settings use are imported when
used (Flask-Migrate with Alembic, Mako and Pygments; cryptography for the payment gateways;
Pillow and qrcode, which posters draw in their own process: tests/web/test_poster_drawing.py;
the shop's own commands, shop.cli, with the backup and split backfill code only they run), not
with the app (bench/README.md, worker memory)."""

import subprocess
import sys

from shop.platform.extensions import db
from tests.conftest import build_app

NOT_WITH_THE_APP = (
    "flask_migrate",
    "alembic",
    "mako",
    "pygments",
    "cryptography",
    "PIL",
    "qrcode",
    "shop.cli",
    "shop.platform.backup",
    "shop.money.split_backfill",
)


def _python(code: str, instance) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter with only the instance folder set; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"SHOP_INSTANCE_PATH": str(instance), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return done


def test_the_app_imports_no_migration_tool_no_cryptography_and_no_pillow(tmp_path):
    code = (
        "import sys\n"
        "from shop import create_app\n"
        f"create_app({{'SHOP_INSTANCE_PATH': {str(tmp_path)!r}, 'TESTING': True}})\n"
        f"print(sorted(name for name in {NOT_WITH_THE_APP!r} if name in sys.modules))\n"
    )
    done = _python(code, tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_flask_db_still_runs_flask_migrate(database_url, tmp_path):
    app = build_app(database_url, tmp_path / "instance")
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["db", "--help"])
    assert listed.exit_code == 0 and "upgrade" in listed.output and "--directory" in listed.output
    current = runner.invoke(args=["db", "heads"])
    assert current.exit_code == 0, current.output
    assert app.extensions["migrate"].directory.endswith("migrations")


def test_the_shop_commands_are_listed_and_run_when_flask_asks_for_them(database_url, tmp_path):
    app = build_app(database_url, tmp_path / "instance")
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["--help"])
    assert listed.exit_code == 0, listed.output
    for name in ("seed-demo", "create-admin", "backup", "worker", "check-config", "db"):
        assert name in app.cli.list_commands(None), name
    with app.app_context():  # as the command line runs it
        rollup = runner.invoke(args=["rollup"])
        db.engine.dispose()  # no connection left open for the next test to find
    assert rollup.exit_code == 0, rollup.output
    unknown = runner.invoke(args=["no-such-command"])
    assert unknown.exit_code != 0 and "No such command" in unknown.output


def test_counts_are_shortened_as_babel_wrote_them_without_its_locale_data(tmp_path):
    from babel import localedata
    from babel.numbers import format_decimal

    from shop.web.common import _one_decimal

    counts = [*range(1000, 30000, 7), 12250, 12350, 99950, 99999, 10**6, 123456789, 2 * 10**9]
    for n in counts:
        for unit, locale in ((10000, "zh_Hans_CN"), (1000, "en")):
            assert _one_decimal(n / unit) == format_decimal(n / unit, "#.#", locale=locale), n
    code = (
        "import sys\n"
        "from shop import create_app\n"
        "from shop.web.common import short_count\n"
        f"app = create_app({{'SHOP_INSTANCE_PATH': {str(tmp_path)!r}, 'TESTING': True}})\n"
        "for language in ('zh-CN', 'en'):\n"
        "    with app.test_request_context('/', headers={'Accept-Language': language}):\n"
        "        print(short_count(12345))\n"
        "import babel.localedata\n"
        "print(sorted(babel.localedata._cache))\n"
    )
    done = _python(code, tmp_path)
    assert done.stdout.splitlines() == ["1.2万", "12.3k", "[]"]
    assert localedata.exists("zh_Hans_CN")


def test_review_dates_are_written_as_babel_writes_them_without_its_locale_data(tmp_path):
    """The templates' ``dateformat`` (a review's date on every product page): Babel's medium
    date in both languages, China's day of a UTC moment, without loading Babel's locale data
    (4.2 MB in a worker for Chinese); other formats still go through Flask-Babel."""
    from datetime import datetime, timedelta

    from flask_babel import format_date

    from shop import create_app
    from shop.web.common import dateformat

    app = create_app({"SHOP_INSTANCE_PATH": str(tmp_path / "a"), "TESTING": True})
    start = datetime(2023, 12, 25)
    for language in ("zh-CN", "en"):
        with app.test_request_context("/", headers={"Accept-Language": language}):
            for hours in range(0, 24 * 800, 7):  # every day of two years, at many hours
                moment = start + timedelta(hours=hours, minutes=hours % 60)
                for value in (moment, moment.date()):
                    assert dateformat(value, "medium") == format_date(value, "medium"), value
                    assert dateformat(value) == format_date(value), value
            assert dateformat(start, "short") == format_date(start, "short")
    code = (
        "from datetime import datetime\n"
        "from shop import create_app\n"
        f"app = create_app({{'SHOP_INSTANCE_PATH': {str(tmp_path)!r}, 'TESTING': True}})\n"
        "page = app.jinja_env.from_string(\"{{ moment|dateformat('medium') }}\")\n"
        "for language in ('zh-CN', 'en'):\n"
        "    with app.test_request_context('/', headers={'Accept-Language': language}):\n"
        "        print(page.render(moment=datetime(2026, 11, 24, 16, 0)))\n"
        "import babel.localedata\n"
        "print(sorted(babel.localedata._cache))\n"
    )
    done = _python(code, tmp_path)
    assert done.stdout.splitlines() == ["2026年11月25日", "Nov 25, 2026", "[]"]


def test_with_redis_configured_the_app_does_not_import_redis_py(tmp_path):
    """Rate limits in Redis (``redis://``, ``unix://``) go through the app's own client
    (shop.platform.resp), Flask-Limiter's storage included: redis-py's 4-6 MB stay out of
    every worker. Creating the app does not connect."""
    code = (
        "import sys\n"
        "from shop import create_app\n"
        "from shop.platform.extensions import limiter\n"
        f"app = create_app({{'SHOP_INSTANCE_PATH': {str(tmp_path)!r}, 'TESTING': True,\n"
        "    'REDIS_URL': 'redis://127.0.0.1:9/0'})\n"
        "print(type(limiter.storage).__name__, 'redis' in sys.modules)\n"
    )
    done = _python(code, tmp_path)
    assert done.stdout.strip().splitlines()[-1] == "RespRedisStorage False"
