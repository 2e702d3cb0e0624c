"""The programme's indicators: figures checked against hand-made cases and against an independent
computation on the demo data, the page and its charts, the CSV export, and bad filters."""

import csv
import io
import random
import re
import statistics
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.demo import load_demo_data
from portal.indicators import charts, services
from portal.indicators.services import Rules, Scope
from portal.models import (
    Area,
    AuditEvent,
    Category,
    ContactLog,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    Need,
    Offer,
    OfferStatus,
    Organization,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
)
from portal.spreadsheets import safe_cell

XIAN = ZoneInfo("Asia/Shanghai")
JUNE = Scope(None, date(2026, 6, 1), date(2026, 6, 30))
RULES = Rules({"default": 30})
Login = Callable[[User], FlaskClient]


def at(day: str, hour: int = 10) -> datetime:
    """A moment on a Xi'an day, in UTC as the database keeps it."""
    return datetime.combine(date.fromisoformat(day), time(hour), tzinfo=XIAN).astimezone(UTC)


def local_day(moment: datetime) -> date:
    return moment.astimezone(XIAN).date()


def add(session: Session, *rows: Any) -> None:
    session.add_all(rows)
    session.commit()


def history(session: Session, referral: Referral, steps: list[tuple[ReferralStatus, datetime]]) -> None:
    """Give a referral its events, from proposal to its present state."""
    before: ReferralStatus | None = None
    for status, moment in steps:
        session.add(ReferralEvent(referral_id=referral.id, from_status=before, to_status=status, at=moment))
        before = status
    referral.status = steps[-1][0]
    session.add(referral)
    session.commit()


S = ReferralStatus


@dataclass
class World:
    """A district with a street and two grids, another district, and a June of casework in them."""

    district: Area
    street: Area
    grids: list[Area]
    other: Area
    people: dict[str, Person] = field(default_factory=dict)
    organizations: dict[str, Organization] = field(default_factory=dict)


