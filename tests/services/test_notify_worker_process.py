"""`flask worker` as its own process, as `make run` and systemd start it: it delivers what the
app commits, and stops cleanly on SIGTERM. Also the outbox's clean-up of rows done."""

import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import timedelta

from sqlalchemy import func, select

from shop import PROJECT_ROOT
from shop.notify.models import Notification
from shop.platform import outbox
from shop.platform.extensions import db
from tests.conftest import build_app
from tests.factories import make_user
from tests.services.test_orders import NOW


def test_flask_worker_delivers_and_stops_on_sigterm(sqlite_template, tmp_path):
    path = tmp_path / "worker.sqlite3"
    shutil.copyfile(sqlite_template, path)
    url = f"sqlite:///{path}"
    env = {
        **os.environ,
        "FLASK_APP": "wsgi.py",
        "SHOP_DATABASE_URL": url,
        "SHOP_INSTANCE_PATH": str(tmp_path / "instance"),
        "SHOP_SECRET_KEY": "worker-test",
        "SHOP_NOTIFY_WORKER_POLL_SECONDS": "0.2",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "flask", "worker"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    app = build_app(url, tmp_path / "instance")
    try:
        with app.app_context():
            user = make_user()
            outbox.emit("notify", "rebate_settled", user_id=user.id, now=NOW, payload={
                "order_no": "2611240001", "amount_cents": 100,
            })  # fmt: skip
            db.session.commit()
            committed = time.monotonic()
            found = 0
            while not found and time.monotonic() - committed < 20:  # includes the start-up
                time.sleep(0.1)
                db.session.rollback()
                found = db.session.execute(
                    select(func.count()).select_from(Notification)
                ).scalar_one()
            assert found == 1
    finally:
        worker.send_signal(signal.SIGTERM)
        try:
            output, _ = worker.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
        with app.app_context():
            db.engine.dispose()
    assert worker.returncode == 0, output
    assert "Worker started" in output and "Worker stopped." in output


def test_rows_done_are_purged_after_the_keep_days_and_failures_are_kept(ctx):
    user = make_user()
    for _ in range(3):
        outbox.emit("notify", "rebate_settled", user_id=user.id, payload={}, now=NOW)
    db.session.commit()
    outbox.process_batch(now=NOW)
    failed = db.session.execute(select(outbox.OutboxRow)).scalars().first()
    failed.last_error = "gave up"
    db.session.commit()
    assert outbox.purge_done(before=NOW) == 0
    assert outbox.purge_done(before=NOW + timedelta(days=7)) == 2
    db.session.rollback()
    [kept] = db.session.execute(select(outbox.OutboxRow)).scalars()
    assert kept.last_error == "gave up"
