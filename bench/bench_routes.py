"""Server CPU per request of the share burst's routes, in one process (Flask's test client,
``time.process_time``), on the same instance bench_load.py builds (demo data, a link per shop
item, stock topped up, one buyer who signed in through the form and arrived through a link).

    .venv/bin/python bench/bench_routes.py [--rounds 5] [--requests 100] [--warmup 20]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:54329/bench_routes]
        [--set NAME=VALUE] [--profile ROUTE]

``landing_moved`` is the landing page right after a stock move of its product each time (a
checkout elsewhere; the move is outside the timer), as a share burst's checkouts make it.

Each round runs every route ``--requests`` times in turn (each anonymous request from a new
client: no cookie, as a phone that follows a share link); the figure is the median over rounds
of the CPU per request, with the range. The settings' caches are as configured (kept pages on,
as served; ``--set LANDING_CACHE_SECONDS=0`` renders every page). ``--profile ROUTE`` prints
cProfile's top functions for that route instead. On PostgreSQL this is the worker's CPU only,
not the backend's.
"""

import argparse
import cProfile
import gc
import os
import pstats
import re
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.bench_load import BUYER_PASSWORD, CHECKOUT_ADDRESS, extend_setup  # noqa: E402
from bench.common import database, hidden_fields, prepare  # noqa: E402

ROUTES = (
    "click",
    "landing",
    "product",
    "shop",
    "checkout_form",
    "checkout_post",
    "landing_moved",
    "poster",
)
LOCATION_PAY = re.compile(r"/orders/\d+/pay")


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--set", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--profile", choices=ROUTES, default=None)
    parser.add_argument(
        "--statements",
        action="store_true",
        help="print the SQL statements of one request of each route instead of timing",
    )
    parser.add_argument(
        "--routes", default=",".join(ROUTES), help="comma-separated, of " + ", ".join(ROUTES)
    )
    return parser.parse_args()


def main() -> None:
    args = arguments()
    with database(args.database_url, "fenxiang.sqlite3") as (url, instance):
        for key in [key for key in os.environ if key.startswith("SHOP_")]:
            del os.environ[key]
        os.environ.update(
            SHOP_DATABASE_URL=url,
            SHOP_INSTANCE_PATH=str(instance),
            SHOP_CLICK_FLOOD_LIMIT="1000000 per minute",
            SHOP_CLICK_HARD_LIMIT="1000000 per minute",
        )
        for setting in args.set:
            name, _eq, value = setting.partition("=")
            os.environ[f"SHOP_{name}"] = value
        setup = prepare(extend_setup(1))
        run(args, setup)


