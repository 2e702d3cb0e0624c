"""offers keep their version with the same counter as case records

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 10:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("offer") as batch:
        batch.alter_column("version", existing_type=sa.Integer(), existing_nullable=False, server_default="1")


def downgrade() -> None:
    with op.batch_alter_table("offer") as batch:
        batch.alter_column("version", existing_type=sa.Integer(), existing_nullable=False, server_default=None)
