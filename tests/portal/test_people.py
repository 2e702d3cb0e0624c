"""People: recording a person, duplicates, who sees whom, needs assessments and the contact log."""

import csv
import io
import re
import threading
import uuid
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any
from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlmodel import Session, col, func, select

from portal.clock import local_midnight, local_today
from portal.db import get_engine
from portal.demo import load_demo_data
from portal.exceptions import NotAllowed, OutsideYourAreas, TooManyChecks
from portal.migrations import downgrade, upgrade
from portal.models import Area, AuditEvent, AuditEventRecord, ContactLog, Need, NeedStatus, Person, Role, User
from portal.people import services
from portal.people.forms import id_check_character
from tests.conftest import keyed, revision_before, sign_in_with_session
from tests.portal.audit_trail import records_shown
from tests.portal.days import DaysFromToday, form_dated

Login = Callable[[User], FlaskClient]
MakePerson = Callable[..., Person]
HTMX = {"HX-Request": "true"}


def resident_id(first_seventeen: str) -> str:
    return first_seventeen + id_check_character(first_seventeen)


def field_errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]*)</p>', html))


def reread(session: Session, row: object) -> None:
    """Read a row again after the app changed it (ending the test's read transaction first)."""
    session.rollback()
    session.refresh(row)


def count_people(session: Session) -> int:
    session.rollback()  # end the read transaction, so the app's writes are seen
    return session.exec(select(func.count()).select_from(Person)).one()


@pytest.fixture
def areas(session: Session) -> dict[str, Area]:
    """Lianhu district with a street and a grid below it, and Yanta district beside it."""
    district = Area(level="district", name_en="Lianhu", name_zh="莲湖区", code="LH")
    street = Area(level="street", name_en="Beiyuanmen", name_zh="北院门街道", code="LH-BYM", parent_id=district.id)
    grid = Area(level="grid", name_en="Grid 3", name_zh="第三网格", code="LH-BYM-03", parent_id=street.id)
    other = Area(level="district", name_en="Yanta", name_zh="雁塔区", code="YT")
    session.add_all([district, street, grid, other])
    session.commit()
    return {"district": district, "street": street, "grid": grid, "other": other}


@pytest.fixture
def grid(areas: dict[str, Area]) -> Area:
    """The caseworkers' own area here is the whole Lianhu district."""
    return areas["district"]


@pytest.fixture
def colleague(make_user: Callable[..., User]) -> User:
    """Another caseworker, whose caseload is not ours to see."""
    return make_user(Role.CASEWORKER, name="Sun Lei")


@pytest.fixture
def make_person(session: Session, areas: dict[str, Area]) -> MakePerson:
    def make(caseworker: User, **fields: Any) -> Person:
        person = Person(
            code=fields.pop("code", f"XA-T-{uuid.uuid4().hex[:6]}"),
            caseworker_id=caseworker.id,
            full_name=fields.pop("full_name", "刘强"),
            area_id=fields.pop("area_id", areas["grid"].id),
            **fields,
        )
        session.add(person)
        session.commit()
        return person

    return make


def person_data(areas: dict[str, Area], **changes: Any) -> dict[str, Any]:
    data = {
        "full_name": "李娜",
        "phone": "138 0013 8000",
        "id_number": resident_id("61010419850312002"),
        "birth_date": "1985-03-12",
        "gender": "female",
        "languages": ["zh", "en"],
        "area_id": str(areas["grid"].id),
        "address": "北院门 12 号",
        "latitude": "34.2655",
        "longitude": "108.9406",
        "max_travel_km": "8.5",
        "availability": ["weekday_day", "weekend"],
        "programme": "community_rehab",
        "programme_start": "2025-06-01",
        "skills": "烹饪，driving、 cooking",
        "next_contact_due": (local_today() + timedelta(days=7)).isoformat(),
    }
    data.update(changes)
    return data


# --- Recording a person -----------------------------------------------------------------------


def test_caseworker_records_a_person_with_every_field(
    client: FlaskClient, login: Login, caseworker: User, areas: dict[str, Area], session: Session
) -> None:
    login(caseworker)
    response = client.post("/people/new", data=keyed(person_data(areas)))
    assert response.status_code == 303
    person = session.get(Person, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))
    assert person is not None
    assert re.fullmatch(rf"XA-{local_today().year}-\d{{4}}", person.code)
    assert person.caseworker_id == caseworker.id
    assert (person.full_name, person.phone, person.gender) == ("李娜", "138 0013 8000", "female")
    assert person.id_number == resident_id("61010419850312002")
    assert person.birth_date == date(1985, 3, 12)
    assert person.languages == ["en", "zh"]
    assert person.area_id == areas["grid"].id
    assert (person.address, person.latitude, person.longitude) == ("北院门 12 号", 34.2655, 108.9406)
    assert person.max_travel_km == 8.5
    assert person.availability == ["weekday_day", "weekend"]
    assert (person.programme, person.programme_start) == ("community_rehab", date(2025, 6, 1))
    assert person.skills == ["cooking", "driving", "烹饪"]
    assert person.next_contact_due == local_today() + timedelta(days=7)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    for shown in (person.code, "李娜", "138 0013 8000", "Community rehabilitation", "Grid 3"):
        assert shown in page
    # The ID number is masked on the page; the whole number is on the edit form.
    assert person.id_number not in page and person.id_number[-4:] in page
    assert person.id_number in client.get(f"/people/{person.id}/edit").get_data(as_text=True)


def test_an_age_is_recorded_as_1_july_of_the_estimated_birth_year(
    client: FlaskClient, login: Login, caseworker: User, areas: dict[str, Area], session: Session
) -> None:
    login(caseworker)
    assert "1 July" in client.get("/people/new").get_data(as_text=True)
    response = client.post(
        "/people/new", data=keyed(person_data(areas, birth_date="", age="40", phone="", id_number=""))
    )
    assert response.status_code == 303
    (person,) = session.exec(select(Person))
    assert person.birth_date == date(local_today().year - 40, 7, 1)


def test_only_a_name_and_an_area_are_required(
    client: FlaskClient, login: Login, caseworker: User, areas: dict[str, Area]
) -> None:
    login(caseworker)
    response = client.post("/people/new", data=keyed({"full_name": "  陈  明 ", "area_id": str(areas["street"].id)}))
    assert response.status_code == 303
    missing = client.post("/people/new", data=keyed({}))
    assert missing.status_code == 422
    assert set(field_errors(missing.get_data(as_text=True))) == {"full_name", "area_id"}