@pytest.fixture
def world(session: Session, make_user: Callable[..., User], make_organization: Callable[..., Organization]) -> World:
    district = Area(level="district", name_en="District", name_zh="区", code="I-D")
    other = Area(level="district", name_en="Other district", name_zh="另一区", code="I-O")
    add(session, district, other)
    street = Area(level="street", name_en="Street", name_zh="街道", code="I-D-S", parent_id=district.id)
    add(session, street)
    grids = [
        Area(level="grid", name_en=f"Grid {n}", name_zh=f"网格{n}", code=f"I-D-S-{n}", parent_id=street.id)
        for n in (1, 2)
    ]
    add(session, *grids)
    w = World(district, street, grids, other)
    caseworker = make_user(Role.CASEWORKER)

    def person(code: str, area: Area, created: str, programme: str | None = None, **fields: Any) -> Person:
        fields.setdefault("caseworker_id", caseworker.id)
        p = Person(code=code, full_name=code, area_id=area.id, created_at=at(created), programme=programme, **fields)
        add(session, p)
        w.people[code] = p
        return p

    p1 = person("P1", grids[0], "2026-01-10", "community_detox")
    p2 = person("P2", grids[1], "2026-01-10", "community_rehab")
    person("P3", street, "2026-06-20")  # registered late in June: not out of contact yet
    person("P4", grids[0], "2026-07-05")  # registered after June
    person("P5", grids[0], "2026-01-10", caseworker_id=None)  # on nobody's caseload
    p6 = person("P6", other, "2026-01-10")
    add(
        session,
        ContactLog(person_id=p1.id, kind="visit", occurred_on=date(2026, 6, 15)),
        ContactLog(person_id=p1.id, kind="call", occurred_on=date(2026, 6, 16)),
        ContactLog(person_id=p2.id, kind="call", occurred_on=date(2026, 5, 20)),  # 41 days before June 30
        ContactLog(person_id=p6.id, kind="call", occurred_on=date(2026, 6, 10)),
    )

    def need(p: Person, category: str, created: str) -> Need:
        n = Need(person_id=p.id, category=category, created_at=at(created))
        add(session, n)
        return n

    n1 = need(p1, "employment", "2026-06-02")
    n2 = need(p1, "housing", "2026-05-15")
    n3 = need(p2, "employment", "2026-06-05")
    need(p6, "health", "2026-06-05")
    n5 = need(p2, "employment", "2026-02-15")
    n6 = need(p1, "employment", "2026-03-01")

    employer = make_organization(name="Employer A")
    ngo = make_organization(name="NGO B")
    volunteer = make_user(Role.VOLUNTEER, name="Volunteer V")
    w.organizations = {"employer": employer, "ngo": ngo}
    job = Offer(organization_id=employer.id, category="employment", title="Job", status=OfferStatus.OPEN)
    job2 = Offer(organization_id=employer.id, category="employment", title="Job 2", status=OfferStatus.OPEN)
    counselling = Offer(organization_id=ngo.id, category="counselling", title="Talk", status=OfferStatus.OPEN)
    peer = Offer(volunteer_id=volunteer.id, category="peer_support", title="Walks", status=OfferStatus.OPEN)
    add(session, job, job2, counselling, peer)

    def referral(n: Need, offer: Offer, steps: list[tuple[ReferralStatus, datetime]]) -> Referral:
        r = Referral(need_id=n.id, offer_id=offer.id, created_at=steps[0][1])
        add(session, r)
        history(session, r, steps)
        return r

    # Made in June: approved 2 days after the need, answered 2 days later, job started in June.
    referral(
        n1,
        job,
        [
            (S.PROPOSED, at("2026-06-03")),
            (S.APPROVED, at("2026-06-04")),
            (S.SENT, at("2026-06-04")),
            (S.ACCEPTED, at("2026-06-06")),
            (S.IN_PROGRESS, at("2026-06-10")),
        ],
    )
    # Made in June: approved 4 days after the need, declined a day later.
    referral(
        n3,
        job,
        [
            (S.PROPOSED, at("2026-06-06")),
            (S.APPROVED, at("2026-06-09")),
            (S.SENT, at("2026-06-09")),
            (S.DECLINED, at("2026-06-10")),
        ],
    )
    # Made in May, answered in June 12 days after approval, completed in June.
    referral(
        n2,
        counselling,
        [
            (S.PROPOSED, at("2026-05-16")),
            (S.APPROVED, at("2026-05-20")),
            (S.SENT, at("2026-05-20")),
            (S.ACCEPTED, at("2026-06-01")),
            (S.IN_PROGRESS, at("2026-06-02")),
            (S.COMPLETED, at("2026-06-20")),
        ],
    )
    # Made in June: approved 26 hours after the need, accepted 2 days later, withdrawn in June.
    referral(
        n1,
        peer,
        [
            (S.PROPOSED, at("2026-06-03", 11)),
            (S.APPROVED, at("2026-06-03", 12)),
            (S.SENT, at("2026-06-03", 12)),
            (S.ACCEPTED, at("2026-06-05", 12)),
            (S.WITHDRAWN, at("2026-06-25")),
        ],
    )
    # Three jobs started in March and April whose 90th day falls in June.
    still = referral(
        n2,
        job,
        [
            (S.PROPOSED, at("2026-02-01")),
            (S.APPROVED, at("2026-02-02")),
            (S.SENT, at("2026-02-02")),
            (S.ACCEPTED, at("2026-02-05")),
            (S.IN_PROGRESS, at("2026-03-10")),  # day 90: June 8
        ],
    )
    add(
        session,
        FollowUp(
            key="I-still",
            kind=FollowUpKind.EMPLOYMENT_90,
            person_id=p1.id,
            referral_id=still.id,
            due_on=date(2026, 6, 8),
            status=FollowUpStatus.DONE,
            outcome="still_employed",
        ),
    )
    referral(
        n5,
        job2,
        [
            (S.PROPOSED, at("2026-03-01")),
            (S.APPROVED, at("2026-03-02")),
            (S.SENT, at("2026-03-02")),
            (S.ACCEPTED, at("2026-03-05")),
            (S.IN_PROGRESS, at("2026-03-20")),  # day 90: June 18; left in April
            (S.WITHDRAWN, at("2026-04-15")),
        ],
    )
    referral(
        n6,
        job2,
        [
            (S.PROPOSED, at("2026-03-02")),
            (S.APPROVED, at("2026-03-03")),
            (S.SENT, at("2026-03-03")),
            (S.ACCEPTED, at("2026-03-06")),
            (S.IN_PROGRESS, at("2026-04-01")),  # day 90: June 30, the last day; not checked yet
        ],
    )
    return w


