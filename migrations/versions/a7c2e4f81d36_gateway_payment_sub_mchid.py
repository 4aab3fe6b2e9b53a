"""the WeChat Pay sub-merchant (sub_mchid) a payment was made under, recorded when it is
created, so refunds, queries, closing, profit sharing and reconciliation of the order name it
even after an admin changed the merchant's number; rows made before are filled from the
merchant's number now (the best there is)

Revision ID: a7c2e4f81d36
Revises: 9b3f6d2a7c15
Create Date: 2026-12-06 14:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = "a7c2e4f81d36"
down_revision = "9b3f6d2a7c15"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("gateway_payments", schema=None) as batch:
        batch.add_column(sa.Column("sub_mchid", sa.String(32), server_default="", nullable=False))
    op.execute(
        "UPDATE gateway_payments SET sub_mchid = COALESCE(("
        " SELECT merchants.wechatpay_sub_mchid FROM orders"
        " JOIN merchants ON merchants.id = orders.merchant_id"
        " WHERE orders.id = gateway_payments.order_id), '')"
        " WHERE provider = 'wechatpay'"
    )


def downgrade():
    with op.batch_alter_table("gateway_payments", schema=None) as batch:
        batch.drop_column("sub_mchid")
