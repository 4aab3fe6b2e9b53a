"""What a web worker imports: libraries only some commands or settings use are imported when
used (Flask-Migrate with Alembic, Mako and Pygments; cryptography for the payment gateways;
Pillow and qrcode, which posters draw in their own process: tests/web/test_poster_drawing.py),
not with the app (bench/README.md, worker memory)."""

import subprocess
import sys

from tests.conftest import build_app

NOT_WITH_THE_APP = ("flask_migrate", "alembic", "mako", "pygments", "cryptography", "PIL", "qrcode")


def test_the_app_imports_no_migration_tool_no_cryptography_and_no_pillow(tmp_path):
    code = (
        "import sys\n"
        "from shop import create_app\n"
        f"create_app({{'SHOP_INSTANCE_PATH': {str(tmp_path)!r}, 'TESTING': True}})\n"
        f"print(sorted(name for name in {NOT_WITH_THE_APP!r} if name in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"SHOP_INSTANCE_PATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_flask_db_still_runs_flask_migrate(database_url, tmp_path):
    app = build_app(database_url, tmp_path / "instance")
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["db", "--help"])
    assert listed.exit_code == 0 and "upgrade" in listed.output and "--directory" in listed.output
    current = runner.invoke(args=["db", "heads"])
    assert current.exit_code == 0, current.output
    assert app.extensions["migrate"].directory.endswith("migrations")
