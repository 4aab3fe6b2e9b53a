"""Flask commands: `flask seed-demo`, `flask create-admin`, `flask settle-rebates`,
`flask backfill-splits`, `flask profit-sharing`, `flask wechatpay-sub-mchid`, `flask sweep-orders`,
`flask payments-sync`, `flask reconcile`, `flask rollup`, `flask scan-fraud`, `flask backup`,
`flask restore`, `flask worker`; `flask check-config` is in shop/checks.py."""

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from flask import Flask, current_app
from sqlalchemy import func, select

from shop import checks
from shop.accounts import accounts, totp
from shop.accounts.models import User
from shop.money import fraud, ledger, profit_sharing, refund_queries, sales, split_backfill
from shop.orders import aftersales, states
from shop.orders.gateways import flow as gateway_flow
from shop.orders.gateways import providers as gateway_providers
from shop.orders.gateways import received
from shop.orders.gateways import reconcile as gateway_reconcile
from shop.platform import backup as backups
from shop.platform import db as dbsetup
from shop.platform.base import utcnow
from shop.platform.errors import ValidationError
from shop.platform.extensions import db
from shop.sharing import rollup


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_admin_command)
    app.cli.add_command(settle_rebates_command)
    app.cli.add_command(backfill_splits_command)
    app.cli.add_command(profit_sharing_command)
    app.cli.add_command(sub_mchid_command)
    app.cli.add_command(sweep_orders_command)
    app.cli.add_command(payments_sync_command)
    app.cli.add_command(reconcile_command)
    app.cli.add_command(rollup_command)
    app.cli.add_command(scan_fraud_command)
    app.cli.add_command(backup_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(worker_command)
    app.cli.add_command(checks.check_config_command)


@click.command("worker")
def worker_command() -> None:
    """Deliver notifications: the outbox into inboxes, webhooks and WeCom bots, with retries.
    Runs until SIGTERM or Ctrl-C (docs/notifications.md). On SQLite run one; on PostgreSQL
    as many as you like."""
    import signal
    import threading

    from shop.notify import worker

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    problems = checks.override_problems(checks.override_in_force(current_app.config))
    if problems:  # it keeps delivering (paid orders' notices must go out), but says so
        click.echo(f"Warning: flask check-config refuses this configuration: {problems[0]}"
                   f"{f' (and {len(problems) - 1} more)' if len(problems) > 1 else ''}",
                   err=True)  # fmt: skip
    click.echo("Worker started; stop it with Ctrl-C or SIGTERM.")
    worker.run(current_app._get_current_object(), stop)
    click.echo("Worker stopped.")


@click.command("backup")
@click.argument("path", required=False, type=click.Path(dir_okay=True))
def backup_command(path: str | None) -> None:
    """Copy the SQLite database to PATH (a new file, or a folder for a timestamped file;
    default instance/backups/), safely while the server runs, and check the copy.

    Uploaded images are not in the database: back up MEDIA_ROOT too (docs/production.md)."""
    config = current_app.config
    try:
        source = backups.sqlite_file(config["SQLALCHEMY_DATABASE_URI"])
        if path is None:
            path = str(Path(current_app.instance_path) / "backups") + "/"
        destination = Path(path)
        if destination.is_dir() or path.endswith(("/", os.sep)):
            destination.mkdir(parents=True, exist_ok=True, mode=0o700)
            destination = backups.backup_name(destination, datetime.now(UTC))
        made = backups.backup_sqlite(
            source, destination, busy_timeout_ms=config["SQLITE_BUSY_TIMEOUT_MS"]
        )
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Backup written: {made.path} ({_size(made.size)}), integrity check ok")


@click.command("restore")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.confirmation_option(
    "--yes",
    prompt="This replaces everything in the database by the backup. Is the server stopped?",
    help="Do not ask for confirmation.",
)
def restore_command(path: Path) -> None:
    """Replace the SQLite database by the backup at PATH (made by `flask backup`). Stop the
    server first; run `flask db upgrade` after it if the backup is from an older version.
    The database as it was is backed up first (instance/backups/), so a restore can be undone."""
    config = current_app.config
    timeout = config["SQLITE_BUSY_TIMEOUT_MS"]
    try:
        target = backups.sqlite_file(config["SQLALCHEMY_DATABASE_URI"])
        backups.check_restorable(path, _known_revisions(), busy_timeout_ms=timeout)
        safety = None
        if target.is_file() and target.stat().st_size > 0:
            folder = Path(current_app.instance_path) / "backups"
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            name = backups.backup_name(folder, datetime.now(UTC))
            safety = backups.backup_sqlite(
                target, name.with_name("before-restore-" + name.name), busy_timeout_ms=timeout
            )
        db.engine.dispose()  # this process holds no connection while the pages are replaced
        backups.restore_sqlite(path, target, busy_timeout_ms=timeout)
    except backups.BackupError as error:
        raise click.ClickException(str(error)) from None
    if safety is not None:
        click.echo(f"The database as it was is kept at {safety.path}.")
    click.echo(f"Restored {target} from {path}; now run `flask db upgrade`, then start the server.")


def _known_revisions() -> set[str]:
    """Every migration revision this code has (a backup made by newer code is refused)."""
    from alembic.script import ScriptDirectory

    from shop import PROJECT_ROOT

    return {
        script.revision
        for script in ScriptDirectory(str(PROJECT_ROOT / "migrations")).walk_revisions()
    }


def _size(size: int) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size} bytes"