def test_june_in_the_district_counts_what_the_definitions_say(session: Session, world: World) -> None:
    figures = services.indicators(session, Scope(world.district.id, JUNE.start, JUNE.end), RULES)
    assert figures.people_active == 3  # P1, P2, P3
    assert figures.people_contacted == 1  # P1, twice
    assert figures.contact_rate == pytest.approx(1 / 3)
    assert figures.out_of_contact == 1  # P2: last contact 41 days before June 30
    assert figures.needs_by_category == {str(c): 2 if c == Category.EMPLOYMENT else 0 for c in Category}
    made = {str(s): 0 for s in ReferralStatus} | {"in_progress": 1, "declined": 1, "withdrawn": 1}
    assert figures.referrals_by_status == made
    assert figures.need_to_approval == services.Median(2.0, 3)  # 2, 4 and 26/24 days
    assert figures.approval_to_answer == services.Median(2.0, 4)  # 2, 1, 12 and 2 days
    completion = {row.provider: (row.completed, row.withdrawn, row.rate) for row in figures.completion_by_provider}
    assert completion == {"NGO B": (1, 0, 1.0), "Volunteer V": (0, 1, 0.0)}
    assert figures.job_placements == 1
    assert figures.retention == services.Retention(placements=3, still_employed=1, no_longer_employed=0)
    assert figures.retention.not_checked == 2
    assert figures.retention.rate == pytest.approx(1 / 3)


def test_every_area_adds_the_other_district_and_a_grid_only_its_own_people(session: Session, world: World) -> None:
    everywhere = services.indicators(session, JUNE, RULES)
    assert (everywhere.people_active, everywhere.people_contacted, everywhere.out_of_contact) == (4, 2, 1)
    assert everywhere.needs_by_category["health"] == 1
    grid = services.indicators(session, Scope(world.grids[1].id, JUNE.start, JUNE.end), RULES)
    assert (grid.people_active, grid.people_contacted, grid.out_of_contact) == (1, 0, 1)  # P2
    assert grid.job_placements == 0 and grid.needs_by_category["employment"] == 1


def test_an_area_without_people_and_an_empty_period_show_zeros_and_no_rates(session: Session, world: World) -> None:
    empty_area = Area(level="grid", name_en="Empty", name_zh="空", code="I-E", parent_id=world.street.id)
    add(session, empty_area)
    for scope in (Scope(empty_area.id, JUNE.start, JUNE.end), Scope(None, date(2025, 1, 1), date(2025, 1, 31))):
        figures = services.indicators(session, scope, RULES)
        assert (figures.people_active, figures.contact_rate, figures.out_of_contact) == (0, None, 0)
        assert sum(figures.needs_by_category.values()) == sum(figures.referrals_by_status.values()) == 0
        assert figures.need_to_approval == figures.approval_to_answer == services.Median(None, 0)
        assert figures.completion_by_provider == [] and figures.job_placements == 0
        assert figures.retention.rate is None


def test_a_person_who_moved_counts_with_their_whole_record_in_their_new_area(session: Session, world: World) -> None:
    mover = world.people["P1"]
    mover.area_id = world.other.id
    add(session, mover)
    district = services.indicators(session, Scope(world.district.id, JUNE.start, JUNE.end), RULES)
    other = services.indicators(session, Scope(world.other.id, JUNE.start, JUNE.end), RULES)
    assert (district.people_active, district.people_contacted, district.job_placements) == (2, 0, 0)
    assert (other.people_active, other.people_contacted, other.job_placements) == (2, 2, 1)
    assert other.needs_by_category["employment"] == 1 and district.needs_by_category["employment"] == 1


def test_each_programme_is_held_to_its_own_contact_limit(session: Session, world: World) -> None:
    # P2 (community rehabilitation) was last contacted 41 days before June 30.
    assert services.out_of_contact(session, [JUNE], Rules({"default": 30, "community_rehab": 45})) == [0]
    assert services.out_of_contact(session, [JUNE], Rules({"default": 60, "community_rehab": 40})) == [1]


