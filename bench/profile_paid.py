"""What one applied payment costs the worker, in one process: SQL statements and CPU per payment
row, as ``flask worker`` applies them (``outbox.process_topic("payment")``: claim, payload, the
paid transition with its estimates, split, rollups and notices, the row marked done, commit;
one row per transaction, ``received.CHUNK``).

    .venv/bin/python bench/profile_paid.py [--orders 300] [--warm 30] [--show]
                                           [--cprofile] [--database-url postgresql+psycopg://…]

Sets up its own instance (SQLite in a temporary folder, or the PostgreSQL database named,
dropped and created again; demo data), places ``--warm + --orders`` WeChat Pay orders
attributed to a sharer (bench/bench_callbacks.py's factory), records one payment outbox row
per order as a verified callback would (``received.record``), applies ``--warm`` of them
untimed, then the rest, counting statements with a ``before_cursor_execute`` listener and CPU
with ``time.process_time``. Checks that every order was paid exactly once. ``--show`` prints
the statements of one applied payment; ``--cprofile`` the top functions by cumulative time.
"""

import argparse
import cProfile
import os
import pstats
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import database, prepare  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--warm", type=int, default=30)
    parser.add_argument("--show", action="store_true", help="print one payment's statements")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    with database(args.database_url, "fenxiang.sqlite3") as (url, folder):
        for name in ("SHOP_REDIS_URL", "SHOP_RATELIMIT_STORAGE_URI"):
            os.environ.pop(name, None)
        os.environ["SHOP_INSTANCE_PATH"] = str(folder)
        os.environ["SHOP_DATABASE_URL"] = url
        prepare()
        return measure(args)


def measure(args) -> int:
    from sqlalchemy import event, func, select

    from bench.bench_callbacks import order_factory
    from shop import create_app
    from shop.orders.gateways import received
    from shop.orders.gateways.base import TradeState
    from shop.orders.models import PaymentEvent
    from shop.platform import outbox
    from shop.platform.extensions import db

    app = create_app()
    orders = order_factory(app)(args.warm + args.orders)
    now = datetime.now(UTC).replace(tzinfo=None)
    run = "4200" + secrets.token_hex(4)  # this run's trade ids (the demo paid orders too)
    with app.app_context():
        for _id, number, total in orders:
            state = TradeState(number, "paid", total, run + secrets.token_hex(8), now)
            received.record("wechatpay", state, now=now)
        db.session.commit()
        statements: list[str] = []

        @event.listens_for(db.engine, "before_cursor_execute")
        def count(conn, cursor, statement, parameters, context, executemany):
            statements.append(statement)

        outbox.process_topic(received.TOPIC, limit=args.warm)  # caches warm, untimed
        del statements[:]
        profiler = cProfile.Profile() if args.cprofile else None
        began = time.process_time()
        if profiler:
            profiler.enable()
        done = outbox.process_topic(received.TOPIC, limit=args.orders)
        if profiler:
            profiler.disable()
        cpu = time.process_time() - began
        per_row = len(statements) / max(done, 1)
        if args.show:
            one = statements[: round(per_row)]
            print("\n".join(f"{i + 1:2d}. {' '.join(s.split())[:160]}" for i, s in enumerate(one)))
        paid = db.session.scalar(
            select(func.count())
            .select_from(PaymentEvent)
            .where(PaymentEvent.outcome == "paid", PaymentEvent.event_id.startswith(run))
        )
        db.session.remove()
        dialect = db.engine.dialect.name
    print(
        f"{dialect}: {done} payments applied, {paid} paid events (expected "
        f"{args.warm + args.orders}); {per_row:.2f} statements and "
        f"{cpu / max(done, 1) * 1000:.2f} ms of CPU per payment"
    )
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(35)
    return 0 if done == args.orders and paid == args.warm + args.orders else 1


if __name__ == "__main__":
    sys.exit(main())
