"""The caseworker's attention list: open follow-ups, and referrals proposed for their approval.
Follow-ups are opened by the periodic job (`portal/jobs.py`), and those about contact by the
caseworker's start page too, so that the list and the caseload's figures beside it agree even
when the job last ran hours ago."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy import ColumnElement, case
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, and_, col, func, or_, select

from portal.audit.services import record
from portal.clock import local_date, local_midnight, local_today
from portal.exceptions import MissingOutcome, NotAllowed
from portal.models import (
    ContactLog,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    Need,
    NoticeTarget,
    Person,
    Referral,
    ReferralStatus,
    User,
    UTCDateTime,
    utcnow,
)
from portal.notifications.services import notify
from portal.people.services import visibility

JOB_CHECKS = frozenset({FollowUpKind.EMPLOYMENT_30, FollowUpKind.EMPLOYMENT_90, FollowUpKind.EMPLOYMENT_180})
# What a job check found; the 90-day one is the programme's job-retention figure.
STILL_EMPLOYED = "still_employed"
JOB_CHECK_OUTCOMES = (STILL_EMPLOYED, "no_longer_employed")
# The days a follow-up may be snoozed for: the choices the home page offers.
SNOOZE_CHOICES = (1, 3, 7, 14)


def occasion(kind: FollowUpKind, person: Person, due: date, referral: Referral | None = None) -> str:
    """The key that makes a follow-up one per occasion: its kind, person, referral and due date."""
    return occasion_key(kind, person.id, due, referral.id if referral else None)


def occasion_key(kind: FollowUpKind, person_id: uuid.UUID, due: date, referral_id: uuid.UUID | None = None) -> str:
    """`occasion` from ids, for the periodic job, which selects ids and loads no one it does not act on."""
    return f"{kind}:{person_id}:{referral_id or ''}:{due.isoformat()}"


def open_follow_up(
    session: Session, kind: FollowUpKind, person: Person, due: date, referral: Referral | None = None
) -> bool:
    """Open a follow-up once per occasion and tell the caseworker; False when it already exists.
    Committed here."""
    key = occasion(kind, person, due, referral)
    if session.exec(select(FollowUp.id).where(FollowUp.key == key)).first() is not None:
        return False
    session.add(
        FollowUp(key=key, kind=kind, person_id=person.id, referral_id=referral.id if referral else None, due_on=due)
    )
    try:
        session.commit()
    except IntegrityError:  # opened a moment ago, by the job or another page
        session.rollback()
        return False
    notify(session, person.caseworker_id, f"follow_up_{kind}", NoticeTarget.HOME, person=person.code)
    session.commit()
    return True


def open_contact_follow_ups(
    session: Session, today: date, allowed_gap: Mapping[str, int], seen_by: User | None = None
) -> dict[str, int]:
    """Open the follow-ups of people out of contact for longer than their programme allows, and of
    next contacts overdue, by the same rules as the caseload's figures (`contact_gap_ends` in
    `portal/people/search.py`); among the people `seen_by` sees, or everyone's. How many of each kind
    were opened. The database picks who is out of contact or overdue, and only their ids and dates
    come back: only the people a follow-up is opened for are loaded (and so decrypted)."""
    # An anonymised record is closed: nobody is to be contacted any more.
    on_caseload: list[ColumnElement[bool]] = [
        col(Person.caseworker_id).is_not(None),
        col(Person.anonymised_at).is_(None),
    ]
    if seen_by is not None:
        on_caseload.append(visibility(seen_by))
    last = (
        select(ContactLog.person_id, func.max(ContactLog.occurred_on).label("day"))
        .where(col(ContactLog.person_id).in_(select(Person.id).where(*on_caseload)))
        .group_by(col(ContactLog.person_id))
        .subquery()
    )
    # Out of contact: the last contact (never contacted: the day of registration) is further back
    # than the programme's gap; the cut-off day and moment per programme are worked out here.
    gaps = {programme: gap for programme, gap in allowed_gap.items() if programme != "default"}
    default_gap = allowed_gap["default"]
    last_day_before = case(
        {programme: sa.literal(today - timedelta(days=gap), sa.Date) for programme, gap in gaps.items()},
        value=Person.programme,
        else_=sa.literal(today - timedelta(days=default_gap), sa.Date),
    )
    registered_before = case(
        {
            programme: sa.literal(local_midnight(today - timedelta(days=gap)), UTCDateTime)
            for programme, gap in gaps.items()
        },
        value=Person.programme,
        else_=sa.literal(local_midnight(today - timedelta(days=default_gap)), UTCDateTime),
    )
    out_of_contact = or_(
        and_(last.c.day.is_not(None), last.c.day < last_day_before),
        and_(last.c.day.is_(None), col(Person.created_at) < registered_before),
    )
    overdue = col(Person.next_contact_due) < today
    rows = session.exec(
        sa.select(Person.id, Person.programme, Person.created_at, Person.next_contact_due, last.c.day)  # type: ignore[call-overload]
        .outerjoin(last, last.c.person_id == Person.id)
        .where(*on_caseload, or_(out_of_contact, overdue))
    ).all()
    due_now: list[tuple[FollowUpKind, uuid.UUID, date]] = []
    for person_id, programme, created_at, next_contact_due, last_contact in rows:
        gap = allowed_gap.get(programme or "", default_gap)
        gap_ends = (last_contact or local_date(created_at)) + timedelta(days=gap)
        if today > gap_ends:
            due_now.append((FollowUpKind.LOST_CONTACT, person_id, gap_ends))
        if next_contact_due is not None and next_contact_due < today:
            due_now.append((FollowUpKind.CONTACT_OVERDUE, person_id, next_contact_due))
    # One query for the occasions opened already (on most page views, all of them), not one each.
    keys = [occasion_key(kind, person_id, due) for kind, person_id, due in due_now]
    known = set(session.exec(select(FollowUp.key).where(col(FollowUp.key).in_(keys))).all()) if keys else set()
    missing = [item for item, key in zip(due_now, keys, strict=True) if key not in known]
    people = (
        {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_({m[1] for m in missing})))}
        if missing
        else {}
    )
    opened: dict[str, int] = {}
    for kind, person_id, due in missing:
        if open_follow_up(session, kind, people[person_id], due):
            opened[kind] = opened.get(kind, 0) + 1
    return opened


@dataclass(frozen=True)
class AttentionItem:
    follow_up: FollowUp
    person: Person


def attention(session: Session, user: User, today: date) -> list[AttentionItem]:
    """Follow-ups due for the people this user may see, oldest first; snoozed ones once they wake."""
    rows = session.exec(
        select(FollowUp, Person)
        .join(Person, col(Person.id) == FollowUp.person_id)
        .where(
            visibility(user),
            or_(
                FollowUp.status == FollowUpStatus.OPEN,
                and_(FollowUp.status == FollowUpStatus.SNOOZED, col(FollowUp.snoozed_until) <= today),
            ),
        )
        .order_by(col(FollowUp.due_on), col(FollowUp.id))
    ).all()
    return [AttentionItem(follow_up, person) for follow_up, person in rows]


def proposals(session: Session, user: User) -> list[tuple[Referral, Person]]:
    """Referrals proposed for this user's people (after a decline or an expiry), waiting for approval."""
    rows = session.exec(
        select(Referral, Person)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(visibility(user), Referral.status == ReferralStatus.PROPOSED)
        .order_by(col(Referral.created_at))
    ).all()
    return [(referral, person) for referral, person in rows]


