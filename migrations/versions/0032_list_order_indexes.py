"""indexes in the order of the notifications and the outbox, which now come a page at a time

Both lists only grow; a page of either now starts from an index in its own order instead of sorting
every row of the user (or, for the outbox, of the portal). The user's notifications index replaces the
one on the user alone, its first column.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-06 19:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0032"
down_revision: str | None = "0031"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_notification_user_id_created_at", "notification", ["user_id", "created_at", "id"])
    op.drop_index("ix_notification_user_id", table_name="notification")
    op.create_index("ix_outboxmail_created_at", "outboxmail", ["created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outboxmail_created_at", table_name="outboxmail")
    op.create_index("ix_notification_user_id", "notification", ["user_id"])
    op.drop_index("ix_notification_user_id_created_at", table_name="notification")