def test_invalid_person_is_shown_again_with_errors_and_values_kept(
    client: FlaskClient, login: Login, caseworker: User, areas: dict[str, Area], session: Session
) -> None:
    login(caseworker)
    bad = person_data(
        areas,
        full_name="",
        phone="call me",
        id_number="610104198503120021",
        birth_date="1985-02-30",
        latitude="91",
        max_travel_km="far",
        programme="prison",
        area_id=str(uuid.uuid4()),
    )
    response = client.post("/people/new", data=keyed(bad))
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert {"full_name", "phone", "id_number", "birth_date", "latitude", "max_travel_km", "programme"} <= set(
        field_errors(html)
    )
    assert 'value="call me"' in html and 'value="北院门 12 号"' in html and 'value="烹饪，driving、 cooking"' in html
    assert 'value="zh" checked' in html and 'value="weekend" checked' in html
    assert count_people(session) == 0


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"age": "40"}, "age"),
        ({"longitude": ""}, "longitude"),
        ({"programme_start": DaysFromToday(1)}, "programme_start"),
        ({"programme": ""}, "programme"),
        ({"birth_date": DaysFromToday(1)}, "birth_date"),
        ({"next_contact_due": DaysFromToday(-1)}, "next_contact_due"),
        ({"area_id": str(uuid.uuid4())}, "area_id"),
        ({"id_number": "6101 0419 8503 1200 2X"}, "id_number"),
    ],
)
def test_rules_across_fields_show_at_their_field(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    areas: dict[str, Area],
    changes: dict[str, object],
    field: str,
) -> None:
    login(caseworker)
    response = client.post("/people/new", data=keyed(person_data(areas, **form_dated(changes))))
    assert response.status_code == 422
    assert field in field_errors(response.get_data(as_text=True))


# --- Codes ---------------------------------------------------------------------------------------


def test_codes_count_up_within_the_year(
    session: Session, caseworker: User, make_person: MakePerson, areas: dict[str, Area]
) -> None:
    from portal.people.forms import PersonForm

    make_person(caseworker, code="XA-2019-0412")
    form = PersonForm.model_validate({"full_name": "甲", "area_id": areas["grid"].id})
    first = services.create_person(session, caseworker, form)
    second = services.create_person(session, caseworker, form)
    assert (first.code, second.code) == (f"XA-{local_today().year}-0001", f"XA-{local_today().year}-0002")
    make_person(caseworker, code=f"XA-{local_today().year}-9999")
    assert services.create_person(session, caseworker, form).code == f"XA-{local_today().year}-10000"
    assert services.create_person(session, caseworker, form).code == f"XA-{local_today().year}-10001"


