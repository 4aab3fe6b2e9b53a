"""profit-sharing returns (分账回退) before gateway refunds of shared orders

Revision ID: e5a1c7d9b3f2
Revises: 4d2c9e7b1a08
Create Date: 2026-12-06 11:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "e5a1c7d9b3f2"
down_revision = "4d2c9e7b1a08"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "profit_returns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("refund_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("out_return_no", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("sub_mchid", sa.String(32), nullable=False),
        sa.Column("out_order_no", sa.String(64), nullable=False),
        sa.Column("amount_cents", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(80), nullable=False),
        sa.Column("gateway_return_id", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("amount_cents > 0", name=op.f("ck_profit_returns_return_positive")),
        sa.ForeignKeyConstraint(
            ["refund_id"], ["gateway_refunds.id"],
            name=op.f("fk_profit_returns_refund_id_gateway_refunds"), ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_profit_returns_order_id_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profit_returns")),
        sa.UniqueConstraint("refund_id", name=op.f("uq_profit_returns_refund_id")),
        sa.UniqueConstraint("out_return_no", name=op.f("uq_profit_returns_out_return_no")),
    )  # fmt: skip
    with op.batch_alter_table("profit_returns") as batch:
        batch.create_index(batch.f("ix_profit_returns_order_id"), ["order_id"], unique=False)
        batch.create_index(batch.f("ix_profit_returns_state"), ["state"], unique=False)


def downgrade():
    with op.batch_alter_table("profit_returns") as batch:
        batch.drop_index(batch.f("ix_profit_returns_state"))
        batch.drop_index(batch.f("ix_profit_returns_order_id"))
    op.drop_table("profit_returns")
