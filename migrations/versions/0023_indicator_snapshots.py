"""indicator snapshots, the periodic job's lock, and indexes on what the job selects by

`indicator_snapshot` keeps the indicators of an area and period as last computed, so a view reads
one row; `job_lock` is the row a run of run-due-jobs holds, so two overlapping runs never both act.
The indexes serve the job's set-based selections: waiting referrals by answer date, each person's
last contact, the follow-ups already opened for a referral, and records due for anonymisation.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0023"
down_revision: str | None = "0022"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "indicator_snapshot",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("indicator_snapshot") as batch:
        batch.create_index(batch.f("ix_indicator_snapshot_computed_at"), ["computed_at"], unique=False)
    op.create_table(
        "job_lock",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("holder", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    with op.batch_alter_table("referral") as batch:
        batch.create_index("ix_referral_status_respond_by", ["status", "respond_by"], unique=False)
    with op.batch_alter_table("followup") as batch:
        batch.create_index("ix_followup_referral_id_kind", ["referral_id", "kind"], unique=False)
    with op.batch_alter_table("person") as batch:
        batch.create_index(batch.f("ix_person_programme_end"), ["programme_end"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.drop_index(batch.f("ix_person_programme_end"))
    with op.batch_alter_table("followup") as batch:
        batch.drop_index("ix_followup_referral_id_kind")
    with op.batch_alter_table("referral") as batch:
        batch.drop_index("ix_referral_status_respond_by")
    op.drop_table("job_lock")
    with op.batch_alter_table("indicator_snapshot") as batch:
        batch.drop_index(batch.f("ix_indicator_snapshot_computed_at"))
    op.drop_table("indicator_snapshot")
