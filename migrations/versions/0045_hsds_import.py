"""directory records imported from another HSDS directory keep their id there; the directory API's
count of published offers reads an index

`flask --app wsgi hsds import` (portal/hsds/importing.py) creates organizations and offers from
another directory's HSDS 3.0 data, and finds them again by the source's id, so importing the same
data twice changes nothing. Records made in the portal have none ('').

Revision ID: 0045
Revises: 0044
Create Date: 2026-12-08 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0045"
down_revision: str | None = "0044"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SOURCED = sa.text("source_id <> ''")


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        batch.add_column(
            sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=100), server_default="", nullable=False)
        )
        batch.add_column(
            sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=300), server_default="", nullable=False)
        )
    with op.batch_alter_table("offer") as batch:
        batch.add_column(
            sa.Column("source_id", sqlmodel.sql.sqltypes.AutoString(length=100), server_default="", nullable=False)
        )
    for table in ("organization", "offer"):
        op.create_index(
            f"{table}_source_id_once",
            table,
            ["source_id"],
            unique=True,
            postgresql_where=SOURCED,
            sqlite_where=SOURCED,
        )

    # The directory API counts an organization's published offers from this index alone.
    op.create_index("offer_organization_status", "offer", ["organization_id", "status"])


def downgrade() -> None:
    op.drop_index("offer_organization_status", table_name="offer")
    for table in ("organization", "offer"):
        op.drop_index(f"{table}_source_id_once", table_name=table)
    with op.batch_alter_table("offer") as batch:
        batch.drop_column("source_id")
    with op.batch_alter_table("organization") as batch:
        batch.drop_column("source")
        batch.drop_column("source_id")
