"""a person can refuse computer-ranked suggestions (PIPL Art. 24)

Revision ID: 0013
Revises: 0011
Create Date: 2026-11-29 01:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(
            sa.Column("refuses_ranked_suggestions", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("person", recreate="never") as batch:
        batch.drop_column("refuses_ranked_suggestions")
