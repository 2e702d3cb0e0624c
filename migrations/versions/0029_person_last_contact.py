"""each person's latest contact date on their row

Whether someone is out of contact was a subquery on their contact log, evaluated up to three times
per person for every figure, filter and follow-up of a caseload; the row now keeps the date, set
with each contact logged.

Revision ID: 0029
Revises: 0028
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0029"
down_revision: str | None = "0028"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("last_contact_on", sa.Date(), nullable=True))
    op.execute(
        "UPDATE person SET last_contact_on ="
        " (SELECT max(contactlog.occurred_on) FROM contactlog WHERE contactlog.person_id = person.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.drop_column("last_contact_on")
