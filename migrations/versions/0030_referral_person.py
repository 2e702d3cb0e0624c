"""each referral names its need's person

A caseload's referrals (the home page's waiting and proposed ones, their counts, the caseload's
filters) were found by joining every referral in a state to its need and person, city-wide, and
keeping the caseload's; now from the caseload's people, through an index on (person, state).

SQLite rebuilds the table to make the column required and a reference (its partial unique index
is carried over as it was).

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-06 16:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0030"
down_revision: str | None = "0029"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("referral", sa.Column("person_id", sa.Uuid(), nullable=True))
    op.execute("UPDATE referral SET person_id = (SELECT need.person_id FROM need WHERE need.id = referral.need_id)")
    with op.batch_alter_table("referral") as batch:
        batch.alter_column("person_id", existing_type=sa.Uuid(), nullable=False)
        batch.create_foreign_key("fk_referral_person_id_person", "person", ["person_id"], ["id"])
    op.create_index("ix_referral_person_id_status", "referral", ["person_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_referral_person_id_status", table_name="referral")
    with op.batch_alter_table("referral") as batch:
        batch.drop_constraint("fk_referral_person_id_person", type_="foreignkey")
        batch.drop_column("person_id")
