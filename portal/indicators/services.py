"""The programme's indicators (考评细则) for a period and an area, each from a few aggregate queries.

People count in the area they live in now: the record keeps no history of moves, so a person who
moved is counted, with all their contacts, needs and referrals, where they live today. Periods are
whole days in Xi'an time, the first and the last day included.
"""

import statistics
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask_babel import LazyString
from flask_babel import lazy_gettext as _l
from sqlmodel import Session, col, func, select

from portal.areas import areas_within, in_area
from portal.clock import local_midnight
from portal.followups.services import STILL_EMPLOYED
from portal.models import (
    ActivityStatus,
    Area,
    Category,
    ContactLog,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    Need,
    Offer,
    Person,
    Programme,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    UTCDateTime,
    VolunteerActivity,
)
from portal.users.services import names_of

# A provider has answered a referral when it accepted, declined or waitlisted it.
ANSWERS = (ReferralStatus.ACCEPTED, ReferralStatus.DECLINED, ReferralStatus.WAITLISTED)
# How an accepted referral ends: done, or withdrawn by the caseworker before it was.
FINISHES = (ReferralStatus.COMPLETED, ReferralStatus.WITHDRAWN)
RETENTION_DAYS = 90
SECONDS_PER_DAY = 86400

NAMES: dict[str, LazyString] = {
    "people_active": _l("People active"),
    "contact_rate": _l("Contact rate"),
    "out_of_contact": _l("People out of contact (脱失)"),
    "needs_by_category": _l("Needs by category"),
    "referrals_by_status": _l("Referrals by status"),
    "need_to_approval": _l("Median days from need to approval"),
    "approval_to_answer": _l("Median days from approval to the provider's answer"),
    "completion_by_provider": _l("Completion rate per provider"),
    "job_placements": _l("Job placements"),
    "retention": _l("90-day job retention"),
    "volunteer_hours": _l("Volunteer hours confirmed"),
}

# What exactly each indicator counts: shown on the page beside it and written into the CSV.
DEFINITIONS: dict[str, LazyString] = {
    "people_active": _l(
        "People on a caseworker's caseload who live in the area (or an area within it) and were "
        "registered by the last day of the period."
    ),
    "contact_rate": _l(
        "Of the people active, the share with at least one contact (visit, call, message or check-in) "
        "logged on a day of the period."
    ),
    "out_of_contact": _l(
        "People active whose last contact on or before the last day of the period (or their registration, "
        "if never contacted) is longer ago than their programme allows: %(limits)s."
    ),
    "needs_by_category": _l(
        "Needs recorded in the period for people in the area, by category, whatever their status now."
    ),
    "referrals_by_status": _l(
        "Referrals made in the period for needs of people in the area, by the state each one is in now."
    ),
    "need_to_approval": _l(
        "For each referral approved in the period: the days from its need being recorded to the approval. "
        "The median of these, and how many referrals it is taken over."
    ),
    "approval_to_answer": _l(
        "For each referral the provider first answered (accepted, declined or waitlisted) in the period: "
        "the days from its approval to that answer. The median of these, and how many referrals it is taken over."
    ),
    "completion_by_provider": _l(
        "For each provider (organization or volunteer): of the referrals it had accepted that ended in the "
        "period, the share completed; the others were withdrawn after acceptance."
    ),
    "job_placements": _l(
        "Referrals to job offers for people in the area whose person started the job in the period "
        "(the employer marked the referral started)."
    ),
    "retention": _l(
        "Job placements whose 90th day fell in the period: the share whose 90-day job check the caseworker "
        'marked done with "Still employed". A job left or ended before, or a check not yet done, '
        "counts as not retained."
    ),
    "volunteer_hours": _l(
        "Hours volunteers gave on days in the period that an organization or a caseworker confirmed, "
        "and how many volunteers gave them. Hours done for a referral count in the area of its person; "
        "other hours in the area of the organization they were done with."
    ),
}


@dataclass(frozen=True)
class Scope:
    """Which people (an area and the areas below it; None for every area) over which days."""

    area_id: uuid.UUID | None
    start: date
    end: date  # included

    @property
    def start_at(self) -> datetime:
        return local_midnight(self.start)

    @property
    def end_at(self) -> datetime:
        """The first moment after the period."""
        return local_midnight(self.end + timedelta(days=1))


@dataclass(frozen=True)
class Median:
    """The median of some durations in days, and how many durations there were."""

    days: float | None
    count: int


