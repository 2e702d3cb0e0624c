"""The directory API (issue 17): Bridge's offers as Open Referral HSDS 3.0, read by partner systems
with a token, or by anyone for what organizations publish to everyone. Every answer is checked
against HSDS 3.0's JSON schemas, formats included; nothing about a person is ever in one."""

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.clock import local_today
from portal.demo import load_demo_data
from portal.hsds import services, taxonomy
from portal.hsds.documents import linked_id
from portal.models import (
    ApiToken,
    Area,
    AuditEvent,
    Category,
    EmploymentType,
    Offer,
    OfferStatus,
    Organization,
    OrganizationKind,
    Person,
    Publication,
    Role,
    User,
    utcnow,
)
from tests.portal.hsds_schemas import page_problems, problems

API = "/api/hsds"
LISTS = {
    "/services": "compiled/service_list.json",
    "/services?full=true": "service.json",
    "/service_at_locations": "compiled/service_at_location_list.json",
    "/service_at_locations?full=true": "service_at_location.json",
    "/organizations": "compiled/organization_list.json",
    "/organizations?full=true": "organization.json",
    "/organizations?full=true&full_service=true": "organization.json",
    "/taxonomies": "taxonomy.json",
    "/taxonomy_terms": "taxonomy_term.json",
}
DETAILS = {
    "/services": "service.json",
    "/service_at_locations": "service_at_location.json",
    "/organizations": "organization.json",
    "/taxonomies": "taxonomy.json",
    "/taxonomy_terms": "taxonomy_term.json",
}


@pytest.fixture
def token(session: Session) -> str:
    _token, secret = services.create_token(session, "City 12345 hotline", None)
    return secret


def read(client: FlaskClient, path: str, token: str | None = None, status: int = 200) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = client.get(API + path, headers=headers)
    assert response.status_code == status, (path, response.status_code, response.get_data(as_text=True)[:300])
    return response.get_json()


def every_answer(client: FlaskClient, token: str | None) -> Iterator[tuple[str, str, Any]]:
    """(path, schema, answer) for the metadata, every list (all pages) and every listed record."""
    yield "/", "", read(client, "/", token)
    for path, schema in LISTS.items():
        joiner = "&" if "?" in path else "?"
        page, pages = 1, 1
        while page <= pages:
            answer = read(client, f"{path}{joiner}per_page=100&page={page}", token)
            pages = answer["total_pages"]
            yield path, schema, answer
            page += 1
            if "?" not in path:
                for item in answer["contents"]:
                    yield f"{path}/{item['id']}", DETAILS[path], read(client, f"{path}/{item['id']}", token)


def check(answers: Iterator[tuple[str, str, Any]]) -> dict[str, int]:
    """Every answer valid; how many records each list held."""
    found: dict[str, int] = {}
    invalid = {}
    for path, schema, answer in answers:
        if path == "/":
            assert answer["version"] == "3.0" and answer["openapi_url"].endswith("/api/hsds/openapi.json")
            continue
        wrong = page_problems(schema, answer) if "contents" in answer else problems(schema, answer)
        if wrong:
            invalid[path] = wrong[:5]
        if "contents" in answer:
            found[path] = found.get(path, 0) + answer["size"]
    assert invalid == {}
    return found


def test_every_endpoint_answers_valid_hsds_on_the_demo_data(client: FlaskClient, session: Session, token: str) -> None:
    load_demo_data(session)
    found = check(every_answer(client, token))
    published = session.exec(
        select(Offer)
        .join(Organization, col(Organization.id) == Offer.organization_id)
        .where(col(Organization.api_publication) != Publication.NONE, Offer.status != OfferStatus.DRAFT)
    ).all()
    assert found["/services"] == len(published) > 0
    assert found["/organizations"] == 3  # the demo's three publishing organizations
    assert found["/taxonomies"] == 3
    assert found["/taxonomy_terms"] > 290  # Open Eligibility's terms, and Bridge's own


