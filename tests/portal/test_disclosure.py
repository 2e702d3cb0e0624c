"""Minimum necessary, checked from the outside: sentinel strings planted in every sensitive field of
a person with referrals in many states, then every GET page and htmx partial crawled as every role.
A sentinel may appear only where the disclosure table (portal/disclosure.py) allows it."""

import itertools
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask, url_for
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.disclosure import TABLE, Viewer, allowed_categories
from portal.hsds import taxonomy
from portal.hsds.documents import linked_id
from portal.models import (
    Area,
    Category,
    Consent,
    ConsentOverride,
    ConsentPurpose,
    ContactLog,
    DataCategory,
    Dismissal,
    FollowUp,
    Handover,
    Need,
    Offer,
    Organization,
    OrganizationKind,
    OutboxMail,
    Person,
    ProgrammeAgreement,
    ProgrammeCheck,
    Publication,
    RecipientKind,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
)
from portal.referrals import services as referrals
from tests.conftest import CONSENT_ELEMENTS, record_consent, sign_in_with_session

D = DataCategory
S = ReferralStatus
# The label of the drug-treatment fields: the programme is a code, so its label stands for it.
TREATMENT_MARK = "Drug treatment programme"

SENTINELS = {
    "name": "SENTINEL_NAME_q1",
    "phone": "SENTINEL_PHONE_q2",
    "id_number": "SENTINEL_IDNUMBER_q3",
    "address": "SENTINEL_ADDRESS_q4",
    "skill": "SENTINEL_SKILL_q5",
    "contact_note": "SENTINEL_CONTACTNOTE_q6",
    "consent_note": "SENTINEL_CONSENTNOTE_q7",
    "override_note": "SENTINEL_OVERRIDENOTE_q8",
    "referral_note": "SENTINEL_REFERRALNOTE_q9",
    "event_note": "SENTINEL_EVENTNOTE_r1",
    "handover_note": "SENTINEL_HANDOVER_r2",
    "dismissal_note": "SENTINEL_DISMISSAL_r3",
    "follow_up_note": "SENTINEL_FOLLOWUP_r4",
    # One need per referral, so each referral's disclosure can be told apart.
    "need_ngo_sent": "SENTINEL_NEED_NGOSENT_s1",
    "need_ngo_accepted": "SENTINEL_NEED_NGOACCEPTED_s2",
    "need_job_sent": "SENTINEL_NEED_JOBSENT_s3",
    "need_training_accepted": "SENTINEL_NEED_TRAINING_s4",
    "need_volunteer_sent": "SENTINEL_NEED_VOLUNTEER_s5",
    "need_proposed": "SENTINEL_NEED_PROPOSED_s6",
    "need_completed": "SENTINEL_NEED_COMPLETED_s7",
    # What the caseworker wrote for each referral's provider: the only words about the need they read.
    "summary_ngo_sent": "SENTINEL_SUMMARY_NGOSENT_t1",
    "summary_ngo_accepted": "SENTINEL_SUMMARY_NGOACCEPTED_t2",
    "summary_job_sent": "SENTINEL_SUMMARY_JOBSENT_t3",
    "summary_training_accepted": "SENTINEL_SUMMARY_TRAINING_t4",
    "summary_volunteer_sent": "SENTINEL_SUMMARY_VOLUNTEER_t5",
    "summary_proposed": "SENTINEL_SUMMARY_PROPOSED_t6",
    "summary_completed": "SENTINEL_SUMMARY_COMPLETED_t7",
    "agreement_note": "SENTINEL_AGREEMENT_u1",
    "check_note": "SENTINEL_CHECK_u2",
    "treatment": TREATMENT_MARK,
}
ALL = frozenset(SENTINELS)

