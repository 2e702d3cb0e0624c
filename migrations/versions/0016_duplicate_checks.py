"""duplicate checks are counted per user, to limit how often anyone may ask who is on the register

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "duplicate_check",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("duplicate_check", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_duplicate_check_user_id"), ["user_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_duplicate_check_at"), ["at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("duplicate_check", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_duplicate_check_at"))
        batch_op.drop_index(batch_op.f("ix_duplicate_check_user_id"))
    op.drop_table("duplicate_check")
