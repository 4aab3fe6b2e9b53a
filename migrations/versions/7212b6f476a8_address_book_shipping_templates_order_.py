"""address book, shipping templates, order goods / shipping / note

Addresses get region codes (GB/T 2260, from the picker), a default and a legacy mark: those
saved before the picker keep their free-text region as it is, are marked legacy (the buyer
picks the region again before shipping to them), and each buyer's newest becomes the default
(the one checkout preselected until now). Merchants get shipping templates; products a weight
and a template. Orders get the goods total apart from the shipping fee (existing orders: goods
= total, shipping 0), the buyer's note and the address's region code.

Revision ID: 7212b6f476a8
Revises: 6c5a08dcf223
Create Date: 2026-12-06 04:35:03.162699

"""

import sqlalchemy as sa
from alembic import op

revision = "7212b6f476a8"
down_revision = "6c5a08dcf223"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "shipping_templates",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("merchant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "free",
                "flat",
                "free_over",
                "regional",
                name="shippingkind",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "basis",
            sa.Enum(
                "piece",
                "weight",
                name="shippingbasis",
                native_enum=False,
                create_constraint=True,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("first_fee_cents", sa.Integer(), nullable=False),
        sa.Column("extra_fee_cents", sa.Integer(), nullable=False),
        sa.Column("free_over_cents", sa.Integer(), nullable=False),
        sa.Column("region_fees", sa.JSON(), nullable=False),
        sa.Column("unreachable", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "first_fee_cents >= 0 AND extra_fee_cents >= 0 AND free_over_cents >= 0",
            name=op.f("ck_shipping_templates_fees_not_negative"),
        ),
        sa.ForeignKeyConstraint(
            ["merchant_id"],
            ["merchants.id"],
            name=op.f("fk_shipping_templates_merchant_id_merchants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipping_templates")),
    )
    with op.batch_alter_table("shipping_templates", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_shipping_templates_merchant_id"), ["merchant_id"], unique=False
        )

    with op.batch_alter_table("addresses", schema=None) as batch_op:
        for name in ("province_code", "city_code", "district_code"):
            batch_op.add_column(
                sa.Column(name, sa.String(length=6), server_default="", nullable=False)
            )
        batch_op.add_column(
            sa.Column("is_default", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(
            sa.Column("is_legacy", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.execute("UPDATE addresses SET is_legacy = TRUE")
    op.execute(
        """
        UPDATE addresses SET is_default = TRUE
        WHERE id IN (SELECT MAX(id) FROM addresses GROUP BY user_id)
        """
    )
    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.create_index(
            "uq_addresses_one_default",
            ["user_id"],
            unique=True,
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("goods_cents", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("shipping_cents", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(
            sa.Column("buyer_note", sa.String(length=200), server_default="", nullable=False)
        )
        batch_op.add_column(
            sa.Column("ship_region_code", sa.String(length=6), server_default="", nullable=False)
        )
        batch_op.create_check_constraint("shipping_not_negative", "shipping_cents >= 0")
    # Every order so far was goods only.
    op.execute("UPDATE orders SET goods_cents = total_cents, shipping_cents = 0")

    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("weight_grams", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("shipping_template_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_products_shipping_template_id_shipping_templates"),
            "shipping_templates",
            ["shipping_template_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade():
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_products_shipping_template_id_shipping_templates"), type_="foreignkey"
        )
        batch_op.drop_column("shipping_template_id")
        batch_op.drop_column("weight_grams")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("shipping_not_negative", type_="check")
        batch_op.drop_column("ship_region_code")
        batch_op.drop_column("buyer_note")
        batch_op.drop_column("shipping_cents")
        batch_op.drop_column("goods_cents")

    with op.batch_alter_table("addresses", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_addresses_one_default",
            sqlite_where=sa.text("is_default"),
            postgresql_where=sa.text("is_default"),
        )
        batch_op.drop_column("is_legacy")
        batch_op.drop_column("is_default")
        batch_op.drop_column("district_code")
        batch_op.drop_column("city_code")
        batch_op.drop_column("province_code")

    with op.batch_alter_table("shipping_templates", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_shipping_templates_merchant_id"))

    op.drop_table("shipping_templates")