# THE ORACLE, worked out by hand from the table and the consents planted below:
# - NGO (consent: referral, identity+contact+needs+skills): the sent referral shows its summary and
#   the skills; the accepted one (phone contact) adds the name, the ID number and the phone.
# - Employer (job: employment consent with needs only; training: referral consent with needs,
#   contact and treatment, visit contact): both summaries, and the address for the accepted
#   training; never the drug history, which the referral-purpose consent cannot open to an employer.
# - Volunteer (consent with needs and treatment): the summary only, never the drug history.
# No provider ever sees a need's description (the caseworker's own words): only the summary.
# Staff who may see the person see everything; everyone else nothing.
ALLOWED: dict[str, frozenset[str]] = {
    "anonymous": frozenset(),
    "admin": frozenset(),
    "supervisor": ALL,
    "caseworker": ALL,
    "other_caseworker": frozenset(),
    "ngo": frozenset({"summary_ngo_sent", "summary_ngo_accepted", "skill", "name", "id_number", "phone"}),
    "employer": frozenset({"summary_job_sent", "summary_training_accepted", "address"}),
    "volunteer": frozenset({"summary_volunteer_sent"}),
    # What a visit needs (portal/duties.py): never needs, consents, referrals, notes or treatment.
    "grid_worker": frozenset({"name", "phone", "address"}),
    "other_grid_worker": frozenset(),
    "specialist": frozenset({"name", "phone", "address", "agreement_note", "check_note"}),
}
# Pages that name their person in the query, not the path: the crawl visits them for each person.
QUERY_NAMED = ("grid.contact", "programme.person")


@dataclass
class World:
    users: dict[str, User]
    ids: dict[str, list[uuid.UUID | str]]  # URL argument name → ids of the planted records


def _need(session: Session, person: Person, key: str, category: str) -> Need:
    need = Need(person_id=person.id, category=category, description=SENTINELS[key])
    session.add(need)
    session.commit()
    return need


def _offer(session: Session, title: str, category: str, **owner: Any) -> Offer:
    offer = Offer(title=title, category=category, status="open", capacity=3, **owner)
    session.add(offer)
    session.commit()
    return offer


def _referral(session: Session, need: Need, offer: Offer, status: S, contact_method: str) -> Referral:
    key = next(key for key, value in SENTINELS.items() if value == need.description)
    referral = Referral(
        need_id=need.id,
        offer_id=offer.id,
        status=status,
        contact_method=contact_method,
        note=SENTINELS["referral_note"],
        summary=SENTINELS[key.replace("need_", "summary_", 1)],
    )
    session.add(referral)
    session.commit()
    session.add(ReferralEvent(referral_id=referral.id, to_status=status, note=SENTINELS["event_note"]))
    session.commit()
    return referral


