"""sharer visitors: the last click on an earlier day; sale days by day and refunds

Each visitor row keeps the last counted click on a China day before its last click's day, so
the stats page can count a period's visitors as those of the days before today (which no
longer change) plus those new today. Filled from the raw clicks here; the click writer keeps
it from then on. The admin overview counts refunds from an index of sale days alone.

Revision ID: 689f6ecba346
Revises: bae2ea755762
Create Date: 2026-11-25 01:17:18.136663

"""

import sqlalchemy as sa
from alembic import op

revision = "689f6ecba346"
down_revision = "bae2ea755762"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sharer_visitors", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prior_seen_at", sa.DateTime(), nullable=True))
        batch_op.drop_index("ix_sharer_visitors_last_seen")
        batch_op.create_index(
            "ix_sharer_visitors_last_seen",
            ["sharer_id", "last_seen_at", "prior_seen_at"],
            unique=False,
        )
    with op.batch_alter_table("sale_days", schema=None) as batch_op:
        batch_op.create_index("ix_sale_days_day_refunded", ["day", "refunded"], unique=False)
    if op.get_bind().dialect.name == "sqlite":

        def day(column):
            return f"date({column}, '+8 hours')"
    else:

        def day(column):
            return f"CAST({column} + INTERVAL '8 hours' AS DATE)"

    op.execute(
        f"""
        UPDATE sharer_visitors SET prior_seen_at = found.prior
        FROM (
            SELECT sharer_id, visitor_id,
                   MAX(CASE WHEN {day("at")} < {day("last")} THEN at END) AS prior
            FROM (
                SELECT l.sharer_id, c.visitor_id, c.clicked_at AS at,
                       MAX(c.clicked_at) OVER (PARTITION BY l.sharer_id, c.visitor_id) AS last
                FROM clicks c JOIN share_links l ON l.id = c.link_id
                WHERE c.uncounted_reason IS NULL
            ) counted
            GROUP BY sharer_id, visitor_id
        ) found
        WHERE sharer_visitors.sharer_id = found.sharer_id
          AND sharer_visitors.visitor_id = found.visitor_id
          AND found.prior IS NOT NULL
        """
    )


def downgrade():
    with op.batch_alter_table("sale_days", schema=None) as batch_op:
        batch_op.drop_index("ix_sale_days_day_refunded")
    with op.batch_alter_table("sharer_visitors", schema=None) as batch_op:
        batch_op.drop_index("ix_sharer_visitors_last_seen")
        batch_op.create_index(
            "ix_sharer_visitors_last_seen", ["sharer_id", "last_seen_at"], unique=False
        )
        batch_op.drop_column("prior_seen_at")
