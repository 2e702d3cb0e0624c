"""The erasure queue (GDPR Art. 17, PIPL Art. 47): a supervisor of the person's area, or an
administrator, records a person's request, sees it due 30 days later (Art. 12(3)), and carries it
out, unless a legal hold keeps the record, in which case the refusal and the hold's reason are
kept on the request. Anyone else finds neither the person nor the request."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.audit.services import record
from portal.exceptions import AlreadyDecided, AlreadyRequested, NotAllowed, OnLegalHold
from portal.models import ErasureBasis, ErasureRequest, ErasureStatus, Person, Role, User
from portal.people.retention import erase_person
from portal.people.services import visibility


def _handles(user: User) -> bool:
    return user.role == Role.ADMIN or (user.role == Role.SUPERVISOR and user.area_id is not None)


def _whose(user: User) -> sa.ColumnElement[bool]:
    """Which people's requests this user handles: an administrator everyone's, a supervisor their areas'."""
    return sa.true() if user.role == Role.ADMIN else visibility(user)


def find_person_by_code(session: Session, user: User, code: str) -> Person | None:
    """The person with this code, if this user handles their requests; missing and not-yours look the same."""
    if not _handles(user):
        return None
    query = select(Person).where(Person.code == code.strip(), _whose(user))
    return session.exec(query).first()


def find_request(session: Session, user: User, request_id: uuid.UUID) -> ErasureRequest | None:
    """The request, if this user handles its person's requests; missing and not-yours look the same."""
    if not _handles(user):
        return None
    query = (
        select(ErasureRequest)
        .join(Person, col(Person.id) == ErasureRequest.person_id)
        .where(ErasureRequest.id == request_id, _whose(user))
    )
    return session.exec(query).first()


def record_request(
    session: Session, user: User, person: Person, basis: ErasureBasis, today: date, due_days: int
) -> ErasureRequest:
    """Record the person's request, due `due_days` from today, and audit it.

    :raise NotAllowed: for anyone but a supervisor of the person's area or an administrator.
    :raise AlreadyRequested: while another request of the person is open.
    """
    if find_person_by_code(session, user, person.code) is None:
        raise NotAllowed("only a supervisor of the person's area or an administrator records erasure requests")
    person = session.exec(select(Person).where(Person.id == person.id).with_for_update()).one()
    open_request = select(ErasureRequest.id).where(
        ErasureRequest.person_id == person.id, ErasureRequest.status == ErasureStatus.OPEN
    )
    if session.exec(open_request).first() is not None:
        session.rollback()
        raise AlreadyRequested(str(person.id))
    request = ErasureRequest(
        person_id=person.id, basis=basis, requested_by_id=user.id, due_on=today + timedelta(days=due_days)
    )
    session.add(request)
    session.flush()
    record(session, user, "erasure_requested", "erasure_request", request.id)
    session.commit()
    return request


@dataclass(frozen=True)
class QueueRow:
    request: ErasureRequest
    code: str
    overdue: bool


def queue(session: Session, user: User, today: date, decided_limit: int = 50) -> tuple[list[QueueRow], list[QueueRow]]:
    """The open requests this user handles, the soonest due first, and the latest decided ones."""
    if not _handles(user):
        return [], []
    base = select(ErasureRequest, Person.code).join(Person, col(Person.id) == ErasureRequest.person_id)
    base = base.where(_whose(user))
    open_rows = session.exec(
        base.where(ErasureRequest.status == ErasureStatus.OPEN).order_by(
            col(ErasureRequest.due_on), col(ErasureRequest.requested_at)
        )
    ).all()
    decided_rows = session.exec(
        base.where(ErasureRequest.status != ErasureStatus.OPEN)
        .order_by(col(ErasureRequest.decided_at).desc())
        .limit(decided_limit)
    ).all()
    return (
        [QueueRow(request, code, request.due_on < today) for request, code in open_rows],
        [QueueRow(request, code, False) for request, code in decided_rows],
    )


def carry_out(session: Session, user: User, request: ErasureRequest, now: datetime) -> ErasureRequest:
    """Erase the person the request is about, and close the request; all or nothing.

    :raise NotAllowed: for anyone who does not handle this person's requests.
    :raise AlreadyDecided: if the request was carried out or refused before.
    :raise OnLegalHold: if the record is on legal hold; the refusal is recorded and committed.
    """
    if find_request(session, user, request.id) is None:
        raise NotAllowed("only a supervisor of the person's area or an administrator erases a record")
    request = session.exec(select(ErasureRequest).where(ErasureRequest.id == request.id).with_for_update()).one()
    session.refresh(request)
    if request.status != ErasureStatus.OPEN:
        session.rollback()
        raise AlreadyDecided(str(request.id))
    try:
        erase_person(session, user, request.person_id, str(request.basis), now)
    except OnLegalHold as hold:
        _decide(request, user, now, ErasureStatus.REFUSED, hold.reason[:500])
        record(session, user, "erasure_refused_legal_hold", "erasure_request", request.id)
        session.commit()
        raise
    _decide(request, user, now, ErasureStatus.DONE, "")
    record(session, user, "erasure_done", "erasure_request", request.id)
    session.commit()
    return request


def _decide(request: ErasureRequest, user: User, now: datetime, status: ErasureStatus, outcome: str) -> None:
    request.status = status
    request.outcome = outcome
    request.decided_at = now
    request.decided_by_id = user.id
