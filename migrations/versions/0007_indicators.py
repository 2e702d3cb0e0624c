"""job checks record whether the person is still employed

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("followup") as batch:
        batch.add_column(
            sa.Column("outcome", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("followup") as batch:
        batch.drop_column("outcome")