@click.command("rollup")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Recount only the last N days (China time); every day when left out.",
)
def rollup_command(days: int | None) -> None:
    """Rebuild the click rollups (per link and day) and the sharers' visitor table from the
    raw clicks, and the order, sales, product and ledger rollups from the orders and the
    ledger. Clicks, orders and postings keep them up to date as they are written; this is for
    a backfill or a repair, and may be run again at any time."""
    since = rollup.china_day(utcnow()) - timedelta(days=days - 1) if days else None
    with dbsetup.writing(), db.engine.begin() as connection:
        counts = rollup.recount(connection, since=since)
        recounted = sales.recount(connection, since=since)
    click.echo(f"Clicks recounted: {counts['clicks']}; visitors: {counts['visitors']}")
    click.echo(
        f"Orders recounted: {recounted['orders']} earning, {recounted['paid']} paid "
        f"({recounted['order_days']} link-days, {recounted['sale_days']} sales-days)"
    )


@click.command("scan-fraud")
def scan_fraud_command() -> None:
    """Raise fraud flags from the last day's click floods and the recent paid orders (run it
    every hour or so, e.g. from cron). Running it again adds no duplicate flags."""
    thresholds = fraud.Thresholds.from_config(current_app.config)
    with dbsetup.writing():
        raised = fraud.scan(now=utcnow(), thresholds=thresholds)
        db.session.commit()
    summary = ", ".join(f"{kind.value}: {n}" for kind, n in raised.items())
    click.echo(f"New flags: {sum(raised.values())} ({summary})")


@click.command("settle-rebates")
def settle_rebates_command() -> None:
    """Settle the estimated rebates whose return window has passed.

    Each order is settled in a transaction of its own; running this twice, or twice at once,
    settles nothing twice (the ledger's unique key refuses a second entry)."""
    config = current_app.config
    window = timedelta(days=config["RETURN_WINDOW_DAYS"])
    at = utcnow()
    due = ledger.due_for_settlement(now=at, return_window=window)
    db.session.rollback()
    posted = 0
    for order_id in due:
        with dbsetup.writing():
            posted += ledger.settle_order(order_id, now=at, return_window=window)
            db.session.commit()
    click.echo(f"Orders due: {len(due)}; rebate entries settled: {posted}")


