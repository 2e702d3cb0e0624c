"""Lost-update protection (security.md item 46): two people load the same version of a record and
both save; the first save stands, the second is refused with 409, who changed it and when, and
what the second person typed is still on their screen."""

import re
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm.exc import StaleDataError
from sqlmodel import Session, select

from portal.db import get_engine
from portal.models import (
    Area,
    Handover,
    Need,
    NeedStatus,
    Offer,
    Organization,
    Person,
    RecipientKind,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
)
from tests.conftest import consent_to_every_recipient, record_consent, sign_in_with_session

HTMX = {"HX-Request": "true"}
CHANGED = "changed this record at"


@pytest.fixture
def supervisor(make_user: Callable[..., User], grid: Area) -> User:
    return make_user(Role.SUPERVISOR, name="Supervisor Qian", area_id=grid.id)


@pytest.fixture
def person(session: Session, caseworker: User, grid: Area) -> Person:
    person = Person(code="XA-V-0001", full_name="原来的名字", caseworker_id=caseworker.id, area_id=grid.id)
    session.add(person)
    session.commit()
    return person


@pytest.fixture
def need(session: Session, person: Person) -> Need:
    need = Need(person_id=person.id, category="counselling", description="想参加小组辅导。")
    session.add(need)
    session.commit()
    return need


def signed_in(app: Flask, session: Session, user: User) -> FlaskClient:
    """A second browser (or tab): its own cookies, its own server-side session."""
    return sign_in_with_session(app.test_client(), session, user)


def version_in(html: str, action: str | None = None) -> str:
    """The version the form posting to `action` (or the page's only form) carries, as rendered."""
    start = rf'action="{re.escape(action)}"' if action else "<form"
    found = re.search(rf'{start}[^>]*>(?:(?!</form>).)*?name="version" value="(\d+)"', html, re.S)
    assert found, f"no version in the form for {action}"
    return found.group(1)


def person_form(areas_id: object, name: str, version: str) -> dict[str, str]:
    return {"full_name": name, "area_id": str(areas_id), "version": version}


# --- A person's profile ----------------------------------------------------------------------


def test_the_second_of_two_profile_saves_on_one_version_is_refused_and_keeps_its_typing(
    app: Flask, session: Session, caseworker: User, person: Person, grid: Area
) -> None:
    first, second = signed_in(app, session, caseworker), signed_in(app, session, caseworker)
    url = f"/people/{person.id}/edit"
    loaded_first = version_in(first.get(url).get_data(as_text=True))
    loaded_second = version_in(second.get(url).get_data(as_text=True))
    assert loaded_first == loaded_second == "1"

    saved = first.post(url, data=person_form(grid.id, "第一次保存", loaded_first))
    assert saved.status_code == 303
    refused = second.post(url, data=person_form(grid.id, "第二次保存", loaded_second))
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "Zhao Min" in page and CHANGED in page
    assert 'value="第二次保存"' in page  # nothing typed is lost
    assert version_in(page) == "2"  # saving again now is a deliberate choice over the first save

    session.refresh(person)
    assert (person.full_name, person.version) == ("第一次保存", 2)


def test_a_supervisors_legal_hold_moves_the_version_under_an_open_edit_form(
    app: Flask, session: Session, caseworker: User, supervisor: User, person: Person, grid: Area
) -> None:
    """Writes without a form of their own (a legal hold) move the version too: the counter is
    SQLAlchemy's, bumped at every update of the row."""
    editor = signed_in(app, session, caseworker)
    loaded = version_in(editor.get(f"/people/{person.id}/edit").get_data(as_text=True))
    hold = {"legal_hold": "on", "legal_hold_reason": "Court case pending"}
    assert signed_in(app, session, supervisor).post(f"/people/{person.id}/legal-hold", data=hold).status_code == 303
    refused = editor.post(f"/people/{person.id}/edit", data=person_form(grid.id, "改了名字", loaded))
    assert refused.status_code == 409 and "Supervisor Qian" in refused.get_data(as_text=True)
    session.refresh(person)
    assert person.full_name == "原来的名字" and person.legal_hold


