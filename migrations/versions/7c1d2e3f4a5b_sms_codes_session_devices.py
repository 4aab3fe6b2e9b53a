"""sms codes; session last seen, device and address hash; password optional

Sign-in by SMS code: the codes (hashed) and what the send limits count; accounts made by a
code have no password until one is set; the account page lists sessions by device.

Revision ID: 7c1d2e3f4a5b
Revises: c3a9f0d1e2b4
Create Date: 2026-12-06 04:40:00

"""

import sqlalchemy as sa
from alembic import op

revision = "7c1d2e3f4a5b"
down_revision = "c3a9f0d1e2b4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "sms_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone", sa.String(length=11), nullable=False),
        sa.Column("purpose", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("address_hash", sa.String(length=64), nullable=True),
        sa.Column("sent_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_sms_codes_attempts_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_codes")),
    )
    with op.batch_alter_table("sms_codes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sms_codes_phone_purpose_sent", ["phone", "purpose", "sent_at"], unique=False
        )
        batch_op.create_index("ix_sms_codes_phone_sent", ["phone", "sent_at"], unique=False)
        batch_op.create_index(
            "ix_sms_codes_address_sent", ["address_hash", "sent_at"], unique=False
        )
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seen_at", sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column("device", sa.String(length=60), nullable=True))
        batch_op.add_column(sa.Column("address_hash", sa.String(length=64), nullable=True))
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.String(length=255), nullable=True)


def downgrade():
    # An account without a password gets an unusable one (no Argon2 hash matches "!").
    op.execute("UPDATE users SET password_hash = '!' WHERE password_hash IS NULL")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.alter_column("password_hash", existing_type=sa.String(length=255), nullable=False)
    with op.batch_alter_table("user_sessions", schema=None) as batch_op:
        batch_op.drop_column("address_hash")
        batch_op.drop_column("device")
        batch_op.drop_column("last_seen_at")
    with op.batch_alter_table("sms_codes", schema=None) as batch_op:
        batch_op.drop_index("ix_sms_codes_address_sent")
        batch_op.drop_index("ix_sms_codes_phone_sent")
        batch_op.drop_index("ix_sms_codes_phone_purpose_sent")
    op.drop_table("sms_codes")
