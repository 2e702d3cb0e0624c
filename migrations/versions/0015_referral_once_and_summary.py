"""one open referral per need and offer; the provider reads a summary, not the need's description

The data step needs the portal's keys when there are referrals (the summary is encrypted, and
duplicates withdrawn get an encrypted step): run it as `flask --app wsgi db upgrade`.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 12:00:00.000000
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import context, op

from portal.crypto import KeyRing, aad, reseal_table

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen as the models had them here. Of duplicates, the one furthest along is kept.
OPEN_ORDER = ("in_progress", "accepted", "waitlisted", "sent", "approved", "proposed")
HOLDS_A_PLACE = ("accepted", "in_progress")
OPEN = sa.text("status IN (" + ", ".join(f"'{state}'" for state in sorted(OPEN_ORDER)) + ")")

referral = sa.table(
    "referral",
    sa.column("id", sa.Uuid()),
    sa.column("need_id", sa.Uuid()),
    sa.column("offer_id", sa.Uuid()),
    sa.column("status", sa.String()),
    sa.column("reason_code", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", sa.DateTime(timezone=True)),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
event = sa.table(
    "referralevent",
    sa.column("id", sa.Uuid()),
    sa.column("referral_id", sa.Uuid()),
    sa.column("from_status", sa.String()),
    sa.column("to_status", sa.String()),
    sa.column("actor_id", sa.Uuid()),
    sa.column("at", sa.DateTime(timezone=True)),
    sa.column("reason_code", sa.String()),
    sa.column("note", sa.Text()),
)
offer = sa.table("offer", sa.column("id", sa.Uuid()), sa.column("capacity", sa.Integer()))


def _keyring(connection: sa.Connection) -> KeyRing | None:
    """The portal's keys, or None when there is no referral to write; refuses to go on otherwise."""
    ring = context.config.attributes.get("keyring")
    if ring is not None:
        return ring  # type: ignore[no-any-return]
    if connection.execute(sa.text("SELECT 1 FROM referral LIMIT 1")).first() is not None:
        raise RuntimeError("Referrals to update: run `flask --app wsgi db upgrade` with the portal's keys set.")
    return None


def _withdraw_duplicates(connection: sa.Connection, ring: KeyRing) -> None:
    """Double clicks made several open referrals for one need and offer before the index: the one
    furthest along stays, the others are withdrawn as the portal's own step, and the places they
    held go back to the offer."""
    rows = connection.execute(
        sa.select(referral.c.id, referral.c.need_id, referral.c.offer_id, referral.c.status, referral.c.created_at)
        .where(referral.c.status.in_(OPEN_ORDER))
        .order_by(referral.c.created_at, referral.c.id)
    ).all()
    groups: dict[tuple[uuid.UUID, uuid.UUID], list[sa.Row[tuple[object, ...]]]] = {}
    for row in rows:
        groups.setdefault((row.need_id, row.offer_id), []).append(row)
    now = datetime.now(UTC)
    for group in groups.values():
        kept = min(group, key=lambda row: OPEN_ORDER.index(row.status))
        for row in group:
            if row is kept:
                continue
            connection.execute(
                sa.update(referral)
                .where(referral.c.id == row.id)
                .values(status="withdrawn", reason_code="other", version=referral.c.version + 1, updated_at=now)
            )
            event_id = uuid.uuid4()
            connection.execute(
                sa.insert(event).values(
                    id=event_id,
                    referral_id=row.id,
                    from_status=row.status,
                    to_status="withdrawn",
                    actor_id=None,
                    at=now,
                    reason_code="other",
                    note=ring.seal("", aad("referralevent", "note", event_id)),
                )
            )
            if row.status in HOLDS_A_PLACE:
                connection.execute(
                    sa.update(offer).where(offer.c.id == row.offer_id).values(capacity=offer.c.capacity + 1)
                )


def upgrade() -> None:
    connection = op.get_bind()
    ring = _keyring(connection)
    with op.batch_alter_table("referral") as batch:
        batch.add_column(sa.Column("summary", sa.Text(), nullable=False, server_default=""))
    if ring is not None:
        # Every stored value is sealed, the empty summary of older referrals too.
        reseal_table(connection, "referral", "id", ["summary"], opener=None, sealer=ring.seal)
        _withdraw_duplicates(connection, ring)
    with op.batch_alter_table("referral") as batch:
        batch.alter_column("summary", existing_type=sa.Text(), existing_nullable=False, server_default=None)
    op.create_index(
        "referral_open_once_per_need_offer",
        "referral",
        ["need_id", "offer_id"],
        unique=True,
        postgresql_where=OPEN,
        sqlite_where=OPEN,
    )


def downgrade() -> None:
    op.drop_index("referral_open_once_per_need_offer", table_name="referral")
    with op.batch_alter_table("referral") as batch:
        batch.drop_column("summary")
