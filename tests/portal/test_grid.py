"""The grid worker's duty (issue 16): the people of their grids whose contact is due, with what a
visit needs and nothing more, and a contact recorded in one tap, once however often it is sent."""

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.clock import local_today
from portal.models import (
    Area,
    AuditEvent,
    ContactLog,
    Duty,
    Handover,
    Need,
    Notification,
    Person,
    Role,
    User,
    utcnow,
)
from tests.conftest import keyed

Login = Callable[[User], FlaskClient]


@pytest.fixture
def grid_worker(make_user: Callable[..., User], grid: Area) -> User:
    return make_user(Role.GRID_WORKER, name="Li Na", area_id=grid.id, locale="en")


def person(session: Session, caseworker: User, area: Area | None, code: str, **fields: object) -> Person:
    found = Person(code=code, full_name=f"Name {code}", caseworker_id=caseworker.id, area_id=area.id if area else None)
    for name, value in fields.items():
        setattr(found, name, value)
    session.add(found)
    session.commit()
    return found


def contact_form(someone: Person, **fields: str) -> dict[str, str]:
    return keyed(
        {
            "person": str(someone.id),
            "kind": "visit",
            "outcome": "reached",
            "occurred_on": local_today().isoformat(),
            "note": "Home, well, looking for work",
            **fields,
        }
    )


def test_the_visits_are_the_grids_people_due_with_what_a_visit_needs_only(
    session: Session, login: Login, grid_worker: User, caseworker: User, grid: Area
) -> None:
    today = local_today()
    due = person(session, caseworker, grid, "XA-G-0001", next_contact_due=today, address="3 Spring Lane", phone="139")
    overdue = person(session, caseworker, grid, "XA-G-0002", next_contact_due=today - timedelta(days=3))
    later = person(session, caseworker, grid, "XA-G-0003", next_contact_due=today + timedelta(days=9))
    later.last_contact_on = today
    elsewhere = person(session, caseworker, None, "XA-G-0004", next_contact_due=today)
    session.add(Need(person_id=due.id, category="counselling", description="NEED TEXT NEVER SHOWN"))
    session.commit()

    page = login(grid_worker).get("/grid/").get_data(as_text=True)
    assert "XA-G-0001" in page and "3 Spring Lane" in page and "tel:139" in page
    assert "XA-G-0002" in page
    assert "XA-G-0003" not in page and "XA-G-0004" not in page
    assert "NEED TEXT NEVER SHOWN" not in page
    everyone = login(grid_worker).get("/grid/?show=all").get_data(as_text=True)
    assert "XA-G-0003" in everyone and "XA-G-0004" not in everyone

    session.commit()
    listed = session.exec(
        select(AuditEvent).where(AuditEvent.actor_id == grid_worker.id, AuditEvent.action == "list")
    ).all()
    assert listed, "the people shown are on the audit trail"
    assert overdue.id and elsewhere.id


def test_a_contact_recorded_in_one_tap_counts_once(
    session: Session, login: Login, grid_worker: User, caseworker: User, grid: Area
) -> None:
    lost = person(session, caseworker, grid, "XA-G-0005")
    lost.created_at = utcnow() - timedelta(days=90)  # registered long ago, never contacted: out of contact
    session.commit()
    client = login(grid_worker)
    assert "Out of contact" in client.get("/grid/").get_data(as_text=True)
    form = client.get(f"/grid/contact?person={lost.id}").get_data(as_text=True)
    assert "Name XA-G-0005" in form and 'value="visit" selected' in form

    sent = contact_form(lost, latitude="34.26", longitude="108.94")
    answer = client.post("/grid/contact", data=sent, follow_redirects=True)
    assert "Contact with XA-G-0005 recorded." in answer.get_data(as_text=True)
    assert client.post("/grid/contact", data=sent).status_code == 303  # sent again: a retry
    session.commit()
    [contact] = session.exec(select(ContactLog).where(ContactLog.person_id == lost.id)).all()
    assert (contact.caseworker_id, contact.kind, contact.outcome) == (grid_worker.id, "visit", "reached")
    assert (contact.latitude, contact.longitude) == (34.26, 108.94)
    session.refresh(lost)
    assert lost.last_contact_on == local_today()
    assert f'id="person-{lost.id}"' not in client.get("/grid/").get_data(as_text=True)  # seen: no longer due


