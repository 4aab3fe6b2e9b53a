"""gateway payments, refunds and reconciliation: orders paid through WeChat Pay or Alipay,
money sent back, differences with the gateways' daily bills

Revision ID: c3a9f0d1e2b4
Revises: c7402e392354
Create Date: 2026-12-06 04:45:00

"""

import sqlalchemy as sa
from alembic import op

revision = "c3a9f0d1e2b4"
down_revision = "c7402e392354"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "gateway_payments",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=False),
        sa.Column("settled_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["orders.id"],
            name=op.f("fk_gateway_payments_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_gateway_payments")),
    )
    with op.batch_alter_table("gateway_payments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_gateway_payments_settled_at"), ["settled_at"], unique=False
        )
    op.create_table(
        "gateway_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("refund_number", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=80), nullable=False),
        sa.Column("next_try_at", sa.DateTime(), nullable=False),
        sa.Column("gateway_refund_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_gateway_refunds_refund_positive")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_gateway_refunds_order_id_orders")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gateway_refunds")),
        sa.UniqueConstraint("refund_number", name=op.f("uq_gateway_refunds_refund_number")),
    )
    with op.batch_alter_table("gateway_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gateway_refunds_order_id"), ["order_id"], unique=False)
        batch_op.create_index("ix_gateway_refunds_due", ["state", "next_try_at"], unique=False)

    op.create_table(
        "reconciliation_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("subject", sa.String(length=10), nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("order_number", sa.String(length=24), nullable=False),
        sa.Column("ours_cents", sa.Integer(), nullable=True),
        sa.Column("theirs_cents", sa.Integer(), nullable=True),
        sa.Column("found_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_reconciliation_items_resolved_by_id_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_items")),
        sa.UniqueConstraint(
            "provider",
            "day",
            "subject",
            "reference",
            "kind",
            name=op.f("uq_reconciliation_items_provider_day_subject_reference_kind"),
        ),
    )
    with op.batch_alter_table("reconciliation_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_reconciliation_items_resolved_at"), ["resolved_at"], unique=False
        )


def downgrade():
    op.drop_table("reconciliation_items")
    op.drop_table("gateway_refunds")
    op.drop_table("gateway_payments")
