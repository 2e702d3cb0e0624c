"""names, numbers, addresses, needs and notes encrypted at rest; blind indexes for phone and ID number

The data step needs the portal's keys: run it as `flask --app wsgi db upgrade`, which hands them
over. Without keys it only runs on a database with nothing to encrypt.

Revision ID: 0011
Revises: 0008
Create Date: 2026-11-29 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import context, op

from portal.crypto import KeyRing, reseal_table
from portal.models import id_number_key, phone_key

revision: str = "0011"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each encrypted column with the length it had as plain text.
COLUMNS: dict[str, dict[str, int]] = {
    "person": {"full_name": 120, "phone": 40, "id_number": 40, "address": 300},
    "need": {"description": 2000},
    **{
        table: {"note": 2000}
        for table in (
            "referral",
            "referralevent",
            "consent",
            "consentoverride",
            "contactlog",
            "handover",
            "dismissal",
            "followup",
        )
    },
}
# A consent's representative and its free-text end event (added in 0010) name people too.
COLUMNS["consent"].update({"representative_name": 120, "expiry_event_text": 300})
BLIND_INDEXES = {"phone_index": ("phone", phone_key), "id_number_index": ("id_number", id_number_key)}


def _keyring(connection: sa.Connection) -> KeyRing | None:
    """The portal's keys, or None when there is nothing to encrypt; refuses to go on otherwise."""
    ring = context.config.attributes.get("keyring")
    if ring is not None:
        return ring  # type: ignore[no-any-return]
    for table in COLUMNS:
        if connection.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is not None:
            raise RuntimeError("Rows to encrypt: run `flask --app wsgi db upgrade` with the portal's keys set.")
    return None


def upgrade() -> None:
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column, length in columns.items():
                batch.alter_column(
                    column, existing_type=sqlmodel.sql.sqltypes.AutoString(length=length), type_=sa.Text()
                )
    with op.batch_alter_table("person") as batch:
        for name in BLIND_INDEXES:
            batch.add_column(sa.Column(name, sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
    connection = op.get_bind()
    ring = _keyring(connection)
    if ring is not None:
        person = sa.table("person", sa.column("id"), *(sa.column(n) for n in ("phone", "id_number", *BLIND_INDEXES)))
        for row in connection.execute(sa.select(person.c.id, person.c.phone, person.c.id_number)).all():
            values = {
                name: ring.blind(f"person.{source}", normalise(getattr(row, source) or ""))
                for name, (source, normalise) in BLIND_INDEXES.items()
            }
            connection.execute(sa.update(person).where(person.c.id == row.id).values(**values))
        for table, columns in COLUMNS.items():
            reseal_table(connection, table, "id", list(columns), opener=None, sealer=ring.seal)
    connection.execute(sa.text("UPDATE person SET phone_index = '' WHERE phone_index IS NULL"))
    connection.execute(sa.text("UPDATE person SET id_number_index = '' WHERE id_number_index IS NULL"))
    with op.batch_alter_table("person") as batch:
        for name in BLIND_INDEXES:
            batch.alter_column(name, existing_type=sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False)
            batch.create_index(f"ix_person_{name}", [name], unique=False)


def downgrade() -> None:
    connection = op.get_bind()
    ring = _keyring(connection)
    if ring is not None:
        for table, columns in COLUMNS.items():
            reseal_table(connection, table, "id", list(columns), opener=ring.open, sealer=None)
    with op.batch_alter_table("person") as batch:
        for name in BLIND_INDEXES:
            batch.drop_index(f"ix_person_{name}")
            batch.drop_column(name)
    for table, columns in COLUMNS.items():
        with op.batch_alter_table(table) as batch:
            for column, length in columns.items():
                batch.alter_column(
                    column, existing_type=sa.Text(), type_=sqlmodel.sql.sqltypes.AutoString(length=length)
                )
