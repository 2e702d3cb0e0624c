"""The programme side of a person's case, as the anti-drug specialist (禁毒专干) keeps it: the
agreement (社区戒毒/社区康复协议), and the report-ins (报到) and tests (尿检) it schedules.

A check the person came to (attended, or tested whatever the result) is also a contact: it is
written to the contact log, so the out-of-contact rule and the indicators count it like any other.
Recording a check schedules the next of its kind, at the agreement's interval from this one's due
day, until the agreement ends."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.audit.services import record
from portal.duties import PersonCard, card, duty_visibility, may_record
from portal.exceptions import AlreadyDecided, NotAllowed
from portal.models import (
    CheckKind,
    CheckResult,
    ContactKind,
    ContactLog,
    Duty,
    Person,
    ProgrammeAgreement,
    ProgrammeCheck,
    User,
    utcnow,
)

# The results each kind of check can have.
RESULTS: dict[CheckKind, tuple[CheckResult, ...]] = {
    CheckKind.CHECK_IN: (CheckResult.ATTENDED, CheckResult.MISSED),
    CheckKind.TEST: (CheckResult.NEGATIVE, CheckResult.POSITIVE, CheckResult.REFUSED, CheckResult.MISSED),
}
# The results of a check the person came to: each is a contact.
SEEN = frozenset({CheckResult.ATTENDED, CheckResult.NEGATIVE, CheckResult.POSITIVE, CheckResult.REFUSED})
# The most people the specialist's list shows: the people of a street or two.
MOST_SHOWN = 300


@dataclass(frozen=True)
class Caseload:
    """A person as the specialist's list shows them: the programme card and the next checks due."""

    person: PersonCard
    next_check_in: date | None
    next_test: date | None

    def overdue(self, today: date) -> bool:
        return any(day is not None and day < today for day in (self.next_check_in, self.next_test))


def caseload(session: Session, user: User, today: date, allowed_gap: Mapping[str, int]) -> list[Caseload]:
    """The people this specialist works with, the soonest check due first (no agreement: last)."""
    next_due = (
        select(ProgrammeCheck.person_id, sa.func.min(ProgrammeCheck.due_on).label("due_on"))
        .where(col(ProgrammeCheck.done_on).is_(None))
        .group_by(col(ProgrammeCheck.person_id))
        .subquery()
    )
    people = session.exec(
        select(Person)
        .outerjoin(next_due, next_due.c.person_id == Person.id)
        .where(duty_visibility(user), col(Person.anonymised_at).is_(None))
        .order_by(sa.nulls_last(next_due.c.due_on), col(Person.code))
        .limit(MOST_SHOWN)
    ).all()
    due = _next_due(session, [person.id for person in people])
    rows = [
        Caseload(
            card(person, Duty.PROGRAMME, today, allowed_gap),
            due.get((person.id, CheckKind.CHECK_IN)),
            due.get((person.id, CheckKind.TEST)),
        )
        for person in people
    ]
    return sorted(rows, key=lambda row: min((d for d in (row.next_check_in, row.next_test) if d), default=date.max))


def _next_due(session: Session, person_ids: list[uuid.UUID]) -> dict[tuple[uuid.UUID, CheckKind], date]:
    if not person_ids:
        return {}
    rows = session.exec(
        select(ProgrammeCheck.person_id, ProgrammeCheck.kind, sa.func.min(ProgrammeCheck.due_on))
        .where(col(ProgrammeCheck.person_id).in_(person_ids), col(ProgrammeCheck.done_on).is_(None))
        .group_by(col(ProgrammeCheck.person_id), col(ProgrammeCheck.kind))
    ).all()
    return {(person_id, CheckKind(kind)): due_on for person_id, kind, due_on in rows}


def agreements_of(session: Session, person: Person) -> list[ProgrammeAgreement]:
    """The person's agreements, the latest first."""
    return list(
        session.exec(
            select(ProgrammeAgreement)
            .where(ProgrammeAgreement.person_id == person.id)
            .order_by(col(ProgrammeAgreement.starts_on).desc(), col(ProgrammeAgreement.created_at).desc())
        )
    )