def test_five_simultaneous_saves_on_one_version_keep_exactly_one(
    app: Flask, session: Session, caseworker: User, person: Person, grid: Area
) -> None:
    """Real concurrency, on both databases: the row lock (FOR UPDATE, or SQLite's BEGIN IMMEDIATE)
    orders the saves, and only the first one finds the version it was loaded at."""
    clients = [signed_in(app, session, caseworker) for _ in range(5)]
    start = threading.Barrier(len(clients))
    statuses: dict[str, int] = {}

    def save(client: FlaskClient, name: str) -> None:
        start.wait()
        statuses[name] = client.post(f"/people/{person.id}/edit", data=person_form(grid.id, name, "1")).status_code

    threads = [threading.Thread(target=save, args=(c, f"名字{i}")) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses.values()) == [303, 409, 409, 409, 409]
    (winner,) = [name for name, status in statuses.items() if status == 303]
    session.refresh(person)
    assert (person.full_name, person.version) == (winner, 2)


def test_a_malformed_version_is_a_field_error_not_a_server_error(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    caseworker: User,
    person: Person,
    grid: Area,
) -> None:
    login(caseworker)
    for bad in ("abc", "-1", "0", "1.5", "9" * 30):
        response = client.post(f"/people/{person.id}/edit", data=person_form(grid.id, "新名字", bad))
        assert response.status_code == 422, bad
    session.refresh(person)
    assert person.full_name == "原来的名字"


# --- A need's status -------------------------------------------------------------------------


def test_the_second_of_two_need_status_changes_on_one_version_is_refused(
    app: Flask, session: Session, caseworker: User, person: Person, need: Need
) -> None:
    first, second = signed_in(app, session, caseworker), signed_in(app, session, caseworker)
    action = f"/people/needs/{need.id}/status"
    loaded = version_in(first.get(f"/people/{person.id}").get_data(as_text=True), action)
    assert version_in(second.get(f"/people/{person.id}").get_data(as_text=True), action) == loaded
    assert first.post(action, data={"status": "met", "version": loaded}).status_code == 303
    refused = second.post(action, data={"status": "closed", "version": loaded}, headers=HTMX)
    assert refused.status_code == 409 and CHANGED in refused.get_data(as_text=True)
    session.refresh(need)
    assert need.status == NeedStatus.MET


# --- Consent revocation ----------------------------------------------------------------------


def test_the_second_revocation_learns_who_revoked_first(
    app: Flask, session: Session, caseworker: User, supervisor: User, person: Person
) -> None:
    consent = record_consent(session, person, kind=RecipientKind.NGO)
    ledger = f"/people/{person.id}/consents"
    action = f"{ledger}/{consent.id}/revoke"
    by_caseworker, by_supervisor = signed_in(app, session, caseworker), signed_in(app, session, supervisor)
    loaded = version_in(by_caseworker.get(ledger).get_data(as_text=True), action)
    assert version_in(by_supervisor.get(ledger).get_data(as_text=True), action) == loaded

    assert by_caseworker.post(action, data={"version": loaded}).status_code == 303
    refused = by_supervisor.post(action, data={"version": loaded}, headers=HTMX)
    assert refused.status_code == 409
    assert "Zhao Min" in refused.get_data(as_text=True) and CHANGED in refused.get_data(as_text=True)
    session.refresh(consent)
    assert consent.revoked_by_id == caseworker.id and consent.version == 2


# --- Referral steps --------------------------------------------------------------------------