@pytest.fixture
def world(
    app: Flask,
    session: Session,
    make_user: Callable[..., User],
    make_organization: Callable[..., Organization],
) -> World:
    grid = Area(level="grid", name_en="Grid 9", name_zh="第九网格", code="SENTINEL-G9")
    session.add(grid)
    session.commit()
    # Both publish their offers to everyone: the crawl reads the directory API too.
    ngo = make_organization(OrganizationKind.NGO, name="NGO Org", api_publication=Publication.PUBLIC, api_contacts=True)
    employer_org = make_organization(OrganizationKind.EMPLOYER, name="Employer Org", api_publication=Publication.PUBLIC)
    users = {
        "admin": make_user(Role.ADMIN),
        "supervisor": make_user(Role.SUPERVISOR, area_id=grid.id),
        "caseworker": make_user(Role.CASEWORKER),
        "other_caseworker": make_user(Role.CASEWORKER),
        "ngo": make_user(Role.PROVIDER, organization=ngo),
        "employer": make_user(Role.PROVIDER, organization=employer_org),
        "volunteer": make_user(Role.VOLUNTEER),
        "grid_worker": make_user(Role.GRID_WORKER, area_id=grid.id),
        "other_grid_worker": make_user(Role.GRID_WORKER),
        "specialist": make_user(Role.SPECIALIST, area_id=grid.id),
    }
    person = Person(
        code="XA-S-0001",
        caseworker_id=users["caseworker"].id,
        area_id=grid.id,
        full_name=SENTINELS["name"],
        phone=SENTINELS["phone"],
        id_number=SENTINELS["id_number"],
        address=SENTINELS["address"],
        skills=[SENTINELS["skill"]],
        birth_date=date(1990, 1, 2),
        programme="community_detox",
        programme_start=date(2025, 2, 3),
        next_contact_due=date(2026, 1, 10),  # overdue: on the grid worker's visits
    )
    elsewhere = Person(code="XA-S-0002", full_name="Someone else", caseworker_id=users["other_caseworker"].id)
    session.add_all([person, elsewhere])
    session.commit()
    needs = {
        key: _need(session, person, key, category)
        for key, category in (
            ("need_ngo_sent", "counselling"),
            ("need_ngo_accepted", "housing"),
            ("need_job_sent", "employment"),
            ("need_training_accepted", "training"),
            ("need_volunteer_sent", "peer_support"),
            ("need_proposed", "legal"),
            ("need_completed", "health"),
        )
    }
    volunteer = users["volunteer"]
    offers = {
        "ngo": _offer(session, "Counselling", "counselling", organization_id=ngo.id),
        "ngo_housing": _offer(session, "Housing", "housing", organization_id=ngo.id),
        "ngo_legal": _offer(session, "Legal", "legal", organization_id=ngo.id),
        "ngo_health": _offer(session, "Health", "health", organization_id=ngo.id),
        "job": _offer(session, "Job", "employment", organization_id=employer_org.id),
        "training": _offer(session, "Training", "training", organization_id=employer_org.id),
        "volunteer": _offer(session, "Peer walk", "peer_support", volunteer_id=volunteer.id),
    }
    note = {"note": SENTINELS["consent_note"]}
    all_but_treatment = (D.IDENTITY, D.CONTACT, D.NEEDS, D.SKILLS)
    consents = [
        record_consent(session, person, organization=ngo, categories=all_but_treatment, **note),
        record_consent(session, person, kind=RecipientKind.EMPLOYER, purpose=ConsentPurpose.EMPLOYMENT, **note),
        record_consent(
            session, person, kind=RecipientKind.EMPLOYER, categories=(D.NEEDS, D.CONTACT, D.TREATMENT), **note
        ),
        record_consent(
            session, person, kind=RecipientKind.INDIVIDUAL_VOLUNTEER, categories=(D.NEEDS, D.TREATMENT), **note
        ),
    ]
    sent_to_ngo = _referral(session, needs["need_ngo_sent"], offers["ngo"], S.APPROVED, "phone")
    referrals.transition(session, sent_to_ngo, "send", users["caseworker"])  # the provider's e-mail too
    planted = [
        sent_to_ngo,
        _referral(session, needs["need_ngo_accepted"], offers["ngo_housing"], S.ACCEPTED, "phone"),
        _referral(session, needs["need_job_sent"], offers["job"], S.SENT, "phone"),
        _referral(session, needs["need_training_accepted"], offers["training"], S.ACCEPTED, "visit"),
        _referral(session, needs["need_volunteer_sent"], offers["volunteer"], S.SENT, "phone"),
        _referral(session, needs["need_proposed"], offers["ngo_legal"], S.PROPOSED, "phone"),
        _referral(session, needs["need_completed"], offers["ngo_health"], S.COMPLETED, "phone"),
    ]
    supervisor = users["supervisor"]
    agreement = ProgrammeAgreement(
        person_id=person.id,
        programme="community_detox",
        signed_on=date(2025, 2, 3),
        starts_on=date(2025, 2, 3),
        ends_on=date(2028, 2, 2),
        check_in_every_days=30,
        test_every_days=60,
        note=SENTINELS["agreement_note"],
    )
    session.add(agreement)
    session.commit()
    session.add(
        ProgrammeCheck(
            person_id=person.id,
            agreement_id=agreement.id,
            kind="drug_test",
            due_on=date(2026, 1, 2),
            done_on=date(2026, 1, 2),
            result="negative",
            note=SENTINELS["check_note"],
        )
    )
    follow_up = FollowUp(
        key="sentinel",
        kind="lost_contact",
        person_id=person.id,
        due_on=date(2026, 1, 1),
        note=SENTINELS["follow_up_note"],
    )
    session.add_all(
        [
            ContactLog(person_id=person.id, kind="call", occurred_on=date(2026, 1, 5), note=SENTINELS["contact_note"]),
            ConsentOverride(
                referral_id=planted[5].id, by_id=supervisor.id, basis="court_order", note=SENTINELS["override_note"]
            ),
            Handover(person_id=person.id, to_user_id=users["caseworker"].id, note=SENTINELS["handover_note"]),
            Dismissal(
                need_id=needs["need_ngo_sent"].id,
                offer_id=offers["ngo_legal"].id,
                reason="other",
                note=SENTINELS["dismissal_note"],
            ),
            follow_up,
        ]
    )
    session.commit()
    organizations = [ngo.id, employer_org.id]
    return World(
        users=users,
        ids={
            "person_id": [person.id, elsewhere.id],
            "need_id": [need.id for need in needs.values()],
            "offer_id": [offer.id for offer in offers.values()],
            "referral_id": [referral.id for referral in planted],
            "consent_id": [consent.id for consent in consents],
            "organization_id": organizations,
            "user_id": [user.id for user in users.values()],
            "volunteer_id": [volunteer.id],
            "follow_up_id": [follow_up.id],
            "token": ["a-reset-link-that-was-never-sent"],
            "service_id": [offer.id for offer in offers.values()],
            "service_at_location_id": [linked_id("service_at_location", offer.id) for offer in offers.values()],
            "taxonomy_id": [taxonomy.CATEGORIES.id],
            "term_id": [taxonomy.category_term(Category.HOUSING).id],
            "token_id": [],
            "import_id": [],
        },
    )