def test_bad_input_is_named_and_saves_nothing(
    session: Session, login: Login, grid_worker: User, caseworker: User, grid: Area
) -> None:
    someone = person(session, caseworker, grid, "XA-G-0006")
    client = login(grid_worker)
    future = (local_today() + timedelta(days=1)).isoformat()
    answer = client.post("/grid/contact", data=contact_form(someone, occurred_on=future))
    assert answer.status_code == 422 and "The contact date cannot be in the future." in answer.get_data(as_text=True)
    answer = client.post("/grid/contact", data=contact_form(someone, outcome=""))
    assert answer.status_code == 422
    assert client.post("/grid/contact", data=contact_form(someone, person="not-an-id")).status_code == 400
    session.commit()
    assert session.exec(select(ContactLog).where(ContactLog.person_id == someone.id)).all() == []


def test_a_person_outside_the_grids_is_not_found(
    session: Session, login: Login, grid_worker: User, caseworker: User, make_user: Callable[..., User]
) -> None:
    elsewhere = person(session, caseworker, None, "XA-G-0007")
    client = login(grid_worker)
    assert client.get(f"/grid/contact?person={elsewhere.id}").status_code == 404
    assert client.get(f"/grid/contact?person={uuid.uuid4()}").status_code == 404
    assert client.post("/grid/contact", data=contact_form(elsewhere)).status_code == 404
    session.commit()
    denied = session.exec(
        select(AuditEvent).where(AuditEvent.actor_id == grid_worker.id, AuditEvent.action == "denied")
    ).all()
    assert elsewhere.id in {event.record_id for event in denied}
    # Nor any page of the social worker's duty.
    assert client.get(f"/people/{elsewhere.id}").status_code == 403
    assert client.get("/people/").status_code == 403


def test_nearest_first_when_the_phone_says_where_the_worker_is(
    session: Session, login: Login, grid_worker: User, caseworker: User, grid: Area
) -> None:
    today = local_today()
    far = person(session, caseworker, grid, "XA-G-0008", next_contact_due=today, latitude=34.30, longitude=108.95)
    near = person(session, caseworker, grid, "XA-G-0009", next_contact_due=today, latitude=34.261, longitude=108.941)
    client = login(grid_worker)
    by_due = client.get("/grid/").get_data(as_text=True)
    assert by_due.index(far.code) < by_due.index(near.code)  # same day: by code
    nearest = client.get("/grid/?near=34.26,108.94").get_data(as_text=True)
    assert nearest.index(near.code) < nearest.index(far.code)
    assert "0.1 km away" in nearest
    assert client.get("/grid/?near=999,1").status_code == 200  # ignored, not refused


def test_a_supervisor_assigns_a_grid_worker_and_the_hand_over_is_recorded(
    session: Session,
    login: Login,
    grid_worker: User,
    caseworker: User,
    make_user: Callable[..., User],
    grid: Area,
) -> None:
    street = Area(level="street", name_en="Street", name_zh="街道", code="TEST-ST")
    session.add(street)
    session.commit()
    grid.parent_id = street.id
    session.commit()
    supervisor = make_user(Role.SUPERVISOR, area_id=street.id, locale="en")
    other_worker = make_user(Role.GRID_WORKER, name="Wang Gang", locale="en")  # no grid of their own
    someone = person(session, caseworker, grid, "XA-G-0010")
    client = login(supervisor)
    page = client.get(f"/people/{someone.id}").get_data(as_text=True)
    assert "Wang Gang" in page and "Grid worker" in page
    answer = client.post(
        f"/people/{someone.id}/handover",
        data={"to_user_id": str(other_worker.id), "note": "Lives by the market; visit mornings", "version": "1"},
        follow_redirects=True,
    )
    assert "XA-G-0010: Grid visits handed to Wang Gang." in answer.get_data(as_text=True)
    session.commit()
    session.refresh(someone)
    assert (someone.grid_worker_id, someone.caseworker_id) == (other_worker.id, caseworker.id)
    handover = session.exec(select(Handover).where(Handover.person_id == someone.id)).one()
    assert (handover.duty, handover.to_user_id, handover.from_user_id) == (Duty.GRID, other_worker.id, None)
    told = session.exec(select(Notification).where(Notification.user_id == other_worker.id)).one()
    assert (told.kind, told.target) == ("grid_visits_handed_over", "home")  # a page they may open
    assert "XA-G-0010" in login(other_worker).get("/grid/?show=all").get_data(as_text=True)
    assert session.exec(select(col(Need.id))).all() == []


