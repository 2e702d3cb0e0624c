"""The caseworker's attention list: open follow-ups, and referrals proposed for their approval.
Follow-ups are opened by the periodic job (`portal/jobs.py`), and those about contact by the
caseworker's start page too, so that the list and the caseload's figures beside it agree even
when the job last ran hours ago."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlmodel import Session, and_, col, or_, select

from portal.audit.services import record, record_list
from portal.clock import local_today
from portal.crypto import sealed_rows
from portal.db import insert_new
from portal.exceptions import MissingOutcome, NotAllowed
from portal.keyset import DEFAULT_PER_PAGE, Page, SortKey, page_and_counts
from portal.models import (
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    NoticeTarget,
    Person,
    User,
    utcnow,
)
from portal.notifications.services import Notice, notify_all
from portal.people.search import contact_gap_ends, out_of_contact, overdue
from portal.people.services import visibility

JOB_CHECKS = frozenset({FollowUpKind.EMPLOYMENT_30, FollowUpKind.EMPLOYMENT_90, FollowUpKind.EMPLOYMENT_180})
# What a job check found; the 90-day one is the programme's job-retention figure.
STILL_EMPLOYED = "still_employed"
JOB_CHECK_OUTCOMES = (STILL_EMPLOYED, "no_longer_employed")
# The days a follow-up may be snoozed for: the choices the home page offers.
SNOOZE_CHOICES = (1, 3, 7, 14)
FOLLOW_UPS = FollowUp.__table__  # type: ignore[attr-defined]


# How many follow-ups one transaction opens: one INSERT, one notification each, one audit event.
OPEN_BATCH = 500


def occasion_key(kind: FollowUpKind, person_id: uuid.UUID, due: date, referral_id: uuid.UUID | None = None) -> str:
    """The key that makes a follow-up one per occasion: its kind, person, referral and due date."""
    return f"{kind}:{person_id}:{referral_id or ''}:{due.isoformat()}"


@dataclass(frozen=True)
class Due:
    """A follow-up due, and what telling the caseworker needs: ids and the person's code, so that
    nobody is loaded (and decrypted) to open it."""

    kind: FollowUpKind
    person_id: uuid.UUID
    caseworker_id: uuid.UUID | None
    code: str
    due_on: date
    referral_id: uuid.UUID | None = None

    @property
    def key(self) -> str:
        return occasion_key(self.kind, self.person_id, self.due_on, self.referral_id)


def open_follow_ups(session: Session, due: Sequence[Due]) -> dict[str, int]:
    """Open each follow-up once per occasion, tell the caseworkers, and log one audit event naming
    the follow-ups opened, a batch per transaction; how many of each kind were opened. Committed here.

    One INSERT a batch skips the occasions opened already, by an earlier run or a moment ago by
    another (a caseworker's home page, a run that slipped past the job lock): only the rows this
    INSERT wrote are told of, so nobody is told twice."""
    opened: dict[str, int] = {}
    # In one order for every writer: two writing the same occasions at once wait for each other in
    # turn, and never each for the other (a deadlock on PostgreSQL).
    due = sorted(due, key=lambda item: item.key)
    for start in range(0, len(due), OPEN_BATCH):
        batch = {item.key: item for item in due[start : start + OPEN_BATCH]}
        rows = sealed_rows(
            session.connection(),
            FOLLOW_UPS,
            [
                FollowUp(
                    key=key, kind=item.kind, person_id=item.person_id, referral_id=item.referral_id, due_on=item.due_on
                ).model_dump()
                for key, item in batch.items()
            ],
        )
        written = session.execute(
            insert_new(session, FOLLOW_UPS, "key", rows).returning(FOLLOW_UPS.c.id, FOLLOW_UPS.c.key)
        ).all()
        told = [batch[key] for _id, key in written]
        notify_all(
            session,
            [
                Notice(item.caseworker_id, f"follow_up_{item.kind}", NoticeTarget.HOME, params={"person": item.code})
                for item in told
            ],
        )
        record_list(session, None, "create", "follow_up", [follow_up_id for follow_up_id, _key in written])
        session.commit()
        for item in told:
            opened[item.kind] = opened.get(item.kind, 0) + 1
    return opened


def open_contact_follow_ups(
    session: Session, today: date, allowed_gap: Mapping[str, int], seen_by: User | None = None
) -> dict[str, int]:
    """Open the follow-ups `contact_follow_ups_due` finds; how many of each kind were opened."""
    due = contact_follow_ups_due(session, today, allowed_gap, seen_by)
    return open_follow_ups(session, due) if due else {}


def contact_follow_ups_due(
    session: Session, today: date, allowed_gap: Mapping[str, int], seen_by: User | None = None
) -> list[Due]:
    """The follow-ups to open for people out of contact for longer than their programme allows, and
    for next contacts overdue, by the same rules as the caseload's figures (`portal/people/search.py`);
    among the people `seen_by` sees, or everyone's. Reads only: a page that finds none writes nothing.

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
    last = col(Person.last_contact_on)
    this_stretch = select(FollowUp.id).where(
        FollowUp.person_id == Person.id,
        FollowUp.kind == FollowUpKind.LOST_CONTACT,
        or_(last.is_(None), col(FollowUp.due_on) > last),
    )
    lost = session.exec(
        select(Person).where(*on_caseload, out_of_contact(today, allowed_gap), ~this_stretch.exists())
    ).all()
    this_date = select(FollowUp.id).where(
        FollowUp.person_id == Person.id,
        FollowUp.kind == FollowUpKind.CONTACT_OVERDUE,
        col(FollowUp.due_on) == Person.next_contact_due,
    )
    late = session.exec(
        select(Person.id, col(Person.caseworker_id), Person.code, col(Person.next_contact_due)).where(
            *on_caseload, overdue(today), ~this_date.exists()
        )
    ).all()
    due = [
        Due(FollowUpKind.LOST_CONTACT, p.id, p.caseworker_id, p.code, contact_gap_ends(p, allowed_gap)) for p in lost
    ]
    due += [
        Due(FollowUpKind.CONTACT_OVERDUE, person_id, caseworker_id, code, next_due)
        for person_id, caseworker_id, code, next_due in late
        if next_due is not None
    ]
    return due


@dataclass(frozen=True)
class AttentionItem:
    follow_up: FollowUp
    person: Person


def _due_now(user: User, today: date) -> Any:
    """The keys (id, due date) of the follow-ups due for the people this user may see; snoozed ones
    once they wake."""
    return (
        sa.select(col(FollowUp.id), col(FollowUp.due_on))
        .join(Person, col(Person.id) == FollowUp.person_id)
        .where(
            visibility(user),
            or_(
                FollowUp.status == FollowUpStatus.OPEN,
                and_(FollowUp.status == FollowUpStatus.SNOOZED, col(FollowUp.snoozed_until) <= today),
            ),
        )
    )


@dataclass(frozen=True)
class Attention:
    """A page of the follow-ups due, and how many are due in all."""

    page: Page[AttentionItem]
    total: int


def attention(
    session: Session, user: User, today: date, cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE
) -> Attention:
    """A page of the follow-ups due for the people this user may see, oldest first (the home page
    shows the first few), and how many are due: one statement reads the due follow-ups once (a
    materialised CTE of their keys) for both. Only the follow-ups and people of the page are loaded.

    :raise BadCursor: the cursor was not written for this list.
    """
    due = _due_now(user, today).cte("due_follow_ups").prefix_with("MATERIALIZED")
    found, counted = page_and_counts(session, due, (SortKey(due.c.due_on), SortKey(due.c.id)), cursor, per_page)
    total = counted.get(None, 0)
    shown = [row.id for row in found.items]
    follow_ups = {f.id: f for f in session.exec(select(FollowUp).where(col(FollowUp.id).in_(shown)))} if shown else {}
    ids = {follow_up.person_id for follow_up in follow_ups.values()}
    people = {p.id: p for p in session.exec(select(Person).where(col(Person.id).in_(ids)))} if ids else {}
    items = [AttentionItem(follow_ups[i], people[follow_ups[i].person_id]) for i in shown if i in follow_ups]
    return Attention(Page(items, found.next_cursor), total)


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
