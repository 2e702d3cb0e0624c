"""indicator snapshots hold the figures as published: the rows kept before small-cell suppression go

A snapshot used to hold the figures before suppression, with every provider's name, for up to a day;
it now holds them as the page shows them, and its key names the threshold. The rows written the old
way are dropped, not converted (the next view or run of run-due-jobs computes them again): they are
a cache of at most a day, and the point is that they leave the database. The downgrade drops the
rows written the new way, which the older code cannot read; it computes its own again.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-06 16:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0028"
down_revision: str | None = "0027"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(sa.text("DELETE FROM indicator_snapshot"))


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM indicator_snapshot"))