def checks_of(session: Session, person: Person) -> list[ProgrammeCheck]:
    """The person's checks: those due first (the soonest first), then those done (the latest first)."""
    checks = list(session.exec(select(ProgrammeCheck).where(ProgrammeCheck.person_id == person.id)))
    due = sorted((c for c in checks if c.done_on is None), key=lambda c: (c.due_on, c.kind))
    done = sorted((c for c in checks if c.done_on is not None), key=lambda c: (c.done_on, c.due_on), reverse=True)
    return due + done


def record_agreement(session: Session, user: User, person: Person, agreement: ProgrammeAgreement) -> ProgrammeAgreement:
    """Record a signed agreement: it gives the person's programme and its dates, and schedules the
    first report-in and test on its first day. Checks an earlier agreement still had due are dropped."""
    if not may_record(session, user, person, "agreement"):
        raise NotAllowed("only the person's anti-drug specialist keeps the programme side")
    locked = session.exec(select(Person).where(Person.id == person.id).with_for_update()).one()
    session.refresh(locked)
    earlier = select(ProgrammeAgreement.id).where(ProgrammeAgreement.person_id == locked.id)
    for stale in session.exec(
        select(ProgrammeCheck).where(
            col(ProgrammeCheck.agreement_id).in_(earlier), col(ProgrammeCheck.done_on).is_(None)
        )
    ):
        session.delete(stale)
    agreement.person_id, agreement.recorded_by_id = locked.id, user.id
    session.add(agreement)
    session.flush()
    for kind in CheckKind:
        session.add(
            ProgrammeCheck(person_id=locked.id, agreement_id=agreement.id, kind=kind, due_on=agreement.starts_on)
        )
    locked.programme = agreement.programme
    locked.programme_start = agreement.starts_on
    locked.programme_end = agreement.ends_on
    locked.updated_at = utcnow()
    record(session, user, "create", "programme_agreement", agreement.id)
    session.commit()
    return agreement


def record_check(
    session: Session, user: User, person: Person, check_id: uuid.UUID, done_on: date, result: CheckResult, note: str
) -> ProgrammeCheck:
    """Record how a due check went; a check the person came to is logged as a contact too.

    :raise ValueError: the result is not one this kind of check has.
    :raise AlreadyDecided: someone recorded this check a moment ago.
    :raise NotAllowed: not a check of this person, or not this specialist's person.
    """
    if not may_record(session, user, person, "check"):
        raise NotAllowed("only the person's anti-drug specialist keeps the programme side")
    check = session.exec(
        select(ProgrammeCheck)
        .where(ProgrammeCheck.id == check_id, ProgrammeCheck.person_id == person.id)
        .with_for_update()
    ).first()
    if check is None:
        raise NotAllowed("not a check of this person")
    session.refresh(check)
    if check.done_on is not None:
        raise AlreadyDecided("recorded")
    if result not in RESULTS[check.kind]:
        raise ValueError("not a result of this kind of check")
    check.done_on, check.result, check.note, check.recorded_by_id = done_on, result, note.strip(), user.id
    agreement = session.get(ProgrammeAgreement, check.agreement_id)
    if agreement is not None:
        every = agreement.check_in_every_days if check.kind == CheckKind.CHECK_IN else agreement.test_every_days
        following = max(check.due_on, done_on) + timedelta(days=every)
        if following <= agreement.ends_on:
            session.add(
                ProgrammeCheck(person_id=person.id, agreement_id=agreement.id, kind=check.kind, due_on=following)
            )
    if result in SEEN:
        session.add(
            ContactLog(
                person_id=person.id,
                caseworker_id=user.id,
                kind=ContactKind.CHECK_IN,
                occurred_on=done_on,
                outcome="reached",
            )
        )
    record(session, user, "update", "programme_check", check.id)
    session.commit()
    return check
