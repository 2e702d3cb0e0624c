"""version counters on case records; idempotency keys for create forms

Revision ID: 0008
Revises: 0010
Create Date: 2026-11-29 00:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0008"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VERSIONED = ("person", "need", "referral", "consent")


def upgrade() -> None:
    for table in VERSIONED:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="1"))
    op.create_table(
        "idempotency_key",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("key", sa.Uuid(), nullable=False),
        sa.Column("record_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("actor_id", "key", name="idempotency_key_once_per_actor"),
    )
    with op.batch_alter_table("idempotency_key") as batch:
        batch.create_index(batch.f("ix_idempotency_key_actor_id"), ["actor_id"], unique=False)
        batch.create_index(batch.f("ix_idempotency_key_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("idempotency_key") as batch:
        batch.drop_index(batch.f("ix_idempotency_key_created_at"))
        batch.drop_index(batch.f("ix_idempotency_key_actor_id"))
    op.drop_table("idempotency_key")
    for table in reversed(VERSIONED):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("version")