def test_a_code_taken_at_the_same_moment_is_retried(
    session: Session,
    caseworker: User,
    colleague: User,
    make_person: MakePerson,
    areas: dict[str, Area],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two caseworkers read the same last code; the second to write takes the next one."""
    from portal.people.forms import PersonForm

    taken = make_person(colleague, code=f"XA-{local_today().year}-0001")
    real_next_code = services._next_code
    calls: list[str] = []

    def stale_then_real(session: Session, year: int) -> str:
        calls.append("call")
        return taken.code if len(calls) == 1 else real_next_code(session, year)

    monkeypatch.setattr(services, "_next_code", stale_then_real)
    form = PersonForm.model_validate({"full_name": "乙", "area_id": areas["grid"].id})
    person = services.create_person(session, caseworker, form)
    assert person.code == f"XA-{local_today().year}-0002"
    assert len(calls) == 2
    assert count_people(session) == 2


def test_only_caseworkers_record_people(
    session: Session, make_user: Callable[..., User], areas: dict[str, Area]
) -> None:
    from portal.people.forms import PersonForm

    form = PersonForm.model_validate({"full_name": "丙", "area_id": areas["grid"].id})
    with pytest.raises(NotAllowed):
        services.create_person(session, make_user(Role.SUPERVISOR), form)


# --- Duplicates ------------------------------------------------------------------------------------


def duplicates_warning(html: str) -> str:
    start = html.index('<section class="notice" id="duplicates"')
    return html[start : html.index("</section>", start)]


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        ({"full_name": "李娜", "phone": "+86 139 2222 3333"}, "same phone"),
        ({"full_name": "李娜", "phone": "", "id_number": resident_id("61011319780101123").lower()}, "same ID number"),
        ({"full_name": "秀 英", "phone": "", "birth_date": "1978-01-01"}, "similar name and same birth date"),
        ({"full_name": "wang xiuying", "phone": "", "birth_date": "1978-01-01"}, "similar name and same birth date"),
    ],
)
def test_likely_duplicates_on_another_caseload_warn_without_showing_who(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    colleague: User,
    make_person: MakePerson,
    areas: dict[str, Area],
    session: Session,
    typed: dict[str, str],
    reason: str,
) -> None:
    theirs = make_person(
        colleague,
        code="XA-2025-0007",
        full_name="王秀英" if "wang" not in typed["full_name"] else "Wang Xiuying",
        phone="139-2222-3333",
        id_number=resident_id("61011319780101123"),
        birth_date=date(1978, 1, 1),
        area_id=areas["other"].id,
    )
    login(caseworker)
    data = person_data(areas, **{"id_number": "", "birth_date": "1990-05-05", **typed})
    response = client.post("/people/new", data=keyed(data))
    assert response.status_code == 409
    html = response.get_data(as_text=True)
    warning = duplicates_warning(html)
    assert reason in warning and "exists on another caseload" in warning and "Ask your supervisor" in warning
    # Nothing tells who it is, where, or who holds them: not the code, the area, the caseworker.
    for private in ("XA-2025-0007", "Sun Lei", "Yanta", "雁塔", theirs.full_name, theirs.phone, theirs.id_number):
        assert private not in html
    assert str(theirs.id) not in html
    assert "These are different people: create anyway" in html
    assert 'value="李娜"' in html or f'value="{typed["full_name"]}"' in html
    assert count_people(session) == 1
    # Each match is on the trail, naming the person found and who asked.
    found = [
        (e.actor_id, e.record_id)
        for e in session.exec(select(AuditEvent).where(AuditEvent.action == "duplicate_found"))
    ]
    assert found == [(caseworker.id, theirs.id)]

    # Nothing is created until the caseworker ticks the box the page gave for exactly this check.
    token = re.search(r'name="different_from" value="([0-9a-f]+)"', html).group(1)  # type: ignore[union-attr]
    assert client.post("/people/new", data=keyed({**data, "different_from": "XA-2025-0007"})).status_code == 409
    assert count_people(session) == 1
    created = client.post("/people/new", data=keyed({**data, "different_from": token}))
    assert created.status_code == 303
    assert count_people(session) == 2
    reread(session, theirs)
    assert theirs.full_name in ("王秀英", "Wang Xiuying") and theirs.caseworker_id == colleague.id


def test_the_confirmation_token_differs_for_other_numbers_so_it_cannot_link_them(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    colleague: User,
    make_person: MakePerson,
    areas: dict[str, Area],
) -> None:
    """Typing someone's phone, then their ID number, gives two tokens that do not show it is one person."""
    make_person(colleague, phone="13922223333", id_number=resident_id("61011319780101123"))
    login(caseworker)
    tokens = set()
    for numbers in (
        {"phone": "13922223333", "id_number": ""},
        {"phone": "", "id_number": resident_id("61011319780101123")},
    ):
        page = client.post("/people/new", data=keyed(person_data(areas, **numbers))).get_data(as_text=True)
        tokens.add(re.search(r'name="different_from" value="([0-9a-f]+)"', page).group(1))  # type: ignore[union-attr]
    assert len(tokens) == 2


def test_duplicates_on_ones_own_caseload_are_shown_in_full(
    client: FlaskClient, login: Login, caseworker: User, make_person: MakePerson, areas: dict[str, Area]
) -> None:
    mine = make_person(caseworker, code="XA-2025-0003", full_name="周杰", phone="13800138000")
    login(caseworker)
    response = client.post("/people/new", data=keyed(person_data(areas, full_name="周 杰 ", id_number="")))
    assert response.status_code == 409
    warning = duplicates_warning(response.get_data(as_text=True))
    assert "周杰" in warning and "13800138000" in warning and f"/people/{mine.id}" in warning
    assert "same phone" in warning


@pytest.mark.parametrize(
    ("theirs", "typed"),
    [
        ("李", "李明"),  # one character is too short to be "contained"
        ("王秀英", "张秀兰"),
    ],
)
def test_different_names_born_the_same_day_are_not_duplicates(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    colleague: User,
    make_person: MakePerson,
    areas: dict[str, Area],
    theirs: str,
    typed: str,
) -> None:
    make_person(colleague, full_name=theirs, birth_date=date(1985, 3, 12))
    login(caseworker)
    response = client.post("/people/new", data=keyed(person_data(areas, full_name=typed, phone="", id_number="")))
    assert response.status_code == 303


def test_an_age_estimate_is_compared_as_its_birth_date(
    session: Session, caseworker: User, colleague: User, make_person: MakePerson
) -> None:
    estimated = date(local_today().year - 40, 7, 1)
    theirs = make_person(colleague, full_name="马 丽", birth_date=estimated)
    (found,) = services.find_duplicates(session, "马丽", "", "", estimated)
    assert found.person.id == theirs.id and found.reasons == [services.SIMILAR_NAME]
    assert services.find_duplicates(session, "马丽", "", "", estimated, exclude=theirs.id) == []
    # Asked by a caseworker: the colleague's person is a reason, not a person; the colleague sees them.
    typed = ("马丽", "", "", estimated)
    (for_caseworker,) = services.check_duplicates(session, caseworker, typed, 10, "secret").found
    (for_colleague,) = services.check_duplicates(session, colleague, typed, 10, "secret").found
    assert (for_caseworker.person, for_caseworker.reasons) == (None, [services.SIMILAR_NAME])
    assert for_colleague.person is not None and for_colleague.person.id == theirs.id


# --- Who sees whom ---------------------------------------------------------------------------------


def test_a_caseworker_sees_only_their_own_caseload(
    client: FlaskClient, login: Login, caseworker: User, colleague: User, make_person: MakePerson, session: Session
) -> None:
    mine = make_person(caseworker, code="XA-2026-0101", full_name="我的人")
    theirs = make_person(colleague, code="XA-2026-0102", full_name="别人的人")
    need = Need(person_id=theirs.id, category="housing", description="A room")
    session.add(need)
    session.commit()
    login(caseworker)
    listing = client.get("/people/").get_data(as_text=True)
    assert "XA-2026-0101" in listing and "我的人" in listing
    assert "XA-2026-0102" not in listing and "别人的人" not in listing
    assert client.get(f"/people/{mine.id}").status_code == 200
    for method, url in [
        ("GET", f"/people/{theirs.id}"),
        ("GET", f"/people/{theirs.id}/edit"),
        ("POST", f"/people/{theirs.id}/edit"),
        ("POST", f"/people/{theirs.id}/needs"),
        ("POST", f"/people/needs/{need.id}/status"),
        ("POST", f"/people/{theirs.id}/contacts"),
        ("GET", f"/people/{uuid.uuid4()}"),
        ("POST", f"/people/needs/{uuid.uuid4()}/status"),
    ]:
        assert client.open(url, method=method, data={"status": "met"}).status_code == 404, (method, url)
    reread(session, need)
    assert need.status == NeedStatus.OPEN


def test_lookups_treat_missing_and_not_yours_alike(
    session: Session, caseworker: User, colleague: User, make_person: MakePerson, make_user: Callable[..., User]
) -> None:
    theirs = make_person(colleague)
    assert services.find_person(session, colleague, theirs.id) == theirs
    assert services.find_person(session, caseworker, theirs.id) is None
    assert services.find_person(session, caseworker, uuid.uuid4()) is None
    for role in (Role.ADMIN, Role.PROVIDER, Role.VOLUNTEER, Role.SUPERVISOR):
        assert services.find_person(session, make_user(role), theirs.id) is None
    assert services.find_own_person(session, caseworker, theirs.id) is None


@pytest.fixture
def spread(caseworker: User, colleague: User, make_person: MakePerson, areas: dict[str, Area]) -> dict[str, Person]:
    """People in the district itself, in a grid below it, and in the district next door."""
    return {
        "district": make_person(caseworker, code="XA-2026-0201", full_name="区里的人", area_id=areas["district"].id),
        "grid": make_person(colleague, code="XA-2026-0202", full_name="网格里的人", area_id=areas["grid"].id),
        "other": make_person(colleague, code="XA-2026-0203", full_name="隔壁区的人", area_id=areas["other"].id),
    }


def test_a_supervisor_sees_their_area_and_the_areas_below(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    areas: dict[str, Area],
    spread: dict[str, Person],
    colleague: User,
) -> None:
    login(make_user(Role.SUPERVISOR, area_id=areas["district"].id))
    listing = client.get("/people/").get_data(as_text=True)
    assert "XA-2026-0201" in listing and "XA-2026-0202" in listing and "XA-2026-0203" not in listing
    assert "Zhao Min" in listing and "Sun Lei" in listing  # the caseworker column
    assert client.get(f"/people/{spread['grid'].id}").status_code == 200
    assert client.get(f"/people/{spread['other'].id}").status_code == 404
    filtered = client.get(f"/people/?caseworker={colleague.id}").get_data(as_text=True)
    assert "XA-2026-0202" in filtered and "XA-2026-0201" not in filtered
    fragment = client.get(f"/people/?caseworker={colleague.id}", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="caseload"') and "<html" not in fragment
    assert "XA-2026-0201" in client.get("/people/?caseworker=nonsense").get_data(as_text=True)


def test_a_supervisor_of_a_grid_does_not_see_the_district_above(
    client: FlaskClient, login: Login, make_user: Callable[..., User], areas: dict[str, Area], spread: dict[str, Person]
) -> None:
    login(make_user(Role.SUPERVISOR, area_id=areas["grid"].id))
    listing = client.get("/people/").get_data(as_text=True)
    assert "XA-2026-0202" in listing and "XA-2026-0201" not in listing
    assert client.get(f"/people/{spread['district'].id}").status_code == 404


def test_a_supervisor_without_an_area_sees_nobody(
    client: FlaskClient, login: Login, make_user: Callable[..., User], spread: dict[str, Person]
) -> None:
    login(make_user(Role.SUPERVISOR))
    listing = client.get("/people/").get_data(as_text=True)
    assert "XA-2026-02" not in listing
    assert client.get(f"/people/{spread['grid'].id}").status_code == 404


def test_a_supervisor_reads_but_cannot_change_records(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    areas: dict[str, Area],
    spread: dict[str, Person],
    session: Session,
) -> None:
    person = spread["grid"]
    need = Need(person_id=person.id, category="housing", description="A room")
    session.add(need)
    session.commit()
    login(make_user(Role.SUPERVISOR, area_id=areas["district"].id))
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert "A room" in page and "Edit profile" not in page and "Add need" not in page and "Log contact" not in page
    for url in (f"/people/{person.id}/edit", f"/people/{person.id}/needs", f"/people/{person.id}/contacts"):
        assert client.post(url, data={}).status_code == 403
    assert client.get(f"/people/{person.id}/edit").status_code == 403
    assert client.post(f"/people/needs/{need.id}/status", data={"status": "met"}).status_code == 403
    assert client.get("/people/new").status_code == 403


@pytest.mark.parametrize("role", [Role.ADMIN, Role.PROVIDER, Role.VOLUNTEER])
def test_other_roles_cannot_open_people(
    client: FlaskClient, login: Login, make_user: Callable[..., User], spread: dict[str, Person], role: Role
) -> None:
    login(make_user(role))
    assert client.get("/people/").status_code == 403
    assert client.get(f"/people/{spread['grid'].id}").status_code == 403
    assert 'href="/people/"' not in client.get("/").get_data(as_text=True)


# --- The caseload list -----------------------------------------------------------------------------


def rows(html: str) -> dict[str, str]:
    """Each caseload row's text by the person's code."""
    found = re.findall(r'<tr class="person-row[^"]*">(.*?)</tr>', html, flags=re.S)
    return {re.search(r"XA-[\d-]+", row).group(0): row for row in found}  # type: ignore[union-attr]


def test_the_caseload_shows_open_needs_last_contact_and_overdue_contacts(
    client: FlaskClient, login: Login, caseworker: User, make_person: MakePerson, session: Session
) -> None:
    late = make_person(
        caseworker, code="XA-2026-0301", programme="community_detox", next_contact_due=local_today() - timedelta(days=2)
    )
    make_person(caseworker, code="XA-2026-0302", next_contact_due=local_today() + timedelta(days=5))
    make_person(caseworker, code="XA-2026-0303")
    session.add_all(
        [
            Need(person_id=late.id, category="housing", description="a"),
            Need(person_id=late.id, category="health", description="b"),
            Need(person_id=late.id, category="legal", description="c", status=NeedStatus.MET),
            ContactLog(person_id=late.id, kind="call", occurred_on=date(2026, 1, 10), outcome="reached"),
            ContactLog(person_id=late.id, kind="visit", occurred_on=date(2026, 2, 14), outcome="reached"),
        ]
    )
    session.commit()
    login(caseworker)
    html = client.get("/people/").get_data(as_text=True)
    found = rows(html)
    assert list(found) == ["XA-2026-0301", "XA-2026-0302", "XA-2026-0303"]  # soonest due first
    assert "<td>2</td>" in found["XA-2026-0301"] and "14 Feb 2026" in found["XA-2026-0301"]
    assert "Community detox" in found["XA-2026-0301"] and "Overdue" in found["XA-2026-0301"]
    assert "Overdue" not in found["XA-2026-0302"] and "None yet" in found["XA-2026-0302"]
    assert "Not set" in found["XA-2026-0303"]
    assert 'class="person-row overdue"' in html


ID_NUMBER = resident_id("61010419900101003")


@pytest.fixture
def searchable(
    session: Session, caseworker: User, colleague: User, make_person: MakePerson, areas: dict[str, Area]
) -> None:
    """Three people on the caseworker's caseload, each standing out in one way, and a namesake on another."""
    late = make_person(
        caseworker,
        code="XA-2026-0401",
        full_name="刘强",
        phone="138 0000 1111",
        programme="community_detox",
        next_contact_due=local_today() - timedelta(days=2),
    )
    seen = make_person(
        caseworker,
        code="XA-2026-0402",
        full_name="Wang Fang",
        phone="13911112222",
        id_number=ID_NUMBER,
        area_id=areas["street"].id,
        programme="community_rehab",
    )
    lost = make_person(caseworker, code="XA-2026-0403", full_name="王芳芳", area_id=areas["other"].id)
    lost.created_at = lost.created_at - timedelta(days=60)  # registered long ago, never contacted since
    make_person(colleague, code="XA-2026-0499", full_name="Wang Fang")
    session.add_all(
        [
            lost,
            Need(person_id=late.id, category="housing", description="a"),
            ContactLog(person_id=seen.id, kind="call", occurred_on=local_today(), outcome="reached"),
        ]
    )
    session.commit()


@pytest.mark.parametrize(
    ("query", "shown"),
    [
        ("q=wANG", ["XA-2026-0402"]),
        ("q=王芳", ["XA-2026-0403"]),
        ("q=0401", ["XA-2026-0401"]),
        # Phone and ID numbers are found typed whole, in any spacing (SQL compares their blind indexes).
        ("q=139+1111+2222", ["XA-2026-0402"]),
        ("q=138-0000-1111", ["XA-2026-0401"]),
        ("q=+86+138+0000+1111", ["XA-2026-0401"]),
        (f"q={ID_NUMBER[:6]}+{ID_NUMBER[6:]}", ["XA-2026-0402"]),
        ("programme=community_rehab", ["XA-2026-0402"]),
        ("contact=overdue", ["XA-2026-0401"]),
        ("contact=out_of_contact", ["XA-2026-0403"]),
        ("contact=ok", ["XA-2026-0402"]),
        ("open_needs=1", ["XA-2026-0401"]),
        ("q=xa-2026&contact=ok", ["XA-2026-0402"]),
        ("q=nobody", []),
    ],
)
def test_the_caseworker_searches_and_filters_their_caseload(
    client: FlaskClient, login: Login, caseworker: User, searchable: None, query: str, shown: list[str]
) -> None:
    login(caseworker)
    html = client.post("/people/", data=dict(parse_qsl(query))).get_data(as_text=True)
    assert list(rows(html)) == shown
    assert "XA-2026-0499" not in html  # a namesake on another caseload is never found
    if not shown:
        assert "No one matches this search." in html


def test_the_area_filter_offers_the_caseloads_areas(
    client: FlaskClient, login: Login, caseworker: User, searchable: None, areas: dict[str, Area]
) -> None:
    login(caseworker)
    assert list(rows(client.get(f"/people/?area={areas['street'].id}").get_data(as_text=True))) == ["XA-2026-0402"]
    page = client.get("/people/").get_data(as_text=True)
    assert "Beiyuanmen" in page and "Yanta" in page and "Lianhu" not in page  # no one is in the district itself


def test_search_as_you_type_gets_the_list_alone_and_the_form_works_without_javascript(
    client: FlaskClient, login: Login, caseworker: User, searchable: None
) -> None:
    login(caseworker)
    page = client.post("/people/", data={"q": "wang"}).get_data(as_text=True)
    form = re.search(r'<form class="filters" method="post" action="/people/"[^>]*>', page)
    assert form is not None and 'hx-post="/people/"' in form.group(0) and "hx-push-url" not in form.group(0)
    assert 'hx-indicator="#caseload-indicator"' in form.group(0)
    assert 'id="caseload-indicator" class="htmx-indicator"' in page and 'value="wang"' in page
    assert list(rows(page)) == ["XA-2026-0402"]
    fragment = client.post("/people/", data={"q": "wang"}, headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="caseload"') and "<form" not in fragment
    assert list(rows(fragment)) == ["XA-2026-0402"]


def test_filter_values_not_understood_are_ignored_and_said_so(
    client: FlaskClient, login: Login, caseworker: User, searchable: None
) -> None:
    login(caseworker)
    form = {"area": "nonsense", "programme": "heroin", "contact": "soon", "open_needs": "yes", "q": "x" * 5000}
    response = client.post("/people/", data=form)
    assert response.status_code == 200
    assert "Some filters were not understood and were ignored." in response.get_data(as_text=True)
    everyone = client.get("/people/?area=nonsense&programme=heroin&contact=later").get_data(as_text=True)
    assert list(rows(everyone)) == ["XA-2026-0401", "XA-2026-0402", "XA-2026-0403"]


def test_only_the_people_found_are_logged_as_seen(
    client: FlaskClient, login: Login, caseworker: User, searchable: None, session: Session
) -> None:
    login(caseworker)
    client.post("/people/", data={"q": "wang"})
    seen = records_shown(session, caseworker.id, "list")
    found = session.exec(select(Person.id).where(Person.code == "XA-2026-0402")).one()
    assert seen == [found]


def test_a_supervisor_searches_within_one_caseworkers_people(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    areas: dict[str, Area],
    searchable: None,
    colleague: User,
) -> None:
    login(make_user(Role.SUPERVISOR, area_id=areas["district"].id))
    assert list(rows(client.post("/people/", data={"q": "wang"}).get_data(as_text=True))) == [
        "XA-2026-0402",
        "XA-2026-0499",
    ]
    one = client.post("/people/", data={"q": "wang", "caseworker": str(colleague.id)}).get_data(as_text=True)
    assert list(rows(one)) == ["XA-2026-0499"]


# --- Needs assessment ------------------------------------------------------------------------------


@pytest.fixture
def mine(caseworker: User, make_person: MakePerson) -> Person:
    return make_person(caseworker, code="XA-2026-0401")


def test_a_need_added_without_javascript_redirects_to_the_page(
    client: FlaskClient, login: Login, caseworker: User, mine: Person, session: Session
) -> None:
    login(caseworker)
    data = {"category": "employment", "description": "想找厨房的工作", "urgency": "3"}
    response = client.post(f"/people/{mine.id}/needs", data=keyed(data))
    assert response.status_code == 303
    assert response.headers["Location"] == f"/people/{mine.id}#needs"
    session.rollback()
    (need,) = session.exec(select(Need).where(Need.person_id == mine.id))
    assert (need.category, need.urgency, need.status, need.created_by_id) == ("employment", 3, "open", caseworker.id)
    assert "想找厨房的工作" in client.get(f"/people/{mine.id}").get_data(as_text=True)


def test_a_need_added_with_htmx_returns_only_the_needs_section(
    client: FlaskClient, login: Login, caseworker: User, mine: Person
) -> None:
    login(caseworker)
    data = {"category": "housing", "description": "A room near the metro", "urgency": "2"}
    response = client.post(f"/people/{mine.id}/needs", data=keyed(data), headers=HTMX)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="needs"') and "<html" not in html
    assert "A room near the metro" in html and "Need added." in html
    assert "HX-Request" in response.headers["Vary"]


def test_an_invalid_need_is_shown_again_with_errors(
    client: FlaskClient, login: Login, caseworker: User, mine: Person, session: Session
) -> None:
    login(caseworker)
    bad = {"category": "astrology", "description": "", "urgency": "9"}
    partial = client.post(f"/people/{mine.id}/needs", data=keyed({**bad, "description": "kept text"}), headers=HTMX)
    assert partial.status_code == 422
    html = partial.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="needs"')
    assert {"category", "urgency"} <= set(field_errors(html)) and "kept text" in html
    page = client.post(f"/people/{mine.id}/needs", data=keyed(bad))
    assert page.status_code == 422
    html = page.get_data(as_text=True)
    assert "<html" in html and {"category", "description", "urgency"} <= set(field_errors(html))
    session.rollback()
    assert session.exec(select(Need)).first() is None


def test_need_status_changes_with_and_without_javascript(
    client: FlaskClient, login: Login, caseworker: User, mine: Person, session: Session
) -> None:
    need = Need(person_id=mine.id, category="counselling", description="Someone to talk to")
    session.add(need)
    session.commit()
    login(caseworker)
    response = client.post(f"/people/needs/{need.id}/status", data={"status": "met"})
    assert response.status_code == 303
    reread(session, need)
    assert need.status == NeedStatus.MET
    response = client.post(f"/people/needs/{need.id}/status", data={"status": "open"}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="needs"')
    assert "The need is open again." in html
    reread(session, need)
    assert need.status == NeedStatus.OPEN
    refused = client.post(f"/people/needs/{need.id}/status", data={"status": "forgotten"}, headers=HTMX)
    assert refused.status_code == 422 and 'role="alert"' in refused.get_data(as_text=True)
    reread(session, need)
    assert need.status == NeedStatus.OPEN


# --- Contact log -----------------------------------------------------------------------------------


def test_a_logged_contact_sets_the_next_contact_due(
    client: FlaskClient, login: Login, caseworker: User, mine: Person, session: Session
) -> None:
    login(caseworker)
    next_due = local_today() + timedelta(days=14)
    data = {
        "kind": "visit",
        "occurred_on": local_today().isoformat(),
        "outcome": "reached",
        "note": "家访，状态稳定",
        "next_contact_due": next_due.isoformat(),
    }
    response = client.post(f"/people/{mine.id}/contacts", data=keyed(data))
    assert response.status_code == 303 and response.headers["Location"].endswith("#contacts")
    reread(session, mine)
    assert mine.next_contact_due == next_due
    (contact,) = session.exec(select(ContactLog).where(ContactLog.person_id == mine.id))
    assert (contact.kind, contact.outcome, contact.caseworker_id) == ("visit", "reached", caseworker.id)


def test_a_contact_logged_on_a_full_disk_gets_a_clear_page_and_the_record_stays_whole(
    app: Flask, database_url: str, client: FlaskClient, login: Login, caseworker: User, mine: Person, session: Session
) -> None:
    """SQLite answers "database or disk is full" when it cannot grow its file; here the file may not
    grow past a few pages more than it has, which is what a disk filling up looks like to SQLite."""
    if not database_url.startswith("sqlite"):
        pytest.skip("a database file on a full disk: SQLite")
    login(caseworker)
    engine = get_engine(app)
    engine.dispose()

    @event.listens_for(engine, "connect")
    def _no_room_left(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {cursor.execute('PRAGMA page_count').fetchone()[0] + 4}")
        cursor.close()

    data = {"kind": "visit", "occurred_on": local_today().isoformat(), "outcome": "reached", "note": "家访" * 900}
    statuses = [client.post(f"/people/{mine.id}/contacts", data=keyed(data)).status_code for _ in range(40)]
    assert 503 in statuses, statuses
    refused = client.post(f"/people/{mine.id}/contacts", data=keyed(data))
    assert refused.status_code == 503
    assert "cannot reach its database" in refused.get_data(as_text=True)
    engine.dispose()
    event.remove(engine, "connect", _no_room_left)
    # The contacts that fitted are whole, and each was logged with its audit event; nothing else.
    logged = statuses.index(503)
    assert logged > 0
    assert (
        session.exec(select(func.count()).select_from(ContactLog).where(ContactLog.person_id == mine.id)).one()
        == logged
    )
    audited = select(func.count()).where(AuditEvent.record_type == "contact", AuditEvent.action == "create")
    assert session.exec(audited).one() == logged
    assert statuses[:logged] == [303] * logged
    assert session.exec(sa.text("PRAGMA integrity_check")).one() == ("ok",)


def test_a_contact_logged_late_for_an_earlier_day_leaves_the_later_one_as_the_last(
    client: FlaskClient, login: Login, caseworker: User, make_person: MakePerson
) -> None:
    """The caseload's last contact and its out-of-contact filter read the person's row: each
    contact logged moves it forward, never back."""
    long_ago = local_midnight(local_today() - timedelta(days=400))
    person = make_person(caseworker, code="XA-2026-0351", created_at=long_ago)
    login(caseworker)
    assert "XA-2026-0351" in client.get("/people/?contact=out_of_contact").get_data(as_text=True)
    for day in (local_today() - timedelta(days=3), local_today() - timedelta(days=200)):
        data = {"kind": "call", "occurred_on": day.isoformat(), "outcome": "reached", "note": ""}
        assert client.post(f"/people/{person.id}/contacts", data=keyed(data)).status_code == 303
    row = rows(client.get("/people/").get_data(as_text=True))["XA-2026-0351"]
    assert format_date(local_today() - timedelta(days=3), format="d MMM yyyy", locale="en") in row
    assert "XA-2026-0351" not in client.get("/people/?contact=out_of_contact").get_data(as_text=True)


def test_the_migration_sets_each_persons_last_contact_from_their_log(
    database_url: str, session: Session, caseworker: User, make_person: MakePerson
) -> None:
    seen, never = make_person(caseworker), make_person(caseworker)
    for day in (date(2026, 3, 1), date(2026, 5, 9), date(2026, 4, 2)):
        session.add(ContactLog(person_id=seen.id, kind="call", occurred_on=day, outcome="reached"))
    session.commit()
    ids = (seen.id, never.id)
    session.close()
    downgrade(database_url, revision_before("0029"))
    try:
        upgrade(database_url)
    finally:
        upgrade(database_url)  # back to head whatever happened: the next tests need it
    found = dict(session.exec(select(Person.id, Person.last_contact_on).where(col(Person.id).in_(ids))).all())
    assert found == {seen.id: date(2026, 5, 9), never.id: None}


def test_contacts_logged_with_htmx_return_the_log_newest_first(
    client: FlaskClient, login: Login, caseworker: User, mine: Person, session: Session
) -> None:
    login(caseworker)
    for days_ago, note in ((10, "older call"), (1, "newer call")):
        day = (local_today() - timedelta(days=days_ago)).isoformat()
        data = {"kind": "call", "occurred_on": day, "outcome": "not_reached", "note": note}
        response = client.post(f"/people/{mine.id}/contacts", data=keyed(data), headers=HTMX)
        assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith('<section id="contacts"') and "<html" not in html
    assert html.index("newer call") < html.index("older call")
    assert "Zhao Min" in html and "Not reached" in html
    reread(session, mine)
    assert mine.next_contact_due is None  # no date given: the old one stays


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"occurred_on": DaysFromToday(1)}, "occurred_on"),
        ({"next_contact_due": DaysFromToday(-3)}, "next_contact_due"),
        (
            {
                "occurred_on": DaysFromToday(-5),
                "next_contact_due": DaysFromToday(-1),
            },
            "next_contact_due",
        ),
        ({"outcome": "rescheduled"}, "next_contact_due"),
        ({"kind": "telepathy"}, "kind"),
        ({"occurred_on": ""}, "occurred_on"),
    ],
)
def test_an_invalid_contact_is_refused_with_422(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    mine: Person,
    session: Session,
    changes: dict[str, object],
    field: str,
) -> None:
    login(caseworker)
    form = {"kind": "call", "occurred_on": local_today().isoformat(), "outcome": "reached", "note": "kept note"}
    data = {**form, **form_dated(changes)}
    for headers in ({}, HTMX):
        response = client.post(f"/people/{mine.id}/contacts", data=keyed(data), headers=headers)
        assert response.status_code == 422
        html = response.get_data(as_text=True)
        assert field in field_errors(html) and "kept note" in html
    session.rollback()
    assert session.exec(select(ContactLog)).first() is None


# --- Editing -----------------------------------------------------------------------------------------


def test_the_caseworker_edits_a_profile_and_is_warned_of_a_shared_phone(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    colleague: User,
    make_person: MakePerson,
    areas: dict[str, Area],
    session: Session,
) -> None:
    person = make_person(caseworker, code="XA-2026-0501", full_name="旧名字")
    make_person(colleague, code="XA-2026-0502", full_name="别人", phone="13800138000")
    login(caseworker)
    form = client.get(f"/people/{person.id}/edit").get_data(as_text=True)
    assert 'value="旧名字"' in form
    response = client.post(f"/people/{person.id}/edit", data=person_data(areas, full_name="新名字"))
    assert response.status_code == 303
    reread(session, person)
    assert person.full_name == "新名字" and person.code == "XA-2026-0501" and person.caseworker_id == caseworker.id
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "recorded on another caseload" in page
    assert "XA-2026-0502" not in page and "别人" not in page and "Sun Lei" not in page


def test_an_edit_keeps_an_overdue_date_but_refuses_a_new_past_one(
    client: FlaskClient, login: Login, caseworker: User, make_person: MakePerson, areas: dict[str, Area]
) -> None:
    overdue = local_today() - timedelta(days=3)
    person = make_person(caseworker, next_contact_due=overdue)
    login(caseworker)
    kept = person_data(areas, next_contact_due=overdue.isoformat())
    assert client.post(f"/people/{person.id}/edit", data=kept).status_code == 303
    moved = person_data(areas, next_contact_due=(local_today() - timedelta(days=1)).isoformat())
    response = client.post(f"/people/{person.id}/edit", data=moved)
    assert response.status_code == 422
    assert "next_contact_due" in field_errors(response.get_data(as_text=True))


def test_once_a_specialist_holds_the_programme_the_caseworkers_edit_keeps_it(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    make_person: MakePerson,
    make_user: Callable[..., User],
    areas: dict[str, Area],
    session: Session,
) -> None:
    """The duty table gives the programme and its dates to the anti-drug specialist (from the
    agreement): the caseworker's form shows them, and a crafted form changes nothing of them."""
    person = make_person(caseworker, programme="community_rehab", programme_start=date(2025, 6, 1))
    login(caseworker)
    assert 'name="programme_start"' in client.get(f"/people/{person.id}/edit").get_data(as_text=True)
    person.specialist_id = make_user(Role.SPECIALIST).id
    session.add(person)
    session.commit()
    form = client.get(f"/people/{person.id}/edit").get_data(as_text=True)
    assert 'name="programme_start"' not in form and 'name="programme"' not in form
    assert "anti-drug specialist keeps the programme" in form and "since 1 Jun 2025" in form
    changed = person_data(
        areas, full_name="新名字", programme="community_detox", programme_start="2024-01-01", programme_end="2027-01-01"
    )
    assert client.post(f"/people/{person.id}/edit", data=changed).status_code == 303
    reread(session, person)
    assert person.full_name == "新名字"
    kept = (person.programme, person.programme_start, person.programme_end)
    assert kept == ("community_rehab", date(2025, 6, 1), None)


def test_the_persons_page_shows_everything_and_leaves_room_for_referrals(
    client: FlaskClient, login: Login, caseworker: User, mine: Person, session: Session
) -> None:
    session.add(Need(person_id=mine.id, category="legal", description="Help with a fine", status=NeedStatus.CLOSED))
    session.commit()
    login(caseworker)
    html = client.get(f"/people/{mine.id}").get_data(as_text=True)
    assert '<section id="referrals">' in html
    assert "Help with a fine" in html and "No contacts logged yet." in html
    assert f'action="/people/{mine.id}/needs"' in html and f'hx-post="/people/{mine.id}/needs"' in html


# --- Hostile input ---------------------------------------------------------------------------------

HOSTILE = ["\x00", "x" * 5000, "-1", "1e999", "nan", "inf", "2026-02-30", "99999-01-01", "<script>", "%(name)s"]


def test_hostile_values_never_cause_a_server_error(
    client: FlaskClient, login: Login, caseworker: User, mine: Person, areas: dict[str, Area]
) -> None:
    login(caseworker)
    forms = {
        "/people/new": person_data(areas, phone="", id_number=""),
        f"/people/{mine.id}/edit": person_data(areas, phone="", id_number=""),
        f"/people/{mine.id}/needs": {"category": "housing", "description": "x", "urgency": "2"},
        f"/people/{mine.id}/contacts": {"kind": "call", "occurred_on": local_today().isoformat(), "outcome": "reached"},
    }
    for url, good in forms.items():
        for name in good:
            for value in HOSTILE:
                response = client.post(url, data=keyed({**good, name: value}))
                assert response.status_code < 500, (url, name, value)
    assert session_is_sane(client, mine)


def session_is_sane(client: FlaskClient, person: Person) -> bool:
    return client.get(f"/people/{person.id}").status_code == 200


def test_person_codes_are_unique_in_the_database(session: Session, caseworker: User, make_person: MakePerson) -> None:
    from sqlalchemy.exc import IntegrityError

    make_person(caseworker, code="XA-2026-0999")
    with pytest.raises(IntegrityError):
        make_person(caseworker, code="XA-2026-0999")
    session.rollback()
    assert session.exec(select(func.count()).where(col(Person.code) == "XA-2026-0999")).one() == 1


def test_people_pages_read_in_chinese(
    client: FlaskClient, login: Login, make_user: Callable[..., User], make_person: MakePerson, session: Session
) -> None:
    caseworker = make_user(Role.CASEWORKER, locale="zh")
    person = make_person(caseworker, programme="community_detox", next_contact_due=local_today() - timedelta(days=1))
    session.add(Need(person_id=person.id, category="housing", description="租房"))
    session.commit()
    login(caseworker)
    form = client.get("/people/new").get_data(as_text=True)
    assert "登记服务对象" in form and "社区戒毒" in form and "7 月 1 日" in form and "Save" not in form
    listing = client.get("/people/").get_data(as_text=True)
    assert "我的个案" in listing and "已逾期" in listing and "服务对象" in listing
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert "需求评估" in page and "联系记录" in page and "待解决" in page and "Overdue" not in page


# --- The duplicate check is limited per user --------------------------------------------------------


def test_past_the_hours_limit_the_duplicate_check_answers_429_and_keeps_the_typing(
    app: Flask, client: FlaskClient, login: Login, caseworker: User, areas: dict[str, Area], session: Session
) -> None:
    app.config["DUPLICATE_CHECKS_PER_HOUR"] = 2
    login(caseworker)
    for name, phone in (("甲", "13900000001"), ("乙", "13900000002")):
        created = client.post("/people/new", data=keyed(person_data(areas, full_name=name, phone=phone, id_number="")))
        assert created.status_code == 303
    refused = client.post("/people/new", data=keyed(person_data(areas, full_name="丙", phone="13900000003")))
    assert refused.status_code == 429
    html = refused.get_data(as_text=True)
    assert "checked for people already recorded 2 times in the last hour" in html
    assert 'value="13900000003"' in html
    assert count_people(session) == 2
    # A changed phone number on an edit is a check too; the profile is not saved past the limit.
    person = session.exec(select(Person)).first()
    assert person is not None
    edited = client.post(f"/people/{person.id}/edit", data=person_data(areas, phone="13900000004", id_number=""))
    assert edited.status_code == 429
    reread(session, person)
    assert person.phone != "13900000004"


def test_parallel_checks_cannot_slip_past_the_limit(
    app: Flask, caseworker: User, colleague: User, make_person: MakePerson
) -> None:
    """Ten checks at once with a limit of three: three answered, seven refused (real threads)."""
    make_person(colleague, phone="13922223333")
    barrier = threading.Barrier(10)
    answered: list[int] = []
    refused: list[int] = []

    def ask(index: int) -> None:
        with Session(get_engine(app), expire_on_commit=False) as own:
            barrier.wait()
            try:
                services.check_duplicates(own, caseworker, ("", "13922223333", "", None), 3, "secret")
            except TooManyChecks:
                refused.append(index)
            else:
                answered.append(index)

    threads = [threading.Thread(target=ask, args=(index,)) for index in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (len(answered), len(refused)) == (3, 7)
    with Session(get_engine(app)) as own:
        found = own.exec(select(AuditEvent).where(AuditEvent.action == "duplicate_found")).all()
    assert len(found) == 3  # one match per answered check


# --- Areas: a person stays within the supervision of the caseworker's area --------------------------


def test_a_caseworker_chooses_only_areas_within_their_own(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_person: MakePerson,
    areas: dict[str, Area],
    session: Session,
) -> None:
    street_worker = make_user(Role.CASEWORKER, area_id=areas["street"].id)
    person = make_person(street_worker, area_id=areas["grid"].id)
    login(street_worker)
    form = client.get("/people/new").get_data(as_text=True)
    assert str(areas["grid"].id) in form and str(areas["street"].id) in form
    assert str(areas["district"].id) not in form and str(areas["other"].id) not in form
    # A hand-made POST naming another district gets a field error, and nothing moves.
    for outside in ("district", "other"):
        created = client.post("/people/new", data=keyed(person_data(areas, area_id=str(areas[outside].id))))
        assert created.status_code == 422 and "area_id" in field_errors(created.get_data(as_text=True))
        moved = client.post(f"/people/{person.id}/edit", data=person_data(areas, area_id=str(areas[outside].id)))
        assert moved.status_code == 422 and "area_id" in field_errors(moved.get_data(as_text=True))
    assert count_people(session) == 1
    reread(session, person)
    assert person.area_id == areas["grid"].id
    # Within their area, the move is theirs to make.
    assert (
        client.post(f"/people/{person.id}/edit", data=person_data(areas, area_id=str(areas["street"].id))).status_code
        == 303
    )
    reread(session, person)
    assert person.area_id == areas["street"].id


def test_the_service_refuses_an_area_outside_the_caseworkers_own(
    session: Session, caseworker: User, make_person: MakePerson, areas: dict[str, Area]
) -> None:
    from portal.people.forms import PersonForm

    with pytest.raises(OutsideYourAreas):
        services.create_person(
            session, caseworker, PersonForm.model_validate({"full_name": "甲", "area_id": areas["other"].id})
        )
    person = make_person(caseworker)
    form = PersonForm.model_validate({"full_name": "甲", "area_id": areas["other"].id, "version": person.version})
    with pytest.raises(OutsideYourAreas):
        services.update_person(session, caseworker, person, form)


def test_a_supervisor_moves_a_person_between_their_areas_only(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    caseworker: User,
    make_person: MakePerson,
    areas: dict[str, Area],
    session: Session,
) -> None:
    person = make_person(caseworker, area_id=areas["grid"].id)
    supervisor = make_user(Role.SUPERVISOR, area_id=areas["district"].id)
    login(supervisor)
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert "Move to another of your areas" in page and str(areas["other"].id) not in page
    refused = client.post(
        f"/people/{person.id}/area", data={"area_id": str(areas["other"].id), "version": person.version}
    )
    assert refused.status_code == 303
    reread(session, person)
    assert person.area_id == areas["grid"].id
    moved = client.post(
        f"/people/{person.id}/area", data={"area_id": str(areas["street"].id), "version": person.version}
    )
    assert moved.status_code == 303
    reread(session, person)
    assert person.area_id == areas["street"].id
    assert client.get(f"/people/{person.id}").status_code == 200  # still supervised
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "moved")).all()
    assert [(e.actor_id, e.record_id) for e in events] == [(supervisor.id, person.id)]


