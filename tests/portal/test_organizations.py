"""Verification: an organization's offers stay unseen until an admin verifies it."""

import re
from collections.abc import Callable

from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.hsds import services as directory
from portal.models import AuditEvent, Offer, Organization, OrganizationKind, Publication, Role, User, VerificationStatus
from portal.organizations import services
from tests.conftest import ORGANIZATION_PAPERS, keyed
from tests.portal.pager import rows, walk

Login = Callable[[User], FlaskClient]


def test_signup_to_verification_makes_offers_visible(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    """The whole flow through the pages: sign up, post, wait, get verified, be seen."""
    admin = make_user(Role.ADMIN)
    caseworker = make_user(Role.CASEWORKER)
    client.post(
        "/auth/signup/organization",
        data=keyed(
            {
                "organization_name": "Chang'an Logistics",
                "kind": "employer",
                "name": "Ma Jun",
                "email": "ma@changan.bridge.example",
                "password": "a long password",
                **ORGANIZATION_PAPERS,
            }
        ),
    )
    client.post("/auth/login", data={"email": "ma@changan.bridge.example", "password": "a long password"})
    created = client.post(
        "/offers/new",
        data=keyed(
            {
                "category": "employment",
                "title": "Warehouse picker",
                "capacity": "2",
                "employment_type": "full_time",
                "fair_chance_none_given": "on",
            }
        ),
    )
    offer_url = created.headers["Location"]
    client.post(f"{offer_url}/status", data={"action": "publish"})
    client.post("/auth/logout")

    login(caseworker)
    assert "Warehouse picker" not in client.get("/offers/").get_data(as_text=True)
    assert client.get(offer_url).status_code == 404

    login(admin)
    queue = client.get("/organizations/").get_data(as_text=True)
    assert "Chang&#39;an Logistics" in queue and "Pending verification" in queue
    organization = session.exec(select(Organization)).one()
    session.commit()
    # The admin reads what to check against the registration papers before verifying.
    papers = client.get(f"/organizations/{organization.id}").get_data(as_text=True)
    for value in ORGANIZATION_PAPERS.values():
        assert value in papers
    assert client.post(f"/organizations/{organization.id}/verify").status_code == 303
    session.refresh(organization)
    assert organization.status == VerificationStatus.VERIFIED and organization.verified_at is not None

    login(caseworker)
    assert "Warehouse picker" in client.get("/offers/").get_data(as_text=True)
    assert client.get(offer_url).status_code == 200


def test_pending_organizations_come_first(make_organization: Callable[..., Organization], session: Session) -> None:
    make_organization(name="A verified", verified=True)
    make_organization(name="Z pending", verified=False, kind=OrganizationKind.EMPLOYER)
    assert [o.name for o in services.list_organizations(session).items] == ["Z pending", "A verified"]


def test_only_admins_verify(
    session: Session, make_user: Callable[..., User], make_organization: Callable[..., Organization]
) -> None:
    pending = make_organization(verified=False)
    supervisor = make_user(Role.SUPERVISOR)
    try:
        services.verify_organization(session, supervisor, pending)
    except PermissionError:
        pass
    else:
        raise AssertionError("a supervisor verified an organization")
    session.refresh(pending)
    assert pending.status == VerificationStatus.PENDING


def test_supervisor_sees_an_organization_page_without_the_verify_button(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    make_offer: Callable[..., Offer],
) -> None:
    pending = make_organization(verified=False, name="Pending NGO")
    staff = make_user(Role.PROVIDER, organization=pending, name="Staff Member")
    make_offer(staff, title="Their service")
    login(make_user(Role.SUPERVISOR))
    html = client.get(f"/organizations/{pending.id}").get_data(as_text=True)
    assert "Staff Member" in html and "Their service" in html
    assert "Verify organization" not in html


def test_the_organizations_come_fifty_a_page_pending_first_each_once(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    pending = [Organization(name=f"Pending {n:02d}", kind=OrganizationKind.NGO) for n in range(2)]
    verified = [
        Organization(name=f"Verified {n:02d}", kind=OrganizationKind.EMPLOYER, status=VerificationStatus.VERIFIED)
        for n in range(51, -1, -1)
    ]
    session.add_all([*verified, *pending])
    session.commit()
    login(make_user(Role.ADMIN))
    pages = walk(client, "/organizations/")
    names = rows(pages, r'<a href="/organizations/[^"]+">([^<]+)</a>')
    assert [len(page) for page in names] == [50, 4]
    assert sum(names, []) == ["Pending 00", "Pending 01", *(f"Verified {n:02d}" for n in range(52))]
    assert "First page" not in pages[0] and "First page" in pages[1]
    assert client.get("/organizations/?after=not-a-cursor").status_code == 400


def test_an_organization_page_shows_every_offer_fifty_at_a_time_by_title(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    session: Session,
) -> None:
    ngo = make_organization(name="City NGO")
    make_user(Role.PROVIDER, organization=ngo, name="Staff Member")
    session.add_all(
        [Offer(organization_id=ngo.id, category="counselling", title=f"Offer {n:03d}") for n in range(120, -1, -1)]
    )
    session.commit()
    login(make_user(Role.SUPERVISOR))
    pages = walk(client, f"/organizations/{ngo.id}")
    titles = rows(pages, r"<li>(Offer \d+) · ")
    assert [len(page) for page in titles] == [50, 50, 21]
    assert sum(titles, []) == [f"Offer {n:03d}" for n in range(121)]
    assert all("Staff Member" in page and "City NGO" in page for page in pages)
    assert re.search(rf'rel="next" href="/organizations/{ngo.id}\?offers_after=[^"]+#offers"', pages[0])
    assert client.get(f"/organizations/{ngo.id}?offers_after=bad").status_code == 400


def test_an_organization_chooses_who_reads_its_offers_through_the_directory_api(
    client: FlaskClient,
    login: Login,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
) -> None:
    """Nothing is published until the organization says so; then partners with a token read its
    offers, or everyone does; its contacts only when it chooses that too."""
    provider = make_user(Role.PROVIDER, locale="en")
    make_offer(provider, title="Kitchen helper", contact_name="Wang Li", contact_phone="029-8731 4620")
    _token, secret = directory.create_token(session, "12345 hotline", None)
    partner = {"Authorization": f"Bearer {secret}"}

    def read(headers: dict[str, str] | None = None) -> list[dict[str, object]]:
        answer = client.get("/api/hsds/services?full=true", headers=headers or {}).get_json()
        return list(answer["contents"])

    assert read(partner) == []  # the default: not published
    page = login(provider).get("/organizations/publication").get_data(as_text=True)
    assert 'value="none" checked' in page and "Nothing about any person" in page
    response = client.post("/organizations/publication", data={"publication": "partners"})
    assert response.status_code == 303
    assert [service["name"] for service in read(partner)] == ["Kitchen helper"]
    assert read() == []  # not to everyone
    assert read(partner)[0].get("contacts", []) == []
    client.post("/organizations/publication", data={"publication": "public", "contacts": "1"})
    assert read()[0]["contacts"][0]["name"] == "Wang Li"  # type: ignore[index]
    assert client.post("/organizations/publication", data={"publication": "everyone"}).status_code == 422
    session.commit()
    session.expire_all()
    organization = session.get(Organization, provider.organization_id)
    assert organization is not None and organization.api_publication == Publication.PUBLIC
    events = session.exec(select(AuditEvent).where(AuditEvent.action == "publication")).all()
    assert [event.record_id for event in events] == [organization.id] * 2


def test_the_publication_page_speaks_chinese_and_only_staff_of_the_organization_choose(
    client: FlaskClient, login: Login, make_user: Callable[..., User], session: Session
) -> None:
    provider = make_user(Role.PROVIDER, locale="zh")
    page = login(provider).get("/organizations/publication").get_data(as_text=True)
    assert "向所有人公开" in page and "合作系统" in page
    other = make_user(Role.PROVIDER)
    organization = session.get(Organization, other.organization_id)
    assert organization is not None
    try:
        services.set_publication(session, provider, organization, Publication.PUBLIC, True)
    except PermissionError:
        pass
    else:
        raise AssertionError("a provider chose for another organization")
