"""consent record elements (42 CFR 2.31) and erasure requests

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29 00:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Consents recorded before the elements existed: signed by the person on the day they started,
# on a form filed as before ("legacy"), lasting until the programme ends when no end date was given.
BACKFILL = {
    "discloser": "Bridge community drug rehabilitation programme",
    "signature_ref": "legacy",
    "revocation_statement_version": "legacy",
    "text_version_sha256": "legacy",
}


def _text(length: int) -> sqlmodel.sql.sqltypes.AutoString:
    return sqlmodel.sql.sqltypes.AutoString(length=length)


def upgrade() -> None:
    with op.batch_alter_table("consent") as batch:
        batch.add_column(sa.Column("expiry_event", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("expiry_event_text", _text(300), nullable=False, server_default=""))
        batch.add_column(sa.Column("discloser", _text(200), nullable=False, server_default=BACKFILL["discloser"]))
        batch.add_column(sa.Column("signature_ref", _text(100), nullable=False, server_default="legacy"))
        batch.add_column(sa.Column("signed_at", sa.Date(), nullable=True))
        batch.add_column(sa.Column("signed_by_role", sa.String(length=20), nullable=False, server_default="self"))
        batch.add_column(sa.Column("representative_name", _text(120), nullable=False, server_default=""))
        batch.add_column(sa.Column("revocation_statement_version", _text(20), nullable=False, server_default="legacy"))
        batch.add_column(sa.Column("text_version_sha256", _text(64), nullable=False, server_default="legacy"))
    op.execute("UPDATE consent SET signed_at = valid_from")
    op.execute("UPDATE consent SET expiry_event = 'programme_end' WHERE valid_until IS NULL")
    with op.batch_alter_table("consent") as batch:
        batch.alter_column("signed_at", existing_type=sa.Date(), nullable=False)
        # The backfill is done; from now on every consent names these elements itself.
        for name in BACKFILL:
            batch.alter_column(name, server_default=None)
        batch.create_check_constraint("consent_has_an_end", "valid_until IS NOT NULL OR expiry_event IS NOT NULL")

    op.create_table(
        "erasure_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("basis", sa.String(length=30), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requested_by_id", sa.Uuid(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("outcome", _text(500), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decided_by_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["requested_by_id"], ["user.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("erasure_request") as batch:
        batch.create_index(batch.f("ix_erasure_request_person_id"), ["person_id"], unique=False)
        batch.create_index(batch.f("ix_erasure_request_status"), ["status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("erasure_request") as batch:
        batch.drop_index(batch.f("ix_erasure_request_status"))
        batch.drop_index(batch.f("ix_erasure_request_person_id"))
    op.drop_table("erasure_request")
    with op.batch_alter_table("consent") as batch:
        batch.drop_constraint("consent_has_an_end", type_="check")
        for name in (
            "text_version_sha256",
            "revocation_statement_version",
            "representative_name",
            "signed_by_role",
            "signed_at",
            "signature_ref",
            "discloser",
            "expiry_event_text",
            "expiry_event",
        ):
            batch.drop_column(name)
