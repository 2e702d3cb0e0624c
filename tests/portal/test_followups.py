"""The caseworker's attention list, settling follow-ups, and what supervisors see and do."""

import re
from collections.abc import Callable
from datetime import date, timedelta

from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.models import Area, FollowUp, FollowUpStatus, Handover, Need, Notification, Person, Role, User

Login = Callable[[User], FlaskClient]


def person_of(session: Session, caseworker: User, grid: Area, code: str, **fields: object) -> Person:
    person = Person(code=code, full_name=f"测试 {code}", caseworker_id=caseworker.id, area_id=grid.id, **fields)
    session.add(person)
    session.commit()
    return person


def follow_up(session: Session, person: Person, kind: str = "lost_contact", **fields: object) -> FollowUp:
    item = FollowUp(key=f"{kind}:{person.id}", kind=kind, person_id=person.id, due_on=date(2026, 11, 1), **fields)
    session.add(item)
    session.commit()
    return item


def test_the_caseworker_sees_what_needs_attention_on_their_caseload_only(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    mine, theirs = make_user(Role.CASEWORKER), make_user(Role.CASEWORKER)
    follow_up(session, person_of(session, mine, grid, "XA-F-0001"))
    follow_up(session, person_of(session, theirs, grid, "XA-F-0002"), kind="contact_overdue")
    login(mine)
    html = client.get("/").get_data(as_text=True)
    assert "Needs your attention" in html and "XA-F-0001" in html and "No contact for too long" in html
    assert "XA-F-0002" not in html


def test_done_and_snooze_need_a_note_and_snoozed_items_come_back(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    caseworker = make_user(Role.CASEWORKER)
    item = follow_up(session, person_of(session, caseworker, grid, "XA-F-0003"))
    login(caseworker)
    session.commit()  # the test's own reads must not hold an old snapshot while the app writes
    client.post(f"/followups/{item.id}/settle", data={"note": ""})
    session.refresh(item)
    assert item.status == FollowUpStatus.OPEN
    client.post(f"/followups/{item.id}/settle", data={"note": "Called, no answer", "snooze": "1", "snooze_days": "3"})
    session.commit()
    session.refresh(item)
    assert item.status == FollowUpStatus.SNOOZED and item.note == "Called, no answer"
    assert "XA-F-0003" not in client.get("/").get_data(as_text=True)
    item.snoozed_until = date.today() - timedelta(days=1)
    session.commit()
    assert "XA-F-0003" in client.get("/").get_data(as_text=True)
    client.post(f"/followups/{item.id}/settle", data={"note": "Visited at home", "snooze_days": "3"})
    session.commit()
    session.refresh(item)
    assert item.status == FollowUpStatus.DONE and item.resolved_by_id == caseworker.id


def test_a_job_check_is_done_only_with_whether_the_person_is_still_employed(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    caseworker = make_user(Role.CASEWORKER, locale="en")
    item = follow_up(session, person_of(session, caseworker, grid, "XA-F-0009"), kind="employment_90")
    login(caseworker)
    page = client.get("/").get_data(as_text=True)
    assert "Still in the job?" in page and 'value="still_employed"' in page
    session.commit()
    response = client.post(f"/followups/{item.id}/settle", data={"note": "Called the employer"}, follow_redirects=True)
    assert "Say whether the person is still in the job" in response.get_data(as_text=True)
    session.refresh(item)
    assert item.status == FollowUpStatus.OPEN
    client.post(f"/followups/{item.id}/settle", data={"note": "Snooze it", "snooze": "1", "snooze_days": "1"})
    session.commit()
    session.refresh(item)
    assert item.status == FollowUpStatus.SNOOZED and item.outcome == ""
    client.post(f"/followups/{item.id}/settle", data={"note": "Called the employer", "outcome": "still_employed"})
    session.commit()
    session.refresh(item)
    assert item.status == FollowUpStatus.DONE and item.outcome == "still_employed"


def test_another_caseworker_cannot_settle(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    item = follow_up(session, person_of(session, make_user(Role.CASEWORKER), grid, "XA-F-0004"))
    login(make_user(Role.CASEWORKER))
    assert client.post(f"/followups/{item.id}/settle", data={"note": "x"}).status_code == 404


def test_the_supervisor_sees_each_caseworkers_load_and_overdue_items(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    busy = make_user(Role.CASEWORKER, name="Busy Caseworker")
    calm = make_user(Role.CASEWORKER, name="Calm Caseworker")
    for n in range(3):
        person = person_of(session, busy, grid, f"XA-F-01{n}", next_contact_due=date(2020, 1, 1))
        follow_up(session, person)
    person_of(session, calm, grid, "XA-F-0200")
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    html = client.get("/").get_data(as_text=True)
    busy_row = html[html.index("Busy Caseworker") : html.index("</tr>", html.index("Busy Caseworker"))]
    # People, overdue contacts, open follow-ups: the three made here, and the three of the overdue
    # contacts, opened by the page that counts them (the periodic job has not run).
    assert [int(n) for n in re.findall(r"<td>(\d+)</td>", busy_row)] == [3, 3, 6]
    assert "Calm Caseworker" in html


def test_hand_over_needs_a_note_and_keeps_the_record(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    old, new = make_user(Role.CASEWORKER), make_user(Role.CASEWORKER)
    person = person_of(session, old, grid, "XA-F-0300")
    need = Need(person_id=person.id, category="housing", description="需要临时住处")
    session.add(need)
    session.commit()
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    url = f"/people/{person.id}/handover"
    session.commit()
    client.post(url, data={"to_user_id": str(new.id), "note": ""})
    session.commit()
    session.refresh(person)
    assert person.caseworker_id == old.id
    client.post(url, data={"to_user_id": str(new.id), "note": "Moving districts; prefers calls after 6pm"})
    session.commit()
    session.refresh(person)
    assert person.caseworker_id == new.id
    (handover,) = session.exec(select(Handover)).all()
    assert handover.from_user_id == old.id and "after 6pm" in handover.note
    assert session.exec(select(Need).where(Need.person_id == person.id)).one().description == "需要临时住处"
    told = {n.user_id for n in session.exec(select(Notification).where(Notification.kind == "person_handed_over"))}
    assert told == {old.id, new.id}
    login(old)
    assert client.get(f"/people/{person.id}").status_code == 404
    login(new)
    assert client.get(f"/people/{person.id}").status_code == 200


def test_a_supervisor_of_another_area_cannot_hand_over(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    person = person_of(session, make_user(Role.CASEWORKER), grid, "XA-F-0400")
    elsewhere = Area(level="grid", name_en="Grid 9", name_zh="第九网格", code="F-G9")
    session.add(elsewhere)
    session.commit()
    login(make_user(Role.SUPERVISOR, area_id=elsewhere.id))
    response = client.post(
        f"/people/{person.id}/handover", data={"to_user_id": str(make_user(Role.CASEWORKER).id), "note": "x"}
    )
    assert response.status_code == 404
