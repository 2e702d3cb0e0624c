"""Volunteers' hours (issue 15): a volunteer logs what they did; the organization they served with,
or the caseworker of the referral it served, confirms it or returns it; only confirmed hours count,
on the volunteer's home page, their certificate, the organization's export and the indicators."""

import csv
import io
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.audit.services import naming
from portal.clock import local_today
from portal.demo import load_demo_data
from portal.exceptions import AlreadyDecided
from portal.hours import services
from portal.indicators import services as indicators
from portal.models import (
    ActivityStatus,
    Area,
    AuditEvent,
    Need,
    Offer,
    Organization,
    OrganizationKind,
    Person,
    Referral,
    ReferralStatus,
    Role,
    User,
    VolunteerActivity,
    utcnow,
)
from portal.people.retention import anonymise
from tests.conftest import keyed
from tests.portal.days import DaysFromToday, form_dated

Login = Callable[[User], FlaskClient]


@pytest.fixture
def volunteer(make_user: Callable[..., User]) -> User:
    return make_user(Role.VOLUNTEER, name="Zhou Ting", locale="en")


@pytest.fixture
def host(make_organization: Callable[..., Organization], grid: Area) -> Organization:
    return make_organization(OrganizationKind.VOLUNTEER_GROUP, name="Spring Light Volunteers", area_id=grid.id)


@pytest.fixture
def host_staff(make_user: Callable[..., User], host: Organization) -> User:
    return make_user(Role.PROVIDER, organization=host, name="Chen Jing", locale="en")


@pytest.fixture
def referral(
    session: Session, volunteer: User, caseworker: User, grid: Area, make_offer: Callable[..., Offer]
) -> Referral:
    """A referral the volunteer took on: a person on the caseworker's caseload, to the volunteer's offer."""
    person = Person(code="XA-H-0001", full_name="王强", caseworker_id=caseworker.id, area_id=grid.id)
    session.add(person)
    session.commit()
    need = Need(person_id=person.id, category="peer_support", description="Someone to talk to")
    session.add(need)
    session.commit()
    offer = make_offer(volunteer, category="peer_support", title="Walks and talks")
    found = Referral(need_id=need.id, person_id=person.id, offer_id=offer.id, status=ReferralStatus.ACCEPTED)
    session.add(found)
    session.commit()
    return found


def activity_form(served: str, **fields: Any) -> dict[str, Any]:
    return keyed(
        {
            "done_on": local_today().isoformat(),
            "hours": "2.5",
            "kind": "accompaniment",
            "description": "Went with him to a job interview",
            "served": served,
            **fields,
        }
    )


def logged(session: Session, volunteer: User) -> list[VolunteerActivity]:
    """The volunteer's activities as the database holds them now, after the app's writes."""
    session.commit()
    session.expire_all()
    return list(session.exec(select(VolunteerActivity).where(VolunteerActivity.volunteer_id == volunteer.id)))


def test_hours_done_with_an_organization_count_once_its_staff_confirm_them(
    session: Session, login: Login, volunteer: User, host: Organization, host_staff: User
) -> None:
    client = login(volunteer)
    form = client.get("/hours/new").get_data(as_text=True)
    assert "Spring Light Volunteers" in form
    sent = client.post("/hours/new", data=activity_form(f"organization:{host.id}"))
    assert sent.status_code == 303
    page = client.get("/hours/").get_data(as_text=True)
    assert "Waiting for confirmation" in page and "Went with him to a job interview" in page
    [activity] = logged(session, volunteer)
    assert (activity.minutes, activity.status, activity.area_id) == (150, ActivityStatus.PENDING, host.area_id)

    staff = login(host_staff)
    home = staff.get("/").get_data(as_text=True)
    assert "1 volunteer activity waiting for your confirmation" in home
    waiting = staff.get("/hours/confirm").get_data(as_text=True)
    assert "Zhou Ting" in waiting and "2.5 hours" in waiting
    confirmed = staff.post(f"/hours/{activity.id}/decide", data={"decision": "confirm"}, follow_redirects=True)
    assert "2.5 hours confirmed." in confirmed.get_data(as_text=True)
    assert "No hours are waiting for your confirmation." in confirmed.get_data(as_text=True)
    assert "Zhou Ting" in confirmed.get_data(as_text=True)  # this year's totals per volunteer

    client = login(volunteer)
    home = client.get("/").get_data(as_text=True)
    assert "Confirmed hours this year" in home and "<dd>2.5</dd>" in home
    page = client.get("/hours/").get_data(as_text=True)
    assert "by Spring Light Volunteers" in page
    assert "Take back" not in page  # confirmed hours are the organization's record too


