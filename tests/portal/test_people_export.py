"""Right of access: a person's whole record as a JSON file and as a printable page, audited."""

import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient
from sqlmodel import Session, SQLModel, select

from portal.models import Area, AuditEvent, Offer, Role, User
from portal.people.export import REDISCLOSURE_NOTICE
from tests.portal.person_record import SENTINEL, Record, build_record

Login = Callable[[User], FlaskClient]
LINKS = ("person_id", "need_id", "referral_id")


@pytest.fixture
def record(session: Session, caseworker: User, grid: Area, offer: Offer, make_user: Callable[..., User]) -> Record:
    # Someone else's record beside it, so an export that takes too much is caught.
    build_record(session, make_user(Role.CASEWORKER), grid, offer, code="XA-2020-0002", mark="OTHERPERSON")
    return build_record(session, caseworker, grid, offer)


def linked_rows(session: Session, person_id: uuid.UUID) -> set[tuple[str, str]]:
    """Walk the database from the person: every row of every table that names the person, one of
    their needs or one of their referrals, found from the schema rather than from the export code."""
    session.rollback()
    found = {("person", str(person_id))}
    keys: dict[str, set[uuid.UUID]] = {"person_id": {person_id}, "need_id": set(), "referral_id": set()}
    grew = True
    while grew:
        grew = False
        for table in SQLModel.metadata.sorted_tables:
            for link in LINKS:
                if link not in table.c or not keys[link]:
                    continue
                for (row_id,) in session.execute(sa.select(table.c.id).where(table.c[link].in_(keys[link]))):
                    if (table.name, str(row_id)) not in found:
                        found.add((table.name, str(row_id)))
                        grew = True
                        if f"{table.name}_id" in keys:
                            keys[f"{table.name}_id"].add(row_id)
    return found


def ids_in(value: Any) -> set[str]:
    """Every "id" anywhere in an exported document."""
    if isinstance(value, dict):
        own = {str(value["id"])} if "id" in value else set()
        return own.union(*(ids_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(ids_in(v) for v in value))
    return set()


def test_the_json_export_holds_every_row_linked_to_the_person(
    client: FlaskClient, login: Login, caseworker: User, record: Record, session: Session
) -> None:
    login(caseworker)
    response = client.get(f"/people/{record.person.id}/export.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["Content-Disposition"] == 'attachment; filename="XA-2020-0001.json"'
    document = response.get_json()
    rows = linked_rows(session, record.person.id)
    tables = {table for table, _id in rows}
    # person, 2 needs, 2 contacts, a hand-over, a consent, a referral with 2 steps and an override,
    # a dismissal, 2 follow-ups, a programme agreement and a test, a volunteer's hours for the referral
    assert len(rows) == 17
    assert tables == {
        "person",
        "need",
        "contactlog",
        "handover",
        "consent",
        "consentoverride",
        "referral",
        "referralevent",
        "dismissal",
        "followup",
        "programme_agreement",
        "programme_check",
        "volunteer_activity",
    }
    assert {row_id for _table, row_id in rows} <= ids_in(document)
    assert "OTHERPERSON" not in json.dumps(document, ensure_ascii=False)
    assert document["person"]["full_name"] == f"{SENTINEL} 王小明"
    assert document["referrals"][0]["offer_title"] == "Welding apprenticeship"
    assert len(document["referrals"][0]["events"]) == 2
    assert document["notice"]["text"] == str(REDISCLOSURE_NOTICE)


def test_the_printable_page_shows_the_whole_record_with_the_notice(
    client: FlaskClient, login: Login, caseworker: User, record: Record
) -> None:
    login(caseworker)
    response = client.get(f"/people/{record.person.id}/export")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert str(REDISCLOSURE_NOTICE) in html
    for text in (
        "王小明",
        "needs a room near the hospital",
        "spoke about their brother",
        "prefers afternoon visits",
        "please call in the morning",
        "too far from home",
        "provider did not answer",
        "Welding apprenticeship",
        # The consent's elements (42 CFR 2.31): who signed for the person, how, and on which text.
        f"An authorised representative ({SENTINEL} mother)",
        f"signature {SENTINEL}-FORM-0001",
        f"{SENTINEL} Bridge community drug rehabilitation programme",
        "revocation statement",
        "was in danger",  # the supervisor's override
    ):
        assert text in html, text
    assert "OTHERPERSON" not in html


def test_the_json_export_carries_every_element_of_the_consent(
    client: FlaskClient, login: Login, caseworker: User, record: Record
) -> None:
    login(caseworker)
    (consent,) = client.get(f"/people/{record.person.id}/export.json").get_json()["consents"]
    assert {
        key: consent[key]
        for key in ("discloser", "signature_ref", "signed_at", "signed_by_role", "expiry_event", "text_version_sha256")
    } == {
        "discloser": f"{SENTINEL} Bridge community drug rehabilitation programme",
        "signature_ref": f"{SENTINEL}-FORM-0001",
        "signed_at": "2025-01-01",
        "signed_by_role": "representative",
        "expiry_event": "programme_end",
        "text_version_sha256": "0" * 64,
    }
    assert consent["representative_name"] == f"{SENTINEL} mother"


@pytest.mark.parametrize("url", ["/people/{id}/export.json", "/people/{id}/export"])
def test_each_export_is_on_the_audit_trail(
    client: FlaskClient, login: Login, caseworker: User, record: Record, session: Session, url: str
) -> None:
    login(caseworker)
    assert client.get(url.format(id=record.person.id)).status_code == 200
    session.rollback()
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "export")).all()
    assert [(e.actor_id, e.record_type, e.record_id) for e in events] == [(caseworker.id, "person", record.person.id)]


def test_a_supervisor_of_the_area_may_export(
    client: FlaskClient, login: Login, make_user: Callable[..., User], grid: Area, record: Record
) -> None:
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    assert client.get(f"/people/{record.person.id}/export.json").status_code == 200


def test_another_caseworker_finds_no_record_to_export_and_nothing_is_audited(
    client: FlaskClient, login: Login, make_user: Callable[..., User], record: Record, session: Session
) -> None:
    login(make_user(Role.CASEWORKER))
    assert client.get(f"/people/{record.person.id}/export.json").status_code == 404
    assert client.get(f"/people/{record.person.id}/export").status_code == 404
    session.rollback()
    assert session.exec(select(AuditEvent).where(AuditEvent.action == "export")).all() == []


def test_the_person_page_links_to_both_exports(
    client: FlaskClient, login: Login, caseworker: User, record: Record
) -> None:
    login(caseworker)
    html = client.get(f"/people/{record.person.id}").get_data(as_text=True)
    assert f"/people/{record.person.id}/export.json" in html
    assert f'/people/{record.person.id}/export"' in html
