"""Flask commands: `flask seed-demo`, `flask create-admin`."""

import click
from flask import Flask
from sqlalchemy import func, select

from shop import db as dbsetup
from shop.errors import ValidationError
from shop.extensions import db
from shop.models import User, utcnow
from shop.services import accounts, demo


def register(app: Flask) -> None:
    app.cli.add_command(seed_demo_command)
    app.cli.add_command(create_admin_command)


@click.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when the database has no users yet.")
def seed_demo_command(if_empty: bool) -> None:
    """Load the demo shops, merchants and products (safe to run again)."""
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
