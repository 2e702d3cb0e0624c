"""volunteers record the hours they give, and name their identity document type

A volunteer logs each activity (day, hours, kind, what was done, the referral it served if any);
the caseworker of that referral, or else the organization the volunteer served with, confirms it.
Confirmed hours add up per volunteer, organization and area. A volunteer's account may name the
type of identity document volunteer service records ask for (never its number).

Revision ID: 0041
Revises: 0040
Create Date: 2026-12-07 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0041"
down_revision: str | None = "0040"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "volunteer_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("volunteer_id", sa.Uuid(), nullable=False),
        sa.Column("done_on", sa.Date(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("referral_id", sa.Uuid(), nullable=True),
        sa.Column("organization_id", sa.Uuid(), nullable=True),
        sa.Column("area_id", sa.Uuid(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("returned_reason", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["volunteer_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["referral_id"], ["referral.id"]),
        sa.ForeignKeyConstraint(["organization_id"], ["organization.id"]),
        sa.ForeignKeyConstraint(["area_id"], ["area.id"]),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    for column in ("volunteer_id", "referral_id", "organization_id", "area_id", "status"):
        op.create_index(f"ix_volunteer_activity_{column}", "volunteer_activity", [column])
    with op.batch_alter_table("user") as batch:
        batch.add_column(
            sa.Column("id_type", sqlmodel.sql.sqltypes.AutoString(length=20), server_default="", nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table("user") as batch:
        batch.drop_column("id_type")
    op.drop_table("volunteer_activity")