@pytest.fixture
def offer(
    make_organization: Callable[..., Organization], make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> Offer:
    """An NGO's offer; two of its staff (Provider Wu and Provider Ma) answer its referrals."""
    ngo = make_organization(name="启明社工")
    make_user(Role.PROVIDER, organization=ngo, name="Provider Wu", email="wu@ngo.example")
    make_user(Role.PROVIDER, organization=ngo, name="Provider Ma", email="ma@ngo.example")
    return make_offer(make_user(Role.PROVIDER, organization=ngo), category="counselling", capacity=2)


def staff(session: Session, email: str) -> User:
    return session.exec(select(User).where(User.email == email)).one()


def referral_in(session: Session, need: Need, offer: Offer, status: ReferralStatus) -> Referral:
    person = session.get(Person, need.person_id)
    assert person is not None
    consent_to_every_recipient(session, person)
    referral = Referral(need_id=need.id, offer_id=offer.id, status=status)
    session.add(referral)
    session.commit()
    return referral


def test_two_staff_answering_one_referral_at_once_keep_the_first_answer(
    app: Flask, session: Session, need: Need, offer: Offer
) -> None:
    referral = referral_in(session, need, offer, ReferralStatus.SENT)
    wu, ma = (
        signed_in(app, session, staff(session, "wu@ngo.example")),
        signed_in(app, session, staff(session, "ma@ngo.example")),
    )
    action = f"/referrals/{referral.id}/act"
    loaded = version_in(wu.get("/referrals/inbox").get_data(as_text=True), action)
    assert version_in(ma.get("/referrals/inbox").get_data(as_text=True), action) == loaded

    assert wu.post(action, data={"action": "accept", "version": loaded}, headers=HTMX).status_code == 200
    refused = ma.post(action, data={"action": "decline", "reason": "no_capacity", "version": loaded}, headers=HTMX)
    assert refused.status_code == 409
    assert "Provider Wu" in refused.get_data(as_text=True) and CHANGED in refused.get_data(as_text=True)
    session.refresh(referral)
    session.refresh(offer)
    assert referral.status == ReferralStatus.ACCEPTED and offer.capacity == 1


def test_a_withdrawal_on_a_referral_accepted_meanwhile_is_refused(
    app: Flask, session: Session, caseworker: User, person: Person, need: Need, offer: Offer
) -> None:
    """The state machine would allow withdrawing an accepted referral; the caseworker's form was
    shown while it was only sent, so the decision is not taken on a state they did not see."""
    referral = referral_in(session, need, offer, ReferralStatus.SENT)
    case = signed_in(app, session, caseworker)
    action = f"/referrals/{referral.id}/act"
    loaded = version_in(case.get(f"/people/{person.id}").get_data(as_text=True), action)
    provider = signed_in(app, session, staff(session, "wu@ngo.example"))
    assert provider.post(action, data={"action": "accept", "version": loaded}).status_code == 303

    refused = case.post(action, data={"action": "withdraw", "reason": "found_elsewhere", "version": loaded})
    assert refused.status_code == 303  # back to the person's page, with the reason in a message
    page = case.get(refused.headers["Location"]).get_data(as_text=True)
    assert "Provider Wu" in page and CHANGED in page
    session.refresh(referral)
    assert referral.status == ReferralStatus.ACCEPTED


def test_two_approvals_of_one_proposed_referral_send_it_once(
    app: Flask, session: Session, caseworker: User, person: Person, need: Need, offer: Offer
) -> None:
    referral = referral_in(session, need, offer, ReferralStatus.PROPOSED)
    first, second = signed_in(app, session, caseworker), signed_in(app, session, caseworker)
    action = f"/referrals/{referral.id}/act"
    loaded = version_in(first.get(f"/people/{person.id}").get_data(as_text=True), action)
    assert version_in(second.get(f"/people/{person.id}").get_data(as_text=True), action) == loaded
    approval = {"action": "approve", "version": loaded, "summary": "Looking for a kitchen job."}
    assert first.post(action, data=approval).status_code == 303
    refused = second.post(action, data=approval)
    assert CHANGED in second.get(refused.headers["Location"]).get_data(as_text=True)
    session.commit()
    session.refresh(referral)
    steps = session.exec(select(ReferralEvent).where(ReferralEvent.referral_id == referral.id)).all()
    assert referral.status == ReferralStatus.SENT
    assert sorted(str(step.to_status) for step in steps) == ["approved", "sent"]


def test_a_malformed_referral_version_is_refused_with_400(
    app: Flask, session: Session, need: Need, offer: Offer
) -> None:
    referral = referral_in(session, need, offer, ReferralStatus.SENT)
    provider = signed_in(app, session, staff(session, "wu@ngo.example"))
    assert provider.post(f"/referrals/{referral.id}/act", data={"action": "accept", "version": "x"}).status_code == 400
    session.refresh(referral)
    assert referral.status == ReferralStatus.SENT


# --- The version counter itself ----------------------------------------------------------------


def test_an_update_from_a_stale_read_fails_instead_of_overwriting(app: Flask, person: Person) -> None:
    """Without any form: SQLAlchemy's counter refuses the second of two updates read at one version."""
    engine = get_engine(app)
    with Session(engine, expire_on_commit=False) as first, Session(engine, expire_on_commit=False) as second:
        mine = first.get(Person, person.id)
        first.commit()  # end the read: SQLite holds its write lock from the first statement
        theirs = second.get(Person, person.id)
        second.commit()
        assert mine is not None and theirs is not None
        mine.full_name = "先保存"
        first.commit()
        theirs.full_name = "后保存"
        with pytest.raises(StaleDataError):
            second.commit()
    with Session(engine) as fresh:
        stored = fresh.get(Person, person.id)
        assert stored is not None and (stored.full_name, stored.version) == ("先保存", 2)


def test_no_bulk_update_or_delete_touches_a_versioned_table() -> None:
    """Bulk statements bypass the version counter (SQLAlchemy's warning): none may name these tables.
    `portal.versions.bulk_update`, which moves the counter itself, is the one way to write many rows.
    The exception, marked `# versions: derived`, writes only a column derived from other tables that
    no form writes (a person's last contact), so no edit can lose it to a stale version."""
    versioned = "Person|Need|Referral|Consent|Offer"
    orm = rf"\b(?:update|delete)\(\s*(?:{versioned})\b"
    sql = r"\b(?:UPDATE|DELETE FROM)\s+\"?(?:person|need|referral|consent)\b"
    bulk = re.compile(f"{orm}|{sql}")
    portal = Path(__file__).resolve().parents[2] / "portal"
    offenders = [
        f"{path.relative_to(portal)}:{number}"
        for path in sorted(portal.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if bulk.search(line) and not line.endswith("# versions: derived")
    ]
    assert offenders == []


def test_a_conflict_caught_by_the_counter_alone_is_a_409_page(
    app: Flask, session: Session, caseworker: User, person: Person, grid: Area, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write with no form version to compare can still lose the race at its UPDATE: the user gets
    the conflict page, not a server error."""

    def lost_the_race(*_args: object) -> None:
        raise StaleDataError("UPDATE statement on table 'person' expected to update 1 row(s); 0 were matched.")

    monkeypatch.setattr("portal.people.services.update_person", lost_the_race)
    response = signed_in(app, session, caseworker).post(
        f"/people/{person.id}/edit", data=person_form(grid.id, "新名字", "1")
    )
    assert response.status_code == 409 and "Reload it and try again" in response.text


def test_a_legal_hold_on_a_profile_changed_meanwhile_is_refused_and_keeps_the_reason(
    app: Flask, session: Session, caseworker: User, supervisor: User, person: Person, grid: Area
) -> None:
    desk = signed_in(app, session, supervisor)
    action = f"/people/{person.id}/legal-hold"
    loaded = version_in(desk.get(f"/people/{person.id}").get_data(as_text=True), action)
    editor = signed_in(app, session, caseworker)
    assert editor.post(f"/people/{person.id}/edit", data=person_form(grid.id, "新名字", loaded)).status_code == 303

    hold = {"legal_hold": "1", "legal_hold_reason": "法院调取材料", "version": loaded}
    refused = desk.post(action, data=hold)
    assert refused.status_code == 409
    page = refused.get_data(as_text=True)
    assert "Zhao Min" in page and CHANGED in page and "法院调取材料" in page
    session.refresh(person)
    assert not person.legal_hold and person.full_name == "新名字"


def test_a_hand_over_sent_twice_hands_over_once(
    app: Flask, session: Session, supervisor: User, person: Person, make_user: Callable[..., User]
) -> None:
    colleague = make_user(Role.CASEWORKER, name="Sun Lei")
    desk = signed_in(app, session, supervisor)
    action = f"/people/{person.id}/handover"
    loaded = version_in(desk.get(f"/people/{person.id}").get_data(as_text=True), action)
    form = {"to_user_id": str(colleague.id), "note": "家访时间改到周末", "version": loaded}
    assert desk.post(action, data=form).status_code == 303
    again = desk.post(action, data=form)
    assert CHANGED in desk.get(again.headers["Location"]).get_data(as_text=True)
    session.commit()
    assert len(session.exec(select(Handover).where(Handover.person_id == person.id)).all()) == 1
