"""Every route × every role: allowed, forbidden (403), or sent to sign in; no route without a rule."""

from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, func, select

from portal.audit.refusals import RECORD_TYPES
from portal.hsds import imports, services, taxonomy
from portal.hsds.documents import linked_id
from portal.hsds.reading import Report
from portal.models import (
    ActivityKind,
    Area,
    AuditEvent,
    Category,
    DirectoryImport,
    ErasureRequest,
    FollowUp,
    ImportState,
    Need,
    Offer,
    Organization,
    Person,
    Publication,
    RecipientKind,
    Referral,
    ReferralStatus,
    Role,
    User,
    VolunteerActivity,
)
from tests.conftest import consent_to_every_recipient, record_consent

ANONYMOUS = None
DIRECTORY = {Role.ADMIN, Role.SUPERVISOR, Role.CASEWORKER}
OWNERS = {Role.PROVIDER, Role.VOLUNTEER}
EVERYONE = set(Role)
PUBLIC = "public"

# (endpoint, method): (url template, who may use it). Written out by hand, not read from the
# decorators, so that a changed decorator fails here.
ROUTES: dict[tuple[str, str], tuple[str, Any]] = {
    ("home.index", "GET"): ("/", PUBLIC),
    ("home.health", "GET"): ("/healthz", PUBLIC),
    ("observability.ready", "GET"): ("/readyz", PUBLIC),
    # Public to the sign-in rules; readable only from allowed addresses (the test client's is local).
    ("observability.figures", "GET"): ("/metrics", PUBLIC),
    ("auth.login", "GET"): ("/auth/login", PUBLIC),
    ("auth.login", "POST"): ("/auth/login", PUBLIC),
    ("auth.logout", "POST"): ("/auth/logout", EVERYONE),
    ("auth.account", "GET"): ("/auth/account", EVERYONE),
    ("auth.forgot_password", "GET"): ("/auth/forgot", PUBLIC),
    ("auth.forgot_password", "POST"): ("/auth/forgot", PUBLIC),
    ("auth.reset_password", "GET"): ("/auth/reset/no-such-token", PUBLIC),
    ("auth.reset_password", "POST"): ("/auth/reset/no-such-token", PUBLIC),
    ("auth.mfa_verify", "GET"): ("/auth/code", PUBLIC),
    ("auth.mfa_verify", "POST"): ("/auth/code", PUBLIC),
    ("auth.mfa_setup", "GET"): ("/auth/two-step", EVERYONE),
    ("auth.mfa_setup", "POST"): ("/auth/two-step", EVERYONE),
    ("auth.change_password", "POST"): ("/auth/password", EVERYONE),
    ("auth.confirm", "GET"): ("/auth/confirm", EVERYONE),
    ("auth.confirm", "POST"): ("/auth/confirm", EVERYONE),
    ("auth.keep_alive", "POST"): ("/auth/keep-alive", EVERYONE),
    ("auth.sign_out_others", "POST"): ("/auth/sessions/others", EVERYONE),
    ("auth.signup", "GET"): ("/auth/signup", PUBLIC),
    ("auth.signup_organization", "GET"): ("/auth/signup/organization", PUBLIC),
    ("auth.signup_organization", "POST"): ("/auth/signup/organization", PUBLIC),
    ("auth.signup_volunteer", "GET"): ("/auth/signup/volunteer", PUBLIC),
    ("auth.signup_volunteer", "POST"): ("/auth/signup/volunteer", PUBLIC),
    ("auth.language", "POST"): ("/auth/language", PUBLIC),
    ("offers.index", "GET"): ("/offers/", DIRECTORY),
    ("offers.mine", "GET"): ("/offers/mine", OWNERS),
    ("offers.import_offers", "GET"): ("/offers/import", OWNERS),
    ("offers.import_offers", "POST"): ("/offers/import", OWNERS),
    ("offers.import_template", "GET"): ("/offers/import/template", OWNERS),
    ("offers.detail", "GET"): ("/offers/{offer}", DIRECTORY | OWNERS),
    ("offers.create", "GET"): ("/offers/new", OWNERS),
    ("offers.create", "POST"): ("/offers/new", OWNERS),
    ("offers.update", "GET"): ("/offers/{offer}/edit", OWNERS),
    ("offers.update", "POST"): ("/offers/{offer}/edit", OWNERS),
    ("offers.status", "POST"): ("/offers/{offer}/status", OWNERS),
    ("offers.confirm", "POST"): ("/offers/{offer}/confirm", OWNERS),
    ("organizations.index", "GET"): ("/organizations/", {Role.ADMIN, Role.SUPERVISOR}),
    ("organizations.detail", "GET"): ("/organizations/{organization}", {Role.ADMIN, Role.SUPERVISOR}),
    ("organizations.verify", "POST"): ("/organizations/{organization}/verify", {Role.ADMIN}),
    ("users.index", "GET"): ("/users/", {Role.ADMIN}),
    ("users.create", "GET"): ("/users/new", {Role.ADMIN}),
    ("users.create", "POST"): ("/users/new", {Role.ADMIN}),
    ("users.verify", "POST"): ("/users/{volunteer}/verify", {Role.ADMIN}),
    ("users.active", "POST"): ("/users/{volunteer}/active", {Role.ADMIN}),
    ("users.end_sessions", "POST"): ("/users/{volunteer}/sessions/end", {Role.ADMIN}),
    ("users.reset_second_factor", "POST"): ("/users/{volunteer}/two-step/reset", {Role.ADMIN}),
    ("people.index", "GET"): ("/people/", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("people.index", "POST"): ("/people/", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("people.create", "GET"): ("/people/new", {Role.CASEWORKER}),
    ("people.create", "POST"): ("/people/new", {Role.CASEWORKER}),
    ("people.detail", "GET"): ("/people/{person}", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("people.update", "GET"): ("/people/{person}/edit", {Role.CASEWORKER}),
    ("people.update", "POST"): ("/people/{person}/edit", {Role.CASEWORKER}),
    ("people.add_need", "POST"): ("/people/{person}/needs", {Role.CASEWORKER}),
    ("people.need_status", "POST"): ("/people/needs/{need}/status", {Role.CASEWORKER}),
    ("people.add_contact", "POST"): ("/people/{person}/contacts", {Role.CASEWORKER}),
    ("matches.index", "GET"): ("/matches/needs/{need}", {Role.CASEWORKER}),
    ("matches.approve", "POST"): ("/matches/needs/{need}/approve", {Role.CASEWORKER}),
    ("matches.dismiss", "POST"): ("/matches/needs/{need}/dismiss", {Role.CASEWORKER}),
    ("referrals.inbox", "GET"): ("/referrals/inbox", OWNERS),
    ("referrals.history", "GET"): ("/referrals/history", OWNERS),
    ("grid.index", "GET"): ("/grid/", {Role.GRID_WORKER}),
    ("grid.service_worker", "GET"): ("/grid/sw.js", {Role.GRID_WORKER}),
    ("grid.offline", "GET"): ("/grid/offline", {Role.GRID_WORKER}),
    ("grid.contact", "GET"): ("/grid/contact?person={person}", {Role.GRID_WORKER}),
    ("grid.contact", "POST"): ("/grid/contact", {Role.GRID_WORKER}),
    ("programme.index", "GET"): ("/programme/", {Role.SPECIALIST}),
    ("programme.person", "GET"): ("/programme/person?person={person}", {Role.SPECIALIST}),
    ("programme.agreement", "POST"): ("/programme/agreement", {Role.SPECIALIST}),
    ("programme.check", "POST"): ("/programme/check", {Role.SPECIALIST}),
    ("hours.index", "GET"): ("/hours/", {Role.VOLUNTEER}),
    ("hours.create", "GET"): ("/hours/new", {Role.VOLUNTEER}),
    ("hours.create", "POST"): ("/hours/new", {Role.VOLUNTEER}),
    ("hours.withdraw", "POST"): ("/hours/{activity}/withdraw", {Role.VOLUNTEER}),
    ("hours.id_type", "POST"): ("/hours/id-type", {Role.VOLUNTEER}),
    ("hours.certificate", "GET"): ("/hours/certificate", {Role.VOLUNTEER}),
    ("hours.confirm", "GET"): ("/hours/confirm", {Role.PROVIDER, Role.CASEWORKER, Role.SUPERVISOR}),
    ("hours.decide", "POST"): ("/hours/{activity}/decide", {Role.PROVIDER, Role.CASEWORKER, Role.SUPERVISOR}),
    ("hours.export", "GET"): ("/hours/export.csv", {Role.PROVIDER, Role.SUPERVISOR, Role.ADMIN}),
    ("hours.export_page", "GET"): ("/hours/export", {Role.PROVIDER, Role.SUPERVISOR, Role.ADMIN}),
    ("people.handover", "POST"): ("/people/{person}/handover", {Role.SUPERVISOR}),
    ("people.move", "POST"): ("/people/{person}/area", {Role.SUPERVISOR}),
    ("people.legal_hold", "POST"): ("/people/{person}/legal-hold", {Role.SUPERVISOR}),
    ("people.export_json", "GET"): ("/people/{person}/export.json", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("people.export_caseload", "GET"): ("/people/export.csv", {Role.CASEWORKER}),
    ("people.export_page", "GET"): ("/people/{person}/export", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("followups.index", "GET"): ("/followups/", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("followups.settle", "POST"): ("/followups/{follow_up}/settle", {Role.CASEWORKER}),
    ("referrals.act", "POST"): ("/referrals/{referral}/act", OWNERS | {Role.CASEWORKER, Role.SUPERVISOR}),
    ("indicators.index", "GET"): ("/indicators", {Role.ADMIN, Role.SUPERVISOR}),
    ("indicators.export_csv", "GET"): ("/indicators/export.csv", {Role.ADMIN, Role.SUPERVISOR}),
    ("indicators.grids", "GET"): ("/indicators/grids", {Role.ADMIN, Role.SUPERVISOR}),
    ("indicators.grids_csv", "GET"): ("/indicators/grids.csv", {Role.ADMIN, Role.SUPERVISOR}),
    ("notifications.index", "GET"): ("/notifications/", EVERYONE),
    ("notifications.read", "POST"): ("/notifications/read", EVERYONE),
    ("notifications.outbox", "GET"): ("/notifications/outbox", {Role.ADMIN}),
    ("audit.index", "GET"): ("/audit/", {Role.ADMIN}),
    ("consents.index", "GET"): ("/people/{person}/consents", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("consents.create", "POST"): ("/people/{person}/consents", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("consents.revoke", "POST"): ("/people/{person}/consents/{consent}/revoke", {Role.SUPERVISOR, Role.CASEWORKER}),
    ("consents.override", "POST"): ("/referrals/{referral}/override", {Role.SUPERVISOR}),
    ("erasure.index", "GET"): ("/erasure-requests/", {Role.ADMIN, Role.SUPERVISOR}),
    ("erasure.create", "POST"): ("/erasure-requests/", {Role.ADMIN, Role.SUPERVISOR}),
    ("erasure.erase", "POST"): ("/erasure-requests/{erasure_request}/erase", {Role.ADMIN, Role.SUPERVISOR}),
    ("organizations.publication", "GET"): ("/organizations/publication", {Role.PROVIDER}),
    ("organizations.publication", "POST"): ("/organizations/publication", {Role.PROVIDER}),
    # The directory API answers partner systems and, for what organizations publish to everyone, anyone.
    ("hsds.index", "GET"): ("/api/hsds/", PUBLIC),
    ("hsds.openapi_document", "GET"): ("/api/hsds/openapi.json", PUBLIC),
    ("hsds.services_list", "GET"): ("/api/hsds/services", PUBLIC),
    ("hsds.service", "GET"): ("/api/hsds/services/{published}", PUBLIC),
    ("hsds.service_at_locations_list", "GET"): ("/api/hsds/service_at_locations", PUBLIC),
    ("hsds.service_at_location", "GET"): ("/api/hsds/service_at_locations/{service_at_location}", PUBLIC),
    ("hsds.organizations_list", "GET"): ("/api/hsds/organizations", PUBLIC),
    ("hsds.organization", "GET"): ("/api/hsds/organizations/{publisher}", PUBLIC),
    ("hsds.taxonomies_list", "GET"): ("/api/hsds/taxonomies", PUBLIC),
    ("hsds.taxonomy_detail", "GET"): (f"/api/hsds/taxonomies/{taxonomy.CATEGORIES.id}", PUBLIC),
    ("hsds.taxonomy_terms_list", "GET"): ("/api/hsds/taxonomy_terms", PUBLIC),
    ("hsds.taxonomy_term", "GET"): (f"/api/hsds/taxonomy_terms/{taxonomy.category_term(Category.HOUSING).id}", PUBLIC),
    ("hsds.tokens", "GET"): ("/api/hsds/tokens", {Role.ADMIN}),
    ("hsds.create_token", "POST"): ("/api/hsds/tokens", {Role.ADMIN}),
    ("hsds.revoke_token", "POST"): ("/api/hsds/tokens/{api_token}/revoke", {Role.ADMIN}),
    ("hsds.import_list", "GET"): ("/api/hsds/imports", {Role.ADMIN}),
    ("hsds.import_list", "POST"): ("/api/hsds/imports", {Role.ADMIN}),
    ("hsds.import_detail", "GET"): ("/api/hsds/imports/{directory_import}", {Role.ADMIN}),
    ("hsds.import_progress", "GET"): ("/api/hsds/imports/{directory_import}/progress", {Role.ADMIN}),
    ("hsds.apply_import", "POST"): ("/api/hsds/imports/{directory_import}/apply", {Role.ADMIN}),
    ("hsds.restart_import", "POST"): ("/api/hsds/imports/{directory_import}/restart", {Role.ADMIN}),
}


def test_every_route_has_an_explicit_rule(app: Flask) -> None:
    """Deny by default: a new route without a role rule, or missing from the table above, fails."""
    served = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static"
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert served == set(ROUTES)
    for endpoint, _method in served:
        view = app.view_functions[endpoint]
        assert getattr(view, "allowed_roles", None) is not None, f"{endpoint} has no role rule"


@pytest.fixture
def cast(
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    make_organization: Callable[..., Organization],
    session: Session,
) -> dict[Any, Any]:
    """One user per role; the provider and the volunteer each own an offer of their own; a person
    with a need is on the caseworker's caseload, in the grid the supervisor supervises."""
    grid = Area(level="grid", name_en="Grid 1", name_zh="第一网格", code="ACCESS-G1")
    session.add(grid)
    session.commit()
    users = {role: make_user(role, area_id=grid.id if role == Role.SUPERVISOR else None) for role in Role}
    person = Person(
        code="XA-T-0001",
        full_name="测试",
        caseworker_id=users[Role.CASEWORKER].id,
        grid_worker_id=users[Role.GRID_WORKER].id,
        specialist_id=users[Role.SPECIALIST].id,
        area_id=grid.id,
    )
    session.add(person)
    session.commit()
    need = Need(person_id=person.id, category="housing", description="A room near work")
    session.add(need)
    session.commit()
    consent_to_every_recipient(session, person)
    consent = record_consent(session, person, kind=RecipientKind.NGO)
    provider_offer = make_offer(users[Role.PROVIDER], address="北院门12号")
    publisher = session.get(Organization, users[Role.PROVIDER].organization_id)
    assert publisher is not None
    publisher.api_publication = Publication.PUBLIC  # the directory API's records to read
    volunteer_offer = make_offer(users[Role.VOLUNTEER], category="peer_support")
    pending = make_organization(verified=False)
    referrals = {
        role: Referral(need_id=need.id, offer_id=offer.id, status=ReferralStatus.SENT)
        for role, offer in ((Role.PROVIDER, provider_offer), (Role.VOLUNTEER, volunteer_offer))
    }
    session.add_all(referrals.values())
    session.commit()
    follow_up = FollowUp(key="access", kind="lost_contact", person_id=person.id, due_on=date(2026, 1, 1))
    session.add(follow_up)
    session.commit()
    # Hours each confirmer confirms: done with the provider's organization, or for the volunteer's referral.
    hours = {
        Role.PROVIDER: VolunteerActivity(organization_id=users[Role.PROVIDER].organization_id),
        Role.VOLUNTEER: VolunteerActivity(referral_id=referrals[Role.VOLUNTEER].id),
    }
    for activity in hours.values():
        activity.volunteer_id, activity.done_on, activity.minutes, activity.kind = (
            users[Role.VOLUNTEER].id,
            date(2026, 1, 1),
            60,
            ActivityKind.MENTORING,
        )
    session.add_all(hours.values())
    session.commit()
    # On legal hold, so that carrying the request out is refused (409) and the cast stays whole.
    person.legal_hold, person.legal_hold_reason = True, "Audit of the access rules"
    erasure_request = ErasureRequest(
        person_id=person.id, basis="objection", requested_by_id=users[Role.SUPERVISOR].id, due_on=date(2026, 1, 31)
    )
    session.add_all([person, erasure_request])
    session.commit()
    # An import whose check found problems: confirming or restarting it is refused (303), no thread starts.
    directory_import = DirectoryImport(
        source="partner.zip", state=ImportState.REFUSED, report=imports.report_document(Report(source="partner.zip"))
    )
    session.add(directory_import)
    session.commit()
    return {
        "follow_up": follow_up,
        "activities": hours,
        "referrals": referrals,
        "users": users,
        "offers": {Role.PROVIDER: provider_offer, Role.VOLUNTEER: volunteer_offer},
        "organization": pending,
        "volunteer": make_user(Role.VOLUNTEER, verified=False),
        "person": person,
        "need": need,
        "consent": consent,
        "erasure_request": erasure_request,
        "api_token": services.create_token(session, "Partner", None)[0],
        "directory_import": directory_import,
    }


@pytest.mark.parametrize("role", [ANONYMOUS, *Role], ids=lambda r: str(r or "anonymous"))
@pytest.mark.parametrize("route", sorted(ROUTES), ids="-".join)
def test_route_answers_each_role_as_the_table_says(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],
    route: tuple[str, str],
    role: Role | None,
) -> None:
    endpoint, method = route
    template, allowed = ROUTES[route]
    # Owners act on their own offer; everyone else on the provider's (published, verified).
    offer = cast["offers"].get(role, cast["offers"][Role.PROVIDER])
    url = template.format(
        offer=offer.id,
        organization=cast["organization"].id,
        volunteer=cast["volunteer"].id,
        person=cast["person"].id,
        need=cast["need"].id,
        referral=cast["referrals"].get(role, cast["referrals"][Role.PROVIDER]).id,
        follow_up=cast["follow_up"].id,
        activity=cast["activities"].get(role, cast["activities"][Role.VOLUNTEER]).id,
        consent=cast["consent"].id,
        erasure_request=cast["erasure_request"].id,
        published=cast["offers"][Role.PROVIDER].id,
        publisher=cast["offers"][Role.PROVIDER].organization_id,
        service_at_location=linked_id("service_at_location", cast["offers"][Role.PROVIDER].id),
        api_token=cast["api_token"].id,
        directory_import=cast["directory_import"].id,
    )
    if role is not None:
        login(cast["users"][role])
    # Enough for the action to go through where it is allowed; the rest is refused on its content
    # (400 malformed, 409 not possible now, 422 invalid), never on the role.
    data = {"action": "pause", "active": "0", "lang": "en"}
    response = client.open(url, method=method, data=data if method == "POST" else None)

    if allowed == PUBLIC or (role is not None and role in allowed):
        assert response.status_code in {200, 204, 302, 303, 400, 409, 422}, response.status_code
        # Signing out, or the code step with no password step before it, leads back to signing in.
        assert "/auth/login" not in response.headers.get("Location", "") or endpoint in {
            "auth.logout",
            "auth.mfa_verify",
        }
    elif role is None:
        assert response.status_code == 302
        assert response.headers["Location"].startswith("/auth/login")
    else:
        assert response.status_code == 403


def test_htmx_request_from_anonymous_gets_401_with_redirect_header(client: FlaskClient) -> None:
    response = client.get("/offers/?q=job", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"].startswith("/auth/login")


# --- Every answer about a person's record is on the audit trail --------------------------------

# The URL placeholders of this table that name a person's record.
PERSON_DATA = {"person", "need", "consent", "contact", "referral", "follow_up", "erasure_request"}
ELSEWHERE_CASEWORKER, ELSEWHERE_SUPERVISOR = "caseworker elsewhere", "supervisor elsewhere"


def person_data_routes() -> list[tuple[str, str]]:
    return sorted(route for route, (template, _who) in ROUTES.items() if set(_placeholders(template)) & PERSON_DATA)


def _placeholders(template: str) -> list[str]:
    return [part.split("}")[0] for part in template.split("{")[1:]]


def test_the_walk_covers_every_route_whose_url_names_a_persons_record(app: Flask) -> None:
    """A new route taking a person's, need's, consent's, contact's or referral's id is walked below."""
    named = {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        if rule.arguments & set(RECORD_TYPES)
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    # The grid worker's and specialist's pages name their person in the query.
    assert named | {("grid.contact", "GET"), ("programme.person", "GET")} == set(person_data_routes())


@pytest.mark.parametrize("who", [*Role, ELSEWHERE_CASEWORKER, ELSEWHERE_SUPERVISOR], ids=str)
@pytest.mark.parametrize("route", person_data_routes(), ids="-".join)
def test_every_answer_about_a_persons_record_is_on_the_trail(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    session: Session,
    cast: dict[Any, Any],
    route: tuple[str, str],
    who: Role | str,
) -> None:
    """As every role, and as staff of another area: a page shown is a "view" event, a change its own
    event, and a refusal (403 or 404) a "denied" event naming each record in the URL."""
    _endpoint, method = route
    template, _allowed = ROUTES[route]
    if who == ELSEWHERE_CASEWORKER:
        user = make_user(Role.CASEWORKER)
    elif who == ELSEWHERE_SUPERVISOR:
        elsewhere = Area(level="grid", name_en="Grid 2", name_zh="第二网格", code="ACCESS-G2")
        session.add(elsewhere)
        session.commit()
        user = make_user(Role.SUPERVISOR, area_id=elsewhere.id)
    else:
        user = cast["users"][who]
    ids = {
        "person": cast["person"].id,
        "need": cast["need"].id,
        "consent": cast["consent"].id,
        "referral": cast["referrals"].get(who, cast["referrals"][Role.PROVIDER]).id,
        "follow_up": cast["follow_up"].id,
        "erasure_request": cast["erasure_request"].id,
    }
    login(user)
    session.rollback()
    before = session.exec(select(func.max(AuditEvent.sequence))).one() or 0
    data = {"action": "pause", "lang": "en"}
    response = client.open(template.format(**ids), method=method, data=data if method == "POST" else None)
    session.rollback()
    written = session.exec(
        select(AuditEvent).where(AuditEvent.sequence > before).order_by(col(AuditEvent.sequence))
    ).all()
    by_user = [(e.action, e.record_type, e.record_id) for e in written if e.actor_id == user.id]
    named = {(name, ids[name]) for name in _placeholders(template)}  # the trail calls them so too
    status = response.status_code
    if status in (403, 404):
        assert {(kind, record_id) for action, kind, record_id in by_user if action == "denied"} == named, by_user
    elif method == "GET":
        assert status == 200
        assert any(action in {"view", "export"} for action, _kind, _id in by_user), by_user
    else:  # a change, or a form sent back with what is wrong with it: not a refusal
        assert not any(action == "denied" for action, _kind, _id in by_user), by_user
