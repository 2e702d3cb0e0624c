"""The consent ledger: recording and revoking, what a consent covers, referrals refused without one,
a supervisor's audited override, and the provider's view narrowed to the consent's scope."""

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from portal.clock import local_today
from portal.consent_text import DEFAULT_DISCLOSER, REVOCATION_STATEMENT_VERSION, text_sha256
from portal.consents import services
from portal.demo import load_demo_data
from portal.exceptions import IncompleteConsent, NoConsent
from portal.matches.services import LiveIndex, rank_need
from portal.migrations import alembic_config
from portal.models import (
    Area,
    AuditEvent,
    Consent,
    ConsentOverride,
    ConsentPurpose,
    DataCategory,
    ExpiryEvent,
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
    SignerRole,
    User,
    utcnow,
)
from portal.redisclosure import REDISCLOSURE_NOTICE_VERSION
from portal.referrals import services as referrals
from tests.conftest import keyed, record_consent

D = DataCategory
S = ReferralStatus
HTMX = {"HX-Request": "true"}
Login = Callable[[User], FlaskClient]


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
    """What a caseworker fills in, and the hidden proof of the text the person read (as the page sends it)."""
    return {
        "recipient": recipient,
        "purpose": "referral",
        "data_categories": ["needs", "contact"],
        "discloser": "Bridge community drug rehabilitation programme",
        "valid_from": local_today().isoformat(),
        "expiry_event": "programme_end",
        "method": "paper",
        "signature_ref": "FORM-2026-0042",
        "signed_at": local_today().isoformat(),
        "signed_by_role": "self",
        "revocation_statement_version": REVOCATION_STATEMENT_VERSION,
        "text_version_sha256": text_sha256(),
        "idempotency_key": str(uuid.uuid4()),
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
    response = client.post(
        f"/matches/needs/{need.id}/approve", data=keyed(offer_id=str(offer.id), summary=SUMMARY), headers=HTMX
    )
    assert response.status_code == 409
    assert "no valid consent" in response.get_data(as_text=True)
    session.commit()
    referral = session.exec(select(Referral)).one()
    assert referral.status == S.PROPOSED  # nothing lost: it waits for the consent
    # Once the consent is recorded, approving from the person's page sends it.
    client.post(f"/people/{person.id}/consents", data=keyed(valid_form(f"organization:{offer.organization_id}")))
    assert (
        client.post(f"/referrals/{referral.id}/act", data={"action": "approve", "summary": SUMMARY}).status_code == 303
    )
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
    with pytest.raises(NoConsent):
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
    response = client.post(f"/referrals/{referral.id}/act", data={"action": "approve", "summary": SUMMARY})
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
    # Each refusal is on the trail too, before the override.
    assert audit_actions(session) == ["denied"] * 3 + ["consent_override"]
    assert (
        client.post(f"/referrals/{referral.id}/act", data={"action": "approve", "summary": SUMMARY}).status_code == 303
    )
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


# What the caseworker wrote for the provider; the need's description ("晚上睡不好…") never reaches them.
SUMMARY = "希望参加小组活动"


def sent(session: Session, need: Need, offer: Offer, contact_method: str = "phone", status: S = S.SENT) -> Referral:
    referral = Referral(
        need_id=need.id, offer_id=offer.id, status=status, contact_method=contact_method, summary=SUMMARY
    )
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
    assert SUMMARY in client.get("/referrals/inbox").get_data(as_text=True)
    login(caseworker)
    client.post(f"/people/{person.id}/consents/{consent.id}/revoke")
    login(ngo_staff)
    html = client.get("/referrals/inbox", headers=HTMX).get_data(as_text=True)
    assert "XA-C-0001" not in html and SUMMARY not in html
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
        assert SUMMARY not in html and "13911112222" not in html and "周 同意" not in html
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
    assert "XA-C-0001" in html and SUMMARY in html and "晚上睡不好" not in html
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
    ranked = rank_need(session, LiveIndex(), need).ranked
    best = next(match for match in ranked if referrals.open_referral(session, need.id, match.offer.id) is None)
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


# --- The elements of a written consent (42 CFR 2.31(a)) ----------------------------------------


def complete_consent(ngo: Organization) -> dict[str, object]:
    """The columns of a consent with every element, as the form hands them to the service."""
    return {
        "recipient_organization_id": ngo.id,
        "recipient_kind": None,
        "purpose": ConsentPurpose.REFERRAL,
        "data_categories": ["needs"],
        "discloser": "Bridge community drug rehabilitation programme",
        "valid_from": local_today(),
        "valid_until": None,
        "expiry_event": ExpiryEvent.PROGRAMME_END,
        "expiry_event_text": "",
        "method": "paper",
        "signature_ref": "FORM-2026-0042",
        "signed_at": local_today(),
        "signed_by_role": SignerRole.SELF,
        "representative_name": "",
        "revocation_statement_version": REVOCATION_STATEMENT_VERSION,
        "text_version_sha256": text_sha256(),
        "note": "",
    }


# One element taken away or spoiled, as (what is wrong, the columns to change).
DEFICIENCIES: list[tuple[str, dict[str, object]]] = [
    *[("no discloser", {"discloser": value}) for value in ("", "   ", None)],
    *[("no scope", {"data_categories": value}) for value in ([], None)],
    ("unknown scope", {"data_categories": ["drug_history"]}),
    ("no recipient", {"recipient_organization_id": None}),
    ("two recipients", {"recipient_kind": RecipientKind.NGO}),
    ("unknown recipient kind", {"recipient_organization_id": None, "recipient_kind": "police"}),
    *[("no purpose", {"purpose": value}) for value in (None, "", "marketing")],
    *[("no method", {"method": value}) for value in (None, "telepathy")],
    *[("no revocation statement", {"revocation_statement_version": value}) for value in (None, "", "2019-1")],
    *[("no text hash", {"text_version_sha256": value}) for value in (None, "", "0" * 64)],
    ("no end", {"expiry_event": None, "valid_until": None}),
    ("unknown end event", {"expiry_event": "the moon"}),
    ("other event unnamed", {"expiry_event": ExpiryEvent.OTHER, "expiry_event_text": " "}),
    ("ends before it starts", {"expiry_event": None, "valid_until": date(2000, 1, 1)}),
    *[("no start", {"valid_from": value}) for value in (None, "yesterday")],
    *[("no signature", {"signature_ref": value}) for value in ("", "  ", None)],
    *[("no date signed", {"signed_at": value}) for value in (None, "")],
    ("signed in the future", {"signed_at": date(2999, 1, 1)}),
    *[("no signer", {"signed_by_role": value}) for value in (None, "neighbour")],
    ("representative unnamed", {"signed_by_role": SignerRole.REPRESENTATIVE, "representative_name": ""}),
]
REJECTED = {"generated": 0, "rejected": 0}


def test_a_consent_missing_any_element_is_rejected_by_the_service(
    app: Flask, session: Session, caseworker: User, person: Person, ngo: Organization
) -> None:
    """Generated consents, each with one element missing or invalid: the service stores none of them."""
    REJECTED.update(generated=0, rejected=0)
    with app.test_request_context():
        accepted = services.record_consent(session, caseworker, person, complete_consent(ngo))
        assert accepted.signature_ref == "FORM-2026-0042"  # the complete consent goes through

        @settings(
            max_examples=300,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        )
        @given(deficiency=st.sampled_from(DEFICIENCIES), representative=st.booleans())
        def rejected(deficiency: tuple[str, dict[str, object]], representative: bool) -> None:
            columns = complete_consent(ngo)
            if representative:  # the rest of the consent complete either way
                columns.update(signed_by_role=SignerRole.REPRESENTATIVE, representative_name="母亲 周某")
            columns.update(deficiency[1])
            REJECTED["generated"] += 1
            with pytest.raises(IncompleteConsent) as refused:
                services.record_consent(session, caseworker, person, columns)
            assert refused.value.errors, deficiency[0]
            REJECTED["rejected"] += 1

        rejected()
    session.rollback()
    assert session.exec(select(Consent)).all() == [accepted]
    assert REJECTED["rejected"] == REJECTED["generated"] >= len(DEFICIENCIES)
    print(f"consents missing one element: {REJECTED['rejected']} of {REJECTED['generated']} rejected (100 %)")


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"signature_ref": ""}, "signature_ref", "This field is required."),
        ({"expiry_event": ""}, "valid_until", "Give an end date or the event that ends the consent."),
        ({"expiry_event": "other_event"}, "expiry_event_text", "Say which event ends the consent."),
        ({"signed_by_role": "representative"}, "representative_name", "Give the name of the representative"),
        ({"text_version_sha256": "0" * 64}, "text_version_sha256", "The consent text has changed"),
        ({"signed_at": "2999-01-01"}, "signed_at", "The date signed cannot be in the future."),
    ],
)
def test_the_form_refuses_a_missing_element_at_its_field(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    change: dict[str, str],
    field: str,
    message: str,
) -> None:
    login(caseworker)
    response = client.post(f"/people/{person.id}/consents", data=valid_form("kind:ngo", **change), headers=HTMX)
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert f'id="{field}-error"' in page
    assert message in page
    session.rollback()
    assert session.exec(select(Consent)).all() == []