def test_a_supervisor_hands_over_to_the_workers_of_their_own_areas_only(
    session: Session, login: Login, caseworker: User, make_user: Callable[..., User], grid: Area
) -> None:
    """A city has hundreds of workers: a supervisor's list holds those of their areas (and those
    serving no area in particular), and another district's worker is refused, however asked."""
    street = Area(level="street", name_en="Street", name_zh="街道", code="TEST-ST2")
    elsewhere = Area(level="street", name_en="Other street", name_zh="别的街道", code="TEST-OT")
    session.add_all([street, elsewhere])
    session.commit()
    grid.parent_id = street.id
    session.commit()
    supervisor = make_user(Role.SUPERVISOR, area_id=street.id, locale="en")
    make_user(Role.GRID_WORKER, name="Near Worker", area_id=grid.id)
    make_user(Role.SPECIALIST, name="City Specialist")
    far = make_user(Role.GRID_WORKER, name="Far Worker", area_id=elsewhere.id)
    make_user(Role.CASEWORKER, name="Gone Worker", area_id=grid.id, active=False)
    someone = person(session, caseworker, grid, "XA-G-0012")
    client = login(supervisor)
    page = client.get(f"/people/{someone.id}").get_data(as_text=True)
    assert "Near Worker" in page and "City Specialist" in page
    assert "Far Worker" not in page and "Gone Worker" not in page
    refused = client.post(
        f"/people/{someone.id}/handover",
        data={"to_user_id": str(far.id), "note": "Crafted form", "version": "1"},
        follow_redirects=True,
    )
    assert "Choose an active caseworker, grid worker or specialist of your areas." in refused.get_data(as_text=True)
    session.commit()
    session.refresh(someone)
    assert someone.grid_worker_id is None
    assert session.exec(select(Handover).where(Handover.person_id == someone.id)).all() == []


def test_the_pages_read_in_chinese(
    session: Session, login: Login, grid_worker: User, caseworker: User, grid: Area
) -> None:
    person(session, caseworker, grid, "XA-G-0011", next_contact_due=local_today())
    grid_worker.locale = "zh"
    session.commit()
    page = login(grid_worker).get("/grid/").get_data(as_text=True)
    assert "今日走访" in page and "记录联系" in page


def test_the_supervisor_reads_how_far_from_the_address_a_visit_was_recorded(
    session: Session,
    login: Login,
    grid_worker: User,
    caseworker: User,
    make_user: Callable[..., User],
    grid: Area,
) -> None:
    someone = person(session, caseworker, grid, "XA-G-0012", latitude=34.26, longitude=108.94)
    client = login(grid_worker)
    client.post("/grid/contact", data=contact_form(someone, latitude="34.2607", longitude="108.94"))
    client.post("/grid/contact", data=contact_form(someone, note="Phoned instead", kind="call"))
    page = login(make_user(Role.SUPERVISOR, area_id=grid.id, locale="en")).get(f"/people/{someone.id}")
    html = page.get_data(as_text=True)
    assert "recorded 78 m from the address" in html
    assert html.count("m from the address") == 1  # the call carried no place
    assert "34.2607" not in html  # the distance, never the place


def test_the_service_worker_keeps_the_offline_page_and_no_record(login: Login, grid_worker: User) -> None:
    client = login(grid_worker)
    worker = client.get("/grid/sw.js")
    assert worker.status_code == 200 and worker.mimetype == "text/javascript"
    assert worker.headers["Cache-Control"] == "no-store"
    script = worker.get_data(as_text=True)
    assert '"/grid/offline"' in script and "/grid/contact" not in script and "/people" not in script
    offline = client.get("/grid/offline").get_data(as_text=True)
    assert "This page needs the network" in offline
    page = client.get("/grid/").get_data(as_text=True)
    assert 'data-grid-worker="/grid/sw.js"' in page and "waiting-contacts.js" in page