def get_urls(app: Flask, world: World) -> Iterator[str]:
    """Every GET route, with each URL argument filled by each planted record's id."""
    for rule in app.url_map.iter_rules():
        if "GET" not in (rule.methods or set()) or rule.endpoint == "static":
            continue
        arguments = sorted(rule.arguments)
        missing = [name for name in arguments if name not in world.ids]
        assert not missing, f"{rule.endpoint}: plant a record for {missing} in this test"
        if rule.endpoint in QUERY_NAMED:
            for person_id in world.ids["person_id"]:
                with app.test_request_context():
                    yield url_for(rule.endpoint, person=person_id)
            continue
        for values in itertools.product(*(world.ids[name] for name in arguments)):
            with app.test_request_context():
                yield url_for(rule.endpoint, **dict(zip(arguments, values, strict=True)))


def sign_in(client: FlaskClient, session: Session, user: User | None) -> None:
    if user is not None:
        sign_in_with_session(client, session, user)
        return
    with client.session_transaction() as flask_session:
        flask_session.clear()


def test_no_page_or_partial_shows_a_sentinel_the_table_does_not_allow(
    app: Flask, client: FlaskClient, session: Session, world: World
) -> None:
    urls = sorted(set(get_urls(app, world)))
    leaks: list[str] = []
    seen: dict[str, set[str]] = {}
    pages = 0
    for role, allowed in ALLOWED.items():
        sign_in(client, session, world.users.get(role))
        seen[role] = set()
        for url, headers in itertools.product(urls, ({}, {"HX-Request": "true"})):
            response = client.get(url, headers=headers)
            assert response.status_code < 500, (role, url, response.status_code)
            pages += 1
            body = response.get_data(as_text=True)
            for key, sentinel in SENTINELS.items():
                if sentinel in body:
                    seen[role].add(key)
                    if key not in allowed:
                        leaks.append(f"{role} {url} {'htmx' if headers else 'page'}: {key}")
    print(f"\ncrawled {len(urls)} URLs × 2 variants × {len(ALLOWED)} roles = {pages} responses; {len(leaks)} leaks")
    assert leaks == []
    # The crawl reached what each role is allowed to see (so it proves something about the rest).
    for role in ("ngo", "employer", "volunteer", "grid_worker", "specialist"):
        assert seen[role] == ALLOWED[role], role
    for role in ("caseworker", "supervisor"):
        assert {"name", "phone", "contact_note", "consent_note", "event_note", "handover_note"} <= seen[role], role


def test_provider_emails_carry_no_sentinel(world: World, session: Session) -> None:
    session.commit()
    mails = session.exec(select(OutboxMail)).all()
    assert any(mail.to_address == world.users["ngo"].email for mail in mails)
    for mail in mails:
        assert not [key for key, value in SENTINELS.items() if value in mail.subject + mail.body]


def test_the_table_never_opens_the_drug_history_to_employers_or_volunteers_without_employment_consent() -> None:
    for recipient in (Viewer.EMPLOYER, Viewer.VOLUNTEER):
        for state, categories in TABLE[recipient].items():
            assert D.TREATMENT not in categories, (recipient, state)
    everything = [str(category) for category in DataCategory]
    for purpose in ConsentPurpose:
        consent = Consent(
            person_id=uuid.uuid4(),
            purpose=purpose,
            data_categories=everything,
            valid_from=date(2026, 1, 1),
            method="paper",
            **CONSENT_ELEMENTS,
        )
        opened = allowed_categories(Viewer.EMPLOYER, S.ACCEPTED, consent, None)
        assert opened is not None and (D.TREATMENT in opened) is (purpose == ConsentPurpose.EMPLOYMENT)
        assert D.TREATMENT not in (allowed_categories(Viewer.VOLUNTEER, S.ACCEPTED, consent, None) or set())
