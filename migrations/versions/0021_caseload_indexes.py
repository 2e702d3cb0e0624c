"""indexes for what the caseload, the home page's figures and the contact follow-ups filter by

A caseworker's or an area's people by next contact due (overdue counts and filters), a person's
open needs, a person's last contact (the top of an index on person and date, instead of a read of
their whole log) and whether a contact follow-up is open already for a person, kind and date.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-06 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0021"
down_revision: str | None = "0020"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("ix_person_caseworker_id_next_contact_due", "person", ["caseworker_id", "next_contact_due"]),
    ("ix_person_area_id_next_contact_due", "person", ["area_id", "next_contact_due"]),
    ("ix_need_person_id_status", "need", ["person_id", "status"]),
    ("ix_contactlog_person_id_occurred_on", "contactlog", ["person_id", "occurred_on"]),
    ("ix_followup_person_id_kind_due_on", "followup", ["person_id", "kind", "due_on"]),
)


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