def test_months_cover_the_last_twelve_and_end_on_the_last_day(session: Session, world: World) -> None:
    months = services.monthly(session, world.district.id, date(2026, 6, 20), RULES)
    assert [m.scope.start for m in months][:2] == [date(2025, 7, 1), date(2025, 8, 1)]
    assert months[-1].scope.start == date(2026, 6, 1) and months[-1].scope.end == date(2026, 6, 20)
    assert [m.job_placements for m in months[-4:]] == [2, 1, 0, 1]  # March: two jobs, April: one, June: one
    assert months[-1].people_active == 3 and months[-1].needs_recorded == 2  # P3 registered on June 20


# --- The demo data, with a year of casework, against an independent computation ------------------


def simulate_casework(session: Session, seed: int = 6) -> None:
    """A year of contacts, referrals and job checks on the demo people, made up but reproducible."""
    rng = random.Random(seed)
    today = datetime.now(XIAN).date()
    people = list(session.exec(select(Person).order_by(Person.code)))
    offers = list(session.exec(select(Offer).order_by(Offer.title)))
    for person in people:
        registered = today - timedelta(days=rng.randint(20, 420))
        person.created_at = at(registered.isoformat(), rng.randint(8, 18))
        session.add(person)
        for _ in range(rng.randint(0, 8)):
            day = registered + timedelta(days=rng.randint(0, (today - registered).days))
            session.add(ContactLog(person_id=person.id, kind="call", occurred_on=day))
        for need in session.exec(select(Need).where(Need.person_id == person.id)):
            need.created_at = person.created_at + timedelta(days=rng.randint(0, 15), hours=rng.randint(0, 9))
            session.add(need)
            for offer in rng.sample(offers, rng.randint(0, 2)):
                referral = Referral(need_id=need.id, offer_id=offer.id)
                session.add(referral)
                session.flush()
                moment = need.created_at + timedelta(hours=rng.randint(1, 400))
                referral.created_at = moment
                steps = [(S.PROPOSED, moment)]
                for status in (S.APPROVED, S.SENT):
                    if rng.random() < 0.85:
                        moment += timedelta(hours=rng.randint(1, 200))
                        steps.append((status, moment))
                if steps[-1][0] == S.SENT:
                    moment += timedelta(hours=rng.randint(1, 150))
                    answer = rng.choice([S.ACCEPTED, S.ACCEPTED, S.DECLINED, S.WAITLISTED])
                    steps.append((answer, moment))
                    if answer == S.ACCEPTED and rng.random() < 0.8:
                        moment += timedelta(days=rng.randint(1, 20))
                        steps.append((S.IN_PROGRESS, moment))
                        end = rng.choice([None, S.COMPLETED, S.WITHDRAWN])
                        if end is not None:
                            moment += timedelta(days=rng.randint(1, 150))
                            steps.append((end, moment))
                history(session, referral, steps)
                started = next((m for s, m in steps if s == S.IN_PROGRESS), None)
                if started is not None and offer.category == Category.EMPLOYMENT and rng.random() < 0.7:
                    session.add(
                        FollowUp(
                            key=f"employment_90:{referral.id}",
                            kind=FollowUpKind.EMPLOYMENT_90,
                            person_id=person.id,
                            referral_id=referral.id,
                            due_on=started.date() + timedelta(days=90),
                            status=rng.choice([FollowUpStatus.DONE, FollowUpStatus.DONE, FollowUpStatus.OPEN]),
                            outcome=rng.choice(["still_employed", "still_employed", "no_longer_employed"]),
                        )
                    )
    session.commit()


