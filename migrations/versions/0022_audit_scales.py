"""the audit trail scales: events appended pending and linked after, one event per list shown

An event is now inserted without a sequence or MAC, with the change it logs, and a single linker
gives it both right after the commit, so appending holds no lock every server shares. A list shown
is one event whose records are rows of `auditeventrecord` (indexed by record); the event keeps
their digest (`records_digest`, empty for events naming one record), which its MAC covers. The
append-only triggers let the linker set a pending event's sequence and MACs once, and nothing else:
linked events, and the records of a linked list, never change.

Existing events are already linked and name one record each: they stay as they are, so their MACs
and every anchor kept outside the database still verify (merging old per-person rows into list
events would rewrite the chain and void those anchors).

The downgrade turns each list event back into one event per record, links what is pending, and
chains the trail again with the key after checking it whole (like 0017): run it as
`flask --app wsgi db downgrade` with PORTAL_AUDIT_KEY set; anchors written before it no longer
match. Without lists or pending events it changes no row and needs no key.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-06 13:00:00.000000
"""

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import context, op

from portal.audit.services import chain_mac, digest_of
from portal.models import UTCDateTime

revision: str = "0022"
down_revision: str | None = "0021"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000
EVENTS = sa.table(
    "auditevent",
    sa.column("id", sa.Uuid()),
    sa.column("sequence", sa.Integer()),
    sa.column("at", UTCDateTime()),  # read back timezone-aware, as the MACs were computed
    sa.column("actor_id", sa.Uuid()),
    sa.column("action", sa.String()),
    sa.column("record_type", sa.String()),
    sa.column("record_id", sa.Uuid()),
    sa.column("records_digest", sa.String()),
    sa.column("previous_hash", sa.String()),
    sa.column("hash", sa.String()),
)
RECORDS = sa.table("auditeventrecord", sa.column("event_id", sa.Uuid()), sa.column("record_id", sa.Uuid()))
REFUSED = "the audit trail is append-only"
# The linker's one permitted update: a pending row gets its sequence and MACs, every other field kept.
LINKING_ONLY = (
    "OLD.sequence IS NULL AND NEW.sequence IS NOT NULL AND OLD.hash = '' AND OLD.previous_hash = '' "
    "AND NEW.id = OLD.id AND NEW.at = OLD.at AND NEW.actor_id IS NOT DISTINCT FROM OLD.actor_id "
    "AND NEW.action = OLD.action AND NEW.record_type = OLD.record_type "
    "AND NEW.record_id IS NOT DISTINCT FROM OLD.record_id AND NEW.records_digest = OLD.records_digest"
)
LINKED = "EXISTS (SELECT 1 FROM auditevent WHERE id = NEW.event_id AND sequence IS NOT NULL)"

POSTGRES_UP = (
    f"""
    CREATE OR REPLACE FUNCTION auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND {LINKING_ONLY} THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '{REFUSED}: % on auditevent refused', TG_OP;
    END
    $$
    """,
    f"""
    CREATE FUNCTION auditeventrecord_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'INSERT' AND NOT {LINKED} THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '{REFUSED}: % on auditeventrecord refused', TG_OP;
    END
    $$
    """,
    """
    CREATE TRIGGER auditeventrecord_append_only BEFORE INSERT OR UPDATE OR DELETE ON auditeventrecord
    FOR EACH ROW EXECUTE FUNCTION auditeventrecord_append_only()
    """,
)
POSTGRES_DOWN = (
    "DROP TRIGGER auditeventrecord_append_only ON auditeventrecord",
    "DROP FUNCTION auditeventrecord_append_only()",
    f"""
    CREATE OR REPLACE FUNCTION auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '{REFUSED}: % on auditevent refused', TG_OP;
    END
    $$
    """,
)


def _sqlite_trigger(name: str, operation: str, table: str, when: str = "") -> str:
    return f"""
    CREATE TRIGGER {name} BEFORE {operation} ON {table} {when}
    BEGIN
        SELECT RAISE(ABORT, '{REFUSED}: {operation} on {table} refused');
    END
    """


# SQLite has no IS DISTINCT FROM; its IS compares NULLs the same way.
SQLITE_UP = (
    _sqlite_trigger(
        "auditevent_no_update",
        "UPDATE",
        "auditevent",
        f"WHEN NOT ({LINKING_ONLY.replace('IS NOT DISTINCT FROM', 'IS')})",
    ),
    _sqlite_trigger("auditevent_no_delete", "DELETE", "auditevent"),
    _sqlite_trigger("auditeventrecord_linked", "INSERT", "auditeventrecord", f"WHEN {LINKED}"),
    _sqlite_trigger("auditeventrecord_no_update", "UPDATE", "auditeventrecord"),
    _sqlite_trigger("auditeventrecord_no_delete", "DELETE", "auditeventrecord"),
)
SQLITE_BEFORE = (
    _sqlite_trigger("auditevent_no_update", "UPDATE", "auditevent"),
    _sqlite_trigger("auditevent_no_delete", "DELETE", "auditevent"),
)