@dataclass(frozen=True)
class ProviderCompletion:
    provider: str
    completed: int
    withdrawn: int

    @property
    def rate(self) -> float | None:
        finished = self.completed + self.withdrawn
        return self.completed / finished if finished else None


@dataclass(frozen=True)
class Retention:
    """Job placements that reached their 90th day in the period, and what their 90-day check found."""

    placements: int
    still_employed: int
    no_longer_employed: int

    @property
    def not_checked(self) -> int:
        return self.placements - self.still_employed - self.no_longer_employed

    @property
    def rate(self) -> float | None:
        return self.still_employed / self.placements if self.placements else None


@dataclass(frozen=True)
class Indicators:
    scope: Scope
    people_registered: int
    people_active: int
    people_contacted: int
    out_of_contact: int
    needs_by_category: dict[str, int]
    referrals_by_status: dict[str, int]
    need_to_approval: Median
    approval_to_answer: Median
    completion_by_provider: list[ProviderCompletion]
    job_placements: int
    retention: Retention
    volunteer_hours: "VolunteerHours"

    @property
    def contact_rate(self) -> float | None:
        return self.people_contacted / self.people_active if self.people_active else None


@dataclass(frozen=True)
class Month:
    """A few headline indicators for one calendar month (or its part up to the period's end)."""

    scope: Scope
    people_registered: int
    people_active: int
    people_contacted: int
    out_of_contact: int
    needs_recorded: int
    referrals_made: int
    job_placements: int

    @property
    def contact_rate(self) -> float | None:
        return self.people_contacted / self.people_active if self.people_active else None


@dataclass(frozen=True)
class Rules:
    """The programme's settings the indicators depend on."""

    # Longest gap between contacts per programme ("default" for the rest), as CONTACT_GAP_DAYS.
    contact_gap_days: Mapping[str, int] = field(default_factory=lambda: {"default": 30})

    def gap_for(self, programme: str | None) -> int:
        return int(self.contact_gap_days.get(programme or "", self.contact_gap_days.get("default", 30)))


def areas_for(session: Session, user: User) -> list[Area] | None:
    """The areas whose indicators a user may see, sorted by code: a supervisor's own area and those
    within it (none without an area); None for every area, an administrator's view."""
    if user.role == Role.ADMIN:
        return None
    if user.role != Role.SUPERVISOR or user.area_id is None:
        return []
    return list(session.exec(select(Area).where(col(Area.id).in_(areas_within(user.area_id))).order_by(Area.code)))


def _in_area(scope: Scope) -> sa.ColumnElement[bool]:
    if scope.area_id is None:
        return sa.true()
    return in_area(col(Person.area_id), scope.area_id)


def _one_area(scopes: Sequence[Scope]) -> Scope:
    """The counting functions take several periods of one area, to count them all in one query."""
    if not scopes or len({scope.area_id for scope in scopes}) != 1:
        raise ValueError("give one or more periods of the same area")
    return scopes[0]


def _counts(session: Session, columns: list[Any], query: sa.Select[Any]) -> list[int]:
    """One row of counts, one per period; `query` supplies the FROM and WHERE. It is a plain
    SQLAlchemy select: SQLModel's would return only the first count as a scalar."""
    row = session.exec(query.with_only_columns(*columns)).one()  # type: ignore[call-overload]
    return [int(value or 0) for value in row]


def _registered_by(scope: Scope) -> sa.ColumnElement[bool]:
    return col(Person.created_at) < scope.end_at


def _on_caseloads(scope: Scope) -> sa.Select[Any]:
    """People in the area on a caseworker's caseload; active in a period once registered by its end."""
    return sa.select(col(Person.id)).where(_in_area(scope), col(Person.caseworker_id).is_not(None))


def people_registered(session: Session, scopes: Sequence[Scope]) -> list[int]:
    """Everyone in the area registered by the period's end, on a caseload or not: the people whose
    records every figure is drawn from, which small-cell suppression looks at."""
    base = sa.select(col(Person.id)).where(_in_area(_one_area(scopes)))
    return _counts(session, [func.count(sa.case((_registered_by(s), 1))) for s in scopes], base)


def people_active(session: Session, scopes: Sequence[Scope]) -> list[int]:
    base = _on_caseloads(_one_area(scopes))
    return _counts(session, [func.count(sa.case((_registered_by(s), 1))) for s in scopes], base)


