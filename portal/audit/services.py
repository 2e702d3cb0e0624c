"""Writing the audit trail. Each event's hash covers the previous hash and its own fields, so
removing or editing a row breaks the chain at that row. Events name records, never their values."""

import hashlib
import json
import uuid

import sqlalchemy as sa
from sqlmodel import Session, select

from portal.models import AuditEvent, User, utcnow

# Any constant works: it names the one lock that serialises appends on PostgreSQL.
_CHAIN_LOCK = 727_001


def event_hash(event: AuditEvent) -> str:
    """SHA-256 over the previous hash and the event's canonical JSON."""
    canonical = json.dumps(
        {
            "sequence": event.sequence,
            "at": event.at.isoformat(),
            "actor_id": str(event.actor_id) if event.actor_id else None,
            "action": event.action,
            "record_type": event.record_type,
            "record_id": str(event.record_id) if event.record_id else None,
        },
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256((event.previous_hash + canonical).encode()).hexdigest()


def record(
    session: Session,
    actor: User | None,
    action: str,
    record_type: str,
    record_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append an event to the session's transaction; the caller's commit writes it with the change.

    On SQLite write transactions already hold the database's write lock (BEGIN IMMEDIATE); on
    PostgreSQL an advisory lock held to the end of the transaction keeps appends in sequence."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    last = session.exec(select(AuditEvent).order_by(AuditEvent.sequence.desc()).limit(1)).first()  # type: ignore[attr-defined]
    event = AuditEvent(
        sequence=last.sequence + 1 if last else 1,
        at=utcnow(),
        actor_id=actor.id if actor else None,
        action=action,
        record_type=record_type,
        record_id=record_id,
        previous_hash=last.hash if last else "",
        hash="",
    )
    event.hash = event_hash(event)
    session.add(event)
    return event