def _drop_sqlite_triggers() -> None:
    for name in (
        "auditevent_no_update",
        "auditevent_no_delete",
        "auditeventrecord_linked",
        "auditeventrecord_no_update",
        "auditeventrecord_no_delete",
    ):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if not postgres:
        _drop_sqlite_triggers()  # the batch copy below would drop them with the table
    with op.batch_alter_table("auditevent") as batch:
        batch.alter_column("sequence", existing_type=sa.Integer(), nullable=True)
        batch.add_column(
            sa.Column("records_digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default="")
        )
    with op.batch_alter_table("auditevent") as batch:
        batch.alter_column("records_digest", server_default=None)
    op.create_table(
        "auditeventrecord",
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["auditevent.id"]),
        sa.PrimaryKeyConstraint("event_id", "record_id"),
    )
    op.create_index("ix_auditeventrecord_record_id", "auditeventrecord", ["record_id"], unique=False)
    for statement in POSTGRES_UP if postgres else SQLITE_UP:
        op.execute(statement)


def _one_per_record(key: bytes) -> None:
    """Check the chain whole (stop, naming the first broken sequence, rather than bless a tampered
    trail), then write it again as one event per record, pending events last, chained with the key."""
    connection = op.get_bind()
    op.execute(sa.update(EVENTS).where(EVENTS.c.sequence.is_not(None)).values(sequence=-EVENTS.c.sequence))
    checked, made, expected, sequence = "", "", 1, 0
    while True:  # linked events, oldest first (their sequences are negative meanwhile), then pending ones
        rows = (
            connection.execute(
                sa.select(EVENTS).where(EVENTS.c.sequence < 0).order_by(EVENTS.c.sequence.desc()).limit(BATCH)
            )
            .mappings()
            .all()
            or connection.execute(
                sa.select(EVENTS).where(EVENTS.c.sequence.is_(None)).order_by(EVENTS.c.at, EVENTS.c.id).limit(BATCH)
            )
            .mappings()
            .all()
        )
        if not rows:
            return
        members: dict[uuid.UUID, list[uuid.UUID]] = {}
        for event_id, record_id in connection.execute(
            sa.select(RECORDS.c.event_id, RECORDS.c.record_id).where(RECORDS.c.event_id.in_([r["id"] for r in rows]))
        ):
            members.setdefault(event_id, []).append(record_id)
        updates: list[dict[str, Any]] = []
        inserts: list[dict[str, Any]] = []
        for row in rows:
            records = sorted(members.get(row["id"], []), key=str)
            if row["sequence"] is not None:
                fields = {**row, "sequence": -row["sequence"]}
                if (
                    fields["sequence"] != expected
                    or row["previous_hash"] != checked
                    or chain_mac(key, checked, fields) != row["hash"]
                    or row["records_digest"] != (digest_of(records) if records else "")
                ):
                    raise RuntimeError(
                        f"The audit chain is broken at sequence {expected}: it was changed outside the portal. "
                        "Nothing was changed; find out what happened before migrating."
                    )
                checked, expected = row["hash"], expected + 1
            for n, record_id in enumerate(records or [row["record_id"]]):
                sequence += 1
                fields = {**row, "sequence": sequence, "record_id": record_id, "records_digest": ""}
                mac = chain_mac(key, made, fields)
                change = {"new_sequence": sequence, "record": record_id, "previous": made, "mac": mac}
                if n == 0:
                    updates.append({**change, "event_id": row["id"]})
                else:
                    inserts.append({**fields, "id": uuid.uuid4(), "previous_hash": made, "hash": mac})
                made = mac
        connection.execute(
            sa.update(EVENTS)
            .where(EVENTS.c.id == sa.bindparam("event_id"))
            .values(
                sequence=sa.bindparam("new_sequence"),
                record_id=sa.bindparam("record"),
                previous_hash=sa.bindparam("previous"),
                hash=sa.bindparam("mac"),
            ),
            updates,
        )
        if inserts:
            connection.execute(sa.insert(EVENTS), inserts)


def downgrade() -> None:
    connection = op.get_bind()
    postgres = connection.dialect.name == "postgresql"
    for statement in POSTGRES_DOWN if postgres else ():
        op.execute(statement)
    if not postgres:
        _drop_sqlite_triggers()
    lists = connection.execute(sa.select(RECORDS.c.event_id).limit(1)).first()
    pending = connection.execute(sa.select(EVENTS.c.id).where(EVENTS.c.sequence.is_(None)).limit(1)).first()
    if lists is not None or pending is not None:
        key = context.config.attributes.get("audit_key")
        if key is None:
            raise RuntimeError("Audit lists to split: run `flask --app wsgi db downgrade` with PORTAL_AUDIT_KEY set.")
        if postgres:  # the rewrite updates linked events: the append-only trigger is off for it
            op.execute("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only")
        _one_per_record(key)
        if postgres:
            op.execute("ALTER TABLE auditevent ENABLE TRIGGER auditevent_append_only")
    op.drop_index("ix_auditeventrecord_record_id", table_name="auditeventrecord")
    op.drop_table("auditeventrecord")
    with op.batch_alter_table("auditevent") as batch:
        batch.alter_column("sequence", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("records_digest")
    for statement in SQLITE_BEFORE if not postgres else ():
        op.execute(statement)