def test_the_form_shows_the_consent_text_and_records_its_hash(
    client: FlaskClient, login: Login, session: Session, caseworker: User, person: Person
) -> None:
    login(caseworker)
    page = client.get(f"/people/{person.id}/consents").get_data(as_text=True)
    assert "You may revoke this consent at any time" in page
    assert f'value="{text_sha256()}"' in page
    form = valid_form(
        "kind:ngo", signed_by_role="representative", representative_name="母亲 周某", signature_ref="SIG-77"
    )
    assert client.post(f"/people/{person.id}/consents", data=form).status_code == 303
    session.rollback()
    consent = session.exec(select(Consent)).one()
    assert (consent.signed_by_role, consent.representative_name, consent.signature_ref) == (
        "representative",
        "母亲 周某",
        "SIG-77",
    )
    assert consent.text_version_sha256 == text_sha256()
    assert consent.revocation_statement_version == REVOCATION_STATEMENT_VERSION
    ledger_page = client.get(f"/people/{person.id}/consents").get_data(as_text=True)
    assert "母亲 周某" in ledger_page and "SIG-77" in ledger_page
    assert "Bridge community drug rehabilitation programme" in ledger_page


def test_a_consent_given_on_the_chinese_text_is_accepted_with_that_texts_hash(
    app: Flask, session: Session, caseworker: User, person: Person, ngo: Organization
) -> None:
    with app.test_request_context():
        with force_locale("zh_Hans_CN"):
            chinese = text_sha256()
        assert chinese != text_sha256()  # the text is translated, so each language has its own hash
        consent = services.record_consent(
            session, caseworker, person, {**complete_consent(ngo), "text_version_sha256": chinese}
        )
    assert consent.text_version_sha256 == chinese


