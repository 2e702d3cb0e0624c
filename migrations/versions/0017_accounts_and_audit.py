"""the audit chain keyed with PORTAL_AUDIT_KEY; reset links tied to the password; no link kept in
mail

Reset links get the fingerprint of the password they were asked under (links live 10 minutes; the
few alive at the upgrade get none and stop working). Outbox mails lose `confidential`: a reset
link is never stored any more, so no mail has a text to hide. Mails written before still carry
their (long dead) links; their text is replaced by a note.

The audit trail was chained with plain SHA-256, which anyone who can write the table can
recompute. This step first checks that chain whole (it refuses to go on, naming the first broken
sequence, so a trail already tampered with is never blessed with the key), then re-chains every
event with the key. Like 0011 it needs the portal's keys: run it as `flask --app wsgi db upgrade`. Without the key
it only runs on an empty trail. The downgrade checks the keyed chain and goes back to SHA-256.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02 10:00:00.000000
"""

import hashlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import context, op

from portal.audit.services import canonical, chain_mac
from portal.models import UTCDateTime

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 5_000
# The append-only triggers of 0004, lifted for this one transaction.
SQLITE_TRIGGERS = tuple(
    f"""
    CREATE TRIGGER auditevent_no_{operation.lower()} BEFORE {operation} ON auditevent
    BEGIN
        SELECT RAISE(ABORT, 'the audit trail is append-only: {operation} on auditevent refused');
    END
    """
    for operation in ("UPDATE", "DELETE")
)

Mac = Callable[[str, Mapping[str, Any]], str]
# The trail's columns at this revision (the model has more since 0022).
EVENTS = sa.table(
    "auditevent",
    *(sa.column(name, sa.Uuid()) for name in ("id", "actor_id", "record_id")),
    sa.column("sequence", sa.Integer()),
    sa.column("at", UTCDateTime()),
    *(sa.column(name, sa.String()) for name in ("action", "record_type", "previous_hash", "hash")),
)


def _plain(previous_hash: str, fields: Mapping[str, Any]) -> str:
    """The chain before this revision: SHA-256 with no key."""
    return hashlib.sha256((previous_hash + canonical(fields)).encode()).hexdigest()


def _rechain(old: Mac, new: Mac) -> None:
    """Check the chain made with `old`, then make it again with `new`, in sequence."""
    connection = op.get_bind()
    table = EVENTS
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        op.execute("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only")
    else:
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_update")
        op.execute("DROP TRIGGER IF EXISTS auditevent_no_delete")
    checked, made, expected = "", "", 1
    while True:
        rows = connection.execute(
            sa.select(table).where(table.c.sequence >= expected).order_by(table.c.sequence).limit(BATCH)
        ).mappings()
        changes = []
        for row in rows:
            if row["sequence"] != expected or row["previous_hash"] != checked or old(checked, row) != row["hash"]:
                raise RuntimeError(
                    f"The audit chain is broken at sequence {expected}: it was changed outside the portal. "
                    "Nothing was re-chained; find out what happened before migrating."
                )
            checked = row["hash"]
            made_now = new(made, row)
            changes.append({"row_id": row["id"], "previous": made, "mac": made_now})
            made = made_now
            expected += 1
        if not changes:
            break
        connection.execute(
            sa.update(table)
            .where(table.c.id == sa.bindparam("row_id"))
            .values(previous_hash=sa.bindparam("previous"), hash=sa.bindparam("mac")),
            changes,
        )
    if postgres:
        op.execute("ALTER TABLE auditevent ENABLE TRIGGER auditevent_append_only")
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def _audit_key() -> bytes | None:
    """The portal's audit key, or None when the trail is empty; refuses to go on otherwise."""
    key = context.config.attributes.get("audit_key")
    if key is not None:
        return key  # type: ignore[no-any-return]
    if op.get_bind().execute(sa.text("SELECT 1 FROM auditevent LIMIT 1")).first() is not None:
        raise RuntimeError("Audit events to re-chain: run `flask --app wsgi db upgrade` with PORTAL_AUDIT_KEY set.")
    return None


def upgrade() -> None:
    with op.batch_alter_table("password_reset") as batch:
        batch.add_column(
            sa.Column(
                "password_fingerprint", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False, server_default=""
            )
        )
    with op.batch_alter_table("password_reset") as batch:
        batch.alter_column("password_fingerprint", server_default=None)
    op.execute(
        sa.text("UPDATE outboxmail SET body = :note WHERE confidential = :yes").bindparams(
            note="(A password-reset link was here; it is not kept.)", yes=True
        )
    )
    with op.batch_alter_table("outboxmail") as batch:
        batch.drop_column("confidential")
    key = _audit_key()
    if key is not None:
        _rechain(_plain, lambda previous, fields: chain_mac(key, previous, fields))


def downgrade() -> None:
    key = _audit_key()
    if key is not None:
        _rechain(lambda previous, fields: chain_mac(key, previous, fields), _plain)
    with op.batch_alter_table("outboxmail") as batch:
        batch.add_column(sa.Column("confidential", sa.Boolean(), nullable=False, server_default=sa.false()))
    with op.batch_alter_table("password_reset") as batch:
        batch.drop_column("password_fingerprint")