@pytest.fixture
def filled(make_organization: Callable[..., Organization], make_user: Callable[..., User], session: Session) -> Offer:
    """An offer and organization with every field Bridge has filled, contacts published."""
    street = Area(level="street", name_en="Beiyuanmen Subdistrict", name_zh="北院门街道", code="T-S")
    session.add(street)
    session.flush()
    grid = Area(level="grid", parent_id=street.id, name_en="Grid 3", name_zh="第3网格", code="T-S-3")
    session.add(grid)
    organization = make_organization(
        OrganizationKind.EMPLOYER,
        name="Laochenggen Kitchen",
        description="A restaurant that gives a fair chance.",
        phone="029-8888 1234",
        email="jobs@laochenggen.example",
        website="https://laochenggen.example/jobs",
        credit_code="91610104MA6TG3YX1K",
        api_publication=Publication.PUBLIC,
        api_contacts=True,
    )
    provider = make_user(Role.PROVIDER, organization=organization)
    offer = Offer(
        organization_id=provider.organization_id,
        category=Category.EMPLOYMENT,
        title="Kitchen helper",
        description="Prepare vegetables and keep the kitchen clean.",
        skills=["cooking"],
        languages=["zh", "en"],
        area_id=grid.id,
        address="北院门12号",
        latitude=34.267,
        longitude=108.9422,
        remote=True,
        schedule=["weekday_day", "weekday_evening", "weekend"],
        capacity=3,
        status=OfferStatus.OPEN,
        min_age=18,
        max_age=55,
        genders=["female", "male"],
        min_months_in_recovery=6,
        employment_type=EmploymentType.PART_TIME,
        fair_chance_statement="We welcome people in recovery.",
        contact_name="Wang Li",
        contact_phone="029-8731 4620",
        contact_email="wang.li@laochenggen.example",
    )
    session.add(offer)
    session.commit()
    return offer


def test_every_optional_field_bridge_has_validates_and_says_what_the_offer_says(
    client: FlaskClient, filled: Offer
) -> None:
    found = check(every_answer(client, None))
    assert found["/services"] == 1
    service = read(client, f"/services/{filled.id}")
    assert service["minimum_age"] == 18 and service["maximum_age"] == 55
    assert "At least 6 months in recovery" in service["eligibility_description"]
    assert {(s["byday"], s["opens_at"]) for s in service["schedules"]} == {
        ("MO,TU,WE,TH,FR", "09:00"),
        ("MO,TU,WE,TH,FR", "18:00"),
        ("SA,SU", "09:00"),
    }
    assert {language["code"] for language in service["languages"]} == {"zh", "en"}
    values = {
        (a["taxonomy_term"]["taxonomy"], a["taxonomy_term"]["code"], a.get("value")) for a in service["attributes"]
    }
    assert ("Bridge categories", "employment", None) in values
    assert ("Open Eligibility", "110", None) in values
    assert ("Bridge attributes", "capacity", "3") in values
    assert ("Bridge attributes", "minimum_months_in_recovery", "6") in values
    assert ("Bridge attributes", "remote", "true") in values
    assert ("Bridge attributes", "employment_type", "part_time") in values
    assert ("Bridge attributes", "fair_chance_statement", "We welcome people in recovery.") in values
    location = service["service_at_locations"][0]["location"]
    assert (location["latitude"], location["longitude"]) == (34.267, 108.9422)
    assert location["addresses"][0]["address_1"] == "北院门12号"
    assert service["contacts"][0]["phones"][0]["number"] == "029-8731 4620"
    organization = read(client, f"/organizations/{filled.organization_id}")
    assert organization["organization_identifiers"][0]["identifier"] == "91610104MA6TG3YX1K"
    assert organization["services"] == [{"id": str(filled.id), "name": "Kitchen helper", "status": "active"}]
    at_location = read(client, f"/service_at_locations/{linked_id('service_at_location', filled.id)}")
    assert at_location["service"]["id"] == str(filled.id)
    # In Chinese, Bridge's own words are Chinese; the organization's stay as written.
    chinese = client.get(f"{API}/services/{filled.id}", headers={"Accept-Language": "zh-CN"}).get_json()
    assert "康复" in chinese["eligibility_description"] and chinese["name"] == "Kitchen helper"


