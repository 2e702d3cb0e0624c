"""The anti-drug specialist's duty (issue 16): the agreement (社区戒毒/康复协议), its report-ins and
tests (尿检) with their schedule and results; what the person came to counts as a contact."""

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.clock import local_today
from portal.demo import load_demo_data
from portal.exceptions import AlreadyDecided
from portal.models import (
    Area,
    CheckKind,
    CheckResult,
    ContactLog,
    Person,
    ProgrammeAgreement,
    ProgrammeCheck,
    Role,
    User,
)
from portal.programme import services
from tests.conftest import keyed

Login = Callable[[User], FlaskClient]


@pytest.fixture
def specialist(make_user: Callable[..., User], grid: Area) -> User:
    return make_user(Role.SPECIALIST, name="Zhou Qiang", area_id=grid.id, locale="en")


@pytest.fixture
def someone(session: Session, caseworker: User, grid: Area) -> Person:
    found = Person(code="XA-P-0001", full_name="Ma Li", caseworker_id=caseworker.id, area_id=grid.id, phone="138")
    session.add(found)
    session.commit()
    return found


def agreement_form(person: Person, starts_on: date, **fields: str) -> dict[str, str]:
    return keyed(
        {
            "person": str(person.id),
            "programme": "community_rehab",
            "signed_on": starts_on.isoformat(),
            "starts_on": starts_on.isoformat(),
            "ends_on": (starts_on + timedelta(days=3 * 365)).isoformat(),
            "check_in_every_days": "30",
            "test_every_days": "60",
            "note": "Signed with the street office",
            **fields,
        }
    )


def checks(session: Session, person: Person) -> list[ProgrammeCheck]:
    session.commit()
    session.expire_all()
    return list(
        session.exec(
            select(ProgrammeCheck)
            .where(ProgrammeCheck.person_id == person.id)
            .order_by(col(ProgrammeCheck.due_on), col(ProgrammeCheck.kind))
        )
    )


def test_an_agreement_gives_the_programme_and_schedules_the_first_checks(
    session: Session, login: Login, specialist: User, someone: Person
) -> None:
    client = login(specialist)
    start = local_today() - timedelta(days=10)
    answer = client.post("/programme/agreement", data=agreement_form(someone, start), follow_redirects=True)
    assert "Agreement recorded" in answer.get_data(as_text=True)
    session.refresh(someone)
    assert (someone.programme, someone.programme_start) == ("community_rehab", start)
    assert someone.programme_end == start + timedelta(days=3 * 365)
    assert [(c.kind, c.due_on, c.done_on) for c in checks(session, someone)] == [
        (CheckKind.TEST, start, None),
        (CheckKind.CHECK_IN, start, None),
    ]
    page = client.get("/programme/").get_data(as_text=True)
    assert "Ma Li" in page and "Overdue" in page  # both were due ten days ago


def test_a_check_recorded_schedules_the_next_and_counts_as_a_contact(
    session: Session, login: Login, specialist: User, someone: Person
) -> None:
    client = login(specialist)
    start = local_today() - timedelta(days=10)
    client.post("/programme/agreement", data=agreement_form(someone, start))
    test = next(c for c in checks(session, someone) if c.kind == CheckKind.TEST)
    today = local_today().isoformat()
    answer = client.post(
        "/programme/check",
        data={"person": str(someone.id), "check": str(test.id), "result": "negative", "done_on": today},
        follow_redirects=True,
    )
    assert "Check recorded." in answer.get_data(as_text=True)
    after = checks(session, someone)
    done = next(c for c in after if c.id == test.id)
    assert (done.result, done.done_on, done.recorded_by_id) == (CheckResult.NEGATIVE, local_today(), specialist.id)
    following = [c for c in after if c.kind == CheckKind.TEST and c.done_on is None]
    assert [c.due_on for c in following] == [local_today() + timedelta(days=60)]
    contact = session.exec(select(ContactLog).where(ContactLog.person_id == someone.id)).one()
    assert (contact.kind, contact.caseworker_id) == ("check_in", specialist.id)
    session.refresh(someone)
    assert someone.last_contact_on == local_today()