def test_a_consent_whose_programme_ended_no_longer_covers_a_referral(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    need: Need,
    ngo: Organization,
    ngo_staff: User,
    make_offer: Callable[..., Offer],
) -> None:
    today = local_today()
    offer = group_offer(make_offer, ngo_staff)
    consent = record_consent(session, person, organization=ngo, expiry_event=ExpiryEvent.PROGRAMME_END)
    assert services.valid_consent(session, person.id, offer) == consent
    person.programme_end = today  # the programme ends today: the consent still holds today
    session.add(person)
    session.commit()
    assert services.valid_consent(session, person.id, offer) == consent
    person.programme_end = today - timedelta(days=1)
    session.add(person)
    session.commit()
    assert services.valid_consent(session, person.id, offer) is None
    # A consent ending with a date past is just as dead.
    record_consent(session, person, organization=ngo, expiry_event=None, valid_until=today - timedelta(days=1))
    assert services.valid_consent(session, person.id, offer) is None
    login(caseworker)
    page = client.get(f"/people/{person.id}/consents").get_data(as_text=True)
    assert page.count("status-consent-expired") == 2
    response = client.post(
        f"/matches/needs/{need.id}/approve", data=keyed(offer_id=str(offer.id), summary=SUMMARY), headers=HTMX
    )
    assert response.status_code == 409
    assert "no valid consent" in response.get_data(as_text=True)


def test_existing_consents_get_the_elements_in_the_migration(tmp_path: Path) -> None:
    """A consent recorded before the elements existed: signed the day it started, on a 'legacy'
    form, and, with no end date, ending with the programme."""
    url = f"sqlite:///{tmp_path / 'legacy.db'}"
    engine = sa.create_engine(url)
    config = alembic_config(url)
    command.upgrade(config, "0007")
    person_id, consent_id = uuid.uuid4().hex, uuid.uuid4().hex
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO person (id, code, full_name, phone, id_number, languages, address, availability, skills,"
                " legal_hold, legal_hold_reason, created_at, updated_at) VALUES (:id, 'XA-OLD-1', 'x', '', '', '[]',"
                " '', '[]', '[]', 0, '', '2024-01-01', '2024-01-01')"
            ),
            {"id": person_id},
        )
        connection.execute(
            sa.text(
                "INSERT INTO consent (id, person_id, purpose, data_categories, valid_from, method, note, recorded_at)"
                " VALUES (:id, :person, 'referral', '[\"needs\"]', '2024-03-01', 'paper', '', '2024-03-01')"
            ),
            {"id": consent_id, "person": person_id},
        )
    command.upgrade(config, "0010")
    with engine.connect() as connection:
        row = connection.execute(
            sa.text("SELECT signature_ref, signed_at, signed_by_role, expiry_event, discloser FROM consent")
        ).one()
    assert tuple(row) == ("legacy", "2024-03-01", "self", "programme_end", DEFAULT_DISCLOSER)
    command.downgrade(config, "0007")
    engine.dispose()
