"""Retention: records are anonymised a set time after the programme ends, unless on legal hold;
what identifies the person is gone from every table; anonymised records are read-only."""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, SQLModel, select

from portal.crypto import EncryptedText, aad, keyring_of
from portal.models import Area, AuditEvent, FollowUp, Offer, Person, Role, User
from tests.portal.person_record import SENTINEL, Record, build_record

Login = Callable[[User], FlaskClient]
ENDED = date(2021, 6, 30)  # the programme end of the record under test
# The default keeps records three years (1,095 days) after the programme ends.
PAST_THE_LIMIT = datetime(2024, 7, 1, 2, 0, tzinfo=UTC)  # 1,097 days after
BEFORE_THE_LIMIT = datetime(2024, 6, 28, 2, 0, tzinfo=UTC)  # 1,094 days after
MARKED = 21  # the texts build_record marks


@pytest.fixture
def record(session: Session, caseworker: User, grid: Area, offer: Offer) -> Record:
    return build_record(session, caseworker, grid, offer, programme_end=ENDED)


def run_jobs(app: Flask, when: datetime) -> str:
    with time_machine.travel(when, tick=False):
        result = app.test_cli_runner().invoke(args=["run-due-jobs"])
    assert result.exit_code == 0, result.output
    return str(result.output)


def _stored_as(column_type: sa.types.TypeEngine[object]) -> object:
    """The database type under a decorated type (SQLModel's AutoString is a String underneath)."""
    return column_type.impl if isinstance(column_type, sa.types.TypeDecorator) else column_type


def texts_holding(session: Session, mark: str) -> list[str]:
    """Every text and JSON column of every table, scanned for `mark`: where it is still found.
    Encrypted columns are read as stored and decrypted here, so the scan sees what they hold."""
    session.rollback()
    ring = keyring_of(session.connection())
    hits = []
    for table in SQLModel.metadata.sorted_tables:
        columns = [c for c in table.c if isinstance(_stored_as(c.type), sa.String | sa.JSON)]
        if not columns:
            continue
        for row in session.execute(sa.select(table.c.id, *columns)):
            for c, value in zip(columns, row[1:], strict=True):
                if isinstance(c.type, EncryptedText):
                    value = ring.open(value, aad(table.name, c.name, row[0]))
                if mark in str(value):
                    hits.append(f"{table.name}.{c.name}")
    return hits


def test_past_the_limit_nothing_identifying_is_left_in_any_table(app: Flask, session: Session, record: Record) -> None:
    assert len(texts_holding(session, SENTINEL)) == MARKED  # the scan sees every marked text first
    assert "anonymised 1" in run_jobs(app, PAST_THE_LIMIT)
    assert texts_holding(session, SENTINEL) == []
    person = session.get(Person, record.person.id)
    assert person is not None
    session.refresh(person)
    assert (person.latitude, person.longitude) == (None, None)
    assert person.birth_date == date(1990, 7, 1)  # the year stays for age-group indicators
    # The tombstone the indicators count on.
    assert (person.code, person.area_id, person.programme, person.programme_start, person.programme_end) == (
        "XA-2020-0001",
        record.person.area_id,
        "community_rehab",
        date(2018, 7, 1),
        ENDED,
    )
    assert person.anonymised_at == PAST_THE_LIMIT
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "anonymised")).all()
    assert [(e.actor_id, e.record_type, e.record_id) for e in events] == [(None, "person", person.id)]


def test_a_second_run_changes_nothing(app: Flask, session: Session, record: Record) -> None:
    assert "anonymised 1" in run_jobs(app, PAST_THE_LIMIT)
    assert "anonymised 0" in run_jobs(app, PAST_THE_LIMIT)
    session.rollback()
    assert len(session.exec(select(AuditEvent).where(AuditEvent.action == "anonymised")).all()) == 1


def test_an_anonymised_record_opens_no_follow_ups(app: Flask, session: Session, record: Record) -> None:
    """Out of contact since 2019, but closed: nobody is to chase them any more."""
    follow_ups = select(FollowUp).where(FollowUp.person_id == record.person.id)
    before = len(session.exec(follow_ups).all())
    run_jobs(app, PAST_THE_LIMIT)
    run_jobs(app, PAST_THE_LIMIT + timedelta(days=90))
    session.rollback()
    assert len(session.exec(follow_ups).all()) == before


def test_a_record_on_legal_hold_stays_whole(app: Flask, session: Session, record: Record) -> None:
    person = session.get(Person, record.person.id)
    assert person is not None
    person.legal_hold, person.legal_hold_reason = True, "Court case 2024-17"
    session.add(person)
    session.commit()
    assert "anonymised 0" in run_jobs(app, PAST_THE_LIMIT)
    assert len(texts_holding(session, SENTINEL)) == MARKED


