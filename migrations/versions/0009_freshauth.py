"""sessions remember when the user last proved who they are; one-time passwords expire

Revision ID: 0009
Revises: 0012
Create Date: 2026-11-29 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_session") as batch:
        batch.add_column(sa.Column("authenticated_at", sa.DateTime(timezone=True), nullable=True))
    # Sessions open before this change were authenticated when they began.
    op.execute("UPDATE user_session SET authenticated_at = created_at")
    with op.batch_alter_table("user_session") as batch:
        batch.alter_column("authenticated_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    with op.batch_alter_table("user") as batch:
        batch.add_column(sa.Column("password_expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35+): copying the user table would break the foreign keys of the
    # rows that point at it.
    with op.batch_alter_table("user", recreate="never") as batch:
        batch.drop_column("password_expires_at")
    with op.batch_alter_table("user_session", recreate="never") as batch:
        batch.drop_column("authenticated_at")
