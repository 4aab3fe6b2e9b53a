"""Notification benchmark: one worker delivering N inbox notifications from the outbox on
SQLite, against a bare insert of the same inbox rows, measured in the same run.

    .venv/bin/python bench/bench_notify.py [--count 10000] [--rounds 3] [--users 500]

SQLite (WAL, a file in a temporary folder, migrated to head). Each round, interleaved:

- bare: the N inbox rows the worker would write, inserted with Core ``executemany`` in
  batches of NOTIFY_BATCH_SIZE, one commit per batch (what the worker's writes cost with no
  outbox, no claim, no preferences and no marking done);
- worker: N outbox rows (as the domains emit them, not timed) delivered by the worker's outbox
  loop (``outbox.process_batch`` until nothing is due: claim, preferences, endpoints, inbox
  rows, rows marked done, one commit per batch); every row must reach the inbox.

The ratio is bare time / worker time (the worker's throughput as a share of the bare
insert's); target >= 0.3x. Always exits 0: a report, not a gate.
"""

import argparse
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an install

from sqlalchemy import delete, func, insert, select  # noqa: E402

from shop import create_app  # noqa: E402
from shop.accounts.models import User  # noqa: E402
from shop.notify import worker as _worker  # noqa: E402,F401  (registers the outbox handler)
from shop.notify.models import Notification  # noqa: E402
from shop.platform import db as dbsetup  # noqa: E402
from shop.platform import outbox  # noqa: E402
from shop.platform.base import utcnow  # noqa: E402
from shop.platform.extensions import db  # noqa: E402

TARGET = 0.3


def build(folder: Path):
    from flask_migrate import upgrade

    url = f"sqlite:///{folder / 'bench.sqlite3'}"
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": str(folder / "instance"),
            "SECRET_KEY": "bench",
            "SQLALCHEMY_ENGINE_OPTIONS": {},
        }
    )
    with app.app_context():
        upgrade()
    return app


def payloads(count: int, user_ids: list[int]) -> list[dict]:
    return [
        {
            "user_id": user_ids[n % len(user_ids)],
            "kind": "order_attributed",
            "payload": {
                "order_no": f"26112410{n:010d}",
                "product": "武夷山红茶",
                "amount_cents": 1280 + n % 100,
            },
        }
        for n in range(count)
    ]


def bare_insert(rows: list[dict], batch: int, at) -> float:
    """The same inbox rows, inserted in the worker's batch size, one commit per batch."""
    started = time.perf_counter()
    for start in range(0, len(rows), batch):
        with dbsetup.writing():
            db.session.execute(
                insert(Notification.__table__),
                [
                    {
                        "user_id": r["user_id"],
                        "kind": r["kind"],
                        "data": r["payload"],
                        "created_at": at,
                        "outbox_id": 10_000_000 + start + i,
                    }
                    for i, r in enumerate(rows[start : start + batch])
                ],
            )
            db.session.commit()
    return time.perf_counter() - started


def worker_delivery(rows: list[dict], batch: int, at) -> tuple[float, int]:
    """Emit the rows to the outbox (not timed), then time the worker's outbox loop."""
    table = outbox.OutboxRow.__table__
    with dbsetup.writing():
        db.session.execute(
            insert(table),
            [
                {
                    "topic": "notify",
                    "kind": r["kind"],
                    "user_id": r["user_id"],
                    "payload": r["payload"],
                    "created_at": at,
                    "available_at": at,
                    "attempts": 0,
                    "last_error": "",
                }
                for r in rows
            ],
        )
        db.session.commit()
    started = time.perf_counter()
    while outbox.process_batch(limit=batch, now=at + timedelta(seconds=1)):
        pass
    elapsed = time.perf_counter() - started
    delivered = db.session.execute(
        select(func.count()).select_from(Notification).where(Notification.outbox_id < 10_000_000)
    ).scalar_one()
    return elapsed, delivered


def clear() -> None:
    with dbsetup.writing():
        db.session.execute(delete(Notification))
        db.session.execute(delete(outbox.OutboxRow))
        db.session.commit()


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--users", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        app = build(Path(tmp))
        with app.app_context():
            at = utcnow()
            with dbsetup.writing():
                db.session.execute(
                    insert(User),
                    [
                        {
                            "phone": f"139{n:08d}",
                            "display_name": f"用户{n}",
                            "password_hash": "x",
                            "is_admin": False,
                            "created_at": at,
                            "password_changed_at": at,
                        }
                        for n in range(args.users)
                    ],
                )
                db.session.commit()
            user_ids = list(db.session.execute(select(User.id)).scalars())
            rows = payloads(args.count, user_ids)
            batch = app.config["NOTIFY_BATCH_SIZE"]
            bare_times, worker_times, missing = [], [], 0
            for _round in range(args.rounds):
                bare_times.append(bare_insert(rows, batch, at))
                clear()
                elapsed, delivered = worker_delivery(rows, batch, at)
                worker_times.append(elapsed)
                missing += args.count - delivered
                clear()
            db.session.remove()
            db.engine.dispose()
    bare, work = statistics.median(bare_times), statistics.median(worker_times)
    ratio = bare / work
    print(f"notifications: {args.count} x {args.rounds} rounds, SQLite, batch {batch}")
    print(f"bare insert of the inbox rows : {bare:.3f} s ({args.count / bare:,.0f} rows/s)")
    print(f"worker from the outbox         : {work:.3f} s ({args.count / work:,.0f} rows/s)")
    pairs = zip(bare_times, worker_times, strict=True)
    print("rounds (bare / worker s): " + ", ".join(f"{b:.3f}/{w:.3f}" for b, w in pairs))
    print(
        f"worker vs bare insert: {ratio:.2f}x (target >= {TARGET}x) "
        f"{'PASS' if ratio >= TARGET else 'MISS'}"
    )
    print(
        "delivered: every row reached the inbox"
        if missing == 0
        else f"delivered: {missing} rows MISSING from the inbox"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