def test_a_missed_check_is_no_contact_and_a_wrong_result_is_refused(
    session: Session, login: Login, specialist: User, someone: Person
) -> None:
    client = login(specialist)
    client.post("/programme/agreement", data=agreement_form(someone, local_today()))
    check_in = next(c for c in checks(session, someone) if c.kind == CheckKind.CHECK_IN)
    today = local_today().isoformat()
    wrong = client.post(
        "/programme/check",
        data={"person": str(someone.id), "check": str(check_in.id), "result": "positive", "done_on": today},
    )
    assert wrong.status_code == 422
    assert "Choose a result this kind of check can have." in wrong.get_data(as_text=True)
    client.post(
        "/programme/check",
        data={"person": str(someone.id), "check": str(check_in.id), "result": "missed", "done_on": today},
    )
    assert session.exec(select(ContactLog).where(ContactLog.person_id == someone.id)).all() == []
    again = client.post(
        "/programme/check",
        data={"person": str(someone.id), "check": str(check_in.id), "result": "attended", "done_on": today},
        follow_redirects=True,
    )
    assert "Someone recorded this check a moment ago" in again.get_data(as_text=True)
    session.commit()  # end the test's read before writing
    with pytest.raises(AlreadyDecided):
        services.record_check(session, specialist, someone, check_in.id, local_today(), CheckResult.ATTENDED, "")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("ends_on", "2020-01-01", "The agreement must end after it starts."),
        ("signed_on", "2999-01-01", "recorded once it is signed"),
        ("check_in_every_days", "0", "Enter 1 or more."),
        ("test_every_days", "x", "Enter a whole number."),
    ],
)
def test_a_bad_agreement_is_named_by_field_and_saves_nothing(
    session: Session, login: Login, specialist: User, someone: Person, field: str, value: str, message: str
) -> None:
    answer = login(specialist).post(
        "/programme/agreement", data=agreement_form(someone, local_today(), **{field: value})
    )
    assert answer.status_code == 422 and message in answer.get_data(as_text=True)
    session.commit()
    assert session.exec(select(ProgrammeAgreement)).all() == []


def test_the_specialist_sees_the_programme_and_never_the_social_work(
    session: Session, login: Login, specialist: User, someone: Person, caseworker: User
) -> None:
    client = login(specialist)
    client.post("/programme/agreement", data=agreement_form(someone, local_today()))
    page = client.get(f"/programme/person?person={someone.id}").get_data(as_text=True)
    assert "Ma Li" in page and "Signed with the street office" in page and "Drug test" in page
    assert client.get(f"/people/{someone.id}").status_code == 403
    assert client.get("/grid/").status_code == 403
    # The caseworker's pages keep to social work: no test results there.
    assert "Drug test" not in login(caseworker).get(f"/people/{someone.id}").get_data(as_text=True)


def test_a_person_outside_the_specialists_area_is_not_found(
    session: Session, login: Login, specialist: User, caseworker: User
) -> None:
    elsewhere = Person(code="XA-P-0002", full_name="Far Away", caseworker_id=caseworker.id)
    session.add(elsewhere)
    session.commit()
    client = login(specialist)
    assert client.get(f"/programme/person?person={elsewhere.id}").status_code == 404
    assert client.post("/programme/agreement", data=agreement_form(elsewhere, local_today())).status_code == 404
    assert "Far Away" not in client.get("/programme/").get_data(as_text=True)


def test_the_pages_read_in_chinese(session: Session, login: Login, specialist: User, someone: Person) -> None:
    specialist.locale = "zh"
    session.commit()
    client = login(specialist)
    client.post("/programme/agreement", data=agreement_form(someone, local_today()))
    page = client.get(f"/programme/person?person={someone.id}").get_data(as_text=True)
    assert "尿检" in page and "报到" in page and "协议" in page


def test_the_demo_specialist_and_grid_worker_have_their_people(session: Session, login: Login) -> None:
    assert load_demo_data(session)
    specialist = session.exec(select(User).where(User.email == "specialist@bridge.example")).one()
    grid_worker = session.exec(select(User).where(User.email == "grid@bridge.example")).one()
    for user in (specialist, grid_worker):
        user.locale = "en"
    session.commit()
    rows = services.caseload(session, specialist, local_today(), {"default": 30})
    kept = [row for row in rows if row.next_check_in]  # those with an agreement
    assert {row.person.code for row in kept} == {"XA-2026-0001", "XA-2026-0004"}
    assert not any(row.overdue(local_today()) for row in kept)
    page = login(specialist).get("/programme/").get_data(as_text=True)
    assert "XA-2026-0004" in page
    everyone = login(grid_worker).get("/grid/?show=all").get_data(as_text=True)
    assert "XA-2026-0001" in everyone and "XA-2026-0004" in everyone


def test_the_supervisor_reads_the_programme_side_on_the_person_page(
    session: Session, login: Login, specialist: User, someone: Person, make_user: Callable[..., User], grid: Area
) -> None:
    login(specialist).post("/programme/agreement", data=agreement_form(someone, local_today()))
    page = login(make_user(Role.SUPERVISOR, area_id=grid.id, locale="en")).get(f"/people/{someone.id}")
    html = page.get_data(as_text=True)
    assert "Programme agreement, check-ins and tests" in html and "Drug test" in html
