"""Sign-in benchmark: a sign-in by SMS code (the code checked, the account found, a session
started) against a sign-in by password (Argon2id with the production parameters), in one run.

    .venv/bin/python bench/bench_signin.py [--rounds 40]
        [--database-url postgresql+psycopg://postgres@127.0.0.1:54329/bench_signin]

The app runs in this process (Flask's test client, CSRF off, SQLite in a temporary folder by
default) with the production Argon2 settings (shop.platform.config.Defaults). Each round makes
one request of each case, interleaved, each from a new client; a code is stored for the next
request before its timer starts (as the send step does), so the code case times the POST that
checks it and signs in. "code send" is the send step with the console provider, which writes
to the log and so costs what our side of a send costs. Always exits 0: a report, not a gate.
"""

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout, not an install

from bench.common import database  # noqa: E402
from shop import create_app  # noqa: E402
from shop.accounts import codes  # noqa: E402
from shop.accounts.models import User  # noqa: E402
from shop.platform.base import utcnow  # noqa: E402
from shop.platform.config import Defaults  # noqa: E402
from shop.platform.extensions import db, passwords  # noqa: E402

PASSWORD = "bench-tea-pass-42"
PHONE = "13800138000"


def build(url: str, tmp: Path):
    from flask_migrate import upgrade

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "INSTANCE_PATH": str(tmp / "instance"),
            "SECRET_KEY": "bench-secret",
            "WTF_CSRF_ENABLED": False,
            "SMS_PROVIDER": "console",
            "SMS_SENDS_PER_ADDRESS_PER_HOUR": 1_000_000,
            "LOGIN_LIMIT_PER_IP": "1000000 per minute",
            # The production Argon2id parameters, named here so the run says what it measured.
            "ARGON2_TIME_COST": Defaults.ARGON2_TIME_COST,
            "ARGON2_MEMORY_COST": Defaults.ARGON2_MEMORY_COST,
            "ARGON2_PARALLELISM": Defaults.ARGON2_PARALLELISM,
        }
    )
    logging.getLogger("shop.sms").setLevel(logging.ERROR)  # the console provider's lines
    with app.app_context():
        upgrade()
        db.session.add(
            User(
                phone=PHONE,
                display_name="bench",
                password_hash=passwords.hash(PASSWORD),
                created_at=utcnow(),
                password_changed_at=utcnow(),
            )
        )
        db.session.commit()
    return app


def password_signin(app, _n):
    client = app.test_client()
    start = time.perf_counter()
    response = client.post("/auth/signin", data={"account": PHONE, "password": PASSWORD})
    took = time.perf_counter() - start
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return took


def code_signin(app, _n):
    with app.app_context():  # what the send step stores, before the timer
        code = codes.new_code()
        codes.record_code(PHONE, code, purpose="signin", address="127.0.0.1", now=utcnow())
        db.session.commit()
    client = app.test_client()
    start = time.perf_counter()
    response = client.post("/auth/code", data={"phone": PHONE, "code": code, "action": "verify"})
    took = time.perf_counter() - start
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return took


def code_send(app, n):
    client = app.test_client()
    start = time.perf_counter()
    response = client.post("/auth/code", data={"phone": f"1370{n:07d}", "action": "send"})
    took = time.perf_counter() - start
    assert "code-sent" in response.get_data(as_text=True)
    return took


CASES = {
    "password sign-in (baseline)": password_signin,
    "code sign-in": code_signin,
    "code send (console)": code_send,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    with database(args.database_url, "bench_signin.sqlite3") as (url, tmp):
        app = build(url, tmp)
        for name, case in CASES.items():  # warm up: imports, templates, the pool
            case(app, 9_000_000 + len(name))
        times = {name: [] for name in CASES}
        for n in range(args.rounds):
            for name, case in CASES.items():
                times[name].append(case(app, n))
        with app.app_context():
            db.engine.dispose()
    base = statistics.median(times["password sign-in (baseline)"])
    print(
        f"argon2id t={Defaults.ARGON2_TIME_COST} m={Defaults.ARGON2_MEMORY_COST} KiB "
        f"p={Defaults.ARGON2_PARALLELISM}; {args.rounds} rounds; "
        f"{'PostgreSQL' if args.database_url else 'SQLite'}"
    )
    print(f"{'case':<30} {'median ms':>10} {'p90 ms':>8} {'vs password':>12}")
    for name, values in times.items():
        values = sorted(values)
        median = statistics.median(values)
        p90 = values[int(len(values) * 0.9) - 1]
        print(f"{name:<30} {median * 1000:>10.1f} {p90 * 1000:>8.1f} {median / base:>11.2f}x")


if __name__ == "__main__":
    main()