@click.command("backfill-splits")
@click.option("--batch", default=500, show_default=True, help="Orders per transaction.")
@click.option(
    "--current-fees",
    is_flag=True,
    help="Charge today's platform fee rates (default: no fee, none was agreed back then).",
)
def backfill_splits_command(batch: int, current_fees: bool) -> None:
    """Store the split and the merchant-ledger entries of orders paid before merchant
    settlement existed. Safe to run again, or twice at once: nothing is posted twice."""
    if batch < 1:
        raise click.BadParameter("at least 1", param_hint="--batch")
    done = split_backfill.backfill(now=utcnow(), batch=batch, current_fees=current_fees)
    click.echo(f"Orders given a split: {done['orders']} (in {done['batches']} batches)")


@click.command("profit-sharing")
def profit_sharing_command() -> None:
    """WeChat Pay partner mode: send each settled order's split to the platform (分账) and
    unfreeze the rest for the merchant; ask about sharings still processing. Run it after
    `flask settle-rebates`; does nothing unless partner mode is configured."""
    adapter = gateway_providers.for_app(current_app._get_current_object()).get("wechatpay")
    if not getattr(adapter, "partner", False):
        click.echo("WeChat Pay partner mode is not configured (SHOP_WECHATPAY_SP_MCHID).")
        return
    counts = profit_sharing.run(adapter, now=utcnow())
    click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()))


@click.command("wechatpay-sub-mchid")
@click.argument("merchant_id", type=int)
@click.argument("sub_mchid")
@click.option("--reason", required=True, help="Kept in the audit log.")
def sub_mchid_command(merchant_id: int, sub_mchid: str, reason: str) -> None:
    """Set a merchant's WeChat Pay sub-merchant number (子商户号, digits; "" clears it), as
    the admin page /admin/merchants/<id>/wechatpay does. Audited."""
    from shop.catalog import merchants
    from shop.catalog.models import Merchant

    with dbsetup.writing():
        merchant = db.session.get(Merchant, merchant_id)
        if merchant is None:
            raise click.BadParameter(f"no merchant {merchant_id}", param_hint="MERCHANT_ID")
        try:
            merchants.set_wechatpay_sub_mchid(
                merchant, sub_mchid, actor=None, reason=reason, now=utcnow()
            )
        except ValidationError as error:
            raise click.BadParameter(str(error.message), param_hint=error.field) from None
        db.session.commit()
        click.echo(f"{merchant.name}: sub_mchid {merchant.wechatpay_sub_mchid or '(none)'}")


@click.command("sweep-orders")
def sweep_orders_command() -> None:
    """Cancel orders unpaid past their deadline and complete orders shipped long ago (run it
    every few minutes, e.g. from cron)."""
    config = current_app.config
    at = utcnow()
    # First pay what callbacks recorded (flask worker may be down or behind), then ask the
    # gateways about open payments, so a paid order whose callback is late is paid, not
    # cancelled.
    received.apply_due(now=at)
    gateway_flow.sync(gateway_providers.for_app(current_app._get_current_object()), now=at)
    with dbsetup.writing():
        cancelled = states.cancel_unpaid(now=at)
        completed = states.complete_shipped(
            now=at, after=timedelta(days=config["AUTO_COMPLETE_DAYS"])
        )
        silent = timedelta(days=config["REFUND_ESCALATE_DAYS"])
        escalated = aftersales.escalate_unanswered(now=at, after=silent)
        parts = refund_queries.escalate_unanswered(now=at, after=silent)
        db.session.commit()
    click.echo(
        f"Cancelled unpaid: {cancelled}; completed automatically: {completed}; "
        f"refund requests escalated: {escalated}; partial refund requests escalated: {parts}"
    )


@click.command("payments-sync")
def payments_sync_command() -> None:
    """Ask WeChat Pay and Alipay about payments no callback has settled, close the payments of
    cancelled orders there, and send or check refunds (run it every minute, e.g. from cron or
    a systemd timer; running it again changes nothing more)."""
    adapters = gateway_providers.for_app(current_app._get_current_object())
    if not adapters:
        click.echo("No payment gateway is configured (docs/payments.md).")
        return
    counts = gateway_flow.sync(adapters, now=utcnow())
    click.echo(
        f"Paid: {counts['paid']}; closed: {counts['closed']}; "
        f"refunds done: {counts['refunds_done']}; errors: {counts['errors']}"
    )


