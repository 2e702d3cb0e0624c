"""The caseworker's attention list: open follow-ups, and referrals proposed for their approval."""

import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from sqlmodel import Session, and_, col, or_, select

from portal.audit.services import record
from portal.exceptions import MissingOutcome, NotAllowed
from portal.models import (
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    Need,
    Person,
    Referral,
    ReferralStatus,
    User,
    utcnow,
)
from portal.people.services import visibility

JOB_CHECKS = frozenset({FollowUpKind.EMPLOYMENT_30, FollowUpKind.EMPLOYMENT_90, FollowUpKind.EMPLOYMENT_180})
# What a job check found; the 90-day one is the programme's job-retention figure.
STILL_EMPLOYED = "still_employed"
JOB_CHECK_OUTCOMES = (STILL_EMPLOYED, "no_longer_employed")
# The days a follow-up may be snoozed for: the choices the home page offers.
SNOOZE_CHOICES = (1, 3, 7, 14)


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
        follow_up.snoozed_until = utcnow().date() + timedelta(days=snooze_days)
    record(session, user, "status", "follow_up", follow_up.id)
    session.commit()
    return follow_up
