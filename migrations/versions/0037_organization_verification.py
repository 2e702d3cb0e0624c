"""what verifying an organization needs: its credit code, registered address and a contact person

Organizations now sign up with their unified social credit code (统一社会信用代码, checked with its
check character), their registered address and a person to call, which the admin reads on the
verification page. Organizations that signed up before have none of them (empty).

Revision ID: 0037
Revises: 0036
Create Date: 2026-12-07 04:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0037"
down_revision: str | None = "0036"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = (("credit_code", 18), ("registered_address", 300), ("contact_person", 120), ("contact_phone", 40))


def upgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        for name, length in COLUMNS:
            batch.add_column(
                sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=length), server_default="", nullable=False)
            )


def downgrade() -> None:
    with op.batch_alter_table("organization") as batch:
        for name, _length in reversed(COLUMNS):
            batch.drop_column(name)
