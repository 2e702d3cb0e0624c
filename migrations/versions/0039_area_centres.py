"""areas carry their centre

An offer or a person is placed by its community grid (网格) and street address; its coordinates
follow from the grid's centre (or its street's, or its district's) unless a pin is placed on a map.
Areas recorded before have no centre until an `areas import` gives them one.

Revision ID: 0039
Revises: 0038
Create Date: 2026-12-07 08:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0039"
down_revision: str | None = "0038"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("area") as batch:
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("area") as batch:
        batch.drop_column("longitude")
        batch.drop_column("latitude")
