"""The referral lifecycle: every legal step, every illegal one refused, reasons, capacity, re-proposal."""

import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal.audit.services import trail_of
from portal.consents.services import valid_consent
from portal.crypto import aad, keyring_of
from portal.db import get_engine
from portal.demo import load_demo_data
from portal.exceptions import AlreadyReferred, IllegalTransition, MissingReason, NoPlaceLeft, NotAllowed
from portal.matches.services import LiveIndex
from portal.migrations import downgrade, upgrade
from portal.models import (
    Area,
    ConsentOverride,
    ConsentPurpose,
    DataCategory,
    Need,
    Notification,
    Offer,
    Organization,
    OverrideBasis,
    Person,
    RecipientKind,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
)
from portal.referrals import services
from portal.referrals.states import MOVES
from tests.conftest import consent_to_every_recipient, keyed, record_consent, revision_before, sign_in_with_session
from tests.portal.days import DaysFromToday, dated

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


# What the caseworker wrote for the provider when sending; the description stays with the case.
SUMMARY = "可以做后厨工作"


def referral_in(session: Session, need: Need, offer: Offer, status: ReferralStatus) -> Referral:
    referral = Referral(need_id=need.id, offer_id=offer.id, status=status, summary=SUMMARY)
    session.add(referral)
    session.commit()
    return referral


def another_need(session: Session, need: Need) -> Need:
    """A second need of the same person: each need has at most one open referral to an offer."""
    other = Need(person_id=need.person_id, category=need.category, description=need.description)
    session.add(other)
    session.commit()
    return other


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
    told = session.exec(select(Notification).where(Notification.user_id == caseworker.id)).all()
    (outcome,) = [n for n in told if n.kind == "referral_complete"]
    assert outcome.params["reason"] == "got_help"  # the caseworker reads which outcome


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
    referrals = [referral_in(session, another_need(session, need), offer, S.SENT) for _ in range(20)]
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
    assert "XA-T-0100" in html and SUMMARY in html and "后厨帮工" in html
    assert "王 测试" not in html and "别家的岗位" not in html and "想找后厨的工作" not in html


