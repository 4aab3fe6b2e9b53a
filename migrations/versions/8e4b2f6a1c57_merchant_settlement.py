"""merchant settlement: fee rates, each paid order's split, the merchant ledger, withdrawals

Merchants and categories get a platform fee rate (basis points, NULL: not set). Orders paid
before this migration have no split and no merchant entries: the invariant checker only
holds orders with a split to the identity (and every order paid from now on gets one).

Revision ID: 8e4b2f6a1c57
Revises: 8c94dc8c7aa7
Create Date: 2026-12-06 06:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "8e4b2f6a1c57"
down_revision = "8c94dc8c7aa7"
branch_labels = None
depends_on = None

KINDS = (
    "estimated",
    "settled",
    "voided",
    "clawback",
    "withdrawal",
    "withdrawal_returned",
)


def upgrade():
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_bps", sa.Integer(), nullable=True))
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fee_bps", sa.Integer(), nullable=True))
    op.create_table(
        "order_splits",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("paid_cents", sa.Integer(), nullable=False),
        sa.Column("shipping_cents", sa.Integer(), nullable=False),
        sa.Column("rebate_cents", sa.Integer(), nullable=False),
        sa.Column("override_cents", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("merchant_cents", sa.Integer(), nullable=False),
        sa.Column("platform_cents", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "paid_cents = merchant_cents + rebate_cents + override_cents + platform_cents",
            name=op.f("ck_order_splits_split_adds_up"),
        ),
        sa.CheckConstraint(
            "merchant_cents >= 0 AND fee_cents >= 0",
            name=op.f("ck_order_splits_parts_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_order_splits_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"], ["merchants.id"], name=op.f("fk_order_splits_merchant_id_merchants")
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_order_splits")),
    )
    with op.batch_alter_table("order_splits", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_order_splits_merchant_id"), ["merchant_id"])
    op.create_table(
        "merchant_withdrawals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("idempotency_key", sa.String(length=40), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=120), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "requested",
                "paid",
                "rejected",
                name="withdrawalstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "amount_cents > 0", name=op.f("ck_merchant_withdrawals_amount_positive")
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_withdrawals_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"],
            ["users.id"],
            name=op.f("fk_merchant_withdrawals_decided_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_withdrawals")),
        sa.UniqueConstraint(
            "idempotency_key", name=op.f("uq_merchant_withdrawals_idempotency_key")
        ),
    )
    with op.batch_alter_table("merchant_withdrawals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merchant_withdrawals_merchant_id"), ["merchant_id"])
        batch_op.create_index(
            "uq_merchant_withdrawals_one_open",
            ["merchant_id"],
            unique=True,
            sqlite_where=sa.text("status = 'requested'"),
            postgresql_where=sa.text("status = 'requested'"),
        )
    op.create_table(
        "merchant_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                *KINDS,
                name="merchantentrykind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("fee_cents", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("withdrawal_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "amount_cents >= 0 AND fee_cents >= 0",
            name=op.f("ck_merchant_entries_amounts_not_negative"),
        ),
        sa.CheckConstraint(
            "(CASE WHEN order_id IS NULL THEN 0 ELSE 1 END)"
            " + (CASE WHEN withdrawal_id IS NULL THEN 0 ELSE 1 END) = 1",
            name=op.f("ck_merchant_entries_one_source"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_merchant_entries_merchant_id_merchants"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_merchant_entries_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["withdrawal_id"],
            ["merchant_withdrawals.id"],
            name=op.f("fk_merchant_entries_withdrawal_id_merchant_withdrawals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_merchant_entries")),
        sa.UniqueConstraint("order_id", "kind", name=op.f("uq_merchant_entries_order_id_kind")),
        sa.UniqueConstraint(
            "withdrawal_id", "kind", name=op.f("uq_merchant_entries_withdrawal_id_kind")
        ),
    )
    with op.batch_alter_table("merchant_entries", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_merchant_entries_order_id"), ["order_id"])
        batch_op.create_index("ix_merchant_entries_merchant_created", ["merchant_id", "created_at"])
    if op.get_bind().dialect.name == "sqlite":
        for action in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER merchant_entries_no_{action.lower()} BEFORE {action} "
                "ON merchant_entries BEGIN "
                "SELECT RAISE(ABORT, 'merchant entries are append-only'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION merchant_entries_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'merchant entries are append-only'; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER merchant_entries_append_only BEFORE UPDATE OR DELETE "
            "ON merchant_entries FOR EACH ROW EXECUTE FUNCTION merchant_entries_append_only()"
        )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TRIGGER IF EXISTS merchant_entries_no_update")
        op.execute("DROP TRIGGER IF EXISTS merchant_entries_no_delete")
    else:
        op.execute("DROP TRIGGER IF EXISTS merchant_entries_append_only ON merchant_entries")
        op.execute("DROP FUNCTION IF EXISTS merchant_entries_append_only()")
    op.drop_table("merchant_entries")
    op.drop_table("merchant_withdrawals")
    op.drop_table("order_splits")
    with op.batch_alter_table("categories", schema=None) as batch_op:
        batch_op.drop_column("fee_bps")
    with op.batch_alter_table("merchants", schema=None) as batch_op:
        batch_op.drop_column("fee_bps")
