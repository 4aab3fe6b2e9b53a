"""appeals; ledger adjustments for upheld appeals; refunds in the order days

A sharer's questions about orders (``appeals``) and the ADJUSTMENT entry an upheld appeal
posts (``ledger_entries.appeal_id``, unique per appeal and kind; an entry now comes from
exactly one of an order item, a payout or an appeal). The order days count the paid orders
refunded since and their reversed rebate, so the funnel can show refunds and an estimate
that leaves them out; filled here from the ledger, kept by ``shop.money.sales`` after.

Revision ID: 5b1e7a9c3d20
Revises: 7a1c5e90d2b4
Create Date: 2026-12-06 04:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = "5b1e7a9c3d20"
down_revision = "7a1c5e90d2b4"
branch_labels = None
depends_on = None

OLD_KINDS = ("estimated", "settled", "voided", "clawback", "payout", "payout_returned")
NEW_KINDS = (*OLD_KINDS, "adjustment")
ONE_SOURCE = (
    "(CASE WHEN order_item_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN payout_id IS NULL THEN 0 ELSE 1 END)"
    " + (CASE WHEN appeal_id IS NULL THEN 0 ELSE 1 END) = 1"
)


def _kinds(kinds):
    return sa.Enum(*kinds, name="entrykind", native_enum=False, create_constraint=True, length=20)


def upgrade():
    op.create_table(
        "appeals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sharer_id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.Column("click_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("typed_number", sa.String(length=32), nullable=False),
        sa.Column("answer", sa.String(length=24), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "answered",
                "submitted",
                "upheld",
                "rejected",
                name="appealstatus",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("submitted_at", sa.DateTime(), nullable=True),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("decision_reason", sa.String(length=200), nullable=False),
        sa.Column("adjustment_cents", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "adjustment_cents >= 0", name=op.f("ck_appeals_adjustment_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["click_id"],
            ["clicks.id"],
            name=op.f("fk_appeals_click_id_clicks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["users.id"], name=op.f("fk_appeals_decided_by_id_users")
        ),
        sa.ForeignKeyConstraint(
            ["order_id"], ["orders.id"], name=op.f("fk_appeals_order_id_orders")
        ),
        sa.ForeignKeyConstraint(
            ["sharer_id"], ["users.id"], name=op.f("fk_appeals_sharer_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appeals")),
    )
    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appeals_order_id"), ["order_id"], unique=False)
        batch_op.create_index(
            "ix_appeals_sharer_created", ["sharer_id", "created_at"], unique=False
        )
        batch_op.create_index(
            "ix_appeals_status_submitted", ["status", "submitted_at"], unique=False
        )

    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("appeal_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_ledger_entries_appeal_id_appeals"), "appeals", ["appeal_id"], ["id"]
        )
        batch_op.create_unique_constraint(
            batch_op.f("uq_ledger_entries_appeal_id_kind"), ["appeal_id", "kind"]
        )
        batch_op.drop_constraint(batch_op.f("ck_ledger_entries_one_source"), type_="check")
        batch_op.create_check_constraint(batch_op.f("ck_ledger_entries_one_source"), ONE_SOURCE)
        batch_op.alter_column("kind", existing_type=_kinds(OLD_KINDS), type_=_kinds(NEW_KINDS))
    _append_only_again()

    with op.batch_alter_table("order_days", schema=None) as batch_op:
        batch_op.add_column(sa.Column("refunded", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(
            sa.Column("refunded_cents", sa.Integer(), server_default="0", nullable=False)
        )
    _backfill()


def _backfill():
    """Each order day's refunded orders and reversed rebate, from the ledger (plain SQL, so
    later changes to the app's code cannot change it)."""
    if op.get_bind().dialect.name == "postgresql":
        day = "CAST(o.placed_at + INTERVAL '8 hours' AS DATE)"
    else:
        day = "date(o.placed_at, '+8 hours')"
    reversed_ = f"""SELECT {day} AS day, o.link_id AS link_id, COUNT(*) AS n, SUM(r.cents) AS cents
        FROM orders o JOIN (
            SELECT e.order_id, SUM(e.amount_cents) AS cents FROM ledger_entries e
            JOIN orders x ON x.id = e.order_id
            WHERE e.tier = 1 AND e.sharer_id = x.sharer_id AND e.kind IN ('voided', 'clawback')
            GROUP BY e.order_id) r ON r.order_id = o.id
        WHERE o.link_id IS NOT NULL AND o.sharer_id IS NOT NULL
          AND o.attribution_reason IN ('attributed', 'self_purchase')
        GROUP BY {day}, o.link_id"""
    op.execute(
        f"""UPDATE order_days SET
              refunded = COALESCE((SELECT t.n FROM ({reversed_}) t
                  WHERE t.day = order_days.day AND t.link_id = order_days.link_id), 0),
              refunded_cents = COALESCE((SELECT t.cents FROM ({reversed_}) t
                  WHERE t.day = order_days.day AND t.link_id = order_days.link_id), 0)"""
    )


def _append_only_again():
    """SQLite's batch mode rebuilt ledger_entries, and its triggers went with the old table:
    make them again (PostgreSQL altered the table in place and kept its trigger)."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS ledger_entries_no_{action.lower()}")
        op.execute(
            f"CREATE TRIGGER ledger_entries_no_{action.lower()} BEFORE {action} "
            "ON ledger_entries BEGIN "
            "SELECT RAISE(ABORT, 'ledger entries are append-only'); END"
        )


def downgrade():
    with op.batch_alter_table("order_days", schema=None) as batch_op:
        batch_op.drop_column("refunded_cents")
        batch_op.drop_column("refunded")

    # Adjustment entries cannot be kept without their kind (and the ledger refuses deletes
    # through its trigger, dropped for the moment): a downgrade loses them.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only")
        op.execute("DELETE FROM ledger_entries WHERE appeal_id IS NOT NULL")
        op.execute("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS ledger_entries_no_delete")
        op.execute("DELETE FROM ledger_entries WHERE appeal_id IS NOT NULL")
    with op.batch_alter_table("ledger_entries", schema=None) as batch_op:
        batch_op.alter_column("kind", existing_type=_kinds(NEW_KINDS), type_=_kinds(OLD_KINDS))
        batch_op.drop_constraint(batch_op.f("ck_ledger_entries_one_source"), type_="check")
        batch_op.create_check_constraint(
            batch_op.f("ck_ledger_entries_one_source"),
            "(order_item_id IS NULL) <> (payout_id IS NULL)",
        )
        batch_op.drop_constraint(batch_op.f("uq_ledger_entries_appeal_id_kind"), type_="unique")
        batch_op.drop_constraint(
            batch_op.f("fk_ledger_entries_appeal_id_appeals"), type_="foreignkey"
        )
        batch_op.drop_column("appeal_id")
    _append_only_again()

    with op.batch_alter_table("appeals", schema=None) as batch_op:
        batch_op.drop_index("ix_appeals_status_submitted")
        batch_op.drop_index("ix_appeals_sharer_created")
        batch_op.drop_index(batch_op.f("ix_appeals_order_id"))
    op.drop_table("appeals")
