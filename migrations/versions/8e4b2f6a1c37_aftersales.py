"""after-sales: refund types (仅退款, 退货退款), the buyer's return parcel, when a refund was asked and
escalated to admins; the merchant's return address

Revision ID: 8e4b2f6a1c37
Revises: 8e4b2f6a1c57
Create Date: 2026-12-06 06:10:00

"""

import sqlalchemy as sa
from alembic import op

revision = "8e4b2f6a1c37"
down_revision = "8e4b2f6a1c57"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("orders") as batch:
        batch.add_column(sa.Column("refund_kind", sa.String(20), nullable=False, server_default=""))
        batch.add_column(sa.Column("refund_requested_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("refund_escalated_at", sa.DateTime(), nullable=True))
        batch.add_column(
            sa.Column("return_carrier", sa.String(40), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column("return_tracking", sa.String(40), nullable=False, server_default="")
        )
        batch.create_index(
            "ix_orders_status_refund_requested_at", ["status", "refund_requested_at"]
        )
    with op.batch_alter_table("merchants") as batch:
        batch.add_column(
            sa.Column("return_address", sa.String(200), nullable=False, server_default="")
        )


def downgrade():
    with op.batch_alter_table("merchants") as batch:
        batch.drop_column("return_address")
    with op.batch_alter_table("orders") as batch:
        batch.drop_index("ix_orders_status_refund_requested_at")
        batch.drop_column("return_tracking")
        batch.drop_column("return_carrier")
        batch.drop_column("refund_escalated_at")
        batch.drop_column("refund_requested_at")
        batch.drop_column("refund_kind")
