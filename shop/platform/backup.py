"""Backup and restore of the SQLite database (`flask backup`, `flask restore`).

Both use SQLite's online backup API (``sqlite3.Connection.backup``), copying every page in one
step: the copy is the database as one read transaction saw it, so a backup taken while the
server writes is consistent, and in WAL mode it does not hold writers up. A backup is written
beside its final name, checked with ``PRAGMA integrity_check``, switched to a plain rollback
journal (one self-contained file, no -wal beside it) and only then renamed into place, so a
file with the final name is always a complete, checked copy.

PostgreSQL has its own tools (pg_dump / pg_restore); these functions refuse it.
"""

import os
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

from sqlalchemy.engine import make_url


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class Backup:
    path: Path
    size: int


def sqlite_file(database_url: str) -> Path:
    """The file of a SQLite database URL; BackupError for anything else."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        raise BackupError(
            f"The database is {url.get_backend_name()}, not SQLite: back it up with its own "
            "tools, e.g. `pg_dump -Fc -f fenxiang.dump DBNAME` (restore: `pg_restore "
            "--clean --if-exists -d DBNAME fenxiang.dump`)."
        )
    if url.database in (None, "", ":memory:"):
        raise BackupError("The SQLite database is in memory: there is no file to back up.")
    return Path(url.database)


def backup_name(folder: Path, now: datetime) -> Path:
    """``folder/fenxiang-20261124T031500Z.sqlite3`` (UTC), with -2, -3... if that exists."""
    stem = "fenxiang-" + now.strftime("%Y%m%dT%H%M%SZ")
    path, n = folder / f"{stem}.sqlite3", 1
    while path.exists() or _partial(path).exists():
        n += 1
        path = folder / f"{stem}-{n}.sqlite3"
    return path


def backup_sqlite(source: Path, destination: Path, *, busy_timeout_ms: int = 5000) -> Backup:
    """Copy the live database at ``source`` to the new file ``destination`` (owner-only
    access). Raises BackupError if the source is missing, the destination exists, or the copy
    fails its integrity check (then nothing is left at ``destination``)."""
    if not source.is_file():
        raise BackupError(f"No database at {source} (run `flask db upgrade` first?).")
    if destination.exists():
        raise BackupError(f"{destination} already exists; choose another name.")
    destination.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = _partial(destination)
    # Created here, empty, owner-only (a backup holds password hashes and addresses); SQLite
    # takes an empty file as an empty database.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    try:
        src = _connect(source, "rw", busy_timeout_ms)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)  # pages=-1: every page in one step, one consistent snapshot
                dst.execute("PRAGMA journal_mode=DELETE")
                _require_intact(dst, partial)
            finally:
                dst.close()
        finally:
            src.close()
        _fsync(partial)
        os.replace(partial, destination)
        _fsync(destination.parent)
    except sqlite3.Error as error:
        partial.unlink(missing_ok=True)
        raise BackupError(f"Backup of {source} failed: {error}") from error
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return Backup(destination, destination.stat().st_size)


def restore_sqlite(backup: Path, target: Path, *, busy_timeout_ms: int = 5000) -> None:
    """Replace the contents of the database at ``target`` by the backup file ``backup``.

    Also through the backup API, into the target's own connection: SQLite replaces the pages
    under its write lock and deals with the target's WAL itself, which copying files over a
    database that has a -wal beside it would not (a stale WAL applied to another database
    file corrupts it). Stop the server first: its workers keep caches and queued clicks that
    belong to the data being replaced."""
    if not backup.is_file():
        raise BackupError(f"No backup at {backup}.")
    src = _connect(backup, "ro", busy_timeout_ms)
    try:
        _require_intact(src, backup)
        dst = sqlite3.connect(target, timeout=busy_timeout_ms / 1000)
        try:
            src.backup(dst)
            _require_intact(dst, target)
        finally:
            dst.close()
    except sqlite3.Error as error:
        raise BackupError(f"Restore of {target} from {backup} failed: {error}") from error
    finally:
        src.close()


def check_restorable(
    backup: Path, known_revisions: set[str], *, busy_timeout_ms: int = 5000
) -> str:
    """The migration revision of ``backup`` if it is a Fenxiang backup this code can run on;
    BackupError otherwise: an unfinished copy (``.partial``), a file that is not a Fenxiang
    database (an empty SQLite file passes an integrity check too), or one made by a newer
    version of the code (a revision this code does not know)."""
    if backup.name.endswith(".partial"):
        raise BackupError(f"{backup} is an unfinished backup (a copy that was interrupted).")
    if not backup.is_file():
        raise BackupError(f"No backup at {backup}.")
    connection = _connect(backup, "ro", busy_timeout_ms)
    try:
        tables = {
            row[0]
            for row in connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        if not {"alembic_version", "users", "orders", "ledger_entries"} <= tables:
            raise BackupError(f"{backup} is not a Fenxiang database backup.")
        row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as error:
        raise BackupError(f"{backup} cannot be read as a database: {error}") from error
    finally:
        connection.close()
    if row is None:
        raise BackupError(f"{backup} has no schema version; it is not a complete backup.")
    if row[0] not in known_revisions:
        raise BackupError(
            f"{backup} was made by another version of Fenxiang (schema {row[0]}); restore it "
            "with that version."
        )
    return row[0]


def integrity_problems(connection: sqlite3.Connection) -> list[str]:
    """``PRAGMA integrity_check`` and ``foreign_key_check``: an empty list when all is well."""
    rows = [row[0] for row in connection.execute("PRAGMA integrity_check")]
    problems = [] if rows == ["ok"] else rows
    for table, rowid, parent, _fk in connection.execute("PRAGMA foreign_key_check"):
        problems.append(f"foreign key: {table} row {rowid} points at a missing {parent} row")
    return problems


def _require_intact(connection: sqlite3.Connection, path: Path) -> None:
    problems = integrity_problems(connection)
    if problems:
        raise BackupError(f"{path} fails its integrity check: " + "; ".join(problems[:5]))


def _connect(path: Path, mode: str, busy_timeout_ms: int) -> sqlite3.Connection:
    # A URI with mode=rw/ro, so a mistyped path is an error rather than a new empty database.
    uri = f"file:{quote(str(path.resolve()))}?mode={mode}"
    try:
        return sqlite3.connect(uri, uri=True, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as error:
        raise BackupError(f"Cannot open {path}: {error}") from None


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
