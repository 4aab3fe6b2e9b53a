"""WeChat Pay partner mode and profit sharing: each merchant's sub-merchant number, and each
order's profit sharing (分账) to the platform after settlement

Revision ID: b7e1d2c3a4f5
Revises: 8e4b2f6a1c37
Create Date: 2026-12-06 08:20:00

"""

import sqlalchemy as sa
from alembic import op

revision = "b7e1d2c3a4f5"
down_revision = "8e4b2f6a1c37"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(
            sa.Column("wechatpay_sub_mchid", sa.String(32), nullable=False, server_default="")
        )
    op.create_table(
        "profit_shares",
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("out_order_no", sa.String(64), nullable=False),
        sa.Column("sub_mchid", sa.String(32), nullable=False),
        sa.Column("transaction_id", sa.String(64), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(80), nullable=False),
        sa.Column("gateway_order_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount_cents >= 0", name=op.f("ck_profit_shares_share_not_negative")),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_profit_shares_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("order_id", name=op.f("pk_profit_shares")),
        sa.UniqueConstraint("out_order_no", name=op.f("uq_profit_shares_out_order_no")),
    )  # fmt: skip
    with op.batch_alter_table("profit_shares") as batch:
        batch.create_index(batch.f("ix_profit_shares_state"), ["state"], unique=False)


def downgrade():
    with op.batch_alter_table("profit_shares") as batch:
        batch.drop_index(batch.f("ix_profit_shares_state"))
    op.drop_table("profit_shares")
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("wechatpay_sub_mchid")
