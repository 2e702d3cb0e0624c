"""What the audit trail says was shown to someone: the records named by their events, whether one
record an event or a list of them (portal/audit/services.py), for the tests of the pages that log."""

import uuid

from sqlmodel import Session, col, select

from portal.models import AuditEvent, AuditEventRecord


def records_shown(
    session: Session, actor_id: uuid.UUID, action: str, record_type: str | None = None
) -> list[uuid.UUID]:
    """Every record the actor's events of this action name, oldest event first (the test's read
    transaction is ended first, to see what the app committed)."""
    session.rollback()
    query = select(AuditEvent).where(AuditEvent.actor_id == actor_id, AuditEvent.action == action)
    if record_type is not None:
        query = query.where(AuditEvent.record_type == record_type)
    shown: list[uuid.UUID] = []
    for event in session.exec(query.order_by(col(AuditEvent.at), col(AuditEvent.id))):
        if event.record_id is not None:
            shown.append(event.record_id)
        else:
            shown.extend(session.exec(select(AuditEventRecord.record_id).where(AuditEventRecord.event_id == event.id)))
    return shown


def members_of(session: Session, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The records each list event names."""
    members: dict[uuid.UUID, list[uuid.UUID]] = {}
    rows = session.exec(
        select(AuditEventRecord.event_id, AuditEventRecord.record_id).where(
            col(AuditEventRecord.event_id).in_(event_ids)
        )
    )
    for event_id, record_id in rows:
        members.setdefault(event_id, []).append(record_id)
    return members
