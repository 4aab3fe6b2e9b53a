"""`flask backup` and `flask restore` (shop/backup.py) on the SQLite default: a backup taken
while another connection keeps writing is a consistent, intact, self-contained copy; restore
puts it back; PostgreSQL is refused with a pointer to pg_dump."""

import shutil
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from shop.accounts.models import User
from shop.platform.extensions import db
from tests.conftest import build_app
from tests.factories import make_user


@pytest.fixture
def live(sqlite_template, tmp_path):
    """An app on a file database in WAL mode (as the server runs it): (app, database path)."""
    path = tmp_path / "live.sqlite3"
    shutil.copyfile(sqlite_template, path)
    app = build_app(f"sqlite:///{path}", tmp_path / "instance")
    with app.app_context():
        make_user()
        db.session.commit()
    yield app, path
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run(app, *args, input=None):
    """``flask <args>`` as the command line runs it (in an app context): (exit code, output)."""
    with app.app_context():
        result = app.test_cli_runner().invoke(args=list(args), input=input)
        db.session.remove()
    return result.exit_code, result.output


def open_copy(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{path}?mode=ro", uri=True)


class Writer(threading.Thread):
    """Another connection committing one numbered row after another, as a busy server would,
    until stopped: a consistent copy holds rows 0..k-1 for some k, never a gap."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path, self.written, self.error = path, 0, None
        self.stop = threading.Event()

    def run(self):
        try:
            connection = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            while not self.stop.is_set():
                connection.execute("BEGIN IMMEDIATE")
                connection.execute(
                    "INSERT INTO probe (n, padding) VALUES (?, randomblob(2000))", (self.written,)
                )
                connection.execute("COMMIT")
                self.written += 1
            connection.close()
        except Exception as error:  # reported by the test
            self.error = error

    def wait_for(self, rows: int) -> None:
        deadline = time.monotonic() + 30
        while self.written < rows:
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "writer too slow"
            time.sleep(0.01)


def test_a_backup_taken_while_writing_is_consistent_and_intact(live, tmp_path):
    app, path = live
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY, padding BLOB)")
    writer = Writer(path)
    writer.start()
    try:
        writer.wait_for(2000)  # a few MB, so the copy takes a moment
        before = writer.written
        code, output = run(app, "backup", str(tmp_path / "copy.sqlite3"))
        during = writer.written - before
        writer.wait_for(writer.written + 50)  # the writer was never stopped by the backup
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    assert code == 0, output
    assert (
        f"Backup written: {tmp_path / 'copy.sqlite3'}" in output and "integrity check ok" in output
    )
    assert during > 0, "no row was written while the backup ran"

    copy = open_copy(tmp_path / "copy.sqlite3")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        rows, highest = copy.execute("SELECT count(*), max(n) FROM probe").fetchone()
        assert before <= rows <= writer.written
        assert highest == rows - 1  # a snapshot: every row up to some moment, no gap
        assert copy.execute("SELECT count(*) FROM users").fetchone() == (1,)
        assert copy.execute("SELECT version_num FROM alembic_version").fetchone()
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
    finally:
        copy.close()
    # One self-contained file, readable by its owner only.
    assert sorted(p.name for p in tmp_path.glob("copy.sqlite3*")) == ["copy.sqlite3"]
    assert stat.S_IMODE((tmp_path / "copy.sqlite3").stat().st_mode) == 0o600


def test_backup_without_a_path_goes_to_instance_backups_with_a_timestamp(live):
    app, _path = live
    assert run(app, "backup")[0] == 0
    assert run(app, "backup")[0] == 0  # a second one in the same second gets its own name
    folder = Path(app.instance_path) / "backups"
    names = sorted(p.name for p in folder.iterdir())
    assert len(names) == 2, names
    assert all(name.startswith("fenxiang-") and name.endswith(".sqlite3") for name in names)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700


def test_backup_into_a_folder_names_the_file(live, tmp_path):
    app, _path = live
    folder = tmp_path / "nightly"
    code, output = run(app, "backup", f"{folder}/")
    assert code == 0, output
    [made] = folder.iterdir()
    assert str(made) in output


def test_backup_never_overwrites_a_file(live, tmp_path):
    app, _path = live
    existing = tmp_path / "keep.sqlite3"
    existing.write_bytes(b"precious")
    code, output = run(app, "backup", str(existing))
    assert code == 1 and "already exists" in output
    assert existing.read_bytes() == b"precious"
    assert not list(tmp_path.glob("keep.sqlite3.partial"))


def test_backup_refuses_postgresql_and_points_to_pg_dump(tmp_path):
    app = build_app("postgresql+psycopg://shop@127.0.0.1:1/fenxiang", tmp_path / "instance")
    code, output = run(app, "backup")
    assert code == 1 and "pg_dump" in output and "not SQLite" in output
    code, output = run(app, "restore", "--yes", __file__)
    assert code == 1 and "pg_restore" in output


def test_restore_puts_the_backup_back(live, tmp_path):
    app, path = live
    assert run(app, "backup", str(tmp_path / "before.sqlite3"))[0] == 0
    with app.app_context():
        make_user()
        db.session.commit()
        assert db.session.execute(select(func.count(User.id))).scalar() == 2

    code, output = run(app, "restore", str(tmp_path / "before.sqlite3"), input="y\n")
    assert code == 0, output
    assert "Is the server stopped?" in output and "flask db upgrade" in output
    with app.app_context():
        assert db.session.execute(select(func.count(User.id))).scalar() == 1
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_restore_asks_first_and_refuses_a_damaged_backup(live, tmp_path):
    app, path = live
    good = tmp_path / "good.sqlite3"
    assert run(app, "backup", str(good))[0] == 0
    assert run(app, "restore", str(good), input="n\n")[0] == 1  # answered no: nothing done

    damaged = tmp_path / "damaged.sqlite3"
    damaged.write_bytes(good.read_bytes()[:8192] + b"\x00" * 8192)
    code, output = run(app, "restore", "--yes", str(damaged))
    assert code == 1 and "damaged.sqlite3" in output
    with app.app_context():
        assert db.session.execute(select(func.count(User.id))).scalar() == 1


def test_restore_refuses_what_is_not_a_backup_of_this_shop_and_keeps_the_old_database(
    live, tmp_path
):
    app, path = live
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()  # an empty SQLite file passes an integrity check
    partial = tmp_path / "fenxiang-1.sqlite3.partial"
    shutil.copyfile(path, partial)
    newer = tmp_path / "newer.sqlite3"
    assert run(app, "backup", str(newer))[0] == 0
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = 'ffffffffffff'")
    for bad, says in ((empty, "not a Fenxiang"), (partial, "unfinished"), (newer, "another")):
        code, output = run(app, "restore", "--yes", str(bad))
        assert code == 1 and says in output, output
    with app.app_context():
        assert db.session.execute(select(func.count(User.id))).scalar() == 1

    good = tmp_path / "good.sqlite3"
    assert run(app, "backup", str(good))[0] == 0
    with app.app_context():
        make_user()
        db.session.commit()
    code, output = run(app, "restore", "--yes", str(good))
    assert code == 0 and "as it was is kept at" in output, output
    [kept] = (tmp_path / "instance" / "backups").glob("before-restore-*.sqlite3")
    with open_copy(kept) as connection:  # the two users from before the restore
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (2,)