@click.command("reconcile")
@click.option(
    "--date", "day", default=None, help="China day YYYY-MM-DD (default: yesterday in China)."
)
def reconcile_command(day: str | None) -> None:
    """Compare each gateway's trade bill of a day with the payments and refunds recorded, and
    store the differences for admins (running it again adds nothing)."""
    adapters = gateway_providers.for_app(current_app._get_current_object())
    if not adapters:
        click.echo("No payment gateway is configured (docs/payments.md).")
        return
    at = utcnow()
    try:
        chosen = date.fromisoformat(day) if day else rollup.china_day(at) - timedelta(days=1)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from None
    for report in gateway_reconcile.reconcile(adapters, chosen, now=at):
        kinds = ", ".join(f"{k} {s} {r}" for k, s, r in report.found) or "none"
        click.echo(
            f"{report.provider} {report.day}: {report.bill_lines} bill lines; "
            f"differences: {len(report.found)} ({report.new} new): {kinds}"
            + (
                f"; lines of the partner's other sub-merchants: {report.others}"
                if report.others
                else ""
            )
        )


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the database has no users yet.")
def seed_demo_command(if_empty: bool) -> None:
    """Load the demo shops, merchants and products (safe to run again)."""
    from shop.demo import seed as demo  # it draws the demo pictures: Pillow, for this alone

    with dbsetup.writing():
        if if_empty and db.session.execute(select(func.count(User.id))).scalar_one():
            click.echo("Database already has data; demo seed skipped.")
        else:
            created = demo.seed_demo(now=utcnow())
            db.session.commit()
            click.echo("Demo data: " + ", ".join(f"{k} +{v}" for k, v in created.items()))
    click.echo("")
    click.echo("Demo accounts (演示账号)   account / password")
    for account in demo.ACCOUNTS:
        click.echo(f"  {account.role:<9} {account.name:<8} {account.account} / {account.password}")


@click.command("create-admin")
@click.option("--account", prompt="Mobile number or email", help="Phone or email of the admin.")
@click.option("--name", default="管理员", show_default=True, help="Display name.")
@click.password_option(help="Password (asked for when omitted).")
def create_admin_command(account: str, name: str, password: str) -> None:
    """Create an admin account, or make an existing account an admin."""
    try:
        with dbsetup.writing():
            user = accounts.create_admin(
                account=account, display_name=name, password=password, now=utcnow()
            )
            db.session.commit()
    except ValidationError as error:
        raise click.ClickException(str(error.message)) from None
    click.echo(f"Admin ready: {user.account_label} ({user.display_name})")
    click.echo(_second_factor_note(user))


def _second_factor_note(user: User) -> str:
    """What the new admin meets at the first sign-in: the second factor, or why not."""
    if totp.is_enrolled(user):
        return "Two-step verification: already set up for this account (its codes still apply)."
    if current_app.config["STAFF_TOTP_REQUIRED"]:
        return (
            "Two-step verification is required for administrators (STAFF_TOTP_REQUIRED).\n"
            "At the first sign-in, after the password, the site shows a QR code: scan it with\n"
            "an authenticator app (Google Authenticator, Microsoft Authenticator or\n"
            "腾讯身份验证器), "
            "enter the 6-digit code, and keep the ten recovery codes it shows once.\n"
            "Nothing else opens until this is done. Lost phone and codes: another admin resets it\n"
            "at /admin/second-factors (docs/production.md)."
        )
    return (
        "Two-step verification is not required here (STAFF_TOTP_REQUIRED is off; `make serve`\n"
        "and production turn it on). The admin can set it up at /auth/second-factor/manage."
    )