def expected(session: Session, area_id: uuid.UUID | None, start: date, end: date, gap: int) -> dict[str, Any]:
    """The indicators computed row by row in Python, by the definitions on the page."""
    children: dict[uuid.UUID | None, list[uuid.UUID]] = {}
    for area in session.exec(select(Area)):
        children.setdefault(area.parent_id, []).append(area.id)
    inside: set[uuid.UUID] = set()
    stack = [area_id] if area_id else []
    while stack:
        current = stack.pop()
        inside.add(current)
        stack.extend(children.get(current, []))

    def in_area(person: Person) -> bool:
        return area_id is None or person.area_id in inside

    def in_period(moment: datetime | None) -> bool:
        return moment is not None and start <= local_day(moment) <= end

    people = {p.id: p for p in session.exec(select(Person)) if in_area(p)}
    active = [p for p in people.values() if p.caseworker_id and local_day(p.created_at) <= end]
    contacts: dict[uuid.UUID, list[date]] = {}
    for contact in session.exec(select(ContactLog)):
        contacts.setdefault(contact.person_id, []).append(contact.occurred_on)
    contacted = [p for p in active if any(start <= d <= end for d in contacts.get(p.id, []))]
    out = 0
    for p in active:
        before_end = [d for d in contacts.get(p.id, []) if d <= end]
        last = max(before_end) if before_end else local_day(p.created_at)
        out += (end - last).days > gap
    needs = {n.id: n for n in session.exec(select(Need)) if n.person_id in people}
    by_category = {str(c): 0 for c in Category}
    for n in needs.values():
        if in_period(n.created_at):
            by_category[n.category] += 1
    referrals = [r for r in session.exec(select(Referral)) if r.need_id in needs]
    events: dict[uuid.UUID, list[ReferralEvent]] = {}
    for event in session.exec(select(ReferralEvent)):
        events.setdefault(event.referral_id, []).append(event)
    offers = {o.id: o for o in session.exec(select(Offer))}
    names = {o.id: o.name for o in session.exec(select(Organization))} | {
        u.id: u.name for u in session.exec(select(User))
    }

    def first(referral: Referral, *states: str) -> datetime | None:
        times = [e.at for e in events.get(referral.id, []) if e.to_status in states]
        return min(times) if times else None

    by_status = {str(s): 0 for s in ReferralStatus}
    to_approval, to_answer = [], []
    completion: dict[str, list[int]] = {}
    placements = 0
    retention = [0, 0, 0]
    checks = {
        f.referral_id: f.outcome
        for f in session.exec(select(FollowUp))
        if f.kind == "employment_90" and f.status == "done" and f.outcome
    }
    for r in referrals:
        if in_period(r.created_at):
            by_status[r.status] += 1
        approved, answered = first(r, "approved"), first(r, "accepted", "declined", "waitlisted")
        if in_period(approved):
            to_approval.append((approved - needs[r.need_id].created_at).total_seconds() / 86400)
        if in_period(answered) and approved is not None:
            to_answer.append((answered - approved).total_seconds() / 86400)
        ended = first(r, r.status)
        if r.status in ("completed", "withdrawn") and first(r, "accepted") and in_period(ended):
            offer = offers[r.offer_id]
            counts = completion.setdefault(names[offer.organization_id or offer.volunteer_id], [0, 0])
            counts[r.status == "withdrawn"] += 1
        started = first(r, "in_progress")
        if started is not None and offers[r.offer_id].category == "employment":
            placements += in_period(started)
            if start <= local_day(started) + timedelta(days=90) <= end:
                retention[0] += 1
                outcome = checks.get(r.id)
                retention[1] += outcome == "still_employed"
                retention[2] += outcome == "no_longer_employed"
    return {
        "people_active": len(active),
        "people_contacted": len(contacted),
        "out_of_contact": out,
        "needs_by_category": by_category,
        "referrals_by_status": by_status,
        "need_to_approval": (statistics.median(to_approval) if to_approval else None, len(to_approval)),
        "approval_to_answer": (statistics.median(to_answer) if to_answer else None, len(to_answer)),
        "completion": {name: tuple(counts) for name, counts in completion.items()},
        "job_placements": placements,
        "retention": tuple(retention),
    }


@pytest.fixture
def every_figure_shown(app: Flask) -> None:
    """Small-cell suppression off: these tests check what is counted and how it is drawn, on data
    (a hand-made world of four people, the ten demo people) far too small to be published."""
    app.config["SMALL_CELL_THRESHOLD"] = 1


@pytest.fixture
def demo(session: Session) -> Session:
    assert load_demo_data(session)
    simulate_casework(session)
    return session


def user(session: Session, email: str) -> User:
    return session.exec(select(User).where(User.email == email)).one()


def read_csv(response: Any) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data().decode("utf-8-sig"))))


