"""The referral lifecycle: every legal step, every illegal one refused, reasons, capacity, re-proposal."""

import threading
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlmodel import Session, select

from portal.db import get_engine
from portal.exceptions import IllegalTransition, MissingReason, NoPlaceLeft, NotAllowed
from portal.matches.services import LiveIndex
from portal.models import (
    Area,
    ConsentPurpose,
    DataCategory,
    Need,
    Notification,
    Offer,
    Organization,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
)
from portal.referrals import services
from portal.referrals.states import MOVES
from tests.conftest import consent_to_every_recipient, record_consent, sign_in_with_session

S = ReferralStatus
D = DataCategory


@pytest.fixture
def caseworker(make_user: Callable[..., User]) -> User:
    return make_user(Role.CASEWORKER)


@pytest.fixture
def provider(make_user: Callable[..., User]) -> User:
    return make_user(Role.PROVIDER)


@pytest.fixture
def need(session: Session, caseworker: User) -> Need:
    person = Person(
        code="XA-T-0100",
        full_name="王 测试",
        caseworker_id=caseworker.id,
        birth_date=date(1988, 3, 1),
        gender="male",
        languages=["zh"],
        latitude=34.26,
        longitude=108.94,
        max_travel_km=15,
        programme="community_rehab",
        programme_start=date(2025, 1, 1),
        skills=["cooking"],
    )
    session.add(person)
    session.commit()
    consent_to_every_recipient(session, person)
    need = Need(person_id=person.id, category="employment", urgency=3, description="想找后厨的工作，切配炒菜都会。")
    session.add(need)
    session.commit()
    return need


def kitchen(make_offer: Callable[..., Offer], provider: User, **fields: object) -> Offer:
    return make_offer(
        provider,
        category="employment",
        title=fields.pop("title", "后厨帮工"),
        description="餐馆后厨切配、炒菜。",
        languages=["zh"],
        latitude=34.265,
        longitude=108.90,
        capacity=fields.pop("capacity", 2),
        **fields,
    )


def referral_in(session: Session, need: Need, offer: Offer, status: ReferralStatus) -> Referral:
    referral = Referral(need_id=need.id, offer_id=offer.id, status=status)
    session.add(referral)
    session.commit()
    return referral


def test_approving_a_match_sends_a_referral_to_the_provider(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    offer = kitchen(make_offer, provider)
    referral = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, services.Policy())
    assert referral.status == S.SENT and referral.respond_by is not None
    steps = [e.to_status for e in session.exec(select(ReferralEvent).where(ReferralEvent.referral_id == referral.id))]
    assert sorted(steps) == sorted([S.PROPOSED, S.APPROVED, S.SENT])
    told = session.exec(select(Notification).where(Notification.user_id == provider.id)).all()
    assert [n.kind for n in told] == ["referral_received"]


def test_a_programme_needing_supervisor_approval_waits_for_the_supervisor(
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    offer = kitchen(make_offer, provider)
    policy = services.Policy(supervisor_approval=True)
    referral = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, policy)
    assert referral.status == S.PROPOSED
    with pytest.raises(NotAllowed):
        services.transition(session, referral, "approve", caseworker, policy=policy)
    grid = Area(level="grid", name_en="Grid 7", name_zh="第七网格", code="T-G7")
    session.add(grid)
    session.commit()
    person = session.get(Person, need.person_id)
    assert person is not None
    person.area_id = grid.id
    session.commit()
    with pytest.raises(NotAllowed):  # a supervisor of another area
        services.transition(session, referral, "approve", make_user(Role.SUPERVISOR), policy=policy)
    supervisor = make_user(Role.SUPERVISOR, area_id=grid.id)
    assert services.transition(session, referral, "approve", supervisor, policy=policy).status == S.APPROVED