def test_a_person_placed_by_grid_and_address_takes_the_nearest_centre_and_moves_with_it(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    caseworker: User,
    areas: dict[str, Area],
    session: Session,
) -> None:
    """The grid has no centre of its own: its street's stands for it; moved by a supervisor to the
    district, the person's derived place follows to the district's centre."""
    areas["street"].latitude, areas["street"].longitude = 34.2655, 108.9405
    areas["district"].latitude, areas["district"].longitude = 34.2679, 108.9368
    session.commit()
    login(caseworker)
    response = client.post("/people/new", data=keyed(person_data(areas, latitude="", longitude="")))
    person = session.get(Person, uuid.UUID(response.headers["Location"].rsplit("/", 1)[1]))
    assert person is not None and (person.latitude, person.longitude) == (34.2655, 108.9405)

    login(make_user(Role.SUPERVISOR, area_id=areas["district"].id))
    data = {"area_id": str(areas["district"].id), "version": person.version}
    assert client.post(f"/people/{person.id}/area", data=data).status_code == 303
    reread(session, person)
    assert (person.latitude, person.longitude) == (34.2679, 108.9368)


def test_the_person_page_opens_with_a_summary_and_a_way_to_each_section(client: FlaskClient, session: Session) -> None:
    """马晓军 in the demo: two open needs, a referral waiting for the provider and one under way, two
    consents in force; the consent text and form are folded until asked for."""
    assert load_demo_data(session)
    person = session.exec(select(Person).where(Person.code == "XA-2026-0002")).one()
    caseworker = session.get(User, person.caseworker_id)
    assert caseworker is not None
    caseworker.locale = "en"
    sign_in_with_session(client, session, caseworker)
    html = client.get(f"/people/{person.id}").get_data(as_text=True)
    summary = html[html.index('class="card person-summary"') : html.index('id="profile"')]
    figures = dict(re.findall(r"<dt>([^<]+)</dt><dd><a href=\"#\w+\">([^<]+)</a>", summary))
    assert figures["Open needs"] == "2" and figures["Referrals waiting for the provider"] == "1"
    assert figures["Consents in force"] == "2" and "1 under way" in summary
    for anchor in ("profile", "needs", "contacts", "consents", "referrals", "handover", "retention"):
        assert f'href="#{anchor}"' in summary and f'id="{anchor}"' in html
    assert '<details class="consent-text">' in html and '<details class="consent-add">' in html


