"""partial refunds by item and amount: refund requests, their lines and the refundable caps;
ledger and merchant entries keyed by the refund they reverse part of; refunded money in the
sales rollup

Revision ID: 4d2c9e7b1a08
Revises: b7e1d2c3a4f5
Create Date: 2026-12-06 08:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "4d2c9e7b1a08"
down_revision = "b7e1d2c3a4f5"
branch_labels = None
depends_on = None

STATUSES = ("requested", "refunded", "rejected", "withdrawn")


def upgrade():
    op.create_table(
        "refund_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(40), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                *STATUSES, name="refundstatus", native_enum=False, create_constraint=True, length=20
            ),
            nullable=False,
        ),  # fmt: skip
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("reason", sa.String(200), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("shipping_cents", sa.Integer(), server_default="0", nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("requested_by_id", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("note", sa.String(200), server_default="", nullable=False),
        sa.Column("return_carrier", sa.String(40), server_default="", nullable=False),
        sa.Column("return_tracking", sa.String(40), server_default="", nullable=False),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_refund_requests_amount_positive")),
        sa.CheckConstraint(
            "shipping_cents >= 0 AND shipping_cents <= amount_cents",
            name=op.f("ck_refund_requests_shipping_range"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refund_requests_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_refund_requests_requested_by_id_users"),
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_refund_requests_decided_by_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_requests")),
        sa.UniqueConstraint("order_id", "seq", name=op.f("uq_refund_requests_order_id_seq")),
        sa.UniqueConstraint(
            "order_id", "request_key", name=op.f("uq_refund_requests_order_id_request_key")
        ),
    )
    op.create_index(op.f("ix_refund_requests_order_id"), "refund_requests", ["order_id"])
    op.create_index(
        "uq_refund_requests_one_open",
        "refund_requests",
        ["order_id"],
        unique=True,
        sqlite_where=sa.text("status = 'requested'"),
        postgresql_where=sa.text("status = 'requested'"),
    )
    op.create_table(
        "refund_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=False),
        sa.Column("order_item_id", sa.Integer(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("rebate_cents", sa.Integer(), nullable=False),
        sa.Column("override_cents", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("merchant_cents", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 1", name=op.f("ck_refund_lines_quantity_positive")),
        sa.CheckConstraint(
            "amount_cents >= 0 AND rebate_cents >= 0 AND override_cents >= 0 "
            "AND fee_cents >= 0 AND merchant_cents >= 0",
            name=op.f("ck_refund_lines_parts_not_negative"),
        ),
        sa.CheckConstraint(
            "rebate_cents + fee_cents + merchant_cents = amount_cents",
            name=op.f("ck_refund_lines_parts_add_up"),
        ),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["refund_requests.id"],
            name=op.f("fk_refund_lines_refund_id_refund_requests"),
        ),  # fmt: skip
        sa.ForeignKeyConstraint(
            ["order_item_id"],
            ["order_items.id"],
            name=op.f("fk_refund_lines_order_item_id_order_items"),
        ),  # fmt: skip
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refund_lines")),
        sa.UniqueConstraint(
            "refund_id", "order_item_id", name=op.f("uq_refund_lines_refund_id_order_item_id")
        ),
    )
    op.create_index(op.f("ix_refund_lines_refund_id"), "refund_lines", ["refund_id"])
    op.create_index(op.f("ix_refund_lines_order_item_id"), "refund_lines", ["order_item_id"])
    op.create_table(
        "refund_caps",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("line", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("cap_cents", sa.Integer(), nullable=False),
        sa.Column("cap_quantity", sa.Integer(), nullable=False),
        sa.Column("rebate_cents", sa.Integer(), nullable=False),
        sa.Column("override_cents", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("held_cents", sa.Integer(), nullable=False),
        sa.Column("held_quantity", sa.Integer(), nullable=False),
        sa.Column("done_cents", sa.Integer(), nullable=False),
        sa.Column("done_quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "held_cents >= 0 AND done_cents >= 0 AND held_cents + done_cents <= cap_cents",
            name=op.f("ck_refund_caps_cents_within_cap"),
        ),
        sa.CheckConstraint(
            "held_quantity >= 0 AND done_quantity >= 0 "
            "AND held_quantity + done_quantity <= cap_quantity",
            name=op.f("ck_refund_caps_quantity_within_cap"),
        ),
        sa.CheckConstraint(
            "rebate_cents >= 0 AND override_cents >= 0 AND fee_cents >= 0 "
            "AND rebate_cents + fee_cents <= cap_cents",
            name=op.f("ck_refund_caps_parts_within_cap"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_refund_caps_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("order_id", "line", name=op.f("pk_refund_caps")),
    )

    with op.batch_alter_table("ledger_entries", schema=None) as batch:
        batch.add_column(sa.Column("refund_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_ledger_entries_refund_id_refund_requests"),
            "refund_requests",
            ["refund_id"],
            ["id"],
        )
        batch.drop_constraint(batch.f("uq_ledger_entries_order_item_id_kind_tier"), type_="unique")
        batch.create_check_constraint(
            batch.f("ck_ledger_entries_refund_reverses"),
            "refund_id IS NULL OR kind IN ('voided', 'clawback')",
        )
    op.create_index(
        "uq_ledger_entries_item_kind_tier",
        "ledger_entries",
        ["order_item_id", "kind", "tier"],
        unique=True,
        sqlite_where=sa.text("refund_id IS NULL"),
        postgresql_where=sa.text("refund_id IS NULL"),
    )
    op.create_index(
        "uq_ledger_entries_refund_item_kind_tier",
        "ledger_entries",
        ["refund_id", "order_item_id", "kind", "tier"],
        unique=True,
        sqlite_where=sa.text("refund_id IS NOT NULL"),
        postgresql_where=sa.text("refund_id IS NOT NULL"),
    )
    _append_only_again("ledger_entries", "ledger entries")

    with op.batch_alter_table("merchant_entries", schema=None) as batch:
        batch.add_column(sa.Column("refund_id", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            batch.f("fk_merchant_entries_refund_id_refund_requests"),
            "refund_requests",
            ["refund_id"],
            ["id"],
        )
        batch.drop_constraint(batch.f("uq_merchant_entries_order_id_kind"), type_="unique")
        batch.create_unique_constraint(
            batch.f("uq_merchant_entries_refund_id_kind"), ["refund_id", "kind"]
        )
        batch.create_check_constraint(
            batch.f("ck_merchant_entries_refund_reverses"),
            "refund_id IS NULL OR (order_id IS NOT NULL AND kind IN ('voided', 'clawback'))",
        )
    op.create_index(
        "uq_merchant_entries_order_kind",
        "merchant_entries",
        ["order_id", "kind"],
        unique=True,
        sqlite_where=sa.text("refund_id IS NULL"),
        postgresql_where=sa.text("refund_id IS NULL"),
    )
    _append_only_again("merchant_entries", "merchant entries")

    with op.batch_alter_table("sale_days", schema=None) as batch:
        batch.add_column(
            sa.Column("refunded_cents", sa.Integer(), server_default="0", nullable=False)
        )
    # Orders refunded before partial refunds gave back everything they were paid.
    op.execute(
        "UPDATE sale_days SET refunded_cents = COALESCE((SELECT SUM(o.total_cents) "
        "FROM orders o WHERE o.status = 'refunded' AND o.paid_at IS NOT NULL "
        f"AND {_china_day('o.paid_at')} = sale_days.day "
        "AND COALESCE(o.sharer_id, 0) = sale_days.sharer_id), 0)"
    )


def _china_day(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f"CAST({column} + INTERVAL '8 hours' AS DATE)"
    return f"date({column}, '+8 hours')"


def _append_only_again(table: str, words: str):
    """SQLite's batch mode rebuilt the table, and its triggers went with the old one: make
    them again (PostgreSQL altered the table in place and kept its trigger)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER {table}_no_{action.lower()} BEFORE {action} "
            f"ON {table} BEGIN SELECT RAISE(ABORT, '{words} are append-only'); END"
        )


