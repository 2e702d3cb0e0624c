"""the token of another directory's API that an admin imports from the page

Sealed like every secret the portal keeps (portal/crypto.py), and emptied once the import ends.

Revision ID: 0047
Revises: 0046
Create Date: 2026-12-08 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0047"
down_revision: str | None = "0046"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("directory_import") as batch:
        batch.add_column(sa.Column("token", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("directory_import") as batch:
        batch.drop_column("token")