def test_a_caseworker_exports_their_whole_caseload_as_csv_once_on_the_trail(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    colleague: User,
    make_person: MakePerson,
    session: Session,
) -> None:
    mine = [make_person(caseworker, code=f"XA-E-{n:04d}", full_name=f"陈{n}") for n in range(60)]  # past one page
    formula = make_person(caseworker, code="XA-E-9999", full_name="=HYPERLINK(1)", phone="+86 139 0000 0000")
    theirs = make_person(colleague, code="XA-E-OTHER")
    login(caseworker)
    caseworker.locale = "en"
    session.commit()
    response = client.get("/people/export.csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data()
    assert body.startswith("\ufeff".encode())  # Excel reads the Chinese right
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    header = ["Code", "Name", "Phone", "Area", "Programme", "Next contact", "Overdue", "Last contact", "Open needs"]
    assert rows[0] == header
    codes = {row[0] for row in rows[1:]}
    assert codes == {p.code for p in [*mine, formula]} and theirs.code not in codes
    (quoted,) = [row for row in rows if row[0] == formula.code]
    assert quoted[1] == "'=HYPERLINK(1)" and quoted[2] == "'+86 139 0000 0000"
    session.commit()
    (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "export")).all()
    named = session.exec(select(AuditEventRecord.record_id).where(AuditEventRecord.event_id == event.id)).all()
    assert set(named) == {p.id for p in [*mine, formula]}