def test_another_organization_neither_sees_nor_confirms_them(
    session: Session,
    login: Login,
    volunteer: User,
    host: Organization,
    make_user: Callable[..., User],
) -> None:
    login(volunteer).post("/hours/new", data=activity_form(f"organization:{host.id}"))
    [activity] = logged(session, volunteer)
    stranger = login(make_user(Role.PROVIDER))
    assert "Zhou Ting" not in stranger.get("/hours/confirm").get_data(as_text=True)
    assert stranger.post(f"/hours/{activity.id}/decide", data={"decision": "confirm"}).status_code == 404
    assert logged(session, volunteer)[0].status == ActivityStatus.PENDING


def test_hours_for_a_referral_are_confirmed_by_its_caseworker(
    session: Session,
    login: Login,
    volunteer: User,
    caseworker: User,
    host_staff: User,
    referral: Referral,
    grid: Area,
) -> None:
    client = login(volunteer)
    assert "XA-H-0001 · Walks and talks" in client.get("/hours/new").get_data(as_text=True)
    assert client.post("/hours/new", data=activity_form(f"referral:{referral.id}")).status_code == 303
    [activity] = logged(session, volunteer)
    assert activity.area_id == grid.id and activity.organization_id is None

    assert "Zhou Ting" not in login(host_staff).get("/hours/confirm").get_data(as_text=True)
    worker = login(caseworker)
    waiting = worker.get("/hours/confirm").get_data(as_text=True)
    assert "for XA-H-0001" in waiting
    worker.post(f"/hours/{activity.id}/decide", data={"decision": "confirm"})
    assert logged(session, volunteer)[0].status == ActivityStatus.CONFIRMED
    assert logged(session, volunteer)[0].decided_by_id == caseworker.id


def test_a_referral_the_volunteer_did_not_take_on_is_refused(
    session: Session, login: Login, volunteer: User, referral: Referral, make_user: Callable[..., User]
) -> None:
    other = make_user(Role.VOLUNTEER, locale="en")
    answer = login(other).post("/hours/new", data=activity_form(f"referral:{referral.id}"))
    assert answer.status_code == 422
    assert "Choose one of the options." in answer.get_data(as_text=True)
    assert logged(session, other) == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("done_on", DaysFromToday(1), "not before"),
        ("done_on", DaysFromToday(-400), "up to a year"),
        ("hours", "0.3", "Enter hours in quarters"),
        ("hours", "25", "Enter 24 or less."),
        ("description", "", "This field is required."),
        ("served", "", "This field is required."),
        ("served", "organization:nonsense", "Choose the referral these hours served"),
    ],
)
def test_bad_input_is_named_by_field_and_saves_nothing(
    session: Session,
    login: Login,
    volunteer: User,
    host: Organization,
    field: str,
    value: str | DaysFromToday,
    message: str,
) -> None:
    form = {**activity_form(f"organization:{host.id}"), **form_dated({field: value})}
    answer = login(volunteer).post("/hours/new", data=form)
    assert answer.status_code == 422
    assert message in answer.get_data(as_text=True)
    assert logged(session, volunteer) == []


def test_the_same_form_sent_twice_logs_the_hours_once(
    session: Session, login: Login, volunteer: User, host: Organization
) -> None:
    client = login(volunteer)
    form = activity_form(f"organization:{host.id}")
    assert client.post("/hours/new", data=form).status_code == 303
    assert client.post("/hours/new", data=form).status_code == 303
    assert len(logged(session, volunteer)) == 1


def test_returned_hours_carry_the_reason_and_can_be_taken_back(
    session: Session, login: Login, volunteer: User, host: Organization, host_staff: User
) -> None:
    login(volunteer).post("/hours/new", data=activity_form(f"organization:{host.id}"))
    [activity] = logged(session, volunteer)
    staff = login(host_staff)
    without = staff.post(f"/hours/{activity.id}/decide", data={"decision": "return"}, follow_redirects=True)
    assert "Say why the hours are returned" in without.get_data(as_text=True)
    assert logged(session, volunteer)[0].status == ActivityStatus.PENDING
    staff.post(f"/hours/{activity.id}/decide", data={"decision": "return", "reason": "It was 2 hours, not 2.5"})

    client = login(volunteer)
    page = client.get("/hours/").get_data(as_text=True)
    assert "Returned by Chen Jing: It was 2 hours, not 2.5" in page
    taken = client.post(f"/hours/{activity.id}/withdraw", follow_redirects=True)
    assert "The hours were taken back." in taken.get_data(as_text=True)
    assert logged(session, volunteer) == []


