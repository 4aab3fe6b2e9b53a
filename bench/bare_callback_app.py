"""A truly bare Flask app with one POST route that writes a payment row: the baseline of
bench/bench_callbacks.py (never deployed).

No extensions, no request hooks, no session, no ORM: Flask, the standard library's sqlite3
and one INSERT of the same ``payment_events`` row a verified WeChat Pay callback writes, in
its own write transaction, with the pragmas the shop sets on its SQLite connections (WAL,
synchronous=NORMAL, foreign keys, busy timeout). The body is the callback's decrypted
resource, sent as plain JSON: parsed, but not verified and not decrypted.
"""

import os
import sqlite3
import threading
from datetime import UTC, datetime

from flask import Flask, request

app = Flask(__name__)
DATABASE = os.environ.get("BENCH_BARE_DATABASE", "")
_local = threading.local()
INSERT = (
    "INSERT INTO payment_events (provider, event_id, order_id, kind, amount_cents, outcome, "
    "received_at) VALUES ('wechatpay', ?, ?, 'paid', ?, 'paid', ?)"
)


def _connection() -> sqlite3.Connection:
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(DATABASE, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        _local.conn = conn
    return conn


@app.post("/notify")
def bare_notify():
    data = request.get_json()
    conn = _connection()
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(
            INSERT,
            (
                str(data["transaction_id"]),
                int(data["order_id"]),
                int(data["amount"]["total"]),
                datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" "),
            ),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return "", 204


@app.get("/_bench/template")
def ready():
    """What bench.common.start_server asks to know the server is up."""
    return "ok"


@app.get("/healthz")
def healthz():
    """What a wrk thread that ran out of requests asks for (as the shop answers it: 200)."""
    return "ok"
