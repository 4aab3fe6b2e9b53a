"""`flask check-config`: settings the data cannot honour are refused where they are set, at
start (`make serve` and `make run` run it before the server; run it in any other deploy
script too; `flask worker` warns at start but keeps delivering). Environment settings are
read when the app starts, so no admin form can refuse them; this does, before a request is
served. It queries the database, so it is a command, never a step of create_app (tests make
many apps)."""

import click
from flask import current_app

from shop.catalog.products import format_bps
from shop.money import fee_rules
from shop.teams import teams


def override_in_force(config) -> int:
    """The team override rate the settings make: TEAM_OVERRIDE_BPS capped by the maximum."""
    return teams.effective_rate(config["TEAM_OVERRIDE_BPS"], config["TEAM_OVERRIDE_MAX_BPS"])


def override_problems(override_bps: int) -> list[str]:
    """One line per product whose platform fee in force does not cover a team override of
    ``override_bps`` on its rebate (shop.money.fee_rules): the product, its rebate rate, the
    fee in force and whose rate that is, and the lowest fee that would do."""
    lines = []
    for row in fee_rules.uncovered_products(override_bps):
        whose = (
            f"merchant {row.merchant_id}'s own rate"
            if row.fee_of_merchant
            else f"category {row.category_id} ({row.category_slug})'s rate"
        )
        lines.append(
            f"product {row.product_id} “{row.title}” of {row.merchant_name}: rebate "
            f"{format_bps(row.rebate_bps)}%, fee in force {format_bps(row.fee_bps)}% "
            f"({whose}), lowest fee that would do {format_bps(row.need_bps)}%"
        )
    return lines


@click.command("check-config")
def check_config_command() -> None:
    """Refuse a team override (SHOP_TEAM_OVERRIDE_BPS, capped by SHOP_TEAM_OVERRIDE_MAX_BPS)
    that some product's platform fee does not cover: the platform pays overrides out of its
    fee. Exits 1 naming each such product; 0 when all is well."""
    config = current_app.config
    override = override_in_force(config)
    problems = override_problems(override)
    if not problems:
        click.echo(f"Configuration OK: team override {format_bps(override)}% of the rebate.")
        return
    click.echo(
        f"Refused: a team override of {format_bps(override)}% of the rebate "
        f"(SHOP_TEAM_OVERRIDE_BPS={config['TEAM_OVERRIDE_BPS']}, "
        f"SHOP_TEAM_OVERRIDE_MAX_BPS={config['TEAM_OVERRIDE_MAX_BPS']}) is more than the "
        f"platform fee of {len(problems)} product(s), and the platform pays it out of its fee:",
        err=True,
    )
    for line in problems:
        click.echo(f"  {line}", err=True)
    click.echo(
        "Raise those fees (/admin/fees, or the merchant's fee page), lower those rebate "
        "rates, or lower SHOP_TEAM_OVERRIDE_BPS (docs/orders-and-money.md).",
        err=True,
    )
    raise SystemExit(1)
