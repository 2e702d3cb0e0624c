"""outbox mails that carry a secret are marked confidential

Revision ID: 0012
Revises: 0007
Create Date: 2026-11-29 00:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmail") as batch:
        batch.add_column(sa.Column("confidential", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Reset mails written before the flag existed carry a live link too.
    op.execute(
        sa.text("UPDATE outboxmail SET confidential = :yes WHERE body LIKE :reset").bindparams(
            yes=True, reset="%/auth/reset/%"
        )
    )


def downgrade() -> None:
    with op.batch_alter_table("outboxmail") as batch:
        batch.drop_column("confidential")