def test_before_the_limit_the_record_stays_whole(app: Flask, session: Session, record: Record) -> None:
    assert "anonymised 0" in run_jobs(app, BEFORE_THE_LIMIT)
    assert len(texts_holding(session, SENTINEL)) == MARKED


def test_the_limit_is_configurable(app: Flask, session: Session, record: Record) -> None:
    app.config["ANONYMISE_AFTER_DAYS"] = 10 * 365
    assert "anonymised 0" in run_jobs(app, PAST_THE_LIMIT)


def test_a_record_without_programme_end_is_kept(
    app: Flask, session: Session, caseworker: User, grid: Area, offer: Offer
) -> None:
    build_record(session, caseworker, grid, offer, programme_end=None)
    assert "anonymised 0" in run_jobs(app, PAST_THE_LIMIT)


# --- In the portal -----------------------------------------------------------------------------


@pytest.fixture
def anonymised(app: Flask, record: Record) -> Iterator[Person]:
    run_jobs(app, PAST_THE_LIMIT)
    yield record.person


def test_an_anonymised_record_is_read_only_with_a_clear_message(
    client: FlaskClient, login: Login, caseworker: User, anonymised: Person
) -> None:
    login(caseworker)
    page = client.get(f"/people/{anonymised.id}").get_data(as_text=True)
    assert "This record was anonymised on" in page
    assert "(anonymised)" in client.get("/people/").get_data(as_text=True)
    assert f"/people/{anonymised.id}/edit" not in page
    assert "Add a need" not in page
    for url, data in (
        (f"/people/{anonymised.id}/edit", {"full_name": "Back again"}),
        (f"/people/{anonymised.id}/needs", {"category": "housing", "description": "a room"}),
        (f"/people/{anonymised.id}/contacts", {"kind": "call", "occurred_on": "2024-06-01", "outcome": "reached"}),
    ):
        response = client.post(url, data=data)
        assert response.status_code == 409, url
        assert "can no longer be changed" in response.get_data(as_text=True)
    assert client.get(f"/people/{anonymised.id}/edit").status_code == 409


def test_an_anonymised_record_still_exports_its_tombstone(
    client: FlaskClient, login: Login, caseworker: User, anonymised: Person
) -> None:
    login(caseworker)
    document = client.get(f"/people/{anonymised.id}/export.json").get_json()
    assert document["person"]["code"] == "XA-2020-0001"
    assert SENTINEL not in str(document)


# --- The legal hold and the programme end, as supervisors and caseworkers set them -----------


def test_a_supervisor_sets_a_legal_hold_with_its_reason(
    client: FlaskClient, login: Login, make_user: Callable[..., User], grid: Area, record: Record, session: Session
) -> None:
    supervisor = make_user(Role.SUPERVISOR, area_id=grid.id)
    login(supervisor)
    url = f"/people/{record.person.id}/legal-hold"
    response = client.post(url, data={"legal_hold": "1", "legal_hold_reason": "Complaint under review"})
    assert response.status_code == 303
    person = session.get(Person, record.person.id)
    assert person is not None
    session.rollback()
    session.refresh(person)
    assert (person.legal_hold, person.legal_hold_reason) == (True, "Complaint under review")
    assert "Complaint under review" in client.get(f"/people/{record.person.id}").get_data(as_text=True)
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "legal_hold_set")).all()
    assert [(e.actor_id, e.record_id) for e in events] == [(supervisor.id, person.id)]
    assert client.post(url, data={}).status_code == 303
    session.rollback()
    session.refresh(person)
    assert (person.legal_hold, person.legal_hold_reason) == (False, "")


def test_a_legal_hold_needs_a_reason(
    client: FlaskClient, login: Login, make_user: Callable[..., User], grid: Area, record: Record
) -> None:
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    response = client.post(f"/people/{record.person.id}/legal-hold", data={"legal_hold": "1"})
    assert response.status_code == 422
    assert "Give the reason for the hold." in response.get_data(as_text=True)


def test_the_caseworker_records_the_programme_end(
    client: FlaskClient, login: Login, caseworker: User, grid: Area, record: Record, session: Session
) -> None:
    login(caseworker)
    form = {
        "full_name": "王小明",
        "area_id": str(grid.id),
        "programme": "community_rehab",
        "programme_start": "2018-07-01",
        "programme_end": "2018-06-30",
    }
    response = client.post(f"/people/{record.person.id}/edit", data=form)
    assert response.status_code == 422
    assert "The programme cannot end before it starts." in response.get_data(as_text=True)
    response = client.post(f"/people/{record.person.id}/edit", data={**form, "programme_end": "2021-07-01"})
    assert response.status_code == 303
    person = session.get(Person, record.person.id)
    assert person is not None
    session.rollback()
    session.refresh(person)
    assert person.programme_end == date(2021, 7, 1)
