"""partner reconciliation and partial refund escalation: the account (sub-merchant number) a
WeChat Pay partner bill says a payment or refund went through, on a reconciliation difference;
when an unanswered partial refund request was escalated to the admins

Revision ID: 9b3f6d2a7c15
Revises: e5a1c7d9b3f2
Create Date: 2026-12-06 11:30:00

"""

import sqlalchemy as sa
from alembic import op

revision = "9b3f6d2a7c15"
down_revision = "e5a1c7d9b3f2"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("reconciliation_items", schema=None) as batch:
        batch.add_column(sa.Column("account", sa.String(32), server_default="", nullable=False))
    with op.batch_alter_table("refund_requests", schema=None) as batch:
        batch.add_column(sa.Column("escalated_at", sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table("refund_requests", schema=None) as batch:
        batch.drop_column("escalated_at")
    with op.batch_alter_table("reconciliation_items", schema=None) as batch:
        batch.drop_column("account")
