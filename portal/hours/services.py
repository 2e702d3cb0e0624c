"""Volunteers' hours: a volunteer logs what they did; the caseworker of the referral it served, or
else the organization they served with, confirms it (or returns it with a reason); confirmed hours
add up per volunteer, per organization and per area, for the volunteer's certificate, the
organization's export and the indicators.

Only confirmed hours count anywhere: a volunteer's own word is the start of the record, not the record."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from portal.areas import in_area
from portal.exceptions import AlreadyDecided, NotAllowed
from portal.keyset import Page, SortKey, page_of
from portal.models import (
    ActivityKind,
    ActivityStatus,
    Offer,
    Organization,
    OrganizationKind,
    Person,
    Referral,
    ReferralStatus,
    Role,
    User,
    VerificationStatus,
    VolunteerActivity,
    utcnow,
)
from portal.people.services import visibility
from portal.users.services import names_of

# The referrals a volunteer can say their hours served: those they took on.
SERVED = (ReferralStatus.ACCEPTED, ReferralStatus.IN_PROGRESS, ReferralStatus.COMPLETED)
# The organizations a volunteer serves with: not employers, whose staff have no volunteers to confirm.
HOSTS = (OrganizationKind.NGO, OrganizationKind.VOLUNTEER_GROUP, OrganizationKind.GOVERNMENT)
# How many of their referrals the log form offers a volunteer (the latest first).
REFERRALS_OFFERED = 100
# The volunteer's own list, newest first; the id makes the order total.
OWN_ORDER = (
    SortKey(col(VolunteerActivity.done_on), descending=True),
    SortKey(col(VolunteerActivity.id), descending=True),
)
# What is waiting for a confirmer, the oldest first.
WAITING_ORDER = (SortKey(col(VolunteerActivity.created_at)), SortKey(col(VolunteerActivity.id)))


@dataclass(frozen=True)
class Activity:
    """What a volunteer logs; `referral_id` or `organization_id` names who confirms it."""

    done_on: date
    minutes: int
    kind: ActivityKind
    description: str
    referral_id: uuid.UUID | None
    organization_id: uuid.UUID | None


@dataclass(frozen=True)
class ServedReferral:
    """A referral as the volunteer's form names it: the person's code and the offer, nothing more."""

    id: uuid.UUID
    code: str
    offer_title: str


@dataclass(frozen=True)
class Totals:
    confirmed_minutes: int
    confirmed_this_year: int
    pending: int
    returned: int

    @property
    def confirmed_hours(self) -> float:
        return self.confirmed_minutes / 60

    @property
    def hours_this_year(self) -> float:
        return self.confirmed_this_year / 60


@dataclass(frozen=True)
class VolunteerTotal:
    """One volunteer's confirmed hours over a period, as an organization sees them."""

    name: str
    minutes: int
    activities: int

    @property
    def hours(self) -> float:
        return self.minutes / 60


def served_referrals(session: Session, volunteer: User) -> list[ServedReferral]:
    """The referrals to the volunteer's own offers that they took on, the latest first."""
    rows = session.exec(
        select(Referral.id, Person.code, Offer.title)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .join(Person, col(Person.id) == Referral.person_id)
        .where(Offer.volunteer_id == volunteer.id, col(Referral.status).in_(SERVED))
        .order_by(col(Referral.created_at).desc(), col(Referral.id))
        .limit(REFERRALS_OFFERED)
    ).all()
    return [ServedReferral(*row) for row in rows]


def hosts(session: Session) -> list[Organization]:
    """The verified organizations a volunteer may say they served with, by name."""
    return list(
        session.exec(
            select(Organization)
            .where(Organization.status == VerificationStatus.VERIFIED, col(Organization.kind).in_(HOSTS))
            .order_by(Organization.name, col(Organization.id))
        )
    )


def last_host(session: Session, volunteer: User) -> uuid.UUID | None:
    """The organization of the volunteer's latest activity: most log with the same one each time."""
    return session.exec(
        select(VolunteerActivity.organization_id)
        .where(VolunteerActivity.volunteer_id == volunteer.id, col(VolunteerActivity.organization_id).is_not(None))
        .order_by(col(VolunteerActivity.created_at).desc())
        .limit(1)
    ).first()


