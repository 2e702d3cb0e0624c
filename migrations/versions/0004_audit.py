"""audit trail: append-only triggers, an index on (record_id, at)

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-28 21:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Row triggers only: TRUNCATE (which the tests use between runs) stays possible for the owner.
POSTGRES_UP = (
    """
    CREATE FUNCTION auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION 'the audit trail is append-only: % on auditevent refused', TG_OP;
    END
    $$
    """,
    """
    CREATE TRIGGER auditevent_append_only BEFORE UPDATE OR DELETE ON auditevent
    FOR EACH ROW EXECUTE FUNCTION auditevent_append_only()
    """,
)
POSTGRES_DOWN = (
    "DROP TRIGGER auditevent_append_only ON auditevent",
    "DROP FUNCTION auditevent_append_only()",
)
SQLITE_UP = tuple(
    f"""
    CREATE TRIGGER auditevent_no_{operation.lower()} BEFORE {operation} ON auditevent
    BEGIN
        SELECT RAISE(ABORT, 'the audit trail is append-only: {operation} on auditevent refused');
    END
    """
    for operation in ("UPDATE", "DELETE")
)
SQLITE_DOWN = ("DROP TRIGGER auditevent_no_update", "DROP TRIGGER auditevent_no_delete")


def upgrade() -> None:
    op.drop_index("ix_auditevent_record_id", table_name="auditevent")
    op.create_index("ix_auditevent_record_id_at", "auditevent", ["record_id", "at"], unique=False)
    for statement in POSTGRES_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP:
        op.execute(statement)


def downgrade() -> None:
    for statement in POSTGRES_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN:
        op.execute(statement)
    op.drop_index("ix_auditevent_record_id_at", table_name="auditevent")
    op.create_index("ix_auditevent_record_id", "auditevent", ["record_id"], unique=False)