def test_organizations_publish_only_what_they_chose_and_to_whom(
    client: FlaskClient,
    session: Session,
    token: str,
    make_organization: Callable[..., Organization],
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    offers = {}
    for name, publication, verified in [
        ("hidden", Publication.NONE, True),
        ("partners", Publication.PARTNERS, True),
        ("public", Publication.PUBLIC, True),
        ("unverified", Publication.PUBLIC, False),
    ]:
        organization = make_organization(name=name, api_publication=publication, verified=verified)
        offers[name] = make_offer(make_user(Role.PROVIDER, organization=organization), title=f"{name} offer")
    public_organization = session.get(Organization, offers["public"].organization_id)
    offers["draft"] = make_offer(
        make_user(Role.PROVIDER, organization=public_organization), title="draft offer", status=OfferStatus.DRAFT
    )
    offers["volunteer"] = make_offer(make_user(Role.VOLUNTEER, name="Zhou Ting"), title="volunteer offer")

    def titles(answer: Any) -> set[str]:
        return {item["name"] for item in answer["contents"]}

    assert titles(read(client, "/services")) == {"public offer"}
    assert titles(read(client, "/services", token)) == {"public offer", "partners offer"}
    assert titles(read(client, "/organizations", token)) == {"partners", "public"}
    for name in ("hidden", "unverified", "draft", "volunteer"):
        read(client, f"/services/{offers[name].id}", token, status=404)
    read(client, f"/services/{offers['partners'].id}", status=404)  # without a token
    read(client, f"/organizations/{offers['partners'].organization_id}", status=404)
    # Contacts only when the organization publishes them too.
    answer = read(client, f"/services/{offers['public'].id}")
    assert "contacts" not in answer or answer["contacts"] == []
    assert "Zhou Ting" not in json.dumps(read(client, "/services?full=true", token), ensure_ascii=False)


def test_nothing_about_any_person_is_ever_in_an_answer(client: FlaskClient, session: Session, token: str) -> None:
    load_demo_data(session)
    for organization in session.exec(select(Organization)).all():
        organization.api_publication, organization.api_contacts = Publication.PARTNERS, True
    session.commit()
    text = json.dumps([answer for _path, _schema, answer in every_answer(client, token)], ensure_ascii=False)
    people = session.exec(select(Person)).all()
    assert people
    for person in people:
        for value in (person.code, person.full_name, person.phone, person.address):
            assert not value or value not in text, value
    volunteers = session.exec(select(User).where(User.role == Role.VOLUNTEER)).all()
    for volunteer in volunteers:
        assert volunteer.name not in text


def test_filters_are_cumulative_and_pages_say_where_they_are(
    client: FlaskClient,
    session: Session,
    make_organization: Callable[..., Organization],
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    first = make_user(Role.PROVIDER, organization=make_organization(api_publication=Publication.PUBLIC))
    second = make_user(Role.PROVIDER, organization=make_organization(api_publication=Publication.PUBLIC))
    make_offer(first, title="心理咨询小组", category=Category.COUNSELLING)
    make_offer(first, title="Peer mentoring", category=Category.PEER_SUPPORT)
    old = make_offer(second, title="Kitchen job", category=Category.EMPLOYMENT)
    old.updated_at = utcnow() - timedelta(days=10)
    session.add(old)
    session.commit()

    def names(query: str) -> set[str]:
        return {item["name"] for item in read(client, "/services?" + query)["contents"]}

    support_network = taxonomy.term_id(taxonomy.OPEN_ELIGIBILITY, "108-07")  # above Counseling and Peer Support
    assert names(f"taxonomy_term_id={support_network}") == {"心理咨询小组", "Peer mentoring"}
    counselling = taxonomy.term_id(taxonomy.CATEGORIES, "counselling")
    assert names(f"taxonomy_term_id={counselling}") == {"心理咨询小组"}
    assert names(f"organization_id={first.organization_id}&search=mentoring") == {"Peer mentoring"}
    assert names("search=心理") == {"心理咨询小组"}
    since = (local_today() - timedelta(days=1)).isoformat()
    assert names(f"modified_after={since}") == {"心理咨询小组", "Peer mentoring"}
    assert names(f"taxonomy_term_id={uuid.uuid4()}") == set()
    page = read(client, "/services?per_page=2&page=2")
    assert (page["total_items"], page["total_pages"], page["page_number"], page["size"]) == (3, 2, 2, 1)
    assert (page["first_page"], page["last_page"], page["empty"]) == (False, True, False)
    for query, parameter in [
        ("page=0", "page"),
        ("per_page=many", "per_page"),
        ("organization_id=42", "organization_id"),
        ("modified_after=yesterday", "modified_after"),
        ("full=perhaps", "full"),
    ]:
        answer = read(client, "/services?" + query, status=400)
        assert answer["parameter"] == parameter
    read(client, "/services/not-an-id", status=404)


def test_a_token_is_printed_once_kept_hashed_audited_per_read_limited_and_revocable(
    app: Flask,
    client: FlaskClient,
    session: Session,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
) -> None:
    result = app.test_cli_runner().invoke(args=["api-tokens", "create", "12345 hotline"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith("hsds_")
    session.expire_all()
    stored = session.exec(select(ApiToken)).one()
    assert stored.name == "12345 hotline" and secret not in stored.token_hash
    read(client, "/services", secret)
    read(client, "/taxonomies", secret)
    session.commit()
    session.expire_all()
    reads = session.exec(select(AuditEvent).where(AuditEvent.action == "read")).all()
    assert [(event.record_type, event.record_id) for event in reads] == [("api_token", stored.id)] * 2
    assert session.get(ApiToken, stored.id).last_used_at is not None  # type: ignore[union-attr]
    read(client, "/services", "hsds_guessed", status=401)
    app.config["API_READS_PER_HOUR"] = 2  # two reads made this hour
    read(client, "/services", secret, status=429)
    app.config["API_READS_PER_HOUR"] = 3600
    # An admin revokes it in the portal: its reads are refused from then on.
    admin = login(make_user(Role.ADMIN, locale="en"))
    page = admin.get(f"{API}/tokens").get_data(as_text=True)
    assert "12345 hotline" in page and secret not in page
    response = admin.post(f"{API}/tokens/{stored.id}/revoke")
    assert response.status_code == 303
    read(client, "/services", secret, status=401)


def test_an_admin_makes_a_token_in_the_portal_and_sees_it_once(
    client: FlaskClient, session: Session, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    admin = login(make_user(Role.ADMIN, locale="zh"))
    page = admin.post(f"{API}/tokens", data={"name": "市12345热线"}).get_data(as_text=True)
    secret = next(word for word in page.replace("<", " ").replace(">", " ").split() if word.startswith("hsds_"))
    assert "令牌" in page  # the page in Chinese
    assert "hsds_" not in admin.get(f"{API}/tokens").get_data(as_text=True)
    read(client, "/", secret)
    assert admin.post(f"{API}/tokens", data={"name": ""}).status_code == 422


def test_the_openapi_document_describes_what_bridge_serves(client: FlaskClient) -> None:
    document = read(client, "/openapi.json")
    assert set(document["paths"]) == {
        "/",
        "/services",
        "/services/{id}",
        "/organizations",
        "/organizations/{id}",
        "/service_at_locations",
        "/service_at_locations/{id}",
        "/taxonomies",
        "/taxonomies/{id}",
        "/taxonomy_terms",
        "/taxonomy_terms/{id}",
    }
    assert document["servers"][0]["url"].endswith("/api/hsds")
    services_parameters = {p["$ref"].rsplit("/", 1)[-1] for p in document["paths"]["/services"]["get"]["parameters"]}
    assert {
        "search",
        "page",
        "per_page",
        "taxonomy_term_id",
        "organization_id",
        "modified_after",
        "full",
    } <= services_parameters
    assert "format" not in services_parameters and "postcode" not in document["components"]["parameters"]