def figures_from_csv(rows: list[dict[str, str]], start: date, end: date) -> dict[str, Any]:
    """The period's figures as the CSV gives them (the monthly rows left aside)."""
    period = [row for row in rows if row["First day"] == start.isoformat() and row["Last day"] == end.isoformat()]
    cells = {(row["Indicator"], row["Detail"]): row["Value"] for row in period}

    def number(value: str) -> float | None:
        return float(value) if value else None

    return {
        "people_active": int(cells["People active", ""]),
        "people_contacted": int(cells["Contact rate", "people contacted"]),
        "out_of_contact": int(cells["People out of contact (脱失)", ""]),
        "job_placements": int(cells["Job placements", ""]),
        "need_to_approval": (
            number(cells["Median days from need to approval", "median"]),
            int(cells["Median days from need to approval", "referrals"]),
        ),
        "approval_to_answer": (
            number(cells["Median days from approval to the provider's answer", "median"]),
            int(cells["Median days from approval to the provider's answer", "referrals"]),
        ),
        "retention": (
            int(cells["90-day job retention", "placements reaching 90 days"]),
            int(cells["90-day job retention", "Still employed"]),
            int(cells["90-day job retention", "No longer employed"]),
        ),
        "needs_total": sum(int(v) for (name, _d), v in cells.items() if name == "Needs by category"),
        "referrals_total": sum(int(v) for (name, _d), v in cells.items() if name == "Referrals by status"),
    }


def rounded(pair: tuple[float | None, int]) -> tuple[float | None, int]:
    return (round(pair[0], 1) if pair[0] is not None else None, pair[1])


@pytest.mark.usefixtures("every_figure_shown")
@pytest.mark.parametrize(
    ("email", "query"),
    [
        ("admin@bridge.example", "period=365"),
        ("admin@bridge.example", "period=90"),
        ("supervisor@bridge.example", "period=365"),
    ],
)
def test_the_demo_data_shows_the_figures_an_independent_computation_gives(
    client: FlaskClient, login: Login, demo: Session, email: str, query: str
) -> None:
    viewer = user(demo, email)
    viewer.locale = "en"
    add(demo, viewer)
    login(viewer)
    end = datetime.now(XIAN).date()
    start = end - timedelta(days=int(query.split("=")[1]) - 1)
    want = expected(demo, viewer.area_id, start, end, gap=30)
    assert want["people_active"] and want["need_to_approval"][1]  # the comparison means something

    rows = read_csv(client.get(f"/indicators/export.csv?{query}"))
    got = figures_from_csv(rows, start, end)
    for key in ("people_active", "people_contacted", "out_of_contact", "job_placements", "retention"):
        assert got[key] == want[key], key
    for key in ("need_to_approval", "approval_to_answer"):
        assert got[key] == rounded(want[key]), key
    assert got["needs_total"] == sum(want["needs_by_category"].values())
    assert got["referrals_total"] == sum(want["referrals_by_status"].values())
    by_provider = {row["Detail"]: row["Value"] for row in rows if row["Indicator"] == "Completion rate per provider"}
    for name, (completed, withdrawn) in want["completion"].items():
        assert by_provider[f"{name} · Completed"] == str(completed)
        assert by_provider[f"{name} · Withdrawn"] == str(withdrawn)

    html = client.get(f"/indicators?{query}").get_data(as_text=True)
    for category, count in want["needs_by_category"].items():
        label = category.replace("_", " ").capitalize() if category != "legal" else "Legal aid"
        assert re.search(rf"<th scope=\"row\">{label}</th><td>{count}</td>", html), category


@pytest.mark.usefixtures("every_figure_shown")
def test_the_monthly_series_agrees_with_the_independent_computation(
    client: FlaskClient, login: Login, demo: Session
) -> None:
    admin = user(demo, "admin@bridge.example")
    admin.locale = "en"
    add(demo, admin)
    login(admin)
    end = datetime.now(XIAN).date()
    rows = read_csv(client.get("/indicators/export.csv?period=30"))
    monthly = [row for row in rows if row["Detail"] == "month" and row["Indicator"] == "People active"]
    assert len(monthly) == 12 and monthly[-1]["Last day"] == end.isoformat()
    for row in monthly[-6:]:
        first, last = date.fromisoformat(row["First day"]), date.fromisoformat(row["Last day"])
        assert int(row["Value"]) == expected(demo, None, first, last, gap=30)["people_active"]