def run(args, setup: dict) -> None:
    from shop import create_app

    app = create_app()
    # What a gunicorn worker does once it has loaded the app (gunicorn.conf.py's
    # post_worker_init): the heap so far (here also the set-up's objects) is left out of the
    # garbage collector's passes, which would otherwise walk it during the timed requests.
    gc.collect()
    gc.freeze()
    buyer = app.test_client()
    form = hidden_fields(buyer.get("/auth/signin").get_data(as_text=True))
    answer = buyer.post(
        "/auth/signin",
        data={**form, "account": setup["buyers"][0]["account"], "password": BUYER_PASSWORD},
    )
    assert answer.status_code == 302, answer.status_code
    assert buyer.get(f"/r/{setup['codes'][0]}").status_code == 303
    sharer_account = setup["sharers"][0]
    sharer = app.test_client()
    form = hidden_fields(sharer.get("/auth/signin").get_data(as_text=True))
    answer = sharer.post(
        "/auth/signin",
        data={**form, "account": sharer_account["account"], "password": sharer_account["password"]},
    )
    assert answer.status_code == 302, answer.status_code
    poster_path = sharer_account["posters"][0]
    drawn = sharer.get(poster_path)  # drawn now, once: the timed requests find it on disk
    assert drawn.status_code == 200 and drawn.get_data()[:2] == b"\xff\xd8", drawn.status_code
    landing, product = setup["products"][0], setup["direct"][0]
    shop, checkout = setup["shops"][0], setup["checkouts"][0]
    pending: dict = {}

    def anonymous(path: str, expect: int):
        def request():
            status = app.test_client().get(path).status_code
            assert status == expect, (path, status)

        return request

    def poster():
        """A signed-in sharer's poster of their own link, already drawn (bench_load's 4%)."""
        answer = sharer.get(poster_path)
        body = answer.get_data()
        assert answer.status_code == 200 and body[:2] == b"\xff\xd8", answer.status_code

    def checkout_form():
        answer = buyer.get(checkout)
        assert answer.status_code == 200, answer.status_code
        pending["page"] = answer.get_data(as_text=True)  # parsed outside the timer

    def checkout_post():
        data = {**pending.pop("form"), **CHECKOUT_ADDRESS, "repeat": "1"}
        answer = buyer.post(checkout.partition("?")[0], data=data)
        location = answer.headers.get("Location", "")
        assert answer.status_code == 302 and LOCATION_PAY.search(location), answer.status_code

    def move_stock():
        """What a checkout does to the landing page's product, committed by another worker
        (outside the timer): one unit of its cheapest spec's stock taken."""
        from shop.catalog import stockmoves
        from shop.catalog.models import Product
        from shop.platform import db as dbsetup
        from shop.platform.extensions import db

        product_id = int(landing.partition("?")[0].rsplit("/", 1)[1])
        if "sku" not in pending:
            with app.app_context():
                product = db.session.get(Product, product_id)
                pending["sku"] = min(s.id for s in product.active_skus)
        # As a checkout does: the write lock taken at BEGIN (the click writer writes too).
        with app.app_context(), dbsetup.writing():
            assert stockmoves.take_stock(pending["sku"], product_id, 1)
            db.session.commit()

    requests = {
        "click": anonymous(f"/r/{setup['codes'][1 % len(setup['codes'])]}", 303),
        "landing": anonymous(landing, 200),
        "product": anonymous(product, 200),
        "shop": anonymous(shop, 200),
        "checkout_form": checkout_form,
        "checkout_post": checkout_post,
        "landing_moved": anonymous(landing, 200),  # after a stock move each time
        "poster": poster,
    }

    def timed(route: str, count: int, profiler=None) -> float:
        """CPU ms per request of ``route`` (a POST's own form is made outside the timer and
        outside ``profiler``)."""
        total = 0.0
        for _ in range(count):
            if route == "checkout_post":  # a POST needs a form of its own (its checkout key)
                checkout_form()
                pending["form"] = hidden_fields(pending.pop("page"))
            elif route == "landing_moved":
                move_stock()
            start = time.process_time()
            if profiler is not None:
                profiler.enable()
            requests[route]()
            if profiler is not None:
                profiler.disable()
            total += time.process_time() - start
        return total * 1000 / count

    for route in ROUTES:
        timed(route, args.warmup)
    if args.statements:
        show_statements(app, args.routes.split(","), requests, pending, checkout_form)
        return
    if args.profile:
        profiler = cProfile.Profile()
        timed(args.profile, args.requests, profiler)
        # BENCH_PROFILE_FILTER: a regular expression the listed functions' places must match
        only = (
            [os.environ["BENCH_PROFILE_FILTER"]] if os.environ.get("BENCH_PROFILE_FILTER") else []
        )
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(*only, 45)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(30)
        if os.environ.get("BENCH_PROFILE_CALLERS"):  # who calls the functions matching it
            pstats.Stats(profiler).print_callers(os.environ["BENCH_PROFILE_CALLERS"])
        if os.environ.get("BENCH_PROFILE_CALLEES"):  # what the functions matching it call
            pstats.Stats(profiler).sort_stats("cumulative").print_callees(
                os.environ["BENCH_PROFILE_CALLEES"]
            )
        return
    figures: dict[str, list[float]] = {route: [] for route in args.routes.split(",")}
    for _ in range(args.rounds):
        for route in figures:
            figures[route].append(timed(route, args.requests))
    print(f"{'route':<14} CPU ms per request: median (min-max) of {args.rounds} rounds")
    for route, values in figures.items():
        print(f"{route:<14} {statistics.median(values):6.2f} ({min(values):.2f}-{max(values):.2f})")


def show_statements(app, routes: list[str], requests, pending, checkout_form) -> None:
    """Each route's SQL statements in one request (a POST's form made before counting)."""
    from sqlalchemy import event

    from shop.platform.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[str] = []
    counting = [False]
    width = int(os.environ.get("BENCH_STATEMENT_WIDTH", "160"))  # characters shown of each

    def count(_conn, _cursor, statement, _params, _context, _many):
        if counting[0]:
            seen.append(" ".join(statement.split())[:width])

    event.listen(engine, "before_cursor_execute", count)
    for route in routes:
        seen.clear()
        if route == "checkout_post":  # its form (and checkout key), not counted
            checkout_form()
            pending["form"] = hidden_fields(pending.pop("page"))
        counting[0] = True
        requests[route]()
        counting[0] = False
        print(f"{route}: {len(seen)} statements")
        for statement in seen:
            print("   ", statement)
    event.remove(engine, "before_cursor_execute", count)


if __name__ == "__main__":
    main()