def _contact_between(first: date, last: date) -> sa.ColumnElement[bool]:
    return sa.and_(col(ContactLog.occurred_on) >= first, col(ContactLog.occurred_on) <= last)


def people_contacted(session: Session, scopes: Sequence[Scope]) -> list[int]:
    """Active people with at least one contact logged on a day of the period."""
    base = (
        _on_caseloads(_one_area(scopes))
        .join(ContactLog, col(ContactLog.person_id) == Person.id)
        .where(_contact_between(min(s.start for s in scopes), max(s.end for s in scopes)))
    )
    columns = [
        func.count(sa.distinct(sa.case((sa.and_(_registered_by(s), _contact_between(s.start, s.end)), col(Person.id)))))
        for s in scopes
    ]
    return _counts(session, columns, base)


def out_of_contact(session: Session, scopes: Sequence[Scope], rules: Rules) -> list[int]:
    """Active people whose last contact up to the period's last day (or, never contacted, their
    registration) is longer ago than their programme allows: the same rule as the lost-contact
    follow-up, seen from the period's last day. One query: each person's last contact before each
    period's end, then a count per period against the limit of the person's programme."""
    last_contacts = [
        func.max(sa.case((col(ContactLog.occurred_on) <= s.end, col(ContactLog.occurred_on)))).label(f"last_{i}")
        for i, s in enumerate(scopes)
    ]
    people = (
        _on_caseloads(_one_area(scopes))
        .add_columns(col(Person.programme).label("programme"), col(Person.created_at).label("created_at"))
        .outerjoin(ContactLog, col(ContactLog.person_id) == Person.id)
        .group_by(col(Person.id), col(Person.programme), col(Person.created_at))
        .add_columns(*last_contacts)
        .subquery()
    )

    def earliest_fine(end: date, moment: bool) -> Any:
        """The first day (or its first moment) within the limit of each person's programme, in SQL."""

        def value(gap: int) -> Any:
            day = end - timedelta(days=gap)
            return sa.literal(local_midnight(day), UTCDateTime()) if moment else sa.literal(day, sa.Date())

        whens = [(people.c.programme == p, value(rules.gap_for(p))) for p in Programme]
        return sa.case(*whens, else_=value(rules.gap_for(None)))

    columns = []
    for i, s in enumerate(scopes):
        last = people.c[f"last_{i}"]
        earliest_fine_day, earliest_fine_moment = earliest_fine(s.end, False), earliest_fine(s.end, True)
        out = sa.and_(
            people.c.created_at < s.end_at,
            sa.or_(
                sa.and_(last.is_not(None), last < earliest_fine_day),
                sa.and_(last.is_(None), people.c.created_at < earliest_fine_moment),
            ),
        )
        columns.append(func.count(sa.case((out, 1))))
    return _counts(session, columns, sa.select(people.c.id))


def needs_by_category(session: Session, scope: Scope) -> dict[str, int]:
    """Needs recorded in the period, by category (every category, zero included)."""
    counts = dict(
        session.exec(
            select(Need.category, func.count())
            .join(Person, col(Person.id) == Need.person_id)
            .where(_in_area(scope), col(Need.created_at) >= scope.start_at, col(Need.created_at) < scope.end_at)
            .group_by(col(Need.category))
        ).all()
    )
    return {str(category): counts.get(category, 0) for category in Category}


def _made_in(moment: Any, scope: Scope) -> sa.ColumnElement[bool]:
    return sa.and_(moment >= scope.start_at, moment < scope.end_at)


def needs_recorded(session: Session, scopes: Sequence[Scope]) -> list[int]:
    """Needs recorded in each period for people in the area."""
    base = sa.select(col(Need.id)).join(Person, col(Person.id) == Need.person_id).where(_in_area(_one_area(scopes)))
    return _counts(session, [func.count(sa.case((_made_in(col(Need.created_at), s), 1))) for s in scopes], base)


def referrals_made(session: Session, scopes: Sequence[Scope]) -> list[int]:
    """Referrals made in each period for needs of people in the area."""
    base = (
        sa.select(col(Referral.id))
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(_in_area(_one_area(scopes)))
    )
    return _counts(session, [func.count(sa.case((_made_in(col(Referral.created_at), s), 1))) for s in scopes], base)