# --- The page -------------------------------------------------------------------------------


@pytest.fixture
def supervisor(session: Session, world: World, make_user: Callable[..., User]) -> User:
    return make_user(Role.SUPERVISOR, area_id=world.district.id, locale="en")


JUNE_QUERY = "period=custom&start=2026-06-01&end=2026-06-30"


@pytest.mark.usefixtures("every_figure_shown")
def test_the_page_shows_each_figure_with_its_definition_and_accessible_charts(
    client: FlaskClient, login: Login, supervisor: User
) -> None:
    login(supervisor)
    response = client.get(f"/indicators?{JUNE_QUERY}")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "1 of 3 people" in html and "33.3%" in html  # contact rate
    assert "2.0" in html and "over 4 referrals" in html  # approval to answer
    assert "1 still employed of 3 placements" in html
    for definition in services.DEFINITIONS.values():
        assert str(definition).split(":")[0][:60] in html.replace("&#34;", '"').replace("&#39;", "'")
    svgs = re.findall(r"<svg .*?</svg>", html, re.S)
    assert len(svgs) == 7
    for svg in svgs:
        assert 'role="img"' in svg and "<title id=" in svg and "<desc id=" in svg and "aria-labelledby" in svg
    assert "style=" not in html and "<script>" not in html.split("</head>")[1]
    assert html.count("<table") == 4  # beside the charts: needs, referrals, providers, months


@pytest.mark.usefixtures("every_figure_shown")
def test_numbers_and_dates_follow_the_language(
    client: FlaskClient, login: Login, world: World, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.SUPERVISOR, area_id=world.district.id, locale="zh"))
    html = client.get(f"/indicators?{JUNE_QUERY}").get_data(as_text=True)
    assert "2026年6月1日" in html and "项目指标" in html and "33.3%" in html
    months = re.findall(r'<tr><th scope="row">([^<]+)</th>', html)
    assert "2026年6月" in months and not [month for month in months if re.fullmatch(r"\d{1,2}月 \d{4}", month)]


@pytest.mark.usefixtures("every_figure_shown")
def test_changing_a_filter_with_htmx_gets_the_dashboard_alone(
    client: FlaskClient, login: Login, supervisor: User, world: World
) -> None:
    login(supervisor)
    response = client.get(f"/indicators?area={world.grids[1].id}&{JUNE_QUERY}", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)
    assert body.startswith('<div id="indicators">') and "HX-Request" in response.headers["Vary"]
    assert 'hx-push-url="true"' in body and "Grid 2" in body


def test_a_supervisor_sees_only_their_own_areas(
    client: FlaskClient, login: Login, supervisor: User, world: World
) -> None:
    login(supervisor)
    page = client.get("/indicators").get_data(as_text=True)
    assert "Grid 1" in page and "Other district" not in page and "All areas" not in page
    response = client.get(f"/indicators?area={world.other.id}")
    assert response.status_code == 422 and "Choose an area from the list." in response.get_data(as_text=True)
    assert client.get(f"/indicators/export.csv?area={world.other.id}").status_code == 422


def test_a_supervisor_without_an_area_is_told_so(
    client: FlaskClient, login: Login, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.SUPERVISOR, locale="en"))
    response = client.get("/indicators")
    assert response.status_code == 422 and "You have no area to supervise yet" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "query",
    [
        "period=7",
        "area=not-a-uuid",
        f"area={uuid.uuid4()}",
        "period=custom",
        "period=custom&start=2026-06-30&end=2026-06-01",
        "period=custom&start=0001-01-01&end=2026-06-01",
        "period=custom&start=2026-02-30&end=2026-06-01",
        "period=custom&start=2000-01-01&end=2100-12-31",
    ],
)
def test_bad_filters_are_refused_with_a_message(
    client: FlaskClient, login: Login, make_user: Callable[..., User], query: str
) -> None:
    login(make_user(Role.ADMIN, locale="en"))
    response = client.get(f"/indicators?{query}")
    assert response.status_code == 422
    assert 'class="field-error"' in response.get_data(as_text=True)
    csv_response = client.get(f"/indicators/export.csv?{query}")
    assert csv_response.status_code == 422 and csv_response.get_data(as_text=True).strip()