def test_two_confirmers_at_once_decide_once(
    session: Session,
    login: Login,
    volunteer: User,
    host: Organization,
    host_staff: User,
    make_user: Callable[..., User],
) -> None:
    login(volunteer).post("/hours/new", data=activity_form(f"organization:{host.id}"))
    [activity] = logged(session, volunteer)
    colleague = make_user(Role.PROVIDER, organization=host)
    services.decide(session, host_staff, activity, confirmed=True)
    with pytest.raises(AlreadyDecided):
        services.decide(session, colleague, activity, confirmed=False, reason="Too many")
    staff = login(colleague)
    late = staff.post(f"/hours/{activity.id}/decide", data={"decision": "confirm"}, follow_redirects=True)
    assert "a moment ago: nothing was changed" in late.get_data(as_text=True)
    assert logged(session, volunteer)[0].decided_by_id == host_staff.id


def test_confirmed_hours_cannot_be_taken_back(
    session: Session, login: Login, volunteer: User, host: Organization, host_staff: User
) -> None:
    client = login(volunteer)
    client.post("/hours/new", data=activity_form(f"organization:{host.id}"))
    [activity] = logged(session, volunteer)
    services.decide(session, host_staff, activity, confirmed=True)
    answer = client.post(f"/hours/{activity.id}/withdraw", follow_redirects=True)
    assert "part of your record and stay" in answer.get_data(as_text=True)
    assert len(logged(session, volunteer)) == 1


def confirm_hours(
    session: Session, volunteer: User, host: Organization, staff: User, days_ago: int, hours: str
) -> None:
    activity = services.log(
        session,
        volunteer,
        services.Activity(
            local_today() - timedelta(days=days_ago), int(float(hours) * 60), "mentoring", "Weekly talk", None, host.id
        ),  # type: ignore[arg-type]
    )
    services.decide(session, staff, activity, confirmed=True)


def test_the_certificate_counts_confirmed_hours_of_the_period_only(
    session: Session, login: Login, volunteer: User, host: Organization, host_staff: User
) -> None:
    confirm_hours(session, volunteer, host, host_staff, 0, "3")
    confirm_hours(session, volunteer, host, host_staff, 0, "1.25")
    client = login(volunteer)
    client.post("/hours/new", data=activity_form(f"organization:{host.id}"))  # not confirmed
    today = local_today().isoformat()
    page = client.get(f"/hours/certificate?start={today}&end={today}").get_data(as_text=True)
    assert "Zhou Ting gave 4.25 hours of confirmed volunteer service" in page
    assert page.count("Spring Light Volunteers") == 2
    assert "Weekly talk" not in page  # what was done stays off a paper handed to others: the kind is enough
    volunteer.locale = "zh"
    session.commit()
    chinese = login(volunteer).get(f"/hours/certificate?start={today}&end={today}").get_data(as_text=True)
    assert "志愿服务证明" in chinese and "4.25" in chinese
    wrong = client.get("/hours/certificate?start=2026-02-01&end=2026-01-01")
    assert wrong.status_code == 422


def test_the_export_has_the_volunteer_record_columns_and_is_audited(
    session: Session, login: Login, volunteer: User, host: Organization, host_staff: User
) -> None:
    volunteer.id_type = "resident_id"
    session.commit()
    confirm_hours(session, volunteer, host, host_staff, 0, "2")
    login(volunteer).post("/hours/new", data=activity_form(f"organization:{host.id}"))  # not confirmed
    staff = login(host_staff)
    page = staff.get("/hours/export").get_data(as_text=True)
    assert "Zhou Ting" in page and "Download CSV" in page
    answer = staff.get("/hours/export.csv")
    assert answer.status_code == 200 and answer.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(answer.get_data().decode("utf-8-sig"))))
    assert rows[0] == ["Name", "ID type", "Hours", "Activity", "Date", "Organization"]
    assert rows[1:] == [
        ["Zhou Ting", "Resident identity card", "2", "Mentoring: Weekly talk", local_today().isoformat(), host.name]
    ]
    session.commit()
    confirmed = [a.id for a in logged(session, volunteer) if a.status == ActivityStatus.CONFIRMED]
    event = session.exec(select(AuditEvent).where(col(AuditEvent.id).in_(naming(confirmed)))).one()
    assert (event.action, event.record_type) == ("export", "volunteer_activity")

    host_staff.locale = "zh"
    session.commit()
    chinese = login(host_staff).get("/hours/export.csv").get_data().decode("utf-8-sig")
    assert chinese.splitlines()[0] == "姓名,证件类型,服务时长（小时）,服务内容,服务日期,组织"
    assert "居民身份证" in chinese


