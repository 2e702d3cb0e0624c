"""notifications store what they are about (a target and its id), not a link

The web layer builds the link from the routes when it shows a notice or writes its e-mail.
Existing links become targets: "/people/<id>" the person, "/referrals/inbox" the inbox, "/" the
start page; any other link opens nothing. The downgrade writes the links back.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07 09:30:00.000000
"""

import re
import uuid
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOTIFICATION = sa.table(
    "notification", sa.column("id"), sa.column("link"), sa.column("target"), sa.column("target_id", sa.Uuid())
)
PERSON_LINK = re.compile(r"/people/([0-9a-fA-F-]{32,36})")
FIXED = {"/referrals/inbox": "referral_inbox", "/": "home"}


def _target(link: str) -> tuple[str, uuid.UUID | None]:
    if link in FIXED:
        return FIXED[link], None
    person = PERSON_LINK.fullmatch(link)
    if person is not None:
        try:
            return "person", uuid.UUID(person.group(1))
        except ValueError:
            pass
    return "none", None


def _link(target: str, target_id: uuid.UUID | None) -> str:
    if target == "person" and target_id is not None:
        return f"/people/{target_id}"
    return next((link for link, fixed in FIXED.items() if fixed == target), "")


def upgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(sa.Column("target", sa.String(length=20), nullable=False, server_default="none"))
        batch.add_column(sa.Column("target_id", sa.Uuid(), nullable=True))
    connection = op.get_bind()
    for row in connection.execute(
        sa.select(NOTIFICATION.c.id, NOTIFICATION.c.link).where(NOTIFICATION.c.link != "")
    ).all():
        target, target_id = _target(row.link)
        connection.execute(
            sa.update(NOTIFICATION).where(NOTIFICATION.c.id == row.id).values(target=target, target_id=target_id)
        )
    with op.batch_alter_table("notification") as batch:
        batch.alter_column("target", existing_type=sa.String(length=20), existing_nullable=False, server_default=None)
        batch.drop_column("link")


def downgrade() -> None:
    with op.batch_alter_table("notification") as batch:
        batch.add_column(
            sa.Column("link", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False, server_default="")
        )
    connection = op.get_bind()
    targeted = sa.select(NOTIFICATION.c.id, NOTIFICATION.c.target, NOTIFICATION.c.target_id)
    for row in connection.execute(targeted.where(NOTIFICATION.c.target != "none")).all():
        link = _link(row.target, row.target_id)
        connection.execute(sa.update(NOTIFICATION).where(NOTIFICATION.c.id == row.id).values(link=link))
    with op.batch_alter_table("notification") as batch:
        batch.alter_column(
            "link",
            existing_type=sqlmodel.sql.sqltypes.AutoString(length=300),
            existing_nullable=False,
            server_default=None,
        )
        batch.drop_column("target_id")
        batch.drop_column("target")
