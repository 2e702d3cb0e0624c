"""The directory as HSDS 3.0 files, and other directories' HSDS data imported (issue 17): the export
is the tabular form of Open Referral's example; an import is checked first (every problem by file,
row and field), then applied in one transaction keyed by the source's ids, so that a second import
changes nothing; export then import into an empty database gives the same directory."""

import csv
import io
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import Result
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, func, select
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from portal import create_app
from portal.clock import local_date, utcnow
from portal.db import get_engine, session_scope
from portal.demo import load_demo_data
from portal.hsds import importing, network, reading, services, tabular
from portal.hsds.reading import Report
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.models import (
    AuditEvent,
    Category,
    DirectoryImport,
    EmploymentType,
    ImportState,
    Offer,
    OfferStatus,
    Organization,
    Publication,
    Role,
    User,
    VerificationStatus,
)
from tests.conftest import TEST_CONFIG, _truncate_postgres, sign_in_with_session

EXAMPLES = Path(__file__).with_name("hsds_examples")


def published(session: Session) -> list[Offer]:
    return list(
        session.exec(
            select(Offer)
            .join(Organization, col(Organization.id) == Offer.organization_id)
            .where(col(Organization.api_publication) != Publication.NONE, Offer.status != OfferStatus.DRAFT)
        )
    )


def dry_run(app: Flask, location: str | Path, **read: Any) -> Report:
    with session_scope(app) as session:
        return importing.dry_run(session, reading.read(str(location), **read)).report


def apply(app: Flask, location: str | Path) -> Report:
    with session_scope(app) as session:
        checked = importing.dry_run(session, reading.read(str(location)))
        assert checked.report.ok, importing.english(checked.report)
        return importing.apply(session, checked)


def counts(app: Flask) -> tuple[int, int, int]:
    with session_scope(app) as session:
        return (
            session.exec(select(func.count()).select_from(Organization)).one(),
            session.exec(select(func.count()).select_from(Offer)).one(),
            session.exec(select(func.count()).select_from(AuditEvent)).one(),
        )


@pytest.fixture
def exported(app: Flask, session: Session, tmp_path: Path) -> Path:
    """The demo's directory (three organizations publish) exported."""
    load_demo_data(session)
    folder = tmp_path / "export"
    with app.app_context(), session_scope(app) as export_session:
        tabular.export(export_session, folder)
    return folder


@pytest.fixture
def empty_app(app: Flask, database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    """Another portal with an empty database: a new SQLite file, or the PostgreSQL test database
    emptied (after the test's export)."""
    if database_url.startswith("sqlite"):
        path = tmp_path / "empty.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        other = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{path}", "INDEX_DIR": ""})
        yield other
        get_engine(other).dispose()
    else:
        get_engine(app).dispose()
        _truncate_postgres(database_url)
        yield app


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.DictReader(file))


# --- Export -------------------------------------------------------------------------------------


def test_the_export_is_the_tabular_form_of_the_example_with_what_partners_read(
    exported: Path, session: Session
) -> None:
    package = json.loads((exported / "datapackage.json").read_text(encoding="utf-8"))
    assert package["profile"] == "tabular-data-package" and package["version"] == "3.0.0"
    assert {r["path"] for r in package["resources"]} == {p.name for p in exported.glob("*.csv")}
    example = json.loads((EXAMPLES / "datapackage.json").read_text(encoding="utf-8"))
    for resource in example["resources"]:
        # The same files, columns in the same order, as Open Referral's example and datapackage.
        with (exported / resource["path"]).open(encoding="utf-8", newline="") as file:
            header = next(csv.reader(file))
        with (EXAMPLES / resource["path"]).open(encoding="utf-8", newline="") as file:
            assert header == next(csv.reader(file)) == [f["name"] for f in resource["schema"]["fields"]]
        mine = next(r for r in package["resources"] if r["name"] == resource["name"])
        assert [(f["name"], f["type"]) for f in mine["schema"]["fields"]] == [
            (f["name"], f["type"]) for f in resource["schema"]["fields"]
        ]
    session.rollback()
    offers = published(session)
    services_rows = _rows(exported / "services.csv")
    assert {row["id"] for row in services_rows} == {str(offer.id) for offer in offers}
    assert len(_rows(exported / "organizations.csv")) == 3
    # Every attribute's term is in taxonomy_terms.csv, every term's taxonomy in taxonomies.csv.
    terms = {row["id"]: row for row in _rows(exported / "taxonomy_terms.csv")}
    assert {row["taxonomy_term_id"] for row in _rows(exported / "attributes.csv")} <= set(terms)
    assert {row["taxonomy_id"] for row in terms.values()} <= {row["id"] for row in _rows(exported / "taxonomies.csv")}
    # Contacts only of the organization that publishes them (the demo's Qiming).
    qiming = session.exec(select(Organization).where(Organization.api_contacts)).one()
    qiming_services = {str(o.id) for o in offers if o.organization_id == qiming.id}
    assert {row["service_id"] for row in _rows(exported / "contacts.csv")} <= qiming_services