def test_a_supervisor_exports_the_hours_counted_in_their_areas(
    session: Session,
    login: Login,
    volunteer: User,
    host: Organization,
    host_staff: User,
    make_user: Callable[..., User],
    grid: Area,
) -> None:
    confirm_hours(session, volunteer, host, host_staff, 0, "2")
    inside = make_user(Role.SUPERVISOR, area_id=grid.id, locale="en")
    elsewhere_area = Area(level="grid", name_en="Far grid", name_zh="远网格", code="TEST-FAR")
    session.add(elsewhere_area)
    session.commit()
    outside = make_user(Role.SUPERVISOR, area_id=elsewhere_area.id, locale="en")
    assert "Zhou Ting" in login(inside).get("/hours/export.csv").get_data().decode("utf-8-sig")
    assert "Zhou Ting" not in login(outside).get("/hours/export.csv").get_data().decode("utf-8-sig")


def test_the_id_type_is_a_type_never_a_number(session: Session, login: Login, volunteer: User) -> None:
    client = login(volunteer)
    assert client.post("/hours/id-type", data={"id_type": "passport"}).status_code == 303
    session.refresh(volunteer)
    assert volunteer.id_type == "passport"
    assert client.post("/hours/id-type", data={"id_type": "110101199003071234"}).status_code == 400
    session.refresh(volunteer)
    assert volunteer.id_type == "passport"


def test_closing_a_persons_record_clears_what_volunteers_wrote_about_them(
    session: Session, login: Login, volunteer: User, referral: Referral, caseworker: User
) -> None:
    login(volunteer).post("/hours/new", data=activity_form(f"referral:{referral.id}"))
    session.commit()
    assert anonymise(session, referral.person_id, utcnow())
    [activity] = logged(session, volunteer)
    assert activity.description == "" and activity.minutes == 150  # the hours stay the volunteer's


def test_the_indicators_count_confirmed_hours_in_the_area_they_were_given(
    session: Session,
    login: Login,
    volunteer: User,
    host: Organization,
    host_staff: User,
    make_user: Callable[..., User],
    grid: Area,
) -> None:
    confirm_hours(session, volunteer, host, host_staff, 0, "2")
    confirm_hours(session, volunteer, host, host_staff, 1, "1.5")
    login(volunteer).post("/hours/new", data=activity_form(f"organization:{host.id}"))  # not confirmed
    today = local_today()
    assert indicators.volunteer_hours(session, indicators.Scope(grid.id, today, today)) == indicators.VolunteerHours(
        2.0, 1
    )
    assert indicators.volunteer_hours(session, indicators.Scope(None, today - timedelta(days=1), today)).hours == 3.5
    elsewhere = Area(level="grid", name_en="Far grid", name_zh="远网格", code="TEST-FAR2")
    session.add(elsewhere)
    session.commit()
    assert indicators.volunteer_hours(session, indicators.Scope(elsewhere.id, today, today)).hours == 0

    page = login(make_user(Role.SUPERVISOR, area_id=grid.id, locale="en")).get("/indicators")
    html = page.get_data(as_text=True)
    assert "Volunteer hours confirmed" in html and '<p class="stat-number">3.5</p>' in html


def test_the_demo_volunteer_has_hours_confirmed_returned_and_waiting(session: Session, login: Login) -> None:
    assert load_demo_data(session)
    volunteer = session.exec(select(User).where(User.email == "volunteer@bridge.example")).one()
    totals = services.totals(session, volunteer, local_today())
    assert (totals.confirmed_hours, totals.pending, totals.returned) == (5, 1, 1)
    staff = session.exec(select(User).where(User.email == "staff.chunhui@bridge.example")).one()
    staff.locale = "en"
    session.commit()
    waiting = login(staff).get("/hours/confirm").get_data(as_text=True)
    assert "Cleaned the community garden with the peer group" in waiting


def test_words_about_hours_for_a_referral_stay_with_the_caseworker(
    session: Session,
    login: Login,
    volunteer: User,
    caseworker: User,
    referral: Referral,
    make_user: Callable[..., User],
    grid: Area,
) -> None:
    login(volunteer).post("/hours/new", data=activity_form(f"referral:{referral.id}"))
    [activity] = logged(session, volunteer)
    worker = login(caseworker)
    assert "Went with him to a job interview" in worker.get("/hours/confirm").get_data(as_text=True)
    session.commit()
    shown = session.exec(select(AuditEvent).where(col(AuditEvent.id).in_(naming([referral.id])))).one()
    assert (shown.action, shown.record_type, shown.actor_id) == ("list", "referral", caseworker.id)
    session.commit()  # end the read before the portal writes
    worker.post(f"/hours/{activity.id}/decide", data={"decision": "confirm"})

    supervisor = login(make_user(Role.SUPERVISOR, area_id=grid.id, locale="en"))
    exported = supervisor.get("/hours/export.csv").get_data().decode("utf-8-sig")
    assert "Accompaniment" in exported and "2.5" in exported
    assert "job interview" not in exported