def referrals_by_status(session: Session, scope: Scope) -> dict[str, int]:
    """Referrals made in the period, by the state they are in now (every state, zero included)."""
    counts = dict(
        session.exec(
            select(Referral.status, func.count())
            .join(Need, col(Need.id) == Referral.need_id)
            .join(Person, col(Person.id) == Need.person_id)
            .where(_in_area(scope), col(Referral.created_at) >= scope.start_at, col(Referral.created_at) < scope.end_at)
            .group_by(col(Referral.status))
        ).all()
    )
    return {str(status): counts.get(status, 0) for status in ReferralStatus}


def _first(to_status: Any) -> Any:
    """The first time a referral's events reached one of these states (None if never)."""
    states = to_status if isinstance(to_status, tuple) else (to_status,)
    return func.min(sa.case((col(ReferralEvent.to_status).in_(states), ReferralEvent.at)))


def _median_days(pairs: list[tuple[datetime, datetime]]) -> Median:
    durations = [(after - before).total_seconds() / SECONDS_PER_DAY for before, after in pairs]
    return Median(statistics.median(durations) if durations else None, len(durations))


def need_to_approval(session: Session, scope: Scope) -> Median:
    """Referrals approved in the period: days from their need being recorded to the approval."""
    approved = _first(ReferralStatus.APPROVED)
    rows = session.exec(
        select(Need.created_at, approved)
        .select_from(Referral)
        .join(ReferralEvent, col(ReferralEvent.referral_id) == Referral.id)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(_in_area(scope))
        .group_by(col(Referral.id), col(Need.created_at))
        .having(approved >= scope.start_at, approved < scope.end_at)
    ).all()
    return _median_days([(created, at) for created, at in rows])


def approval_to_answer(session: Session, scope: Scope) -> Median:
    """Referrals the provider answered in the period: days from approval to the first answer."""
    approved, answered = _first(ReferralStatus.APPROVED), _first(ANSWERS)
    rows = session.exec(
        select(approved, answered)
        .select_from(Referral)
        .join(ReferralEvent, col(ReferralEvent.referral_id) == Referral.id)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(_in_area(scope))
        .group_by(col(Referral.id))
        .having(answered >= scope.start_at, answered < scope.end_at, approved.is_not(None))
    ).all()
    return _median_days([(at_approval, at_answer) for at_approval, at_answer in rows])


def completion_by_provider(session: Session, scope: Scope) -> list[ProviderCompletion]:
    """Referrals a provider accepted that ended in the period: completed, or withdrawn before."""
    accepted = select(ReferralEvent.referral_id).where(ReferralEvent.to_status == ReferralStatus.ACCEPTED)
    ended_in_period = (
        select(ReferralEvent.id)
        .where(
            ReferralEvent.referral_id == Referral.id,
            ReferralEvent.to_status == Referral.status,
            col(ReferralEvent.at) >= scope.start_at,
            col(ReferralEvent.at) < scope.end_at,
        )
        .exists()
    )
    rows = session.exec(
        select(Offer.organization_id, Offer.volunteer_id, Referral.status, func.count())
        .select_from(Referral)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(
            _in_area(scope),
            col(Referral.status).in_(FINISHES),
            col(Referral.id).in_(accepted),
            ended_in_period,
        )
        .group_by(col(Offer.organization_id), col(Offer.volunteer_id), col(Referral.status))
    ).all()
    organizations = {o for o, _v, _s, _n in rows if o is not None}
    volunteers = {v for o, v, _s, _n in rows if o is None and v is not None}
    names = names_of(session, volunteers, organizations)
    counts: dict[uuid.UUID, dict[str, int]] = {}
    for organization_id, volunteer_id, status, count in rows:
        owner = organization_id or volunteer_id
        if owner is None:  # an offer always has one owner (a check constraint)
            continue
        counts.setdefault(owner, {})[str(status)] = count
    return sorted(
        (
            ProviderCompletion(names.get(owner, ""), by_status.get("completed", 0), by_status.get("withdrawn", 0))
            for owner, by_status in counts.items()
        ),
        key=lambda row: row.provider,
    )


def _job_starts(scope: Scope) -> Any:
    """Referrals to jobs (employment offers) of people in the area, with when the job first started."""
    started = _first(ReferralStatus.IN_PROGRESS)
    return (
        select(Referral.id, started.label("started"))
        .join(ReferralEvent, col(ReferralEvent.referral_id) == Referral.id)
        .join(Offer, col(Offer.id) == Referral.offer_id)
        .join(Need, col(Need.id) == Referral.need_id)
        .join(Person, col(Person.id) == Need.person_id)
        .where(_in_area(scope), Offer.category == Category.EMPLOYMENT)
        .group_by(col(Referral.id))
        .having(started.is_not(None))
        .subquery()
    )


