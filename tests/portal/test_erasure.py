"""Erasure on request (GDPR Art. 17, PIPL Art. 47): the queue with its 30-day due date, the record
erased in every table down to a content-free tombstone, a legal hold refusing it, and the person's
open referrals withdrawn so providers stop seeing them."""

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from babel.dates import format_date
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.clock import local_today
from portal.followups.services import attention
from portal.models import (
    Area,
    AuditEvent,
    Consent,
    ErasureRequest,
    FollowUp,
    FollowUpStatus,
    Notification,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
)
from tests.portal.person_record import SENTINEL, Record, build_record, marked_but, texts_holding
from tests.portal.test_retention import PAST_THE_LIMIT, run_jobs

Login = Callable[[User], FlaskClient]
CONFIRMED = {"confirm": "1"}
S = ReferralStatus


@pytest.fixture
def supervisor(make_user: Callable[..., User], grid: Area) -> User:
    return make_user(Role.SUPERVISOR, area_id=grid.id)


@pytest.fixture
def provider(make_user: Callable[..., User]) -> User:
    return make_user(Role.PROVIDER)


@pytest.fixture
def offer(provider: User, make_offer: Callable[..., Offer]) -> Offer:
    return make_offer(provider, title="Welding apprenticeship", capacity=2)


@pytest.fixture
def record(session: Session, caseworker: User, grid: Area, offer: Offer) -> Record:
    """A person still in the programme, with a referral the provider has and one they accepted."""
    built = build_record(session, caseworker, grid, offer, programme_end=None)
    accepted = Referral(need_id=built.needs[1].id, offer_id=offer.id, status=S.ACCEPTED)
    session.add(accepted)
    session.commit()
    return built


def request_erasure(client: FlaskClient, code: str = "XA-2020-0001", basis: str = "consent_withdrawn") -> int:
    return client.post("/erasure-requests/", data={"person_code": code, "basis": basis}).status_code


def the_request(session: Session) -> ErasureRequest:
    session.rollback()
    return session.exec(select(ErasureRequest)).one()


def test_after_erasure_no_table_holds_anything_of_the_person(
    client: FlaskClient, login: Login, session: Session, supervisor: User, record: Record
) -> None:
    assert texts_holding(session, SENTINEL) == record.marked
    login(supervisor)
    assert request_erasure(client) == 303
    erasure = the_request(session)
    unconfirmed = client.post(f"/erasure-requests/{erasure.id}/erase")
    assert unconfirmed.status_code == 422
    assert "Tick the box to confirm" in unconfirmed.get_data(as_text=True)
    assert texts_holding(session, SENTINEL) == record.marked
    response = client.post(f"/erasure-requests/{erasure.id}/erase", data=CONFIRMED)
    assert response.status_code == 303
    assert texts_holding(session, SENTINEL) == []
    person = session.get(Person, record.person.id)
    assert person is not None
    session.refresh(person)
    # The tombstone: the code, the area, and the dates the record was made and erased.
    assert person.code == "XA-2020-0001"
    assert person.anonymised_at is not None
    assert (person.full_name, person.phone, person.id_number, person.address) == ("", "", "", "")
    assert (person.birth_date, person.gender, person.programme, person.programme_start) == (None, None, None, None)
    assert (person.latitude, person.longitude, person.skills, person.languages) == (None, None, [], [])
    assert all(consent.revoked_at is not None for consent in session.exec(select(Consent)))
    erasure = the_request(session)
    assert (erasure.status, erasure.decided_by_id, erasure.outcome) == ("done", supervisor.id, "")
    # The trail has the basis as a code, and ids: nothing about the person.
    trail = session.exec(select(AuditEvent).order_by(col(AuditEvent.sequence))).all()
    assert [(e.action, e.record_type) for e in trail if e.action.startswith(("erase", "erasure"))] == [
        ("erasure_requested", "erasure_request"),
        ("erased:consent_withdrawn", "person"),
        ("erasure_done", "erasure_request"),
    ]
    assert "Only its code remains" in client.get("/erasure-requests/").get_data(as_text=True)


def test_on_legal_hold_erasure_is_refused_with_409_and_the_holds_reason_kept(
    client: FlaskClient, login: Login, session: Session, supervisor: User, record: Record
) -> None:
    login(supervisor)
    assert request_erasure(client) == 303
    assert (
        client.post(
            f"/people/{record.person.id}/legal-hold",
            data={"legal_hold": "1", "legal_hold_reason": "Court case 2026-17"},
        ).status_code
        == 303
    )
    erasure = the_request(session)
    response = client.post(f"/erasure-requests/{erasure.id}/erase", data=CONFIRMED)
    assert response.status_code == 409
    assert "The record is on legal hold and was not erased: Court case 2026-17" in response.get_data(as_text=True)
    erasure = the_request(session)
    assert (erasure.status, erasure.outcome, erasure.decided_by_id) == ("refused", "Court case 2026-17", supervisor.id)
    # Nothing was erased (the hold's reason was written over the marked one).
    assert texts_holding(session, SENTINEL) == marked_but(record, "person.legal_hold_reason")
    actions = [e.action for e in session.exec(select(AuditEvent))]
    assert "erasure_refused_legal_hold" in actions and not any(a.startswith("erased") for a in actions)
    # Decided once: a second try is a conflict too, and still erases nothing.
    assert client.post(f"/erasure-requests/{erasure.id}/erase", data=CONFIRMED).status_code == 409
    assert "Court case 2026-17" in client.get("/erasure-requests/").get_data(as_text=True)


