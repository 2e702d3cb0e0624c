"""a person's grid worker and anti-drug specialist beside the caseworker; hand-overs name the duty

Grid workers (网格员) and anti-drug specialists (禁毒专干) share the people of a grid with the social
worker (the caseworker). Each person may have one of each, assigned by a supervisor; every
hand-over is recorded with the duty it hands over, so the hand-over's workers are users of any of
those roles (the columns lose "caseworker" from their names). Earlier hand-overs were of social work.
A contact may carry where it was recorded (a visit, from the worker's phone).

Revision ID: 0042
Revises: 0041
Create Date: 2026-12-07 11:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0042"
down_revision: str | None = "0041"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DUTIES = ("grid_worker", "specialist")


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        for duty in DUTIES:
            batch.add_column(sa.Column(f"{duty}_id", sa.Uuid(), nullable=True))
            batch.create_foreign_key(f"fk_person_{duty}_id_user", "user", [f"{duty}_id"], ["id"])
            batch.create_index(f"ix_person_{duty}_id", [f"{duty}_id"])
    with op.batch_alter_table("handover") as batch:
        batch.add_column(sa.Column("duty", sa.String(length=20), server_default="social_work", nullable=False))
        batch.alter_column("from_caseworker_id", new_column_name="from_user_id")
        batch.alter_column("to_caseworker_id", new_column_name="to_user_id")
    with op.batch_alter_table("contactlog") as batch:
        batch.add_column(sa.Column("latitude", sa.Float(), nullable=True))
        batch.add_column(sa.Column("longitude", sa.Float(), nullable=True))


def downgrade() -> None:
    # Hand-overs of other duties than social work were not recorded before.
    op.execute("DELETE FROM handover WHERE duty <> 'social_work'")
    with op.batch_alter_table("contactlog") as batch:
        batch.drop_column("longitude")
        batch.drop_column("latitude")
    with op.batch_alter_table("handover") as batch:
        batch.alter_column("to_user_id", new_column_name="to_caseworker_id")
        batch.alter_column("from_user_id", new_column_name="from_caseworker_id")
        batch.drop_column("duty")
    with op.batch_alter_table("person") as batch:
        for duty in DUTIES:
            batch.drop_index(f"ix_person_{duty}_id")
            batch.drop_constraint(f"fk_person_{duty}_id_user", type_="foreignkey")
            batch.drop_column(f"{duty}_id")