# --- The CSV ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("every_figure_shown")
def test_the_csv_is_for_excel_and_cannot_run_formulas(
    client: FlaskClient, login: Login, supervisor: User, world: World, session: Session
) -> None:
    ngo = world.organizations["ngo"]
    ngo.name = '=HYPERLINK("http://evil.example","NGO")'
    add(session, ngo)
    login(supervisor)
    response = client.get(f"/indicators/export.csv?{JUNE_QUERY}")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == 'attachment; filename="indicators_2026-06-01_2026-06-30.csv"'
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw
    rows = read_csv(response)
    providers = {row["Detail"] for row in rows if row["Indicator"] == "Completion rate per provider"}
    assert '\'=HYPERLINK("http://evil.example","NGO")' in providers
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values())
    retention = [row for row in rows if row["Indicator"] == "90-day job retention" and row["Detail"] == ""]
    assert retention[0]["Value"] == "33.3" and retention[0]["Unit"] == "%"


@pytest.mark.parametrize("text", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_cells_a_spreadsheet_would_run_are_quoted(text: str) -> None:
    assert safe_cell(text) == "'" + text
    assert safe_cell("NGO = good") == "NGO = good"


def test_the_csv_headers_are_in_the_users_language(
    client: FlaskClient, login: Login, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.ADMIN, locale="zh"))
    header = client.get("/indicators/export.csv").get_data().decode("utf-8-sig").splitlines()[0]
    assert header.split(",")[:3] == ["指标", "细分", "数值"]


# --- Where supervisors meet the indicators --------------------------------------------------------


def test_supervisors_and_admins_have_a_link_and_a_summary_at_home(
    client: FlaskClient, login: Login, supervisor: User, make_user: Callable[..., User]
) -> None:
    login(supervisor)
    home = client.get("/").get_data(as_text=True)
    assert 'href="/indicators"' in home and "People active" in home and "People out of contact" in home
    login(make_user(Role.CASEWORKER))
    assert 'href="/indicators"' not in client.get("/").get_data(as_text=True)


def test_an_export_is_recorded_in_the_audit_trail(
    client: FlaskClient, login: Login, supervisor: User, session: Session
) -> None:
    login(supervisor)
    assert client.get(f"/indicators/export.csv?{JUNE_QUERY}").status_code == 200
    client.get(f"/indicators?{JUNE_QUERY}")  # looking at aggregate figures is not an export
    session.commit()
    events = session.exec(select(AuditEvent)).all()
    assert [(e.action, e.record_type, e.actor_id) for e in events] == [("export", "indicators", supervisor.id)]


@pytest.mark.usefixtures("every_figure_shown")
def test_long_provider_names_are_shortened_on_the_chart_and_kept_whole_in_the_table(
    client: FlaskClient, login: Login, supervisor: User, world: World, session: Session
) -> None:
    ngo = world.organizations["ngo"]
    ngo.name = "西安市莲湖区启明社会工作服务中心第二分部康复服务站"
    add(session, ngo)
    assert charts.fit(ngo.name).endswith("…") and len(charts.fit(ngo.name)) < len(ngo.name)
    assert charts.fit("NGO B") == "NGO B"
    login(supervisor)
    html = client.get(f"/indicators?{JUNE_QUERY}").get_data(as_text=True)
    assert f'<th scope="row">{ngo.name}</th>' in html and charts.fit(ngo.name) in html


@pytest.mark.parametrize(
    ("labels", "shown"), [(["Jul", "Jun"], ["100.0%", "33.3%"]), (["7月", "6月"], ["100.0%", "100.0%"])]
)
def test_the_first_and_last_points_of_a_line_chart_are_drawn_whole(labels: list[str], shown: list[str]) -> None:
    line = charts.line_chart("chart", "Contact rate", "By month", labels * 6, [1.0, 0.3] * 6, shown * 6)
    for point in (line.points[0], line.points[-1]):
        for text in (point.label, point.shown):
            assert 0 <= point.x - charts.text_width(text) / 2 and point.x + charts.text_width(text) / 2 <= line.width