def _without_append_only(table: str, statement: str):
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        op.execute(statement)
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
    else:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        op.execute(statement)


def downgrade():
    with op.batch_alter_table("sale_days", schema=None) as batch:
        batch.drop_column("refunded_cents")
    # Partial reversals cannot be kept without the refunds they belong to: a downgrade loses
    # them (the append-only triggers are set aside for that one statement).
    _without_append_only(
        "merchant_entries", "DELETE FROM merchant_entries WHERE refund_id IS NOT NULL"
    )
    op.drop_index("uq_merchant_entries_order_kind", table_name="merchant_entries")
    with op.batch_alter_table("merchant_entries", schema=None) as batch:
        batch.drop_constraint(batch.f("ck_merchant_entries_refund_reverses"), type_="check")
        batch.drop_constraint(batch.f("uq_merchant_entries_refund_id_kind"), type_="unique")
        batch.create_unique_constraint(
            batch.f("uq_merchant_entries_order_id_kind"), ["order_id", "kind"]
        )
        batch.drop_constraint(
            batch.f("fk_merchant_entries_refund_id_refund_requests"), type_="foreignkey"
        )
        batch.drop_column("refund_id")
    _append_only_again("merchant_entries", "merchant entries")
    _without_append_only("ledger_entries", "DELETE FROM ledger_entries WHERE refund_id IS NOT NULL")
    op.drop_index("uq_ledger_entries_refund_item_kind_tier", table_name="ledger_entries")
    op.drop_index("uq_ledger_entries_item_kind_tier", table_name="ledger_entries")
    with op.batch_alter_table("ledger_entries", schema=None) as batch:
        batch.drop_constraint(batch.f("ck_ledger_entries_refund_reverses"), type_="check")
        batch.create_unique_constraint(
            batch.f("uq_ledger_entries_order_item_id_kind_tier"), ["order_item_id", "kind", "tier"]
        )
        batch.drop_constraint(
            batch.f("fk_ledger_entries_refund_id_refund_requests"), type_="foreignkey"
        )
        batch.drop_column("refund_id")
    _append_only_again("ledger_entries", "ledger entries")
    op.drop_table("refund_caps")
    op.drop_index(op.f("ix_refund_lines_order_item_id"), table_name="refund_lines")
    op.drop_index(op.f("ix_refund_lines_refund_id"), table_name="refund_lines")
    op.drop_table("refund_lines")
    op.drop_index("uq_refund_requests_one_open", table_name="refund_requests")
    op.drop_index(op.f("ix_refund_requests_order_id"), table_name="refund_requests")
    op.drop_table("refund_requests")
