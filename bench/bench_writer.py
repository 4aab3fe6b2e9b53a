"""The click writer's own cost: CPU per click of ``ClickWriter.flush`` (the click rows, the
rollup upserts, the transaction) in one process, for batches of the sizes a worker writes, on
the demo instance with one WeChat-group link per shop item (bench_load's).

    .venv/bin/python bench/bench_writer.py [--rounds 5] [--batches 40] [--sizes 1,15,100]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:54329/bench_writer]
        [--statements] [--profile SIZE]

Each batch is ``size`` clicks as the share burst makes them: a new visitor each (no cookie),
links drawn at random from the instance's, a tenth of them bots; queued with ``submit``
outside the timer (the writer's thread is not started: ``flush`` runs here). The figure is
the median over rounds of the CPU (``time.process_time``, this process only: on PostgreSQL
not the backend's) per click, in microseconds, with the range; and the wall time per batch.
``--statements`` prints the statements (and their parameter sets) of one batch of each size.
"""

import argparse
import cProfile
import os
import pstats
import random
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PHONE_UA, database, prepare  # noqa: E402


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=40, help="batches per size and round")
    parser.add_argument("--sizes", default="1,15,100")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--statements", action="store_true")
    parser.add_argument("--profile", type=int, default=None, metavar="SIZE")
    return parser.parse_args()


def main() -> None:
    args = arguments()
    with database(args.database_url, "fenxiang.sqlite3") as (url, instance):
        for key in [key for key in os.environ if key.startswith("SHOP_")]:
            del os.environ[key]
        os.environ.update(SHOP_DATABASE_URL=url, SHOP_INSTANCE_PATH=str(instance))
        setup = prepare()
        run(args, setup)


def run(args, setup: dict) -> None:
    from sqlalchemy import event, select

    from shop import create_app
    from shop.platform.extensions import db
    from shop.sharing import clicks
    from shop.sharing.models import ShareLink

    app = create_app()
    with app.app_context():
        links = list(
            db.session.execute(
                select(ShareLink.id, ShareLink.channel).where(ShareLink.code.in_(setup["codes"]))
            )
        )
        engine = db.engine
    rng = random.Random(25)
    writer = clicks.ClickWriter(engine, interval=3600)
    secret = "bench"

    def queue(size: int) -> None:
        now = datetime.now(UTC).replace(tzinfo=None)
        for _ in range(size):
            link_id, channel = rng.choice(links)
            bot = rng.random() < 0.1
            writer._pending.append(  # what submit() queues, without starting the thread
                {
                    "link_id": link_id,
                    "clicked_at": now,
                    "visitor_id": uuid.uuid4().hex,
                    "ip_hash": clicks.hash_ip(f"10.0.{rng.randrange(256)}.1", secret),
                    "ua_family": "bot" if bot else clicks.ua_family(PHONE_UA),
                    "referrer_host": "",
                    "is_scan": channel == "poster",
                    "uncounted_reason": "bot" if bot else None,
                }
            )

    def timed(size: int, batches: int, profiler=None) -> tuple[float, float]:
        cpu = wall = 0.0
        for _ in range(batches):
            queue(size)
            start, start_wall = time.process_time(), time.perf_counter()
            if profiler is not None:
                profiler.enable()
            assert writer.flush() == size
            if profiler is not None:
                profiler.disable()
            cpu += time.process_time() - start
            wall += time.perf_counter() - start_wall
        return cpu * 1e6 / (size * batches), wall * 1e3 / batches

    sizes = [int(size) for size in args.sizes.split(",")]
    for size in sizes:
        timed(size, 5)  # warm up: statements compiled, connection made
    if args.statements:
        seen: list[str] = []

        def note(_conn, _cursor, statement, parameters, _context, many):
            count = len(parameters) if many else 1
            seen.append(f"[{count} set{'s' if count != 1 else ''}] " + " ".join(statement.split()))

        event.listen(engine, "before_cursor_execute", note)
        for size in sizes:
            seen.clear()
            timed(size, 1)
            print(f"batch of {size}: {len(seen)} statements")
            for line in seen:
                print("   ", line[:200])
        event.remove(engine, "before_cursor_execute", note)
        return
    if args.profile:
        profiler = cProfile.Profile(time.process_time)  # CPU: waits for the database left out
        timed(args.profile, args.batches, profiler)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(40)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        return
    figures: dict[int, list[tuple[float, float]]] = {size: [] for size in sizes}
    for _ in range(args.rounds):
        for size in sizes:
            figures[size].append(timed(size, args.batches))
    print(
        f"{'batch':>6}  CPU us per click: median (min-max) of {args.rounds} rounds"
        "   wall ms per batch (median)"
    )
    for size, values in figures.items():
        cpu = [value[0] for value in values]
        wall = [value[1] for value in values]
        print(
            f"{size:>6}  {statistics.median(cpu):8.1f} ({min(cpu):.1f}-{max(cpu):.1f})"
            f"   {statistics.median(wall):8.2f}"
        )


if __name__ == "__main__":
    main()
