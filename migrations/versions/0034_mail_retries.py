"""each mail's tries: how many, when the next may be, and when it failed for good

Mail is now handed to a worker the moment it is written and retried with growing waits after a
temporary failure; a mail the server refuses for good, or that fails every try, is marked failed and
never tried again (the admins are told). The mails still to send get an index of their own.

Revision ID: 0034
Revises: 0033
Create Date: 2026-12-06 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0034"
down_revision: str | None = "0033"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outboxmail") as batch:
        batch.add_column(sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
        batch.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True))
    unsent = sa.text("sent_at IS NULL")
    op.create_index(
        "ix_outboxmail_unsent", "outboxmail", ["created_at", "id"], postgresql_where=unsent, sqlite_where=unsent
    )


def downgrade() -> None:
    op.drop_index("ix_outboxmail_unsent", table_name="outboxmail")
    with op.batch_alter_table("outboxmail") as batch:
        batch.drop_column("failed_at")
        batch.drop_column("next_attempt_at")
        batch.drop_column("attempts")
