"""a job's employer may say it gives no fair-chance statement

A job is now published only with a fair-chance statement, or with its employer's word that it gives
none (`fair_chance_none_given`, shown to caseworkers). Jobs already open keep their status; one with
neither is asked for it at its next edit or publication.

Revision ID: 0038
Revises: 0037
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0038"
down_revision: str | None = "0037"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("offer") as batch:
        batch.add_column(sa.Column("fair_chance_none_given", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("offer") as batch:
        batch.drop_column("fair_chance_none_given")