def test_only_a_supervisor_of_the_area_or_an_admin_handles_erasure(
    client: FlaskClient,
    login: Login,
    session: Session,
    supervisor: User,
    caseworker: User,
    record: Record,
    make_user: Callable[..., User],
) -> None:
    login(supervisor)
    assert request_erasure(client) == 303
    erasure = the_request(session)
    elsewhere = Area(level="grid", name_en="Grid 9", name_zh="第九网格", code="ERASE-G9")
    session.add(elsewhere)
    session.commit()
    login(make_user(Role.SUPERVISOR, area_id=elsewhere.id))
    assert client.post(f"/erasure-requests/{erasure.id}/erase", data=CONFIRMED).status_code == 404
    response = client.post("/erasure-requests/", data={"person_code": "XA-2020-0001", "basis": "objection"})
    assert response.status_code == 422
    assert "No person with this code in the records you handle." in response.get_data(as_text=True)
    assert "XA-2020-0001" not in client.get("/erasure-requests/").get_data(as_text=True).split("Record a request")[0]
    login(caseworker)
    assert client.post(f"/erasure-requests/{erasure.id}/erase", data=CONFIRMED).status_code == 403
    assert the_request(session).status == "open"
    assert texts_holding(session, SENTINEL) == record.marked
    login(make_user(Role.ADMIN))
    assert client.post(f"/erasure-requests/{erasure.id}/erase", data=CONFIRMED).status_code == 303
    assert the_request(session).status == "done"
    assert texts_holding(session, SENTINEL) == []


def test_erasure_withdraws_the_open_referrals_so_the_provider_no_longer_sees_them(
    client: FlaskClient,
    login: Login,
    session: Session,
    supervisor: User,
    provider: User,
    offer: Offer,
    record: Record,
) -> None:
    login(provider)
    assert record.person.code in client.get("/referrals/inbox").get_data(as_text=True)
    login(supervisor)
    request_erasure(client)
    client.post(f"/erasure-requests/{the_request(session).id}/erase", data=CONFIRMED)
    session.rollback()
    referrals = session.exec(select(Referral)).all()
    assert {r.status for r in referrals} == {S.WITHDRAWN}
    steps = session.exec(select(ReferralEvent).where(ReferralEvent.to_status == S.WITHDRAWN)).all()
    assert sorted(str(step.from_status) for step in steps) == ["accepted", "sent"]
    assert {(step.reason_code, step.actor_id) for step in steps} == {("record_closed", supervisor.id)}
    session.refresh(offer)
    assert offer.capacity == 3  # the accepted referral's place is given back
    login(provider)
    assert record.person.code not in client.get("/referrals/inbox").get_data(as_text=True)


def test_anonymisation_withdraws_the_open_referrals_too(
    app: Flask, session: Session, caseworker: User, grid: Area, offer: Offer
) -> None:
    built = build_record(session, caseworker, grid, offer, code="XA-2020-0002", programme_end=date(2021, 6, 30))
    assert "anonymised 1" in run_jobs(app, PAST_THE_LIMIT)
    session.rollback()
    referral = session.get(Referral, built.referral.id)
    assert referral is not None
    session.refresh(referral)
    assert (referral.status, referral.reason_code) == (S.WITHDRAWN, "record_closed")
    step = session.exec(select(ReferralEvent).where(ReferralEvent.to_status == S.WITHDRAWN)).one()
    assert (step.from_status, step.actor_id) == (S.SENT, None)


def test_the_queue_shows_each_request_due_30_days_later_and_marks_it_overdue(
    client: FlaskClient, login: Login, session: Session, supervisor: User, record: Record
) -> None:
    login(supervisor)
    assert request_erasure(client) == 303
    due = local_today() + timedelta(days=30)
    assert the_request(session).due_on == due
    page = client.get("/erasure-requests/").get_data(as_text=True)
    waiting = page.split('id="erasure-waiting"')[1].split("</table>")[0]
    assert "XA-2020-0001" in waiting and format_date(due, "medium", locale="en_GB") in waiting
    assert "Overdue" not in waiting
    # A month and a day later, nothing done yet.
    erasure = the_request(session)
    erasure.due_on = local_today() - timedelta(days=1)
    session.add(erasure)
    session.commit()
    late = client.get("/erasure-requests/").get_data(as_text=True)
    assert "Overdue" in late.split('id="erasure-waiting"')[1].split("</table>")[0]
    # One open request at a time for a person.
    assert request_erasure(client) == 409


def test_a_closed_record_leaves_the_caseworkers_attention_list(
    client: FlaskClient, login: Login, session: Session, supervisor: User, caseworker: User, record: Record
) -> None:
    """Nobody is to be called about a record that was erased: its follow-ups are settled with it."""
    today = date(2026, 1, 1)
    assert any(item.person.id == record.person.id for item in attention(session, caseworker, today).page.items)
    login(supervisor)
    request_erasure(client)
    client.post(f"/erasure-requests/{the_request(session).id}/erase", data=CONFIRMED)
    session.rollback()
    assert [
        item for item in attention(session, caseworker, today).page.items if item.person.id == record.person.id
    ] == []
    settled = session.exec(select(FollowUp).where(FollowUp.person_id == record.person.id)).all()
    assert settled and {(f.status, f.resolved_by_id) for f in settled} == {(FollowUpStatus.DONE, supervisor.id)}


def test_the_provider_is_told_when_erasure_withdraws_their_referrals(
    client: FlaskClient, login: Login, session: Session, supervisor: User, provider: User, record: Record
) -> None:
    login(supervisor)
    request_erasure(client)
    client.post(f"/erasure-requests/{the_request(session).id}/erase", data=CONFIRMED)
    session.rollback()
    told = session.exec(select(Notification).where(Notification.user_id == provider.id)).all()
    assert [n.kind for n in told].count("referral_withdrawn") == 2  # the sent one and the accepted one
    assert all(record.person.code not in str(n.params) for n in told)