def test_the_export_reads_back_without_a_problem(exported: Path, app: Flask) -> None:
    report = dry_run(app, exported)
    assert report.problems == [] and report.unmapped_terms == {}
    # The portal's own export into itself: its own records, left alone.
    assert report.offers.create == 0 and report.warnings


# --- Round trip ---------------------------------------------------------------------------------


def _directory(offers: list[Offer], organizations: dict[uuid.UUID, Organization]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for offer in offers:
        key = offer.source_id or str(offer.id)
        owner = organizations[offer.organization_id] if offer.organization_id else None
        found[key] = {
            "organization": owner.name if owner else None,
            "title": offer.title,
            "description": offer.description,
            "category": offer.category,
            "status": offer.status,
            "schedule": sorted(offer.schedule),
            "languages": sorted(offer.languages),
            "genders": sorted(offer.genders),
            "place": (offer.latitude, offer.longitude, offer.address),
            "ages": (offer.min_age, offer.max_age),
            "capacity": offer.capacity,
            "months": offer.min_months_in_recovery or None,
            "remote": offer.remote,
            "confirmed": local_date(offer.last_confirmed_at),
            "job": (offer.employment_type, offer.fair_chance_statement, offer.fair_chance_none_given),
        }
        if owner and owner.api_contacts or offer.source_id:
            found[key]["contact"] = (offer.contact_name, offer.contact_phone, offer.contact_email)
    return found


@pytest.fixture
def original(exported: Path, session: Session) -> tuple[dict[str, Any], dict[str, tuple[str, str, str]]]:
    """The exported directory as it was (read before an empty database may replace it): each
    published offer's fields, and each publishing organization's id, code and description by name."""
    session.rollback()
    before = published(session)
    organizations = {o.id: o for o in session.exec(select(Organization))}
    expected = _directory(before, organizations)
    for offer in before:
        if not organizations[offer.organization_id].api_contacts:  # type: ignore[index]
            expected[str(offer.id)].pop("contact", None)
    publishing = {
        o.name: (str(o.id), o.credit_code, o.description)
        for o in organizations.values()
        if o.api_publication != Publication.NONE
    }
    session.close()
    return expected, publishing


def test_export_then_import_into_an_empty_database_gives_the_same_directory(
    exported: Path, original: tuple[dict[str, Any], dict[str, tuple[str, str, str]]], empty_app: Flask
) -> None:
    expected, publishing = original
    report = apply(empty_app, exported)
    assert (report.organizations.create, report.offers.create) == (3, len(expected))
    with session_scope(empty_app) as other:
        imported = {o.id: o for o in other.exec(select(Organization))}
        found = _directory(list(other.exec(select(Offer))), imported)
    assert set(found) == set(expected)
    for key, fields in expected.items():
        if "contact" not in fields:  # not published, so not exported
            found[key].pop("contact")
        assert found[key] == fields, key
    assert {o.name for o in imported.values()} == set(publishing)
    for organization in imported.values():
        assert (organization.source_id, organization.credit_code, organization.description) == publishing[
            organization.name
        ]
        # Imported organizations wait for verification and publish nothing until they choose to.
        assert organization.status == VerificationStatus.PENDING and organization.verified_at is None
        assert organization.api_publication == Publication.NONE


def test_a_second_import_changes_nothing_and_one_event_records_the_first(
    exported: Path, session: Session, empty_app: Flask
) -> None:
    session.close()
    orgs_before, offers_before, events_before = counts(empty_app)
    first = apply(empty_app, exported)
    orgs, offers, events = counts(empty_app)
    assert (orgs - orgs_before, offers - offers_before, events - events_before) == (3, first.offers.create, 1)
    with session_scope(empty_app) as other:
        event = other.exec(select(AuditEvent).order_by(col(AuditEvent.at).desc())).first()
        assert event is not None and event.action == "hsds_import"
        stamps = {o.id: (o.updated_at, o.version) for o in other.exec(select(Offer))}

    again = dry_run(empty_app, exported)
    assert (again.organizations.create, again.organizations.update, again.organizations.unchanged) == (0, 0, 3)
    assert (again.offers.create, again.offers.update, again.offers.unchanged) == (0, 0, first.offers.create)
    apply(empty_app, exported)
    assert counts(empty_app) == (orgs, offers, events)
    with session_scope(empty_app) as other:
        assert {o.id: (o.updated_at, o.version) for o in other.exec(select(Offer))} == stamps


def test_a_changed_service_is_updated_in_place(exported: Path, session: Session, empty_app: Flask) -> None:
    session.close()
    apply(empty_app, exported)
    rows = _rows(exported / "services.csv")
    rows[0]["name"] = "Renamed in the source"
    with (exported / "services.csv").open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    report = apply(empty_app, exported)
    assert (report.offers.create, report.offers.update) == (0, 1)
    with session_scope(empty_app) as other:
        offer = other.exec(select(Offer).where(Offer.source_id == rows[0]["id"])).one()
        assert offer.title == "Renamed in the source" and offer.version == 2


def _drop_records(folder: Path, ids: set[str]) -> None:
    """Take records out of an export, with every row that names them (and the rows naming those)."""
    dropped = set(ids)
    while True:
        more = False
        for path in folder.glob("*.csv"):
            rows = _rows(path)
            kept = [row for row in rows if not dropped & set(row.values())]
            dropped |= {row["id"] for row in rows if row not in kept and row.get("id")}
            if len(kept) < len(rows):
                more = True
                with path.open("w", encoding="utf-8", newline="") as file:
                    writer = csv.DictWriter(file, fieldnames=list(rows[0]))
                    writer.writeheader()
                    writer.writerows(kept)
        if not more:
            return


def test_a_service_gone_from_its_organization_in_the_source_is_closed_once(
    exported: Path, session: Session, empty_app: Flask
) -> None:
    """A city's directory ends a service: the next import closes it in Bridge, so no caseworker
    refers anyone to it (the referrals under way go on, as when a provider closes an offer)."""
    session.close()
    first = apply(empty_app, exported)
    gone = _rows(exported / "services.csv")[0]
    _drop_records(exported, {gone["id"]})
    checked = dry_run(empty_app, exported)
    assert (checked.offers.create, checked.offers.update, checked.offers.close) == (0, 0, 1)
    assert [w.message for w in checked.warnings if w.code == "gone"] == [
        f"“{gone['name']}” is no longer among its organization's services in the source: the import closes it "
        "(referrals under way go on)."
    ]
    report = apply(empty_app, exported)
    assert report.offers.close == 1
    assert any("1 closed (gone from the source)" in line for line in importing.english(report))
    with session_scope(empty_app) as other:
        statuses = {o.source_id: o.status for o in other.exec(select(Offer))}
    assert statuses.pop(gone["id"]) == OfferStatus.CLOSED
    assert len(statuses) == first.offers.create - 1 and OfferStatus.CLOSED not in statuses.values()
    assert apply(empty_app, exported).offers == type(report.offers)(unchanged=len(statuses))


def test_imported_offers_are_open_but_unseen_until_the_organization_is_verified(
    exported: Path, session: Session, empty_app: Flask
) -> None:
    session.close()
    apply(empty_app, exported)
    client = empty_app.test_client()
    assert client.get("/api/hsds/services").get_json()["total_items"] == 0
    with session_scope(empty_app) as other:
        offers = list(other.exec(select(Offer)))
        assert {o.status for o in offers} <= {OfferStatus.OPEN, OfferStatus.PAUSED, OfferStatus.CLOSED}
        assert OfferStatus.OPEN in {o.status for o in offers}


# --- The example and other sources --------------------------------------------------------------


@pytest.fixture
def example(tmp_path: Path) -> Path:
    folder = tmp_path / "example"
    shutil.copytree(EXAMPLES, folder)
    return folder


SERVICES_ATTRIBUTE = {"link_id": "ac148810-d857-441c-9679-408f346de14b", "link_entity": "service"}


def _edit(path: Path, changes: dict[str, str], row: int = 0) -> None:
    rows = _rows(path)
    rows[row].update(changes)
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_the_specifications_example_is_reported_with_what_bridge_cannot_take(app: Flask, example: Path) -> None:
    before = counts(app)
    report = dry_run(app, example)
    assert not report.ok
    found = {(p.file, p.row, p.field, p.code) for p in report.problems}
    # Its location is at latitude 100 (no such place), and its one attribute is not the service's.
    assert ("locations.csv", 2, "latitude", "offer_rule") in found
    assert ("services.csv", 2, "attributes", "no_category") in found
    # Given to the service, the attribute's term (a placeholder) is reported as one not mapped.
    _edit(example / "attributes.csv", SERVICES_ATTRIBUTE)
    report = dry_run(app, example)
    assert report.unmapped_terms == {("taxonomy", "code", "name"): 1}
    assert "services.csv" in report.by_file() and "locations.csv" in report.by_file()
    assert "  taxonomy: code name (1)" in importing.english(report)
    assert counts(app) == before


def test_the_example_with_an_open_eligibility_term_and_a_real_place_imports(app: Flask, example: Path) -> None:
    _edit(example / "attributes.csv", SERVICES_ATTRIBUTE)
    _edit(example / "taxonomy_terms.csv", {"taxonomy": "Open Eligibility", "code": "108-07-01", "name": "Counseling"})
    _edit(example / "locations.csv", {"latitude": "34.2667", "longitude": "108.9428"})
    report = apply(app, example)
    assert report.ok and (report.organizations.create, report.offers.create) == (1, 1)
    with session_scope(app) as session:
        offer = session.exec(select(Offer)).one()
        assert offer.category == Category.COUNSELLING and offer.title == "Community Counselling"
        assert offer.languages == ["ur"] and offer.schedule == ["weekday_day"]
        assert (offer.min_age, offer.max_age) == (12, 100)
        assert (offer.latitude, offer.longitude, offer.address) == (34.2667, 108.9428, "1-30 Main Street")
        assert offer.contact_name == "Ann Persona" and offer.contact_email == "email@example.com"
        organization = session.exec(select(Organization)).one()
        assert organization.name == "Example Organization Inc." and organization.status == VerificationStatus.PENDING
        assert organization.source_id == "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"


def test_a_job_another_directory_says_no_fair_chance_of_is_a_draft_until_its_employer_completes_it(
    app: Flask, example: Path
) -> None:
    """Bridge publishes a job only with its kind and the employer's fair-chance answer, which other
    directories do not carry: such a job is imported as a draft, and once its employer completed and
    published it, another import leaves that as it is."""
    _edit(example / "attributes.csv", SERVICES_ATTRIBUTE)
    _edit(example / "taxonomy_terms.csv", {"taxonomy": "Open Eligibility", "code": "110", "name": "Work"})
    _edit(example / "locations.csv", {"latitude": "34.2667", "longitude": "108.9428"})
    report = apply(app, example)
    assert [(p.field, p.code) for p in report.warnings] == [("status", "unfinished_job")]
    with session_scope(app) as session:
        job = session.exec(select(Offer)).one()
        assert job.category == Category.EMPLOYMENT and job.status == OfferStatus.DRAFT
        assert (job.employment_type, job.fair_chance_statement, job.fair_chance_none_given) == (None, "", False)
        job.employment_type, job.fair_chance_statement = EmploymentType.PART_TIME, "We welcome people in recovery."
        job.status = OfferStatus.OPEN
        session.add(job)
        session.commit()
    again = apply(app, example)
    assert (again.offers.update, again.offers.unchanged) == (0, 1)
    with session_scope(app) as session:
        job = session.exec(select(Offer)).one()
        assert (job.status, job.employment_type) == (OfferStatus.OPEN, EmploymentType.PART_TIME)


@pytest.mark.parametrize(
    ("file", "content", "expected"),
    [
        ("services.csv", 'id,organization_id,name,status\n"ac148810-d857-441c-9679-408f346de14b,x', "broken_csv"),
        ("services.csv", b"id,name\n\xff\xfe,broken\n", "not_utf8"),
        ("physical_addresses.csv", "id,location_id,address_1\n", "hsds2_file"),
        ("datapackage.json", json.dumps({"profile": "tabular-data-package", "version": "2.0.0"}), "other_version"),
        ("datapackage.json", "{not json", "broken_json"),
    ],
)
def test_broken_files_and_other_versions_change_nothing(
    app: Flask, example: Path, file: str, content: str | bytes, expected: str
) -> None:
    path = example / file
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    before = counts(app)
    report = dry_run(app, example)
    assert expected in {p.code for p in report.problems}, importing.english(report)
    assert any(p.file == file for p in report.problems)
    with pytest.raises(reading.Refused), session_scope(app) as session:
        importing.apply(session, importing.dry_run(session, reading.read(str(example))))
    assert counts(app) == before


def test_a_zip_of_the_export_reads_as_the_folder_does(exported: Path, app: Flask, tmp_path: Path) -> None:
    archive = shutil.make_archive(str(tmp_path / "directory"), "zip", exported)
    from_zip, from_folder = dry_run(app, archive), dry_run(app, exported)
    assert from_zip.problems == from_folder.problems == []
    assert from_zip.services_read == from_folder.services_read > 0


def test_an_unknown_column_or_table_is_named(app: Flask, example: Path) -> None:
    _edit(example / "organizations.csv", {"name": "Renamed"})
    text = (example / "organizations.csv").read_text(encoding="utf-8").replace("id,name,", "id,title,", 1)
    (example / "organizations.csv").write_text(text, encoding="utf-8")
    (example / "notes.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    found = {(p.file, p.row, p.field, p.code) for p in dry_run(app, example).problems}
    assert ("organizations.csv", 1, "title", "unknown_column") in found
    assert ("organizations.csv", 1, "name", "missing_column") in found
    assert ("notes.csv", 0, "", "unknown_file") in found


def test_wrong_types_and_broken_rows_are_named_by_file_row_and_field(app: Flask, example: Path) -> None:
    _edit(example / "services.csv", {"minimum_age": "twelve", "email": "not an address"})
    _edit(example / "schedules.csv", {"opens_at": "ten"})
    with (example / "languages.csv").open("a", encoding="utf-8") as file:
        file.write("only,three,cells\n")
    report = dry_run(app, example)
    found = {(p.file, p.row, p.field, p.code) for p in report.problems}
    assert ("services.csv", 2, "minimum_age", "wrong_type") in found
    assert ("services.csv", 2, "email", "schema") in found
    assert ("schedules.csv", 2, "opens_at", "wrong_type") in found
    assert ("languages.csv", 3, "", "cells") in found
    assert "services.csv, row 2, minimum_age: 'twelve' is not a number." in [str(p) for p in report.problems]


def test_a_file_of_100_mb_is_refused_by_its_size_without_being_read(app: Flask, example: Path) -> None:
    huge = example / "services.csv"
    with huge.open("r+b") as file:
        file.truncate(100 * 1024 * 1024)  # sparse: no 100 MB written, none read
    started = time.perf_counter()
    report = dry_run(app, example)
    assert time.perf_counter() - started < 2
    assert [(p.file, p.code) for p in report.problems] == [("services.csv", "too_large")]
    assert "100 MB" in report.problems[0].message
    single = example / "big.json"
    with single.open("wb") as file:
        file.truncate(100 * 1024 * 1024)
    assert [p.code for p in dry_run(app, single).problems] == ["too_large"]


def test_json_of_another_version_is_refused(app: Flask, tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    service = {"id": str(uuid.uuid4()), "name": "Old service", "status": "active", "regular_schedule": []}
    path.write_text(json.dumps([service]), encoding="utf-8")
    assert {p.code for p in dry_run(app, path).problems} == {"hsds2_field"}
    path.write_text(json.dumps({"version": "2.0.2", "profile": "x"}), encoding="utf-8")
    assert {p.code for p in dry_run(app, path).problems} == {"other_version"}


# --- The API's own JSON, from a file and from its URL -------------------------------------------


@pytest.fixture
def token(session: Session) -> str:
    _token, secret = services.create_token(session, "Neighbouring city", None)
    return secret


def test_the_apis_own_answers_import_from_a_file(
    client: FlaskClient, session: Session, token: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    load_demo_data(session)
    answer = client.get("/api/hsds/services?full=true&per_page=200", headers={"Authorization": f"Bearer {token}"})
    path = tmp_path / "services.json"
    path.write_bytes(answer.get_data())
    session.rollback()
    expected = len(published(session))
    session.close()
    empty_app: Flask = request.getfixturevalue("empty_app")
    report = dry_run(empty_app, path)
    assert report.ok, importing.english(report)
    assert (report.organizations.create, report.offers.create) == (3, expected)
    report = apply(empty_app, path)
    assert dry_run(empty_app, path).offers.unchanged == expected


class _Answer:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.headers = {"Content-Length": str(len(data))}

    def __enter__(self) -> "_Answer":
        return self

    def __exit__(self, *_exc: object) -> None:
        return None

    def read(self, most: int) -> bytes:
        return self.data[:most]


def test_another_portals_api_is_read_page_by_page(
    client: FlaskClient, session: Session, token: str, monkeypatch: pytest.MonkeyPatch, app: Flask
) -> None:
    load_demo_data(session)
    session.rollback()
    expected = {str(offer.id) for offer in published(session)}
    session.close()
    monkeypatch.setattr(reading, "PER_PAGE", 5)
    asked: list[str] = []

    def opener(request: Any, timeout: float) -> _Answer:
        assert timeout == reading.TIMEOUT_SECONDS
        asked.append(request.full_url)
        path = request.full_url.removeprefix("https://city.example/api/hsds")
        answer = client.get("/api/hsds" + path, headers={"Authorization": request.get_header("Authorization")})
        assert answer.status_code == 200, path
        return _Answer(answer.get_data())

    source = reading.read("https://city.example/api/hsds/", token=token, opener=opener)
    assert source.problems == []
    assert {s["id"] for s in source.services} == expected
    assert sum("/services?" in url for url in asked) == -(-len(expected) // 5)
    # The organizations' own documents are read for what a service's copy lacks (their codes).
    assert all("organization_identifiers" in o for o in source.organizations.values())


PARTNER_API = "https://city.example/api/hsds"


@pytest.fixture
def recorded_api(client: FlaskClient, session: Session, token: str) -> dict[str, bytes]:
    """Every answer an import asks of the demo's API (read with a partner's token), by path: another
    portal, kept to be replayed once this database is emptied."""
    load_demo_data(session)
    session.close()
    recorded: dict[str, bytes] = {}

    def recording(request: Any, timeout: float) -> _Answer:
        path = request.full_url.removeprefix(PARTNER_API)
        answer = client.get("/api/hsds" + path, headers={"Authorization": request.get_header("Authorization")})
        assert answer.status_code == 200, path
        recorded[path] = answer.get_data()
        return _Answer(recorded[path])

    assert reading.read(PARTNER_API, token=token, opener=recording).problems == []
    return recorded


def _replayed(recorded: dict[str, bytes]) -> reading.Source:
    def replaying(request: Any, timeout: float) -> _Answer:
        return _Answer(recorded[request.full_url.removeprefix(PARTNER_API)])

    return reading.read(PARTNER_API, opener=replaying)


def test_an_api_import_closes_the_offers_of_an_organization_whose_services_all_ended(
    recorded_api: dict[str, bytes], empty_app: Flask
) -> None:
    """The API lists the organization still, with no service: what an earlier import made of its
    services is closed. (Read through the services alone, the organization would not be seen.)"""
    with session_scope(empty_app) as other:
        first = importing.apply(other, importing.dry_run(other, _replayed(recorded_api)))
    assert first.offers.create > 0
    [path] = [path for path in recorded_api if path.startswith("/services?")]
    page = json.loads(recorded_api[path])
    ended = page["contents"][0]["organization_id"]
    ended_services = {s["id"] for s in page["contents"] if s["organization_id"] == ended}
    page["contents"] = [s for s in page["contents"] if s["organization_id"] != ended]
    page["total_items"] = len(page["contents"])
    recorded_api[path] = json.dumps(page).encode()
    source = _replayed(recorded_api)
    assert ended in source.organizations
    with session_scope(empty_app) as other:
        report = importing.apply(other, importing.dry_run(other, source))
        closed = {o.source_id for o in other.exec(select(Offer).where(Offer.status == OfferStatus.CLOSED))}
    assert (report.offers.close, report.offers.create, report.offers.update) == (len(ended_services), 0, 0)
    assert closed == ended_services


def test_an_api_of_another_version_or_out_of_reach_is_reported(app: Flask) -> None:
    def old(request: Any, timeout: float) -> _Answer:
        return _Answer(json.dumps({"version": "2.0", "profile": ""}).encode())

    assert [p.code for p in reading.read("https://old.example", opener=old).problems] == ["other_version"]

    def unreachable(request: Any, timeout: float) -> _Answer:
        raise OSError("connection refused")

    assert [p.code for p in reading.read("https://gone.example", opener=unreachable).problems] == ["unreachable"]


# --- The commands -------------------------------------------------------------------------------


def test_the_commands_export_check_and_import(exported: Path, app: Flask, empty_app: Flask, tmp_path: Path) -> None:
    runner = app.test_cli_runner()
    folder = tmp_path / "again"
    result: Result = runner.invoke(args=["hsds", "export", str(folder)])
    assert result.exit_code == 0 and "services.csv" in result.output
    other = empty_app.test_cli_runner()
    checked = other.invoke(args=["hsds", "import", str(exported)])
    assert checked.exit_code == 0, checked.output
    assert "would be created" in checked.output and "dry run" in checked.output
    assert counts(empty_app)[1] == 0
    applied = other.invoke(args=["hsds", "import", str(exported), "--apply"])
    assert applied.exit_code == 0 and "created" in applied.output
    assert counts(empty_app)[1] > 0
    broken = tmp_path / "broken.json"
    broken.write_text("[{", encoding="utf-8")
    refused = other.invoke(args=["hsds", "import", str(broken), "--apply"])
    assert refused.exit_code == 1 and "nothing imported" in refused.output


def test_a_json_service_is_checked_by_bridges_rules_as_a_csv_row_is(app: Flask, tmp_path: Path) -> None:
    service = {
        "id": str(uuid.uuid4()),
        "organization_id": str(uuid.uuid4()),
        "name": "Go",
        "status": "active",
        "assured_date": "soon",
        "minimum_age": 12.5,
        "languages": [{"id": str(uuid.uuid4()), "code": "klingon"}],
    }
    path = tmp_path / "one.json"
    path.write_text(json.dumps(service), encoding="utf-8")
    found = {(p.file, p.row, p.field, p.code) for p in dry_run(app, path).problems}
    assert found == {
        ("one.json", 1, "organization_id", "no_organization"),
        ("one.json", 1, "attributes", "no_category"),
        ("one.json", 1, "assured_date", "wrong_type"),
        ("one.json", 1, "minimum_age", "whole_number"),
        ("one.json", 1, "languages/0/code", "language"),
        ("one.json", 1, "name", "offer_rule"),  # at least 3 characters, as the offer form says
    }


# --- The admins' page ------------------------------------------------------------------------------


def _valid_example(example: Path) -> None:
    _edit(example / "attributes.csv", SERVICES_ATTRIBUTE)
    _edit(example / "taxonomy_terms.csv", {"taxonomy": "Open Eligibility", "code": "108-07-01", "name": "Counseling"})
    _edit(example / "locations.csv", {"latitude": "34.2667", "longitude": "108.9428"})


def _zipped(folder: Path) -> bytes:
    return Path(shutil.make_archive(str(folder.parent / folder.name), "zip", folder)).read_bytes()


def _upload(client: FlaskClient, data: bytes, name: str = "directory.zip", **fields: str) -> Any:
    # Encoded here, in memory: the client would spool a large body to a file it leaves open.
    boundary, body = encode_multipart(MultiDict({"file": FileStorage(io.BytesIO(data), name), **fields}))
    return client.post("/api/hsds/imports", data=body, content_type=f"multipart/form-data; boundary={boundary}")


def _ended(session: Session, import_id: uuid.UUID, wanted: set[ImportState] | None = None) -> DirectoryImport:
    """The import once its thread has ended the run (the test's session ends its read each time)."""
    wanted = wanted or {ImportState.CHECKED, ImportState.REFUSED, ImportState.APPLIED, ImportState.FAILED}
    deadline = time.monotonic() + 60
    while True:
        session.commit()
        session.expire_all()
        row = session.get(DirectoryImport, import_id)
        if row is not None and row.state in wanted:
            return row
        assert time.monotonic() < deadline, f"still {row.state if row else None}"
        time.sleep(0.05)


def _import_id(response: Any) -> uuid.UUID:
    assert response.status_code == 303, response.get_data(as_text=True)
    return uuid.UUID(response.headers["Location"].rstrip("/").split("/")[-1])


@pytest.fixture
def admin(make_user: Callable[..., User], login: Callable[[User], FlaskClient]) -> FlaskClient:
    return login(make_user(Role.ADMIN))


def test_an_admin_uploads_sees_the_report_and_confirms(
    app: Flask, admin: FlaskClient, session: Session, make_user: Callable[..., User], example: Path
) -> None:
    _valid_example(example)
    import_id = _import_id(_upload(admin, _zipped(example)))
    row = _ended(session, import_id)
    assert row.state == ImportState.CHECKED, row.report
    assert Path(row.file_path).is_file()
    page = admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "Organizations: 1 to create, 0 to update, 0 unchanged." in page
    assert "Offers: 1 to create, 0 to update, 0 unchanged, 0 to close (gone from the source)." in page
    assert "Import these records" in page and 'hx-trigger="every 1s"' not in page
    chinese = sign_in_with_session(app.test_client(), session, make_user(Role.ADMIN, locale="zh"))
    page = chinese.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "没有问题" in page and "导入这些记录" in page
    partial = admin.get(f"/api/hsds/imports/{import_id}/progress").get_data(as_text=True)
    assert partial.lstrip().startswith("<section") and "<html" not in partial

    response = admin.post(f"/api/hsds/imports/{import_id}/apply")
    assert response.status_code == 303
    row = _ended(session, import_id)
    assert row.state == ImportState.APPLIED and row.file_path == ""
    assert not any((Path(app.config["IMPORT_DIR"]) / str(import_id)).glob("*"))
    offer = session.exec(select(Offer)).one()
    assert offer.title == "Community Counselling" and offer.source_id
    organization = session.exec(select(Organization)).one()
    assert organization.status == VerificationStatus.PENDING
    page = admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "Offers: 1 created" in page and 'href="/organizations/"' in page
    # A second confirmation (another admin's, a resent form) writes nothing more.
    again = admin.post(f"/api/hsds/imports/{import_id}/apply", follow_redirects=True)
    assert "cannot be applied now" in again.get_data(as_text=True)
    session.commit()
    assert session.exec(select(func.count()).select_from(Offer)).one() == 1
    assert admin.get("/api/hsds/imports").get_data(as_text=True).count(f"/api/hsds/imports/{import_id}") == 1


def test_a_file_with_problems_shows_them_by_file_row_and_field_and_cannot_be_applied(
    app: Flask, admin: FlaskClient, session: Session, make_user: Callable[..., User], example: Path
) -> None:
    import_id = _import_id(_upload(admin, _zipped(example)))
    row = _ended(session, import_id)
    assert row.state == ImportState.REFUSED and row.file_path == ""
    page = admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "<h3>locations.csv</h3>" in page and "<h3>services.csv</h3>" in page
    assert "<td>2</td><td>latitude</td>" in page
    assert "None of the service&#39;s taxonomy terms names a Bridge category." in page
    assert "Import these records" not in page
    assert admin.post(f"/api/hsds/imports/{import_id}/apply").status_code == 303
    assert session.exec(select(func.count()).select_from(Offer)).one() == 0
    chinese = sign_in_with_session(app.test_client(), session, make_user(Role.ADMIN, locale="zh"))
    page = chinese.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "该服务的分类术语都不对应 Bridge 的任何类别。" in page


def test_a_json_file_of_the_apis_services_is_checked_too(admin: FlaskClient, session: Session) -> None:
    import_id = _import_id(_upload(admin, b'{"version": "2.0.0"}', "services.json"))
    row = _ended(session, import_id)
    assert row.state == ImportState.REFUSED
    assert "This is HSDS 2.0.0, not 3.0" in admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)


@pytest.mark.parametrize("size", [200_000, 5_000])
def test_an_oversized_upload_is_refused_with_a_message_and_nothing_kept(
    app: Flask, admin: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    # Over the limit with its form (refused unread), or only its file (refused while it is copied).
    monkeypatch.setattr(reading, "MAX_FILE_BYTES", 4_000)
    response = _upload(admin, b"x" * size)
    assert response.status_code == 413
    assert "over the limit of 0 MB: nothing was kept" in response.get_data(as_text=True)
    session.commit()
    assert session.exec(select(func.count()).select_from(DirectoryImport)).one() == 0
    assert not any(Path(app.config["IMPORT_DIR"]).glob("*/*"))


def test_a_wrong_kind_of_file_or_address_is_refused(admin: FlaskClient) -> None:
    assert _upload(admin, b"a,b\n", "offers.csv").status_code == 422
    assert admin.post("/api/hsds/imports", data={"url": "ftp://example.org"}).status_code == 422
    assert admin.post("/api/hsds/imports", data={}).status_code == 422
    with_file = _upload(admin, b"{}", "services.json", token="secret")
    assert with_file.status_code == 422 and "A token goes with an address" in with_file.get_data(as_text=True)
    spaced = admin.post("/api/hsds/imports", data={"url": "https://city.example/api/hsds", "token": "two words"})
    assert spaced.status_code == 422 and "one word of up to 500 characters" in spaced.get_data(as_text=True)


def test_an_api_that_asks_for_a_token_is_read_with_it_and_the_token_is_then_forgotten(
    app: Flask, admin: FlaskClient, session: Session, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo_data(session)
    session.rollback()
    partners_read = len(published(session))
    reader = app.test_client()
    sent: set[str | None] = set()

    def opener(request: Any, timeout: float) -> _Answer:
        sent.add(request.get_header("Authorization"))
        path = request.full_url.removeprefix("https://city.example/api/hsds")
        answer = reader.get("/api/hsds" + path, headers={"Authorization": request.get_header("Authorization")})
        assert answer.status_code == 200, path
        return _Answer(answer.get_data())

    monkeypatch.setattr(network, "opener", lambda private_network=False: opener)
    form = {"url": "https://city.example/api/hsds", "token": token}
    import_id = _import_id(admin.post("/api/hsds/imports", data=form))
    row = _ended(session, import_id)
    assert sent == {f"Bearer {token}"}
    # Without the token only the one public organization's offers would be read.
    assert row.report["services_read"] == partners_read
    stored = session.connection().execute(sa.text("SELECT token FROM directory_import")).scalar_one()
    assert stored and token not in stored  # sealed while the import waits for its confirmation
    assert token not in admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert token not in admin.get("/api/hsds/imports").get_data(as_text=True)
    admin.post(f"/api/hsds/imports/{import_id}/apply")
    assert _ended(session, import_id, {ImportState.APPLIED}).token is None
    assert session.connection().execute(sa.text("SELECT token FROM directory_import")).scalar_one() is None


def test_only_admins_import(
    client: FlaskClient, make_user: Callable[..., User], login: Callable[[User], FlaskClient]
) -> None:
    login(make_user(Role.CASEWORKER))
    assert client.get("/api/hsds/imports").status_code == 403
    assert _upload(client, b"{}", "services.json").status_code == 403


def test_an_upload_left_unconfirmed_for_a_week_is_deleted_by_the_daily_jobs(
    app: Flask, admin: FlaskClient, session: Session, example: Path
) -> None:
    """Another directory's data (its contact persons among it) and a partner's token are not kept
    on the server for an import nobody confirms."""
    _valid_example(example)
    import_id = _import_id(_upload(admin, _zipped(example)))
    upload = Path(_ended(session, import_id).file_path)
    failed = DirectoryImport(source="https://city.example/api/hsds", token="partner-secret", state=ImportState.FAILED)
    session.add(failed)
    session.commit()
    with app.app_context():
        soon = run_due_jobs(session, LiveIndex(), utcnow() + timedelta(days=6), app.config)
        assert soon.imports_expired == 0 and upload.is_file()
        later = run_due_jobs(session, LiveIndex(), utcnow() + timedelta(days=8), app.config)
    assert later.imports_expired == 2
    assert not upload.exists() and not upload.parent.exists()
    session.expire_all()
    for row in (session.get(DirectoryImport, import_id), session.get(DirectoryImport, failed.id)):
        assert row is not None and (row.state, row.file_path, row.token) == (ImportState.EXPIRED, "", None)
    page = admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "was not confirmed within 7 days" in page and "Import these records" not in page
    assert "Expired" in admin.get("/api/hsds/imports").get_data(as_text=True)
    refused = admin.post(f"/api/hsds/imports/{import_id}/apply", follow_redirects=True)
    assert "cannot be applied now" in refused.get_data(as_text=True)
    restarted = admin.post(f"/api/hsds/imports/{failed.id}/restart", follow_redirects=True)
    assert "nothing to start again" in restarted.get_data(as_text=True)
    session.expire_all()
    assert session.get(DirectoryImport, failed.id).state == ImportState.EXPIRED  # type: ignore[union-attr]


def test_an_interrupted_run_is_shown_and_started_again(
    app: Flask, admin: FlaskClient, session: Session, make_user: Callable[..., User], example: Path
) -> None:
    _valid_example(example)
    import_id = _import_id(_upload(admin, _zipped(example)))
    _ended(session, import_id)
    with session_scope(app) as other:
        row = other.get(DirectoryImport, import_id)
        assert row is not None
        row.state, row.updated_at = ImportState.CHECKING, utcnow() - timedelta(minutes=10)
        other.commit()
    page = admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "Interrupted" in page and "Start again" in page and 'hx-trigger="every 1s"' not in page
    assert admin.post(f"/api/hsds/imports/{import_id}/restart").status_code == 303
    assert _ended(session, import_id).state == ImportState.CHECKED
    # A run that is not interrupted is not started twice.
    again = admin.post(f"/api/hsds/imports/{import_id}/restart", follow_redirects=True)
    assert "nothing to start again" in again.get_data(as_text=True)


def test_progress_is_told_every_few_hundred_services(app: Flask, exported: Path) -> None:
    told: list[tuple[str, int, int]] = []
    with session_scope(app) as session:
        importing.dry_run(session, reading.read(str(exported)), lambda *step: told.append(step))
    assert told[0][:2] == ("checking", 0) and told[-1][0] == "checking" and told[-1][1] == told[-1][2] > 0


def test_a_file_past_the_usual_form_limit_is_taken(app: Flask, admin: FlaskClient, session: Session) -> None:
    # Other forms take 1 MB (MAX_CONTENT_LENGTH); the import takes reading.MAX_FILE_BYTES.
    data = b'{"id": "x", "pad": "' + b"x" * (2 * app.config["MAX_CONTENT_LENGTH"]) + b'"}'
    import_id = _import_id(_upload(admin, data, "services.json"))
    assert _ended(session, import_id).state == ImportState.REFUSED
