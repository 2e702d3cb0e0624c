"""an offer carries its owner's own reference

Providers import their offers from a spreadsheet (portal/offers/bulk.py); each row names its offer
by the provider's own reference, so importing the same file again updates those offers instead of
adding them twice. A reference is unique within its owner (an organization, or a volunteer); offers
recorded before have none ('').

Revision ID: 0040
Revises: 0039
Create Date: 2026-12-07 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0040"
down_revision: str | None = "0039"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REFERENCED = sa.text("reference <> ''")


def upgrade() -> None:
    with op.batch_alter_table("offer") as batch:
        batch.add_column(
            sa.Column("reference", sqlmodel.sql.sqltypes.AutoString(length=60), server_default="", nullable=False)
        )
    for owner in ("organization", "volunteer"):
        op.create_index(
            f"offer_reference_once_per_{owner}",
            "offer",
            [f"{owner}_id", "reference"],
            unique=True,
            postgresql_where=REFERENCED,
            sqlite_where=REFERENCED,
        )


def downgrade() -> None:
    for owner in ("organization", "volunteer"):
        op.drop_index(f"offer_reference_once_per_{owner}", table_name="offer")
    with op.batch_alter_table("offer") as batch:
        batch.drop_column("reference")