def log(session: Session, volunteer: User, activity: Activity) -> VolunteerActivity:
    """Record the activity, waiting for confirmation. It counts in the area of the referral's
    person, or else of the organization.

    :raise NotAllowed: the referral is not one the volunteer took on, or the organization is not
        one they can serve with; the form offers only those, so this is a forged or stale form.
    """
    if volunteer.role != Role.VOLUNTEER:
        raise NotAllowed("only volunteers log hours")
    area_id = None
    if activity.referral_id is not None:
        if activity.referral_id not in {served.id for served in served_referrals(session, volunteer)}:
            raise NotAllowed("not a referral this volunteer took on")
        area_id = session.exec(
            select(Person.area_id)
            .join(Referral, col(Referral.person_id) == Person.id)
            .where(Referral.id == activity.referral_id)
        ).one()
    else:
        host = session.get(Organization, activity.organization_id) if activity.organization_id else None
        if host is None or not host.is_verified or host.kind not in HOSTS:
            raise NotAllowed("not an organization volunteers serve with")
        area_id = host.area_id
    record = VolunteerActivity(
        volunteer_id=volunteer.id,
        done_on=activity.done_on,
        minutes=activity.minutes,
        kind=activity.kind,
        description=activity.description,
        referral_id=activity.referral_id,
        organization_id=None if activity.referral_id else activity.organization_id,
        area_id=area_id,
    )
    session.add(record)
    session.commit()
    return record


def own_activity(session: Session, volunteer: User, activity_id: uuid.UUID) -> VolunteerActivity | None:
    return session.exec(
        select(VolunteerActivity).where(
            VolunteerActivity.id == activity_id, VolunteerActivity.volunteer_id == volunteer.id
        )
    ).first()


def withdraw(session: Session, volunteer: User, activity: VolunteerActivity) -> None:
    """A volunteer takes back hours not yet confirmed (to log them again, right). Confirmed hours
    are the organization's record too, and stay.

    :raise AlreadyDecided: the hours were confirmed meanwhile.
    """
    locked = _locked(session, activity.id)
    if locked.volunteer_id != volunteer.id:
        raise NotAllowed("not this volunteer's hours")
    if locked.status == ActivityStatus.CONFIRMED:
        raise AlreadyDecided("confirmed")
    session.delete(locked)
    session.commit()


def own_activities(session: Session, volunteer: User, cursor: str | None, per_page: int) -> Page[VolunteerActivity]:
    """A page of the volunteer's activities, the latest done first.

    :raise BadCursor: the cursor was not written for this list.
    """
    query = select(VolunteerActivity).where(VolunteerActivity.volunteer_id == volunteer.id)
    return page_of(session, query, OWN_ORDER, lambda row: (row.done_on, row.id), cursor, per_page)


def totals(session: Session, volunteer: User, today: date) -> Totals:
    """The volunteer's confirmed hours (in all and this calendar year), and how many wait or came back."""
    status = col(VolunteerActivity.status)
    confirmed = status == ActivityStatus.CONFIRMED
    this_year = sa.and_(confirmed, col(VolunteerActivity.done_on) >= today.replace(month=1, day=1))
    minutes = col(VolunteerActivity.minutes)
    row = session.exec(
        select(
            func.coalesce(func.sum(sa.case((confirmed, minutes), else_=0)), 0),
            func.coalesce(func.sum(sa.case((this_year, minutes), else_=0)), 0),
            func.count(sa.case((status == ActivityStatus.PENDING, 1))),
            func.count(sa.case((status == ActivityStatus.RETURNED, 1))),
        ).where(VolunteerActivity.volunteer_id == volunteer.id)
    ).one()
    return Totals(*(int(value) for value in row))


def confirmable_by(user: User) -> sa.ColumnElement[bool]:
    """Which activities a user confirms: an organization's staff those done with it (and no
    referral); a caseworker or supervisor those serving a referral of a person they see."""
    if user.role == Role.PROVIDER and user.organization_id is not None:
        return (col(VolunteerActivity.organization_id) == user.organization_id) & col(
            VolunteerActivity.referral_id
        ).is_(None)
    if user.role in (Role.CASEWORKER, Role.SUPERVISOR):
        seen = (
            select(Referral.id)
            .join(Person, col(Person.id) == Referral.person_id)
            .where(visibility(user), col(Referral.id) == VolunteerActivity.referral_id)
        )
        return seen.exists()
    return sa.false()


@dataclass(frozen=True)
class Waiting:
    """An activity waiting for confirmation, with what the confirmer needs to judge it."""

    activity: VolunteerActivity
    volunteer_name: str
    code: str  # the referral's person, for a caseworker; '' for an organization


def waiting(session: Session, user: User, cursor: str | None, per_page: int) -> Page[Waiting]:
    """A page of the activities waiting for this user's confirmation, the oldest logged first.

    :raise BadCursor: the cursor was not written for this list.
    """
    query = select(VolunteerActivity).where(VolunteerActivity.status == ActivityStatus.PENDING, confirmable_by(user))
    found = page_of(session, query, WAITING_ORDER, lambda row: (row.created_at, row.id), cursor, per_page)
    names = names_of(session, {activity.volunteer_id for activity in found.items})
    served = {activity.referral_id for activity in found.items if activity.referral_id}
    codes: dict[uuid.UUID | None, str] = dict(
        session.exec(
            select(Referral.id, Person.code)
            .join(Person, col(Person.id) == Referral.person_id)
            .where(col(Referral.id).in_(served))
        ).all()
    )
    return Page(
        [
            Waiting(activity, names.get(activity.volunteer_id, ""), codes.get(activity.referral_id, ""))
            for activity in found.items
        ],
        found.next_cursor,
    )


