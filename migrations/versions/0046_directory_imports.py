"""an admin's HSDS import from the page: its file, state, progress and report

The page (portal/hsds/views.py) checks and applies an import in a thread; the row carries how far
it has got, for whichever worker answers the page's polling, and the report for the confirmation.

Revision ID: 0046
Revises: 0045
Create Date: 2026-12-08 15:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0046"
down_revision: str | None = "0045"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "directory_import",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("file_path", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("phase", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["created_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("directory_import") as batch:
        batch.create_index(batch.f("ix_directory_import_created_at"), ["created_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("directory_import") as batch:
        batch.drop_index(batch.f("ix_directory_import_created_at"))
    op.drop_table("directory_import")
