"""The consent ledger: recording and revoking, what a consent covers, referrals refused without one,
a supervisor's audited override, and the provider's view narrowed to the consent's scope."""

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.consents import services
from portal.demo import load_demo_data
from portal.matches.services import LiveIndex, rank_need
from portal.models import (
    Area,
    AuditEvent,
    Consent,
    ConsentOverride,
    ConsentPurpose,
    DataCategory,
    Need,
    Offer,
    Organization,
    OrganizationKind,
    OutboxMail,
    Person,
    RecipientKind,
    Referral,
    ReferralStatus,
    Role,
    User,
    utcnow,
)
from portal.people.forms import local_today
from portal.redisclosure import REDISCLOSURE_NOTICE_VERSION
from portal.referrals import services as referrals
from tests.conftest import keyed, record_consent

D = DataCategory
S = ReferralStatus
HTMX = {"HX-Request": "true"}
Login = Callable[[User], FlaskClient]


@pytest.fixture
def grid(session: Session) -> Area:
    grid = Area(level="grid", name_en="Grid 3", name_zh="第三网格", code="CONSENT-G3")
    session.add(grid)
    session.commit()
    return grid


@pytest.fixture
def caseworker(make_user: Callable[..., User]) -> User:
    return make_user(Role.CASEWORKER, name="Caseworker Zhao", phone="029-1111")


@pytest.fixture
def person(session: Session, caseworker: User, grid: Area) -> Person:
    person = Person(
        code="XA-C-0001",
        full_name="周 同意",
        phone="13911112222",
        caseworker_id=caseworker.id,
        area_id=grid.id,
        languages=["zh"],
        latitude=34.26,
        longitude=108.94,
        max_travel_km=20,
        skills=["cooking"],
        programme="community_rehab",
        programme_start=date(2025, 3, 1),
    )
    session.add(person)
    session.commit()
    return person


@pytest.fixture
def need(session: Session, person: Person) -> Need:
    need = Need(person_id=person.id, category="counselling", description="晚上睡不好，想参加小组辅导。")
    session.add(need)
    session.commit()
    return need


@pytest.fixture
def ngo(make_organization: Callable[..., Organization]) -> Organization:
    return make_organization(OrganizationKind.NGO, name="启明社工")


@pytest.fixture
def ngo_staff(make_user: Callable[..., User], ngo: Organization) -> User:
    return make_user(Role.PROVIDER, organization=ngo)


def group_offer(make_offer: Callable[..., Offer], owner: User, **fields: object) -> Offer:
    return make_offer(
        owner,
        category=fields.pop("category", "counselling"),
        title=fields.pop("title", "小组辅导"),
        description="每周一次的小组辅导。",
        languages=["zh"],
        latitude=34.262,
        longitude=108.941,
        capacity=3,
        **fields,
    )


def valid_form(recipient: str, **fields: object) -> dict[str, object]:
    return {
        "recipient": recipient,
        "purpose": "referral",
        "data_categories": ["needs", "contact"],
        "valid_from": local_today().isoformat(),
        "method": "paper",
        **fields,
    }


def audit_actions(session: Session) -> list[str]:
    session.commit()
    return [e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.sequence)))]


# --- Recording and revoking ------------------------------------------------------------------


def test_the_caseworker_records_a_consent_and_it_is_audited(
    client: FlaskClient, login: Login, session: Session, caseworker: User, person: Person, ngo: Organization
) -> None:
    login(caseworker)
    response = client.post(
        f"/people/{person.id}/consents", data=keyed(valid_form(f"organization:{ngo.id}", note="父亲在场"))
    )
    assert response.status_code == 303
    session.commit()
    consent = session.exec(select(Consent).where(Consent.person_id == person.id)).one()
    assert consent.recipient_organization_id == ngo.id and consent.data_categories == ["contact", "needs"]
    assert consent.recorded_by_id == caseworker.id and consent.method == "paper"
    assert audit_actions(session) == ["consent_recorded"]
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert "启明社工" in page and "父亲在场" in page and "In force" in page