def find_follow_up(session: Session, user: User, follow_up_id: uuid.UUID) -> FollowUp | None:
    """A follow-up of a person this user may see; missing and not-yours look the same."""
    return session.exec(
        select(FollowUp)
        .join(Person, col(Person.id) == FollowUp.person_id)
        .where(FollowUp.id == follow_up_id, visibility(user))
    ).first()


def settle(
    session: Session,
    user: User,
    follow_up: FollowUp,
    note: str,
    snooze_days: int | None = None,
    outcome: str = "",
) -> FollowUp:
    """Mark a follow-up done, or snooze it for some days; either way with a note of what was done.
    A job check is done only with its outcome, which the job-retention indicator counts."""
    person = session.get(Person, follow_up.person_id)
    if person is None or person.caseworker_id != user.id:
        raise NotAllowed("only the person's caseworker settles their follow-ups")
    job_check_done = follow_up.kind in JOB_CHECKS and snooze_days is None
    if job_check_done and outcome not in JOB_CHECK_OUTCOMES:
        raise MissingOutcome(follow_up.kind)
    follow_up = session.exec(select(FollowUp).where(FollowUp.id == follow_up.id).with_for_update()).one()
    follow_up.note = note
    follow_up.resolved_by_id = user.id
    follow_up.resolved_at = utcnow()
    if snooze_days is None:
        follow_up.status = FollowUpStatus.DONE
        follow_up.outcome = outcome if job_check_done else ""
    else:
        follow_up.status = FollowUpStatus.SNOOZED
        follow_up.snoozed_until = local_today() + timedelta(days=snooze_days)
    record(session, user, "status", "follow_up", follow_up.id)
    session.commit()
    return follow_up