def count_waiting(session: Session, user: User) -> int:
    return session.exec(
        select(func.count())
        .select_from(VolunteerActivity)
        .where(VolunteerActivity.status == ActivityStatus.PENDING, confirmable_by(user))
    ).one()


def find_waiting(session: Session, user: User, activity_id: uuid.UUID) -> VolunteerActivity | None:
    """An activity this user confirms, in any state; missing and not-theirs look the same."""
    return session.exec(
        select(VolunteerActivity).where(VolunteerActivity.id == activity_id, confirmable_by(user))
    ).first()


def _locked(session: Session, activity_id: uuid.UUID) -> VolunteerActivity:
    locked = session.exec(select(VolunteerActivity).where(VolunteerActivity.id == activity_id).with_for_update()).one()
    session.refresh(locked)
    return locked


def decide(session: Session, user: User, activity: VolunteerActivity, confirmed: bool, reason: str = "") -> None:
    """Confirm the hours, or return them to the volunteer with the reason. The row is locked, so of
    two confirmers clicking at once the second learns it was decided.

    :raise AlreadyDecided: someone confirmed or returned it first.
    :raise NotAllowed: the user does not confirm this activity.
    """
    locked = _locked(session, activity.id)
    if find_waiting(session, user, locked.id) is None:
        raise NotAllowed("not an activity this user confirms")
    if locked.status != ActivityStatus.PENDING:
        raise AlreadyDecided(locked.status)
    locked.status = ActivityStatus.CONFIRMED if confirmed else ActivityStatus.RETURNED
    locked.returned_reason = "" if confirmed else reason
    locked.decided_by_id = user.id
    locked.decided_at = utcnow()
    session.commit()


def decided_by(session: Session, activities: Sequence[VolunteerActivity]) -> dict[uuid.UUID, str]:
    """Who confirmed or returned each activity: the organization's name, or the caseworker's."""
    return names_of(
        session,
        {a.decided_by_id for a in activities if a.decided_by_id},
        {a.organization_id for a in activities if a.organization_id},
    )


def confirmed_between(first: date, last: date) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(VolunteerActivity.status) == ActivityStatus.CONFIRMED,
        col(VolunteerActivity.done_on) >= first,
        col(VolunteerActivity.done_on) <= last,
    )


def certificate(session: Session, volunteer: User, first: date, last: date) -> list[VolunteerActivity]:
    """The volunteer's confirmed activities done in the period, in the order they were done."""
    return list(
        session.exec(
            select(VolunteerActivity)
            .where(VolunteerActivity.volunteer_id == volunteer.id, confirmed_between(first, last))
            .order_by(col(VolunteerActivity.done_on), col(VolunteerActivity.id))
        )
    )


def exportable_by(user: User) -> sa.ColumnElement[bool]:
    """Whose confirmed hours a user exports: an organization those done with it; a supervisor
    those counted in their areas; an admin everyone's."""
    if user.role == Role.PROVIDER and user.organization_id is not None:
        return col(VolunteerActivity.organization_id) == user.organization_id
    if user.role == Role.SUPERVISOR and user.area_id is not None:
        return in_area(col(VolunteerActivity.area_id), user.area_id)
    if user.role == Role.ADMIN:
        return sa.true()
    return sa.false()


@dataclass(frozen=True)
class ExportRow:
    activity: VolunteerActivity
    volunteer: User
    organization: str


def export_rows(session: Session, user: User, first: date, last: date) -> list[ExportRow]:
    """The confirmed activities this user exports, done in the period, by date then volunteer."""
    rows = session.exec(
        select(VolunteerActivity, User, Organization.name)
        .join(User, col(User.id) == VolunteerActivity.volunteer_id)
        .outerjoin(Organization, col(Organization.id) == VolunteerActivity.organization_id)
        .where(exportable_by(user), confirmed_between(first, last))
        .order_by(col(VolunteerActivity.done_on), User.name, col(VolunteerActivity.id))
    ).all()
    return [ExportRow(activity, volunteer, organization or "") for activity, volunteer, organization in rows]


def volunteer_totals(session: Session, user: User, first: date, last: date) -> list[VolunteerTotal]:
    """Each volunteer's confirmed hours in the period among those this user exports, most first."""
    rows = session.exec(
        select(User.name, func.sum(VolunteerActivity.minutes), func.count())
        .join(User, col(User.id) == VolunteerActivity.volunteer_id)
        .where(exportable_by(user), confirmed_between(first, last))
        .group_by(col(User.id), User.name)
        .order_by(func.sum(VolunteerActivity.minutes).desc(), User.name)
    ).all()
    return [VolunteerTotal(name, int(minutes), count) for name, minutes, count in rows]


def set_id_type(session: Session, volunteer: User, id_type: str) -> None:
    volunteer.id_type = id_type
    session.add(volunteer)
    session.commit()
