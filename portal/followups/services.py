"""The caseworker's attention list: open follow-ups, and referrals proposed for their approval.
Follow-ups are opened by the periodic job (`portal/jobs.py`), and those about contact by the
caseworker's start page too, so that the list and the caseload's figures beside it agree even
when the job last ran hours ago."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import ColumnElement
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, and_, col, func, or_, select
from sqlmodel.sql.expression import SelectOfScalar

from portal.audit.services import record
from portal.clock import local_today
from portal.exceptions import MissingOutcome, NotAllowed
from portal.keyset import DEFAULT_PER_PAGE, Page, SortKey, page_of
from portal.models import (
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    NoticeTarget,
    Person,
    Referral,
    ReferralStatus,
    User,
    utcnow,
)
from portal.notifications.services import notify
from portal.people.search import contact_gap_ends, last_contact, out_of_contact, overdue
from portal.people.services import first_of_caseload, visibility

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
    next contacts overdue, by the same rules as the caseload's figures (`portal/people/search.py`);
    among the people `seen_by` sees, or everyone's. How many of each kind were opened.

    SQL finds the people due whose follow-up is not open yet, so a run (and each view of the home
    page) reads no one else: usually nobody, in two queries. A lost-contact follow-up belongs to a
    stretch without contact: one due after the last contact (or, never contacted, any) is that
    stretch's, so a contact logged later starts a new one."""
    # An anonymised record is closed: nobody is to be contacted any more.
    on_caseload: list[ColumnElement[bool]] = [
        col(Person.caseworker_id).is_not(None),
        col(Person.anonymised_at).is_(None),
    ]
    if seen_by is not None:
        on_caseload.append(visibility(seen_by))
    last = last_contact()
    this_stretch = select(FollowUp.id).where(
        FollowUp.person_id == Person.id,
        FollowUp.kind == FollowUpKind.LOST_CONTACT,
        or_(last.is_(None), col(FollowUp.due_on) > last),
    )
    lost = session.exec(
        select(Person, last).where(*on_caseload, out_of_contact(today, allowed_gap), ~this_stretch.exists())
    ).all()
    this_date = select(FollowUp.id).where(
        FollowUp.person_id == Person.id,
        FollowUp.kind == FollowUpKind.CONTACT_OVERDUE,
        col(FollowUp.due_on) == Person.next_contact_due,
    )
    late = session.exec(select(Person).where(*on_caseload, overdue(today), ~this_date.exists())).all()
    due_now = [(FollowUpKind.LOST_CONTACT, p, contact_gap_ends(p, last_on, allowed_gap)) for p, last_on in lost]
    due_now += [(FollowUpKind.CONTACT_OVERDUE, p, p.next_contact_due) for p in late if p.next_contact_due]
    opened: dict[str, int] = {}
    for kind, person, due in due_now:
        if open_follow_up(session, kind, person, due):
            opened[kind] = opened.get(kind, 0) + 1
    return opened


@dataclass(frozen=True)
class AttentionItem:
    follow_up: FollowUp
    person: Person


# Oldest due first; the id makes the order total, as keyset pages need.
ATTENTION_ORDER = (SortKey(col(FollowUp.due_on)), SortKey(col(FollowUp.id)))


def _due_now(user: User, today: date) -> SelectOfScalar[FollowUp]:
    """Follow-ups due for the people this user may see; snoozed ones once they wake."""
    return (
        select(FollowUp)
        .join(Person, col(Person.id) == FollowUp.person_id)
        .where(
            visibility(user),
            or_(
                FollowUp.status == FollowUpStatus.OPEN,
                and_(FollowUp.status == FollowUpStatus.SNOOZED, col(FollowUp.snoozed_until) <= today),
            ),
        )
    )


def attention(
    session: Session, user: User, today: date, cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE
) -> Page[AttentionItem]:
    """A page of the follow-ups due for the people this user may see, oldest first (the home page
    shows the first few). Only the people of the page are loaded.

    :raise BadCursor: the cursor was not written for this list.
    """
    page = page_of(session, _due_now(user, today), ATTENTION_ORDER, lambda f: (f.due_on, f.id), cursor, per_page)
    ids = {follow_up.person_id for follow_up in page.items}
    people = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(ids)))} if ids else {}
    return Page([AttentionItem(f, people[f.person_id]) for f in page.items], page.next_cursor)


def attention_count(session: Session, user: User, today: date) -> int:
    """How many follow-ups are due for the people this user may see."""
    return session.exec(select(func.count()).select_from(_due_now(user, today).subquery())).one()


def proposals(session: Session, user: User, limit: int) -> list[tuple[Referral, Person]]:
    """The oldest referrals proposed again (after a decline or an expiry) for this user's approval;
    /people/?proposed=1 lists the people of them all."""
    first = first_of_caseload(user, [ReferralStatus.PROPOSED], col(Referral.created_at), limit)
    rows = session.exec(
        select(Referral, Person)
        .join(first, first.c.id == Referral.id)
        .join(Person, col(Person.id) == Referral.person_id)
        .order_by(first.c.key, first.c.id)
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