def test_the_provider_accepts_inline_and_without_javascript(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    offer = kitchen(make_offer, provider, capacity=2)
    first, second = (
        referral_in(session, need, offer, S.SENT),
        referral_in(session, another_need(session, need), offer, S.SENT),
    )
    login(provider)
    response = client.post(f"/referrals/{first.id}/act", data={"action": "accept"}, headers=HTMX)
    item = response.get_data(as_text=True)
    assert response.status_code == 200 and item.lstrip().startswith(f'<li class="card" id="referral-{first.id}"')
    assert ">Accepted<" in item and str(second.id) not in item  # the one referral, in place
    assert (
        '<div id="inbox-status" hx-swap-oob="true"><p class="flash" role="status">Referral to 后厨帮工 accepted.'
        in item
    )
    response = client.post(f"/referrals/{second.id}/act", data={"action": "waitlist"})
    assert response.status_code == 303 and response.headers["Location"] == "/referrals/inbox"
    declined = client.post(f"/referrals/{second.id}/act", data={"action": "decline"}, headers=HTMX)
    assert declined.status_code == 422 and "Choose a reason" in declined.get_data(as_text=True)
    session.refresh(first)
    session.refresh(second)
    assert (first.status, second.status) == (S.ACCEPTED, S.WAITLISTED)


def _waiting_and_accepted(
    session: Session, need: Need, offer: Offer, waiting: int, accepted: int
) -> tuple[list[Referral], list[Referral]]:
    """Referrals of one person (a need each) to one offer: `waiting` sent ones, deadlines a day
    apart in the reverse order of making, and `accepted` ones."""
    sent = []
    for n in range(waiting):
        referral = referral_in(session, another_need(session, need), offer, S.SENT)
        referral.respond_by = datetime(2026, 12, 31, tzinfo=UTC) - timedelta(days=n)
        sent.append(referral)
    taken = [referral_in(session, another_need(session, need), offer, S.ACCEPTED) for _n in range(accepted)]
    session.commit()
    return sent, taken


def _walk_inbox(client: FlaskClient, url: str) -> list[list[str]]:
    """Every page of the inbox from `url`, following its "next page" links: the referral ids of each."""
    pages = []
    while url:
        html = client.get(url).get_data(as_text=True)
        pages.append(re.findall(r'<li class="card" id="referral-([0-9a-f-]+)"', html))
        found = re.search(r'<a href="([^"]+)"[^>]* rel="next">', html)
        url = found.group(1).replace("&amp;", "&") if found else ""
    return pages


def test_the_provider_finds_every_waiting_referral_page_by_page_deadline_first(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    sent, taken = _waiting_and_accepted(session, need, kitchen(make_offer, provider, capacity=60), 30, 3)
    deadline_first = [str(r.id) for r in sorted(sent, key=lambda r: r.respond_by or r.created_at)]
    login(provider)
    waiting = _walk_inbox(client, "/referrals/inbox?state=waiting")
    assert [len(page) for page in waiting] == [25, 5]
    assert sum(waiting, []) == deadline_first
    everything = sum(_walk_inbox(client, "/referrals/inbox"), [])
    assert everything[:30] == deadline_first and set(everything[30:]) == {str(r.id) for r in taken}
    html = client.get("/referrals/inbox").get_data(as_text=True)
    assert "Waiting for your answer (30)" in html and "Accepted (3)" in html and "All (33)" in html
    assert 'href="/referrals/inbox?state=accepted"' in html  # each filter is a plain link


def test_a_referral_no_consent_covers_any_more_is_neither_listed_nor_counted(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    caseworker: User,
    need: Need,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    offer = kitchen(make_offer, provider, capacity=5)
    referral_in(session, need, offer, S.SENT)
    other = Person(code="XA-T-0200", full_name="李 测试", caseworker_id=caseworker.id)
    session.add(other)
    session.commit()
    consent = record_consent(session, other, kind=RecipientKind.NGO, purpose=ConsentPurpose.EMPLOYMENT)
    theirs = Need(person_id=other.id, category="employment", description="想工作")
    session.add(theirs)
    session.commit()
    revoked = referral_in(session, theirs, offer, S.SENT)
    login(provider)
    assert "Waiting for your answer (2)" in client.get("/referrals/inbox").get_data(as_text=True)
    consent.revoked_at = datetime.now(UTC)
    session.add(consent)
    session.commit()
    html = client.get("/referrals/inbox").get_data(as_text=True)
    assert "Waiting for your answer (1)" in html and "All (1)" in html
    assert "XA-T-0100" in html and "XA-T-0200" not in html and str(revoked.id) not in html


ELSEWHERE = "another organization"


@pytest.mark.parametrize(
    ("consent", "person_fields", "override", "shown"),
    [
        ({"kind": RecipientKind.NGO}, {}, False, True),
        ({"organization": "own"}, {}, False, True),
        ({"organization": ELSEWHERE}, {}, False, False),
        ({"kind": RecipientKind.EMPLOYER}, {}, False, False),
        ({"kind": RecipientKind.NGO, "purpose": ConsentPurpose.EMPLOYMENT}, {}, False, False),
        ({"kind": RecipientKind.NGO, "valid_until": date(2025, 6, 1), "expiry_event": None}, {}, False, False),
        ({"kind": RecipientKind.NGO, "valid_from": DaysFromToday(10)}, {}, False, False),
        ({"kind": RecipientKind.NGO}, {"programme_end": date(2025, 6, 1)}, False, False),
        ({"kind": RecipientKind.NGO}, {"programme_end": DaysFromToday(100)}, False, True),
        (
            {"kind": RecipientKind.NGO, "valid_until": DaysFromToday(30), "expiry_event": None},
            {"programme_end": date(2025, 6, 1)},
            False,
            True,
        ),
        ({"kind": RecipientKind.NGO, "revoked_at": datetime(2026, 1, 1, tzinfo=UTC)}, {}, False, False),
        (None, {}, False, False),
        (None, {}, True, True),
    ],
)
def test_the_inbox_counts_and_lists_exactly_the_referrals_a_consent_or_override_covers(
    session: Session,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
    make_organization: Callable[..., Organization],
    consent: dict[str, object] | None,
    person_fields: dict[str, object],
    override: bool,
    shown: bool,
) -> None:
    """The inbox's SQL condition and the disclosure's own check agree, case by case: a referral is
    never counted and hidden, nor (worse) covered and missing."""
    person = Person(code="XA-T-0300", full_name="赵 测试", caseworker_id=caseworker.id, **dated(person_fields))
    session.add(person)
    session.commit()
    if consent is not None:
        fields = dated(consent)  # a copy: the parameters are shared by both databases' runs
        named = fields.pop("organization", None)
        recipient = {"own": session.get(Organization, provider.organization_id), ELSEWHERE: make_organization()}
        record_consent(session, person, organization=recipient.get(str(named)), **fields)  # type: ignore[arg-type]
    need = Need(person_id=person.id, category="counselling", description="想找人聊聊")
    session.add(need)
    session.commit()
    offer = make_offer(provider)
    referral = referral_in(session, need, offer, S.SENT)
    if override:
        basis = OverrideBasis.MEDICAL_EMERGENCY
        session.add(ConsentOverride(referral_id=referral.id, by_id=caseworker.id, basis=basis, note="夜间危险"))
        session.commit()
    assert (valid_consent(session, person.id, offer) is not None or override) is shown
    found = services.inbox(session, provider)
    assert [item.referral.id for item in found.page.items] == ([referral.id] if shown else [])
    assert found.counts["waiting"] == int(shown)


def test_the_provider_acts_on_a_later_page_and_stays_on_it(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    _waiting_and_accepted(session, need, kitchen(make_offer, provider, capacity=60), 27, 0)
    login(provider)
    first = client.get("/referrals/inbox?state=waiting").get_data(as_text=True)
    later = re.search(r'<a href="([^"]+)"[^>]* rel="next">', first).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    page = client.get(later).get_data(as_text=True)
    shown = re.findall(r'<li class="card" id="referral-([0-9a-f-]+)"', page)
    cursor = later.split("after=")[1]
    assert len(shown) == 2 and f'<input type="hidden" name="after" value="{cursor}">' in page
    form = {"action": "accept", "state": "waiting", "after": cursor}
    response = client.post(f"/referrals/{shown[0]}/act", data=form)
    assert response.status_code == 303 and response.headers["Location"] == later
    assert "Referral to 后厨帮工 accepted." in client.get(later).get_data(as_text=True)
    declined = client.post(
        f"/referrals/{shown[1]}/act", data=form | {"action": "decline", "reason": "no_capacity"}, headers=HTMX
    )
    assert declined.status_code == 200 and "has left your inbox" in declined.get_data(as_text=True)
    assert "Referral to 后厨帮工 declined: No place left." in declined.get_data(as_text=True)
    refused = client.post(f"/referrals/{shown[1]}/act", data=form | {"action": "accept"})
    assert refused.status_code == 404


@pytest.mark.parametrize("query", ["?after=bm90LWEtY3Vyc29y", "?after=%%%", "?state=everything"])
def test_an_inbox_link_the_portal_did_not_write_is_refused_plainly(
    client: FlaskClient, login: Callable[[User], FlaskClient], provider: User, query: str
) -> None:
    login(provider)
    response = client.get(f"/referrals/inbox{query}")
    assert response.status_code == 400 and "not one the portal wrote" in response.get_data(as_text=True)


def test_the_inbox_puts_on_the_trail_the_referrals_shown_and_no_others(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    sent, _taken = _waiting_and_accepted(session, need, kitchen(make_offer, provider, capacity=60), 26, 0)
    latest = max(sent, key=lambda r: r.respond_by or r.created_at)  # the last on the second page
    login(provider)
    pages = _walk_inbox(client, "/referrals/inbox?state=waiting")
    session.rollback()
    assert trail_of(session, [uuid.UUID(pages[0][0])])[0].actor_name == provider.name
    assert [e.action for e in trail_of(session, [latest.id])] == ["list"]  # once, when its page was shown
    client.get("/referrals/inbox?state=waiting")
    session.rollback()
    assert [e.action for e in trail_of(session, [latest.id])] == ["list"]


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
    steps = re.findall(r"<li>([^<]*)</li>", html[html.index('<ol class="steps">') :])[:4]
    # Who took each step: the caseworker proposed, approved and sent; the provider declined.
    assert [step.split(" · ")[2] for step in steps] == [caseworker.name] * 3 + [provider.name]
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
    approval = {"action": "approve", "summary": SUMMARY}
    assert client.post(f"/referrals/{proposed.id}/act", data=approval).status_code == 303
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


# --- One referral per approval (issue 11, item 1) -------------------------------------------------


def _approve_at_once(
    app: Flask, session: Session, caseworker: User, forms: list[dict[str, str]], url: str
) -> list[int]:
    """Each form sent by its own signed-in client in its own thread, all released together."""
    clients = [sign_in_with_session(app.test_client(), session, caseworker) for _ in forms]
    start = threading.Barrier(len(forms))
    answers: list[int] = []

    def send(client: FlaskClient, form: dict[str, str]) -> None:
        start.wait()
        answers.append(client.post(url, data=form, headers=HTMX).status_code)

    threads = [threading.Thread(target=send, args=pair) for pair in zip(clients, forms, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def _referrals_of(app: Flask, need: Need) -> list[Referral]:
    with Session(get_engine(app)) as fresh:
        return list(fresh.exec(select(Referral).where(Referral.need_id == need.id)))


def test_six_simultaneous_approvals_of_one_match_make_one_referral_sent_once(
    app: Flask, session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    """Six tabs (six keys) approve the same match at once, on both databases: one referral, one
    mail to the provider; the other five are told it was referred already (409), none fails."""
    offer = kitchen(make_offer, provider, capacity=6)
    forms = [keyed(offer_id=str(offer.id), summary=SUMMARY) for _ in range(6)]
    answers = _approve_at_once(app, session, caseworker, forms, f"/matches/needs/{need.id}/approve")
    assert sorted(answers) == [200] + [409] * 5
    made = _referrals_of(app, need)
    assert [(r.offer_id, r.status) for r in made] == [(offer.id, S.SENT)]
    with Session(get_engine(app)) as fresh:
        told = fresh.exec(select(Notification).where(Notification.user_id == provider.id)).all()
        assert [n.kind for n in told] == ["referral_received"]


def test_a_double_click_sends_one_key_twice_and_both_answers_show_the_one_referral(
    app: Flask, session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    offer = kitchen(make_offer, provider)
    form = keyed(offer_id=str(offer.id), summary=SUMMARY)
    answers = _approve_at_once(app, session, caseworker, [form, form], f"/matches/needs/{need.id}/approve")
    assert answers == [200, 200]  # the second answers as the first did
    assert len(_referrals_of(app, need)) == 1


def test_approving_again_after_a_referral_closed_makes_a_new_one(
    session: Session, need: Need, caseworker: User, provider: User, make_offer: Callable[..., Offer]
) -> None:
    """Only referrals under way count: a declined one leaves room for a new approval later."""
    offer = kitchen(make_offer, provider)
    first = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, services.Policy())
    with pytest.raises(AlreadyReferred):
        services.approve_match(session, LiveIndex(), caseworker, need, offer.id, services.Policy())
    services.transition(session, first, "decline", provider, reason="no_capacity")
    again = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, services.Policy(), summary="x")
    assert again.id != first.id and again.status == S.SENT


def test_the_database_refuses_a_second_open_referral_for_one_need_and_offer(
    session: Session, need: Need, provider: User, make_offer: Callable[..., Offer]
) -> None:
    offer = kitchen(make_offer, provider)
    for closed in (S.DECLINED, S.WITHDRAWN, S.EXPIRED, S.COMPLETED):
        referral_in(session, need, offer, closed)
    referral_in(session, need, offer, S.SENT)
    with pytest.raises(IntegrityError):
        referral_in(session, need, offer, S.PROPOSED)


# --- Who is asked to approve (issue 11, item 9) ---------------------------------------------------


def test_only_the_supervisors_of_the_persons_area_are_asked_to_approve(
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    """Two districts: the person lives in a grid of the first. Its district's and its grid's
    supervisors are asked; the other district's supervisor, and one without an area, are not."""
    beilin = Area(level="district", name_en="Beilin", name_zh="碑林区", code="T-BL")
    yanta = Area(level="district", name_en="Yanta", name_zh="雁塔区", code="T-YT")
    session.add_all([beilin, yanta])
    session.commit()
    street = Area(level="street", name_en="Nanyuanmen", name_zh="南院门街道", code="T-BL-1", parent_id=beilin.id)
    session.add(street)
    session.commit()
    grid = Area(level="grid", name_en="Grid 3", name_zh="第三网格", code="T-BL-1-3", parent_id=street.id)
    session.add(grid)
    session.commit()
    person = session.get(Person, need.person_id)
    assert person is not None
    person.area_id = grid.id
    session.commit()
    asked = {make_user(Role.SUPERVISOR, area_id=beilin.id).id, make_user(Role.SUPERVISOR, area_id=grid.id).id}
    not_asked = {make_user(Role.SUPERVISOR, area_id=yanta.id).id, make_user(Role.SUPERVISOR).id}
    policy = services.Policy(supervisor_approval=True)
    services.approve_match(session, LiveIndex(), caseworker, need, kitchen(make_offer, provider).id, policy)
    told = session.exec(select(Notification).where(Notification.kind == "referral_needs_approval")).all()
    assert {n.user_id for n in told} == asked
    assert not {n.user_id for n in told} & not_asked


def test_the_supervisor_approves_the_caseworkers_summary_or_rewrites_it_and_never_sends_it_blank(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    session: Session,
    need: Need,
    caseworker: User,
    provider: User,
    grid: Area,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    person = session.get(Person, need.person_id)
    assert person is not None
    person.area_id = grid.id
    session.commit()
    policy = services.Policy(supervisor_approval=True)
    offer = kitchen(make_offer, provider)
    referral = services.approve_match(session, LiveIndex(), caseworker, need, offer.id, policy, summary=SUMMARY)
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    session.commit()
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert f">{SUMMARY}</textarea>" in page  # the caseworker's summary, to approve as it is or edit
    act = f"/referrals/{referral.id}/act"
    refused = client.post(act, data={"action": "approve", "summary": " "})
    assert "This field is required." in client.get(refused.headers["Location"]).get_data(as_text=True)
    session.commit()
    session.refresh(referral)
    assert referral.status == S.PROPOSED  # refused: a referral never goes out without its summary
    assert client.post(act, data={"action": "approve", "summary": "会做饭，想在后厨工作"}).status_code == 303
    session.commit()  # end the test's read snapshot
    session.refresh(referral)
    assert referral.status == S.SENT and referral.summary == "会做饭，想在后厨工作"
    login(provider)
    inbox = client.get("/referrals/inbox").get_data(as_text=True)
    assert "会做饭，想在后厨工作" in inbox and "想找后厨的工作" not in inbox


def test_the_migration_keeps_the_furthest_of_duplicate_referrals_and_gives_back_their_places(
    app: Flask, database_url: str, session: Session, need: Need, provider: User, make_offer: Callable[..., Offer]
) -> None:
    """Before the unique index, double clicks left several open referrals for one match: 0015
    keeps the one furthest along, withdraws the others as the portal's own step, and gives back
    the place a withdrawn accepted one held."""
    offer = kitchen(make_offer, provider, capacity=3)
    ring = keyring_of(session.connection())
    session.close()
    downgrade(database_url, "0014", keyring=ring)
    table = sa.table(
        "referral",
        *(sa.column(name, sa.Uuid()) for name in ("id", "need_id", "offer_id")),
        *(sa.column(name, sa.String()) for name in ("status", "reason_code", "contact_method", "note")),
        sa.column("reasons", sa.JSON()),
        *(sa.column(name, sa.Integer()) for name in ("version",)),
        *(sa.column(name, sa.DateTime(timezone=True)) for name in ("created_at", "updated_at")),
    )
    start = datetime(2026, 1, 5, 8, tzinfo=UTC)
    ids = {}
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as connection:
            for minutes, status in enumerate(("sent", "accepted", "accepted", "proposed", "declined")):
                row_id = uuid.uuid4()
                ids[row_id] = status
                connection.execute(
                    sa.insert(table).values(
                        id=row_id,
                        need_id=need.id,
                        offer_id=offer.id,
                        status=status,
                        reason_code="",
                        contact_method="",
                        note=ring.seal("", aad("referral", "note", row_id)),
                        reasons=[],
                        version=1,
                        created_at=start + timedelta(minutes=minutes),
                        updated_at=start,
                    )
                )
    finally:
        engine.dispose()
        upgrade(database_url, keyring=ring)  # back to head even if the insert failed: the next tests need it
    with Session(get_engine(app)) as fresh:
        after = {r.id: r for r in fresh.exec(select(Referral).where(Referral.need_id == need.id))}
        kept_accepted = next(i for i, status in ids.items() if status == "accepted")
        assert {i: str(r.status) for i, r in after.items()} == {
            i: ("declined" if s == "declined" else "accepted" if i == kept_accepted else "withdrawn")
            for i, s in ids.items()
        }
        assert all(r.summary == "" for r in after.values())  # sealed, so it reads back
        steps = fresh.exec(select(ReferralEvent).where(ReferralEvent.to_status == S.WITHDRAWN)).all()
        assert sorted(str(step.from_status) for step in steps) == ["accepted", "proposed", "sent"]
        assert fresh.get(Offer, offer.id).capacity == 4  # type: ignore[union-attr]


def test_the_migration_files_each_referral_under_its_needs_person(
    database_url: str, session: Session, need: Need, provider: User, make_offer: Callable[..., Offer]
) -> None:
    """0030 fills in the person of referrals written before it; those written since get it on insert."""
    referral = Referral(need_id=need.id, offer_id=kitchen(make_offer, provider).id, status=S.SENT)
    session.add(referral)
    session.commit()
    assert referral.person_id == need.person_id
    referral_id, ring = referral.id, keyring_of(session.connection())
    session.close()
    downgrade(database_url, revision_before("0030"), keyring=ring)
    upgrade(database_url, keyring=ring)
    assert session.get(Referral, referral_id).person_id == need.person_id  # type: ignore[union-attr]


def test_the_decline_reason_sits_with_the_decline_button_after_the_steps_without_one(
    client: FlaskClient, session: Session
) -> None:
    assert load_demo_data(session)
    ngo = session.exec(select(User).where(User.email == "ngo@bridge.example")).one()
    ngo.locale = "en"
    sign_in_with_session(client, session, ngo)
    html = client.get("/referrals/inbox?state=waiting").get_data(as_text=True)
    card = html[html.index("XA-2026-0002") :]
    card = card[: card.index("</li>")]
    forms = re.findall(r'<form [^>]*class="inline( with-reason)?"[^>]*>(.*?)</form>', card, flags=re.DOTALL)
    actions = [re.search(r'name="action" value="(\w+)"', body).group(1) for _cls, body in forms]  # type: ignore[union-attr]
    assert actions == ["accept", "waitlist", "decline"]
    reasoned, body = forms[-1]
    assert reasoned and 'name="reason"' in body and ">Reason</label>" in body
    assert all('name="reason"' not in body for _cls, body in forms[:-1])
