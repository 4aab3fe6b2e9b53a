"""sharer tools: materials (pictures and copy per product), sharers' copy variants, a poster
template per share link, and the WeChat-friend channel

Revision ID: 7a1c5e90d2b4
Revises: 7c1d2e3f4a5b
Create Date: 2026-12-06 04:50:00

"""

import sqlalchemy as sa
from alembic import op

revision = "7a1c5e90d2b4"
down_revision = "7c1d2e3f4a5b"
branch_labels = None
depends_on = None

OLD_CHANNELS = ("wechat_group", "moments", "poster", "custom")
NEW_CHANNELS = ("wechat_friend", *OLD_CHANNELS)


def _channel_check(values) -> str:
    return "channel IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade():
    op.create_table(
        "material_images",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("image_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["image_id"], ["images.id"], name=op.f("fk_material_images_image_id_images")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_material_images_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_material_images")),
        sa.UniqueConstraint(
            "product_id", "image_id", name=op.f("uq_material_images_product_id_image_id")
        ),
    )
    op.create_table(
        "material_texts",
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_material_texts_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_material_texts")),
    )
    op.create_table(
        "copy_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sharer_id", sa.Integer(), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("length(body) > 0", name=op.f("ck_copy_variants_not_empty")),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["products.id"],
            name=op.f("fk_copy_variants_product_id_products"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["sharer_id"],
            ["users.id"],
            name=op.f("fk_copy_variants_sharer_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_variants")),
    )
    op.create_index("ix_copy_variants_sharer_product", "copy_variants", ["sharer_id", "product_id"])
    with op.batch_alter_table("share_links", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "poster_template",
                sa.Enum(
                    "product",
                    "price",
                    "review",
                    name="postertemplate",
                    native_enum=False,
                    create_constraint=True,
                    length=20,
                ),
                server_default="product",
                nullable=False,
            )
        )
        batch_op.drop_constraint(batch_op.f("ck_share_links_channel"), type_="check")
        batch_op.create_check_constraint("channel", _channel_check(NEW_CHANNELS))


def downgrade():
    op.execute(
        "UPDATE share_links SET channel = 'custom', label = '微信好友' "
        "WHERE channel = 'wechat_friend'"
    )
    with op.batch_alter_table("share_links", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_share_links_channel"), type_="check")
        batch_op.create_check_constraint("channel", _channel_check(OLD_CHANNELS))
        batch_op.drop_constraint(batch_op.f("ck_share_links_postertemplate"), type_="check")
        batch_op.drop_column("poster_template")
    op.drop_index("ix_copy_variants_sharer_product", table_name="copy_variants")
    op.drop_table("copy_variants")
    op.drop_table("material_texts")
    op.drop_table("material_images")
