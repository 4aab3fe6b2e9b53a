"""specs and SKUs: spec dimensions per product, one SKU per combination; order items name it

Every existing product becomes a one-SKU product with its price and stock (its rebate rate
stays the product's: the SKU's rate is NULL, "as the product"). Order items get the SKU and
its spec text, filled from their product's SKU. Downgrade folds the SKUs back: a product keeps
the stock of its active SKUs added up and their lowest price.

Revision ID: 5d1e0c2b7a90
Revises: 7212b6f476a8
Create Date: 2026-12-06 04:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = "5d1e0c2b7a90"
down_revision = "7212b6f476a8"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "product_specs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=20), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.CheckConstraint("position IN (0, 1)", name=op.f("ck_product_specs_position_range")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_product_specs_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_specs")),
        sa.UniqueConstraint(
            "product_id", "position", name=op.f("uq_product_specs_product_id_position")
        ),
    )
    op.create_table(
        "skus",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("value1", sa.String(length=20), nullable=False),
        sa.Column("value2", sa.String(length=20), nullable=False),
        sa.Column("price_cents", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=False),
        sa.Column("rebate_bps", sa.Integer(), nullable=True),
        sa.Column("image_id", sa.Integer(), nullable=True),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.CheckConstraint("price_cents > 0", name=op.f("ck_skus_price_positive")),
        sa.CheckConstraint("stock >= 0", name=op.f("ck_skus_stock_not_negative")),
        sa.CheckConstraint(
            "rebate_bps IS NULL OR (rebate_bps >= 0 AND rebate_bps <= 10000)",
            name=op.f("ck_skus_rebate_bps_range"),
        ),
        sa.ForeignKeyConstraint(["image_id"], ["images.id"], name=op.f("fk_skus_image_id_images")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_skus_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_skus")),
        sa.UniqueConstraint(
            "product_id", "value1", "value2", name=op.f("uq_skus_product_id_value1_value2")
        ),
    )
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_skus_product_id"), ["product_id"], unique=False)
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("has_price_range", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sku_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("spec_text", sa.String(length=80), server_default="", nullable=False)
        )
        batch_op.create_index(batch_op.f("ix_order_items_sku_id"), ["sku_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_order_items_sku_id_skus"), "skus", ["sku_id"], ["id"], ondelete="SET NULL"
        )
    # One SKU per existing product, with its price and stock; the rate stays the product's.
    op.execute(
        "INSERT INTO skus (product_id, value1, value2, price_cents, stock, rebate_bps, "
        "image_id, is_active, position) "
        "SELECT id, '', '', price_cents, stock, NULL, NULL, "
        f"{sa.true().compile(dialect=op.get_bind().dialect)}, 0 FROM products"
    )
    op.execute(
        "UPDATE order_items SET sku_id = "
        "(SELECT skus.id FROM skus WHERE skus.product_id = order_items.product_id)"
    )


def downgrade():
    # Fold the SKUs back into their products: the active ones' stock added up, lowest price.
    op.execute(
        "UPDATE products SET "
        "stock = COALESCE((SELECT SUM(skus.stock) FROM skus WHERE skus.product_id = products.id "
        f"AND skus.is_active = {sa.true().compile(dialect=op.get_bind().dialect)}), stock), "
        "price_cents = COALESCE((SELECT MIN(skus.price_cents) FROM skus "
        "WHERE skus.product_id = products.id "
        f"AND skus.is_active = {sa.true().compile(dialect=op.get_bind().dialect)}), price_cents)"
    )
    with op.batch_alter_table("order_items", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_order_items_sku_id_skus"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_order_items_sku_id"))
        batch_op.drop_column("spec_text")
        batch_op.drop_column("sku_id")
    with op.batch_alter_table("products", schema=None) as batch_op:
        batch_op.drop_column("has_price_range")
    with op.batch_alter_table("skus", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_skus_product_id"))
    op.drop_table("skus")
    op.drop_table("product_specs")