def job_placements(session: Session, scopes: Sequence[Scope]) -> list[int]:
    """Referrals to jobs whose person started the job in the period."""
    starts = _job_starts(_one_area(scopes))
    columns = [func.count(sa.case((_made_in(starts.c.started, s), 1))) for s in scopes]
    return _counts(session, columns, sa.select(starts.c.id))


def retention(session: Session, scope: Scope) -> Retention:
    """Job placements whose 90th day fell in the period; retained when the caseworker's 90-day job
    check was done with "still employed". A job left (or ended) before the check is not retained."""
    starts = _job_starts(scope)
    started_90_days_before = Scope(
        scope.area_id, scope.start - timedelta(days=RETENTION_DAYS), scope.end - timedelta(days=RETENTION_DAYS)
    )
    due = select(starts.c.id).where(_made_in(starts.c.started, started_90_days_before)).subquery()
    placements = session.exec(select(func.count()).select_from(due)).one()
    found = dict(
        session.exec(
            select(FollowUp.outcome, func.count(sa.distinct(col(FollowUp.referral_id))))
            .where(
                col(FollowUp.referral_id).in_(select(due.c.id)),
                FollowUp.kind == FollowUpKind.EMPLOYMENT_90,
                FollowUp.status == FollowUpStatus.DONE,
                col(FollowUp.outcome) != "",
            )
            .group_by(col(FollowUp.outcome))
        ).all()
    )
    still = found.get(STILL_EMPLOYED, 0)
    return Retention(placements, still, sum(found.values()) - still)


@dataclass(frozen=True)
class VolunteerHours:
    hours: float
    volunteers: int


def volunteer_hours(session: Session, scope: Scope) -> VolunteerHours:
    """Confirmed volunteer hours done in the period and counted in the area, and by how many volunteers."""
    where: list[sa.ColumnElement[bool]] = [
        col(VolunteerActivity.status) == ActivityStatus.CONFIRMED,
        col(VolunteerActivity.done_on) >= scope.start,
        col(VolunteerActivity.done_on) <= scope.end,
    ]
    if scope.area_id is not None:
        where.append(in_area(col(VolunteerActivity.area_id), scope.area_id))
    minutes, volunteers = session.exec(
        select(
            func.coalesce(func.sum(VolunteerActivity.minutes), 0),
            func.count(sa.distinct(col(VolunteerActivity.volunteer_id))),
        ).where(*where)
    ).one()
    return VolunteerHours(int(minutes) / 60, volunteers)


def indicators(session: Session, scope: Scope, rules: Rules) -> Indicators:
    """Every indicator for the scope."""
    return Indicators(
        scope=scope,
        people_registered=people_registered(session, [scope])[0],
        people_active=people_active(session, [scope])[0],
        people_contacted=people_contacted(session, [scope])[0],
        out_of_contact=out_of_contact(session, [scope], rules)[0],
        needs_by_category=needs_by_category(session, scope),
        referrals_by_status=referrals_by_status(session, scope),
        need_to_approval=need_to_approval(session, scope),
        approval_to_answer=approval_to_answer(session, scope),
        completion_by_provider=completion_by_provider(session, scope),
        job_placements=job_placements(session, [scope])[0],
        retention=retention(session, scope),
        volunteer_hours=volunteer_hours(session, scope),
    )


def month_scopes(area_id: uuid.UUID | None, end: date, months: int = 12) -> list[Scope]:
    """The last `months` calendar months up to `end`, oldest first; the last one ends at `end`."""
    scopes = []
    first = end.replace(day=1)
    for _ in range(months):
        last = min(end, _next_month(first) - timedelta(days=1))
        scopes.append(Scope(area_id, first, last))
        first = (first - timedelta(days=1)).replace(day=1)
    return scopes[::-1]


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def monthly(session: Session, area_id: uuid.UUID | None, end: date, rules: Rules) -> list[Month]:
    """The headline indicators month by month over the last twelve months, each in one query."""
    scopes = month_scopes(area_id, end)
    return [
        Month(scope, *figures)
        for scope, *figures in zip(
            scopes,
            people_registered(session, scopes),
            people_active(session, scopes),
            people_contacted(session, scopes),
            out_of_contact(session, scopes, rules),
            needs_recorded(session, scopes),
            referrals_made(session, scopes),
            job_placements(session, scopes),
            strict=True,
        )
    ]