def test_an_ineligible_offer_cannot_be_approved(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    full = kitchen(make_offer, provider, capacity=0)
    with pytest.raises(IllegalTransition):
        services.approve_match(session, LiveIndex(), caseworker, need, full.id, services.Policy())
    assert session.exec(select(Referral)).first() is None


def test_another_caseworker_cannot_approve(
    session: Session, need: Need, provider: User, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    offer = kitchen(make_offer, provider)
    with pytest.raises(NotAllowed):
        services.approve_match(session, LiveIndex(), make_user(Role.CASEWORKER), need, offer.id, services.Policy())


def test_the_whole_lifecycle_to_an_outcome(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    offer = kitchen(make_offer, provider, capacity=2)
    referral = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, services.Policy())
    services.transition(session, referral, "waitlist", provider)
    services.transition(session, referral, "accept", provider)
    session.refresh(offer)
    assert offer.capacity == 1
    services.transition(session, referral, "start", provider)
    done = services.transition(session, referral, "complete", provider, reason="got_help", note="Started Monday")
    assert done.status == S.COMPLETED
    events = services.timeline(session, [need.id])[0][2]
    assert [e.to_status for e in events][-1] == S.COMPLETED and events[-1].reason_code == "got_help"
    assert all(e.actor_id for e in events)


ILLEGAL = [(action, status) for action, move in sorted(MOVES.items()) for status in S if status not in move.sources]


@pytest.mark.parametrize(("action", "status"), ILLEGAL)
def test_every_illegal_transition_is_refused(
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
    status: ReferralStatus,
    action: str,
) -> None:
    move = MOVES[action]
    offer = kitchen(make_offer, provider)
    referral = referral_in(session, need, offer, status)
    actor = {"case": caseworker, "provider": provider, "system": None}[move.side]
    with pytest.raises(IllegalTransition):
        services.transition(session, referral, action, actor, reason=(move.reasons or ("",))[0])
    session.refresh(referral)
    assert referral.status == status


@pytest.mark.parametrize(("action", "status"), [("decline", S.SENT), ("complete", S.IN_PROGRESS), ("withdraw", S.SENT)])
def test_steps_that_need_a_reason_refuse_without_one(
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
    action: str,
    status: ReferralStatus,
) -> None:
    referral = referral_in(session, need, kitchen(make_offer, provider), status)
    actor = caseworker if action == "withdraw" else provider
    with pytest.raises(MissingReason):
        services.transition(session, referral, action, actor, reason="because")


def test_providers_act_only_on_referrals_to_their_own_offers(
    session: Session, need: Need, provider: User, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    referral = referral_in(session, need, kitchen(make_offer, provider), S.SENT)
    with pytest.raises(NotAllowed):
        services.transition(session, referral, "accept", make_user(Role.PROVIDER))
    with pytest.raises(NotAllowed):
        services.transition(session, referral, "withdraw", provider, reason="other")


def test_withdrawing_an_accepted_referral_gives_the_place_back(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    offer = kitchen(make_offer, provider, capacity=1)
    referral = referral_in(session, need, offer, S.SENT)
    services.transition(session, referral, "accept", provider)
    services.transition(session, referral, "withdraw", caseworker, reason="client_request")
    session.refresh(offer)
    assert offer.capacity == 1


def test_a_decline_proposes_the_next_best_offer(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    first = kitchen(make_offer, provider, title="后厨帮工（一）")
    second = kitchen(make_offer, provider, title="食堂厨师（二）")
    live = LiveIndex()
    referral = services.approve_match(session, live, caseworker, need, first.id, services.Policy())
    services.transition(session, referral, "decline", provider, reason="no_capacity", live=live)
    proposed = session.exec(select(Referral).where(Referral.status == S.PROPOSED)).one()
    assert proposed.offer_id == second.id and proposed.created_by_id is None
    kinds = {n.kind for n in session.exec(select(Notification).where(Notification.user_id == caseworker.id))}
    assert {"referral_decline", "referral_proposed"} <= kinds


def test_twenty_concurrent_acceptances_of_the_last_place_give_exactly_one(
    app: Flask, session: Session, need: Need, provider: User, make_offer: Callable[..., Offer]
) -> None:
    """Capacity is real on both databases: the row lock (FOR UPDATE, or SQLite's BEGIN IMMEDIATE)
    lets exactly one acceptance take the last place; the others are told there is none."""
    offer = kitchen(make_offer, provider, capacity=1)
    referrals = [referral_in(session, need, offer, S.SENT) for _ in range(20)]
    engine = get_engine(app)
    start = threading.Barrier(len(referrals))
    outcomes: list[str] = []

    def accept(referral_id: object) -> None:
        with Session(engine, expire_on_commit=False) as own:
            start.wait()  # all twenty begin together
            referral = own.get(Referral, referral_id)
            actor = own.get(User, provider.id)
            assert referral is not None and actor is not None
            try:
                services.transition(own, referral, "accept", actor)
                outcomes.append("accepted")
            except NoPlaceLeft:
                outcomes.append("full")
            except Exception as exc:  # noqa: BLE001 - any other failure is the test's failure
                outcomes.append(repr(exc))

    threads = [threading.Thread(target=accept, args=(r.id,)) for r in referrals]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["accepted"] + ["full"] * 19
    with Session(engine) as fresh:
        assert fresh.get(Offer, offer.id).capacity == 0  # type: ignore[union-attr]
        accepted = fresh.exec(select(Referral).where(Referral.status == S.ACCEPTED)).all()
        assert len(accepted) == 1


HTMX = {"HX-Request": "true"}


def test_the_inbox_shows_the_code_and_the_need_but_not_the_name(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    provider: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    referral_in(session, need, kitchen(make_offer, provider), S.SENT)
    referral_in(session, need, kitchen(make_offer, make_user(Role.PROVIDER), title="别家的岗位"), S.SENT)
    login(provider)
    html = client.get("/referrals/inbox").get_data(as_text=True)
    assert "XA-T-0100" in html and "想找后厨的工作" in html and "后厨帮工" in html
    assert "王 测试" not in html and "别家的岗位" not in html


def test_the_provider_accepts_inline_and_without_javascript(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    offer = kitchen(make_offer, provider, capacity=2)
    first, second = referral_in(session, need, offer, S.SENT), referral_in(session, need, offer, S.SENT)
    login(provider)
    response = client.post(f"/referrals/{first.id}/act", data={"action": "accept"}, headers=HTMX)
    assert response.status_code == 200 and response.get_data(as_text=True).lstrip().startswith('<section id="inbox"')
    response = client.post(f"/referrals/{second.id}/act", data={"action": "waitlist"})
    assert response.status_code == 303 and response.headers["Location"] == "/referrals/inbox"
    declined = client.post(f"/referrals/{second.id}/act", data={"action": "decline"}, headers=HTMX)
    assert declined.status_code == 422 and "Choose a reason" in declined.get_data(as_text=True)
    session.refresh(first)
    session.refresh(second)
    assert (first.status, second.status) == (S.ACCEPTED, S.WAITLISTED)


def test_the_provider_cannot_withdraw_and_others_cannot_act(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    provider: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    referral = referral_in(session, need, kitchen(make_offer, provider), S.SENT)
    login(provider)
    assert client.post(f"/referrals/{referral.id}/act", data={"action": "withdraw"}).status_code == 400
    login(make_user(Role.PROVIDER))
    assert client.post(f"/referrals/{referral.id}/act", data={"action": "accept"}).status_code == 404
    login(make_user(Role.CASEWORKER))
    assert client.post(f"/referrals/{referral.id}/act", data={"action": "withdraw"}).status_code == 404


def test_the_caseworker_withdraws_from_the_persons_page(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    referral = referral_in(session, need, kitchen(make_offer, provider), S.SENT)
    login(caseworker)
    response = client.post(f"/referrals/{referral.id}/act", data={"action": "withdraw", "reason": "found_elsewhere"})
    assert response.status_code == 303 and response.headers["Location"] == f"/people/{need.person_id}"
    session.refresh(referral)
    assert referral.status == S.WITHDRAWN


def test_the_persons_page_shows_each_referral_with_its_steps(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    offer = kitchen(make_offer, provider, title="后厨帮工（时间线）")
    referral = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, services.Policy())
    services.transition(session, referral, "decline", provider, reason="missing_documents", note="需要身份证复印件")
    login(caseworker)
    html = client.get(f"/people/{need.person_id}").get_data(as_text=True)
    assert "后厨帮工（时间线）" in html
    for step in ("Proposed", "Approved", "Sent to provider", "Declined", "Documents missing", "需要身份证复印件"):
        assert step in html
    needs = html[html.index('<section id="needs"') :]
    needs = needs[: needs.index("</section>")]
    assert "后厨帮工（时间线）" in needs and "Declined" in needs  # the case plan: each need with its referrals


def test_a_proposal_made_after_a_decline_is_approved_from_the_persons_page(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    first, second = kitchen(make_offer, provider, title="一号后厨"), kitchen(make_offer, provider, title="二号后厨")
    live = LiveIndex()
    referral = services.approve_match(session, live, caseworker, need, first.id, services.Policy())
    services.transition(session, referral, "decline", provider, reason="no_capacity", live=live)
    proposed = session.exec(select(Referral).where(Referral.status == S.PROPOSED)).one()
    assert proposed.offer_id == second.id
    login(caseworker)
    session.commit()  # end the test's read snapshot
    assert client.post(f"/referrals/{proposed.id}/act", data={"action": "approve"}).status_code == 303
    session.refresh(proposed)
    assert proposed.status == S.SENT


@pytest.mark.parametrize(("method", "shown"), [("phone", "13800000000"), ("via_caseworker", "Caseworker Tester")])
def test_the_provider_gets_the_allowed_contact_only_after_accepting(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
    method: str,
    shown: str,
) -> None:
    person = session.get(Person, need.person_id)
    assert person is not None
    person.phone = "13800000000"
    session.commit()
    organization = session.get(Organization, provider.organization_id)
    record_consent(
        session, person, organization=organization, purpose=ConsentPurpose.EMPLOYMENT, categories=(D.CONTACT,)
    )
    offer = kitchen(make_offer, provider)
    referral = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, services.Policy(), method)
    login(provider)
    before = client.get("/referrals/inbox").get_data(as_text=True)
    assert "13800000000" not in before and "Caseworker Tester" not in before
    client.post(f"/referrals/{referral.id}/act", data={"action": "accept"})
    after = client.get("/referrals/inbox").get_data(as_text=True)
    assert shown in after
    if method == "via_caseworker":
        assert "13800000000" not in after


def test_the_answer_deadline_depends_on_the_offers_category(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    offer = kitchen(make_offer, provider)
    policy = services.Policy(response_days={"default": 7, "employment": 2})
    referral = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, policy)
    assert referral.respond_by is not None
    days = (referral.respond_by - referral.updated_at).total_seconds() / 86400
    assert 1.99 < days < 2.01


def test_a_decline_proposes_nothing_for_a_person_who_refused_ranked_suggestions(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    """PIPL Art. 24: no decision made by the machine alone; the caseworker chooses with them."""
    first = kitchen(make_offer, provider, title="后厨帮工（一）")
    kitchen(make_offer, provider, title="食堂厨师（二）")
    person = session.get(Person, need.person_id)
    assert person is not None
    person.refuses_ranked_suggestions = True
    session.add(person)
    session.commit()
    live = LiveIndex()
    referral = services.approve_match(session, live, caseworker, need, first.id, services.Policy())
    services.transition(session, referral, "decline", provider, reason="no_capacity", live=live)
    assert session.exec(select(Referral).where(Referral.status == S.PROPOSED)).all() == []


def _someone_referred(session: Session, caseworker: User, offer: Offer, n: int, status: ReferralStatus) -> None:
    person = Person(code=f"XA-Q-{n:04d}", full_name=f"测试 {n}", caseworker_id=caseworker.id, phone="13800000000")
    session.add(person)
    session.commit()
    consent_to_every_recipient(session, person)
    need = Need(person_id=person.id, category="employment", urgency=2, description="想找后厨的工作。")
    session.add(need)
    session.commit()
    referral_in(session, need, offer, status)


def test_the_inbox_reads_the_same_number_of_queries_for_three_referrals_or_twelve(
    app: Flask, client: FlaskClient, session: Session, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    """Each referral's consent, override and caseworker are read for the whole inbox at once."""
    caseworker, provider = make_user(Role.CASEWORKER), make_user(Role.PROVIDER)
    offer = kitchen(make_offer, provider, capacity=20)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    def queries_for_inbox() -> tuple[int, str]:
        statements.clear()
        event.listen(get_engine(app), "before_cursor_execute", count)
        try:
            page = client.get("/referrals/inbox").get_data(as_text=True)
        finally:
            event.remove(get_engine(app), "before_cursor_execute", count)
        return len(statements), page

    for n in range(3):
        _someone_referred(session, caseworker, offer, n, S.SENT if n % 2 else S.ACCEPTED)
    sign_in_with_session(client, session, provider)
    few, page = queries_for_inbox()
    assert page.count("XA-Q-") == 3
    for n in range(3, 12):
        _someone_referred(session, caseworker, offer, n, S.SENT if n % 2 else S.ACCEPTED)
    many, page = queries_for_inbox()
    assert page.count("XA-Q-") == 12
    assert many == few


def test_the_provider_hears_of_a_withdrawal_only_of_a_referral_they_had(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    sent = referral_in(session, need, kitchen(make_offer, provider, title="后厨帮工（一）"), S.SENT)
    proposed = referral_in(session, need, kitchen(make_offer, provider, title="食堂厨师（二）"), S.PROPOSED)
    services.transition(session, proposed, "withdraw", caseworker, reason="client_request")
    services.transition(session, sent, "withdraw", caseworker, reason="client_request")
    told = session.exec(select(Notification).where(Notification.user_id == provider.id)).all()
    assert [(n.kind, n.params["offer"]) for n in told] == [("referral_withdrawn", "后厨帮工（一）")]
