"""``flask worker``: fans the outbox out into inbox messages and deliveries, and delivers them;
applies the payment callbacks the web recorded (``shop.orders.gateways.received``).

One thread takes the outbox in batches; NOTIFY_DELIVERY_THREADS threads call webhooks and WeCom
bots, so a slow receiver never holds up the inbox. Each loop sleeps NOTIFY_WORKER_POLL_SECONDS
when it found nothing to do. ``stop`` (set on SIGTERM or Ctrl-C by the command) ends every loop
after the work in hand; nothing is lost by a hard kill either: an outbox batch not committed
is claimed again, and a claimed delivery is due again when its lease ends.

On PostgreSQL several workers may run (claims use FOR UPDATE SKIP LOCKED); on SQLite run one.
"""

import logging
import threading
from datetime import timedelta

from flask import Flask

from shop.notify import delivery
from shop.notify import inbox as _inbox  # noqa: F401  (registers the outbox handler)
from shop.orders.gateways import received as _received  # noqa: F401  (payment callbacks)
from shop.platform import outbox
from shop.platform.base import utcnow
from shop.platform.extensions import db

log = logging.getLogger("shop.worker")
PURGE_EVERY = timedelta(hours=1)


def _outbox_loop(app: Flask, stop: threading.Event) -> None:
    config = app.config
    purged_at = None
    with app.app_context():
        while not stop.is_set():
            done = 0
            try:
                done = outbox.process_batch(limit=config["NOTIFY_BATCH_SIZE"])
                now = utcnow()
                if purged_at is None or now - purged_at > PURGE_EVERY:
                    outbox.purge_done(before=now - timedelta(days=config["NOTIFY_KEEP_DAYS"]))
                    purged_at = now
            except Exception:  # the database went away, say: log it, wait, try again
                log.exception("outbox batch failed")
                db.session.rollback()
            finally:
                db.session.remove()
            if not done:
                stop.wait(config["NOTIFY_WORKER_POLL_SECONDS"])


def _delivery_loop(app: Flask, stop: threading.Event) -> None:
    poll = app.config["NOTIFY_WORKER_POLL_SECONDS"]
    with app.app_context():
        while not stop.is_set():
            done = 0
            try:
                done = delivery.deliver_due(limit=10)
            except Exception:
                log.exception("delivery failed")
                db.session.rollback()
            finally:
                db.session.remove()
            if not done:
                stop.wait(poll)


def start(app: Flask, stop: threading.Event) -> list[threading.Thread]:
    """Start the worker's threads (for the command, and for tests that run a worker)."""
    threads = [threading.Thread(target=_outbox_loop, args=(app, stop), name="outbox")]
    for n in range(max(1, int(app.config["NOTIFY_DELIVERY_THREADS"]))):
        threads.append(
            threading.Thread(target=_delivery_loop, args=(app, stop), name=f"delivery-{n}")
        )
    for thread in threads:
        thread.daemon = True
        thread.start()
    return threads


def run(app: Flask, stop: threading.Event) -> None:
    """Run until ``stop`` is set, then wait for the threads to finish what they hold."""
    threads = start(app, stop)
    while not stop.is_set():
        stop.wait(1)
    for thread in threads:
        thread.join()
