"""Indicators per grid and per duty (issue 16): people seen in the last 30 days, contacts made by grid
workers, tests done on time, people out of contact found again; a grid of few people shows none."""

import csv
import io
from collections.abc import Callable
from datetime import date, timedelta

from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.clock import local_today
from portal.indicators import grids
from portal.models import (
    Area,
    AuditEvent,
    CheckKind,
    ContactLog,
    Person,
    ProgrammeAgreement,
    ProgrammeCheck,
    Role,
    User,
    utcnow,
)

Login = Callable[[User], FlaskClient]


def _area(session: Session, level: str, code: str, parent: Area | None = None) -> Area:
    area = Area(level=level, name_en=code, name_zh=code, code=code, parent_id=parent.id if parent else None)
    session.add(area)
    session.commit()
    return area


def _contact(session: Session, person: Person, worker: User, day: date) -> None:
    session.add(
        ContactLog(person_id=person.id, caseworker_id=worker.id, kind="visit", occurred_on=day, outcome="reached")
    )
    session.commit()


def test_each_grid_shows_its_duties_figures_and_a_small_grid_none(
    session: Session, login: Login, make_user: Callable[..., User]
) -> None:
    today = local_today()
    street = _area(session, "street", "ST")
    busy, small = _area(session, "grid", "G-BUSY", street), _area(session, "grid", "G-SMALL", street)
    caseworker = make_user(Role.CASEWORKER)
    grid_worker = make_user(Role.GRID_WORKER, area_id=busy.id)
    people = []
    for number in range(6):
        person = Person(code=f"XA-I-{number}", full_name="x", caseworker_id=caseworker.id, area_id=busy.id)
        person.created_at = utcnow() - timedelta(days=120)
        people.append(person)
    session.add_all(people)
    lonely = Person(code="XA-I-9", full_name="x", caseworker_id=caseworker.id, area_id=small.id)
    session.add(lonely)
    session.commit()
    # Seen in the period: 0 and 1 by the grid worker (1 twice), 2 by the caseworker.
    _contact(session, people[0], grid_worker, today)
    _contact(session, people[1], grid_worker, today - timedelta(days=3))
    _contact(session, people[1], grid_worker, today - timedelta(days=1))
    _contact(session, people[2], caseworker, today - timedelta(days=40))  # before the period...
    _contact(session, people[2], caseworker, today - timedelta(days=20))  # ...and in it, within the gap
    _contact(session, people[3], caseworker, today - timedelta(days=70))  # 50 days before this one: found
    _contact(session, people[3], caseworker, today - timedelta(days=20))
    _contact(session, lonely, grid_worker, today)
    # Tests due in the period: one done on its day, one late, one not done.
    agreement = ProgrammeAgreement(
        person_id=people[0].id,
        programme="community_rehab",
        signed_on=today - timedelta(days=60),
        starts_on=today - timedelta(days=60),
        ends_on=today + timedelta(days=300),
        check_in_every_days=30,
        test_every_days=10,
    )
    session.add(agreement)
    session.commit()
    for due, done in ((10, 10), (5, 3), (1, None)):
        session.add(
            ProgrammeCheck(
                person_id=people[0].id,
                agreement_id=agreement.id,
                kind=CheckKind.TEST,
                due_on=today - timedelta(days=due),
                done_on=today - timedelta(days=done) if done is not None else None,
                result="negative" if done is not None else None,
            )
        )
    session.commit()

    rows = {row.area.code: row for row in grids.figures(session, [busy, small], today, {"default": 30})}
    figures = rows["G-BUSY"]
    assert (figures.people, figures.seen, figures.grid_contacts) == (6, 4, 3)
    assert (figures.tests_due, figures.tests_on_time) == (3, 1)
    # Found again: 0 and 1 (registered 120 days ago, never contacted before), and 3 (a 50-day gap).
    assert figures.found_again == 3

    [busy_row, small_row] = grids.publish([figures, rows["G-SMALL"]], threshold=3)
    assert busy_row.people.value == 6 and busy_row.seen_share.value == 4 / 6
    assert (busy_row.grid_contacts.value, busy_row.found_again.value) == (3, 3)
    assert busy_row.tests_on_time_share.hidden  # 1 test on time: under the threshold
    assert small_row.people.hidden and small_row.seen_share.hidden and small_row.found_again.hidden
    [busy_at_five, _small] = grids.publish([figures, rows["G-SMALL"]], threshold=5)
    assert busy_at_five.grid_contacts.small == 5 and busy_at_five.seen_share.hidden

    supervisor = make_user(Role.SUPERVISOR, area_id=street.id, locale="en")
    page = login(supervisor).get("/indicators/grids").get_data(as_text=True)
    assert "G-BUSY" in page and "G-SMALL" in page and "<td>6</td>" in page  # the portal's threshold: 5
    elsewhere = make_user(Role.SUPERVISOR, area_id=_area(session, "street", "ST-2").id, locale="en")
    assert "G-BUSY" not in login(elsewhere).get("/indicators/grids").get_data(as_text=True)


def test_the_grids_download_as_csv_with_the_same_suppression(
    session: Session, login: Login, make_user: Callable[..., User]
) -> None:
    """The table goes to Excel as the page shows it: a grid a row, small cells as markers with
    their note, only the supervisor's own grids; an export, so audited."""
    today = local_today()
    street = _area(session, "street", "ST-C")
    busy, small = _area(session, "grid", "G-CSV", street), _area(session, "grid", "G-TINY", street)
    caseworker = make_user(Role.CASEWORKER)
    grid_worker = make_user(Role.GRID_WORKER, area_id=busy.id)
    for number in range(7):
        someone = Person(code=f"XA-C-{number:04d}", full_name="某", caseworker_id=caseworker.id, area_id=busy.id)
        session.add(someone)
        session.commit()
        if number < 6:  # seen: three by the grid worker, three by the caseworker
            _contact(session, someone, grid_worker if number < 3 else caseworker, today - timedelta(days=number))
    session.add(Person(code="XA-C-0100", full_name="某", caseworker_id=caseworker.id, area_id=small.id))
    session.commit()
    _area(session, "grid", "G-AWAY", _area(session, "street", "ST-AWAY"))
    supervisor = make_user(Role.SUPERVISOR, area_id=street.id, locale="en")
    client = login(supervisor)
    assert 'href="/indicators/grids.csv"' in client.get("/indicators/grids").get_data(as_text=True)
    answer = client.get("/indicators/grids.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    first = (today - timedelta(days=29)).isoformat()
    assert f"grids_{first}_{today.isoformat()}.csv" in answer.headers["Content-Disposition"]
    rows = {row["Code"]: row for row in csv.DictReader(io.StringIO(answer.get_data().decode("utf-8-sig")))}
    assert set(rows) == {"G-CSV", "G-TINY"}
    busy_row = rows["G-CSV"]
    assert (busy_row["People"], busy_row["Seen in the last 30 days (%)"]) == ("7", "85.7")
    assert (busy_row["Contacts by grid workers"], busy_row["Found again"]) == ("<5", "0")
    assert (busy_row["First day"], busy_row["Last day"]) == (first, today.isoformat())
    assert "fewer than 5" in busy_row["Note"]
    assert rows["G-TINY"]["People"] == "hidden" and "not shown" in rows["G-TINY"]["Note"]
    exported = session.exec(select(AuditEvent).where(AuditEvent.actor_id == supervisor.id)).all()
    assert [(event.action, event.record_type) for event in exported] == [("export", "indicators")]