def test_the_form_starts_with_every_category_unticked(
    client: FlaskClient, login: Login, caseworker: User, person: Person
) -> None:
    login(caseworker)
    html = client.get(f"/people/{person.id}/consents").get_data(as_text=True)
    assert html.count('name="data_categories"') == len(DataCategory)
    assert "checked" not in html


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"data_categories": []}, "data_categories"),
        ({"valid_until": "2020-01-01"}, "valid_until"),
        ({"purpose": "marketing"}, "purpose"),
        ({"recipient": "kind:everyone"}, "recipient"),
        ({"method": ""}, "method"),
    ],
)
def test_an_invalid_consent_is_shown_again_with_the_error_at_its_field(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    change: dict[str, object],
    field: str,
) -> None:
    login(caseworker)
    response = client.post(
        f"/people/{person.id}/consents", data=keyed({**valid_form("kind:ngo", note="kept"), **change}), headers=HTMX
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and html.lstrip().startswith('<section id="consents"')
    assert f'<p class="field-error" id="{field}-error">' in html and ">kept</textarea>" in html
    session.commit()
    assert session.exec(select(Consent)).first() is None


def test_a_consent_cannot_name_an_unverified_organization(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    make_organization: Callable[..., Organization],
) -> None:
    pending = make_organization(verified=False)
    login(caseworker)
    response = client.post(f"/people/{person.id}/consents", data=keyed(valid_form(f"organization:{pending.id}")))
    assert response.status_code == 422
    assert session.exec(select(Consent)).first() is None


def test_revoking_takes_one_click_and_is_audited(
    client: FlaskClient, login: Login, session: Session, caseworker: User, person: Person
) -> None:
    consent = record_consent(session, person, kind=RecipientKind.NGO)
    login(caseworker)
    response = client.post(f"/people/{person.id}/consents/{consent.id}/revoke", headers=HTMX)
    assert response.status_code == 200 and "Revoked" in response.get_data(as_text=True)
    client.post(f"/people/{person.id}/consents/{consent.id}/revoke")  # a second click changes nothing
    session.refresh(consent)
    assert consent.revoked_at is not None and consent.revoked_by_id == caseworker.id
    assert audit_actions(session) == ["consent_revoked"]


def test_a_supervisor_of_the_area_records_and_revokes(
    client: FlaskClient, login: Login, session: Session, person: Person, grid: Area, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    assert client.post(f"/people/{person.id}/consents", data=keyed(valid_form("kind:employer"))).status_code == 303
    session.commit()
    consent = session.exec(select(Consent)).one()
    assert client.post(f"/people/{person.id}/consents/{consent.id}/revoke").status_code == 303


def test_other_caseworkers_and_supervisors_find_nothing(
    client: FlaskClient, login: Login, session: Session, person: Person, make_user: Callable[..., User]
) -> None:
    consent = record_consent(session, person, kind=RecipientKind.NGO)
    for stranger in (make_user(Role.CASEWORKER), make_user(Role.SUPERVISOR)):
        login(stranger)
        assert client.get(f"/people/{person.id}/consents").status_code == 404
        assert client.post(f"/people/{person.id}/consents", data=keyed(valid_form("kind:ngo"))).status_code == 404
        assert client.post(f"/people/{person.id}/consents/{consent.id}/revoke").status_code == 404
    session.refresh(consent)
    assert consent.revoked_at is None


# --- What a consent covers -------------------------------------------------------------------


def test_a_valid_consent_names_the_recipient_the_purpose_and_today(
    session: Session,
    person: Person,
    ngo: Organization,
    ngo_staff: User,
    make_organization: Callable[..., Organization],
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    today = local_today()
    offer = group_offer(make_offer, ngo_staff)
    other_ngo_offer = group_offer(make_offer, make_user(Role.PROVIDER, organization=make_organization()))
    job = group_offer(make_offer, ngo_staff, category="employment")
    volunteer_offer = group_offer(make_offer, make_user(Role.VOLUNTEER))
    assert services.valid_consent(session, person.id, offer) is None
    named = record_consent(session, person, organization=ngo)
    assert services.valid_consent(session, person.id, offer) == named
    assert services.valid_consent(session, person.id, other_ngo_offer) is None  # consent names another org
    assert services.valid_consent(session, person.id, job) is None  # for referral, not employment
    assert services.valid_consent(session, person.id, volunteer_offer) is None
    record_consent(session, person, kind=RecipientKind.INDIVIDUAL_VOLUNTEER)
    assert services.valid_consent(session, person.id, volunteer_offer) is not None
    ended = record_consent(session, person, kind=RecipientKind.NGO, valid_until=today - timedelta(days=1))
    later = record_consent(session, person, kind=RecipientKind.NGO, valid_from=today + timedelta(days=1))
    assert services.valid_consent(session, person.id, other_ngo_offer) is None
    assert services.valid_consent(session, person.id, other_ngo_offer, today + timedelta(days=1)) == later
    assert services.valid_consent(session, person.id, other_ngo_offer, today - timedelta(days=1)) == ended


def test_a_referral_to_an_organization_the_consent_does_not_name_is_refused_and_kept(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    need: Need,
    ngo_staff: User,
    make_organization: Callable[..., Organization],
    make_offer: Callable[..., Offer],
) -> None:
    record_consent(session, person, organization=make_organization(name="别的机构"))
    offer = group_offer(make_offer, ngo_staff)
    login(caseworker)
    response = client.post(f"/matches/needs/{need.id}/approve", data={"offer_id": str(offer.id)}, headers=HTMX)
    assert response.status_code == 409
    assert "no valid consent" in response.get_data(as_text=True)
    session.commit()
    referral = session.exec(select(Referral)).one()
    assert referral.status == S.PROPOSED  # nothing lost: it waits for the consent
    # Once the consent is recorded, approving from the person's page sends it.
    client.post(f"/people/{person.id}/consents", data=keyed(valid_form(f"organization:{offer.organization_id}")))
    assert client.post(f"/referrals/{referral.id}/act", data={"action": "approve"}).status_code == 303
    session.commit()
    session.refresh(referral)
    assert referral.status == S.SENT


def test_sending_is_refused_at_the_service_without_a_valid_consent(
    session: Session, caseworker: User, person: Person, need: Need, ngo_staff: User, make_offer: Callable[..., Offer]
) -> None:
    offer = group_offer(make_offer, ngo_staff)
    record_consent(session, person, kind=RecipientKind.NGO, revoked_at=utcnow())
    referral = Referral(need_id=need.id, offer_id=offer.id, status=S.APPROVED)
    session.add(referral)
    session.commit()
    with pytest.raises(referrals.NoConsent):
        referrals.transition(session, referral, "send", caseworker)
    session.refresh(referral)
    assert referral.status == S.APPROVED


def test_the_refusal_on_the_persons_page_shows_the_ledger_to_fix_it(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    need: Need,
    ngo_staff: User,
    make_offer: Callable[..., Offer],
) -> None:
    referral = Referral(need_id=need.id, offer_id=group_offer(make_offer, ngo_staff).id)
    session.add(referral)
    session.commit()
    login(caseworker)
    page = client.get(f"/people/{need.person_id}").get_data(as_text=True)
    assert "No consent covers this recipient" in page
    response = client.post(f"/referrals/{referral.id}/act", data={"action": "approve"})
    assert response.status_code == 409
    assert "Record a consent" in response.get_data(as_text=True)


# --- A supervisor's override -----------------------------------------------------------------


def test_only_a_supervisor_overrides_and_only_with_a_basis_and_a_note(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    need: Need,
    grid: Area,
    ngo_staff: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    offer = group_offer(make_offer, ngo_staff)
    referral = Referral(need_id=need.id, offer_id=offer.id)
    session.add(referral)
    session.commit()
    override = {"basis": "medical_emergency", "note": "Overdose risk tonight; the clinic needs to know."}
    for refused, status in ((caseworker, 403), (ngo_staff, 403), (make_user(Role.SUPERVISOR), 404)):
        login(refused)
        assert client.post(f"/referrals/{referral.id}/override", data=keyed(override)).status_code == status
    supervisor = make_user(Role.SUPERVISOR, area_id=grid.id)
    login(supervisor)
    response = client.post(f"/referrals/{referral.id}/override", data=keyed({"basis": "medical_emergency"}))
    assert response.status_code == 422 and 'id="note-error"' in response.get_data(as_text=True)
    assert session.exec(select(ConsentOverride)).first() is None
    assert client.post(f"/referrals/{referral.id}/override", data=keyed(override)).status_code == 303
    session.commit()
    row = session.exec(select(ConsentOverride)).one()
    assert row.by_id == supervisor.id and row.basis == "medical_emergency" and row.note == override["note"]
    assert audit_actions(session) == ["consent_override"]
    assert client.post(f"/referrals/{referral.id}/act", data={"action": "approve"}).status_code == 303
    session.commit()
    session.refresh(referral)
    assert referral.status == S.SENT
    assert "Overdose risk tonight" in client.get(f"/people/{need.person_id}").get_data(as_text=True)
    # The provider sees the code and the kind of need, not the caseworker's words nor the note.
    login(ngo_staff)
    html = client.get("/referrals/inbox").get_data(as_text=True)
    assert "XA-C-0001" in html and "Medical emergency" in html
    assert "晚上睡不好" not in html and "Overdose risk" not in html


# --- What the provider sees ------------------------------------------------------------------


def sent(session: Session, need: Need, offer: Offer, contact_method: str = "phone", status: S = S.SENT) -> Referral:
    referral = Referral(need_id=need.id, offer_id=offer.id, status=status, contact_method=contact_method)
    session.add(referral)
    session.commit()
    return referral


def test_a_revocation_removes_the_referral_from_the_providers_next_request(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    need: Need,
    ngo_staff: User,
    make_offer: Callable[..., Offer],
) -> None:
    consent = record_consent(session, person, kind=RecipientKind.NGO, categories=(D.NEEDS,))
    referral = sent(session, need, group_offer(make_offer, ngo_staff))
    login(ngo_staff)
    assert "晚上睡不好" in client.get("/referrals/inbox").get_data(as_text=True)
    login(caseworker)
    client.post(f"/people/{person.id}/consents/{consent.id}/revoke")
    login(ngo_staff)
    html = client.get("/referrals/inbox", headers=HTMX).get_data(as_text=True)
    assert "XA-C-0001" not in html and "晚上睡不好" not in html
    assert client.post(f"/referrals/{referral.id}/act", data={"action": "accept"}).status_code == 404


def test_the_provider_sees_only_the_consented_categories_with_the_notice_and_scope(
    client: FlaskClient,
    login: Login,
    session: Session,
    person: Person,
    need: Need,
    ngo_staff: User,
    make_offer: Callable[..., Offer],
) -> None:
    record_consent(session, person, kind=RecipientKind.NGO, categories=(D.SKILLS,))
    sent(session, need, group_offer(make_offer, ngo_staff), status=S.ACCEPTED)
    login(ngo_staff)
    for headers in ({}, HTMX):
        html = client.get("/referrals/inbox", headers=headers).get_data(as_text=True)
        assert "XA-C-0001" in html and "cooking" in html  # code and skills
        assert "晚上睡不好" not in html and "13911112222" not in html and "周 同意" not in html
        assert "Caseworker Zhao 029-1111" in html  # contact through the caseworker, no phone consented
        assert "disclosed to you from records protected by law" in html
        assert REDISCLOSURE_NOTICE_VERSION in html and "You may see: the person's code" in html


@pytest.mark.parametrize(("purpose", "shown"), [(ConsentPurpose.REFERRAL, False), (ConsentPurpose.EMPLOYMENT, True)])
def test_an_employer_sees_the_drug_history_only_with_consent_for_employment(
    client: FlaskClient,
    login: Login,
    session: Session,
    person: Person,
    need: Need,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
    make_offer: Callable[..., Offer],
    purpose: ConsentPurpose,
    shown: bool,
) -> None:
    employer = make_user(Role.PROVIDER, organization=make_organization(OrganizationKind.EMPLOYER))
    category = "employment" if purpose == ConsentPurpose.EMPLOYMENT else "training"
    record_consent(session, person, kind=RecipientKind.EMPLOYER, purpose=purpose, categories=(D.TREATMENT, D.NEEDS))
    sent(session, need, group_offer(make_offer, employer, category=category))
    login(employer)
    html = client.get("/referrals/inbox").get_data(as_text=True)
    assert "XA-C-0001" in html and "晚上睡不好" in html
    assert ("Community rehabilitation" in html) is shown


def test_the_providers_email_carries_the_redisclosure_notice(
    app: Flask,
    session: Session,
    caseworker: User,
    person: Person,
    need: Need,
    ngo_staff: User,
    make_offer: Callable[..., Offer],
) -> None:
    record_consent(session, person, kind=RecipientKind.NGO)
    offer = group_offer(make_offer, ngo_staff)
    with app.app_context():
        referrals.approve_match(session, LiveIndex(), caseworker, need, offer.id, referrals.Policy())
    mail = session.exec(select(OutboxMail).where(OutboxMail.to_address == ngo_staff.email)).one()
    assert "disclosed to you from records protected by law" in mail.body and REDISCLOSURE_NOTICE_VERSION in mail.body


# --- The demo --------------------------------------------------------------------------------


def test_demo_people_have_consents_and_a_demo_referral_can_be_sent(session: Session) -> None:
    assert load_demo_data(session)
    people = session.exec(select(Person)).all()
    with_consent = {c.person_id for c in session.exec(select(Consent))}
    assert with_consent == {p.id for p in people}
    person = session.exec(select(Person).where(Person.code == "XA-2026-0001")).one()
    need = session.exec(select(Need).where(Need.person_id == person.id, Need.category == "employment")).one()
    caseworker = session.get(User, person.caseworker_id)
    assert caseworker is not None
    best = rank_need(session, LiveIndex(), need).ranked[0]
    referral = referrals.approve_match(session, LiveIndex(), caseworker, need, best.offer.id, referrals.Policy())
    assert referral.status == S.SENT


def test_the_matches_page_warns_before_approval_which_offers_lack_consent(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    need: Need,
    ngo: Organization,
    ngo_staff: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    covered = group_offer(make_offer, ngo_staff, title="有同意的小组")
    uncovered = group_offer(make_offer, make_user(Role.VOLUNTEER), title="没有同意的陪伴")
    record_consent(session, person, organization=ngo)
    login(caseworker)
    html = client.get(f"/matches/needs/{need.id}").get_data(as_text=True)
    warning = "No consent from the person covers this provider"
    cards = {card.split('"')[0]: card for card in html.split('<li class="card match-item" id="match-')[1:]}
    covered_card, uncovered_card = cards[str(covered.id)], cards[str(uncovered.id)]
    assert warning not in covered_card and warning in uncovered_card
