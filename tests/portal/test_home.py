"""Each role's home page: what needs a caseworker's attention, a provider's inbox and offers, a
volunteer's matches, and only what each may see."""

import re
from collections.abc import Callable
from datetime import date, timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlmodel import Session, select

from portal.audit.services import trail_of
from portal.clock import local_today
from portal.db import get_engine
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.models import (
    ContactLog,
    FollowUp,
    FollowUpKind,
    Need,
    Offer,
    Person,
    Referral,
    ReferralStatus,
    Role,
    User,
    utcnow,
)
from tests.conftest import consent_to_every_recipient, keyed
from tests.portal.audit_trail import records_shown

Login = Callable[[User], FlaskClient]
S = ReferralStatus


@pytest.fixture
def caseworker(make_user: Callable[..., User]) -> User:
    return make_user(Role.CASEWORKER)


@pytest.fixture
def provider(make_user: Callable[..., User]) -> User:
    return make_user(Role.PROVIDER)


def person_with_need(session: Session, caseworker: User, code: str, **fields: object) -> Need:
    person = Person(code=code, full_name=f"名字 {code}", phone="13800000000", caseworker_id=caseworker.id, **fields)
    session.add(person)
    session.commit()
    consent_to_every_recipient(session, person)
    need = Need(person_id=person.id, category="housing", description="需要住处")
    session.add(need)
    session.commit()
    return need


def refer(session: Session, need: Need, offer: Offer, status: ReferralStatus, respond_in_days: int = 3) -> Referral:
    referral = Referral(
        need_id=need.id, offer_id=offer.id, status=status, respond_by=utcnow() + timedelta(days=respond_in_days)
    )
    session.add(referral)
    session.commit()
    return referral


def section(html: str, section_id: str) -> str:
    found = re.search(rf'<section id="{section_id}".*?</section>', html, flags=re.S)
    assert found is not None, section_id
    return found.group(0)


def items(html: str) -> list[str]:
    return re.findall(r'<li class="offer-item[^"]*">(.*?)</li>', html, flags=re.S)


# --- The caseworker ----------------------------------------------------------------------------


def test_the_caseworker_sees_referrals_waiting_for_an_answer_late_ones_marked(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    provider: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    need = person_with_need(session, caseworker, "XA-2026-0501")
    refer(session, need, make_offer(provider, title="Night shelter"), S.SENT, respond_in_days=4)
    refer(session, need, make_offer(provider, title="Halfway house"), S.WAITLISTED, respond_in_days=-2)
    refer(session, need, make_offer(provider, title="Hostel bed"), S.ACCEPTED)  # answered already
    theirs = person_with_need(session, make_user(Role.CASEWORKER), "XA-2026-0599")
    refer(session, theirs, make_offer(provider, title="Someone else's referral"), S.SENT)
    login(caseworker)
    waiting = section(client.get("/").get_data(as_text=True), "waiting")
    late, on_time = items(waiting)  # soonest deadline first
    assert "Halfway house" in late and "Overdue" in late and "Waitlisted" in late
    assert "Night shelter" in on_time and "Overdue" not in on_time and "XA-2026-0501" in on_time
    assert "Hostel bed" not in waiting and "XA-2026-0599" not in waiting


def test_every_referral_waiting_beyond_the_home_page_is_reached_through_its_link(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    """The home page lists the ten soonest deadlines; the link finds the people of all twelve."""
    offer = make_offer(provider, title="Night shelter", capacity=20)
    for number in range(12):
        refer(session, person_with_need(session, caseworker, f"XA-2026-06{number:02}"), offer, S.SENT, number + 1)
    person_with_need(session, caseworker, "XA-2026-0699")  # nothing waiting
    login(caseworker)
    waiting = section(client.get("/").get_data(as_text=True), "waiting")
    assert len(items(waiting)) == 10 and "XA-2026-0610" not in waiting  # the latest deadlines wait behind the link
    link = re.search(
        r'<a href="(/people/\?waiting=1)">See everyone with a referral waiting \(12 referrals\)</a>', waiting
    )
    assert link is not None
    listed = re.findall(
        r'<tr class="person-row[^"]*">\s*<td><a href="[^"]+">(XA-[\d-]+)</a>', client.get(link.group(1)).text
    )
    assert sorted(listed) == [f"XA-2026-06{number:02}" for number in range(12)]


def test_every_referral_proposed_beyond_the_home_page_is_reached_through_its_link(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    """The attention list shows the ten oldest proposals; the link finds the people of all twelve."""
    offer = make_offer(provider, title="Night shelter", capacity=20)
    for number in range(12):
        refer(session, person_with_need(session, caseworker, f"XA-2026-07{number:02}"), offer, S.PROPOSED)
    person_with_need(session, caseworker, "XA-2026-0799")  # nothing proposed
    login(caseworker)
    attention = section(client.get("/").get_data(as_text=True), "attention")
    assert len(set(re.findall(r"XA-2026-07\d\d", attention))) == 10  # the oldest ten, each once
    link = re.search(
        r'<a href="(/people/\?proposed=1)">See everyone with a referral proposed for approval \(12 referrals\)</a>',
        attention,
    )
    assert link is not None
    listed = re.findall(
        r'<tr class="person-row[^"]*">\s*<td><a href="[^"]+">(XA-[\d-]+)</a>', client.get(link.group(1)).text
    )
    assert sorted(listed) == [f"XA-2026-07{number:02}" for number in range(12)]


def test_proposals_and_referrals_waiting_read_together_keep_to_their_own_lists(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    """Both lists come from one read of the caseload's referrals: each shows its own ten and
    counts its own twelve, whichever is older or sooner due."""
    offer = make_offer(provider, title="Night shelter", capacity=40)
    for number in range(12):
        refer(session, person_with_need(session, caseworker, f"XA-2026-08{number:02}"), offer, S.PROPOSED)
        refer(session, person_with_need(session, caseworker, f"XA-2026-09{number:02}"), offer, S.SENT, number + 1)
    login(caseworker)
    page = client.get("/").get_data(as_text=True)
    attention, waiting = section(page, "attention"), section(page, "waiting")
    assert len(set(re.findall(r"XA-2026-08\d\d", attention))) == 10 and "XA-2026-09" not in attention
    assert [re.search(r"XA-2026-09\d\d", item).group(0) for item in items(waiting)] == [  # type: ignore[union-attr]
        f"XA-2026-09{number:02}" for number in range(10)
    ]
    assert "XA-2026-08" not in waiting
    assert "referral proposed for approval (12 referrals)" in attention
    assert "referral waiting (12 referrals)" in waiting


def test_the_caseworker_home_counts_the_caseload_and_links_to_it(
    client: FlaskClient, login: Login, session: Session, caseworker: User
) -> None:
    late = Person(
        code="XA-2026-0511", full_name="甲", caseworker_id=caseworker.id, next_contact_due=local_today() - timedelta(1)
    )
    lost = Person(code="XA-2026-0512", full_name="乙", caseworker_id=caseworker.id)
    lost.created_at = utcnow() - timedelta(days=90)
    fine = Person(code="XA-2026-0513", full_name="丙", caseworker_id=caseworker.id)
    gone = Person(code="XA-2026-0514", full_name="", caseworker_id=caseworker.id, anonymised_at=utcnow())
    session.add_all([late, lost, fine, gone])
    session.commit()
    session.add(ContactLog(person_id=fine.id, kind="call", occurred_on=local_today(), outcome="reached"))
    session.commit()
    login(caseworker)
    html = client.get("/").get_data(as_text=True)
    counts = dict(
        re.findall(r'<a class="stat card" href="(/people/[^"]*)"><span class="stat-number">(\d+)</span>', html)
    )
    assert counts == {"/people/": "3", "/people/?contact=overdue": "1", "/people/?contact=out_of_contact": "1"}


def test_a_contact_overdue_since_the_job_last_ran_is_both_counted_and_listed(
    app: Flask, client: FlaskClient, login: Login, session: Session, caseworker: User
) -> None:
    """The job has run and found nothing; then a next contact falls due. The home page does not say
    "1 with their next contact overdue" beside an empty attention list."""
    person = Person(code="XA-2026-0515", full_name="丁", caseworker_id=caseworker.id, next_contact_due=local_today())
    session.add(person)
    session.commit()
    assert run_due_jobs(session, LiveIndex(), utcnow(), app.config).follow_ups == {}
    with time_machine.travel(utcnow() + timedelta(days=1), tick=False):
        html = login(caseworker).get("/").text
    counts = dict(re.findall(r'href="/people/\?contact=(\w+)"><span class="stat-number">(\d+)</span>', html))
    assert counts == {"overdue": "1", "out_of_contact": "0"}
    attention = section(html, "attention")
    assert "XA-2026-0515" in attention and "Next contact overdue" in attention
    assert "Nothing needs your attention" not in attention


def test_an_empty_attention_list_never_claims_nothing_is_overdue(
    client: FlaskClient, login: Login, session: Session, caseworker: User
) -> None:
    """A snoozed follow-up leaves the list while the person is still overdue in the figures."""
    person = Person(
        code="XA-2026-0516", full_name="戊", caseworker_id=caseworker.id, next_contact_due=local_today() - timedelta(1)
    )
    session.add(person)
    session.commit()
    client = login(caseworker)
    [item] = followups_of(client, session, person)
    client.post(f"/followups/{item.id}/settle", data={"note": "Called, no answer", "snooze": "1", "snooze_days": "3"})
    html = client.get("/").text
    assert "XA-2026-0516" not in section(html, "attention")
    assert 'href="/people/?contact=overdue"><span class="stat-number">1</span>' in html
    assert "Nothing overdue" not in html


def test_a_contact_logged_answers_the_follow_ups_it_makes_moot(
    client: FlaskClient, login: Login, session: Session, caseworker: User
) -> None:
    """Out of contact for two months and overdue: once the visit is logged, neither the figures nor
    the list speak of the person any more."""
    person = Person(
        code="XA-2026-0517", full_name="己", caseworker_id=caseworker.id, next_contact_due=local_today() - timedelta(3)
    )
    session.add(person)
    session.commit()
    long_ago = local_today() - timedelta(60)
    session.add(ContactLog(person_id=person.id, kind="visit", occurred_on=long_ago, outcome="reached"))
    session.commit()
    client = login(caseworker)
    opened = {item.kind for item in followups_of(client, session, person)}
    assert opened == {FollowUpKind.LOST_CONTACT, FollowUpKind.CONTACT_OVERDUE}
    visit = {"kind": "visit", "occurred_on": local_today().isoformat(), "outcome": "reached", "note": "家访"}
    visit["next_contact_due"] = (local_today() + timedelta(14)).isoformat()
    assert client.post(f"/people/{person.id}/contacts", data=keyed(visit)).status_code == 303
    html = client.get("/").text
    counts = dict(re.findall(r'href="/people/\?contact=(\w+)"><span class="stat-number">(\d+)</span>', html))
    assert counts == {"overdue": "0", "out_of_contact": "0"}
    assert "XA-2026-0517" not in section(html, "attention")


def test_the_home_reads_as_many_queries_for_two_overdue_people_as_for_ten(
    app: Flask, client: FlaskClient, login: Login, session: Session, caseworker: User
) -> None:
    """Once their follow-ups are open, a view of the home asks once which are, not once a person."""
    statements: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement)

    def queries_for_home() -> int:
        client.get("/")  # opens what fell due; the view after it opens nothing
        statements.clear()
        event.listen(get_engine(app), "before_cursor_execute", count)
        try:
            assert client.get("/").status_code == 200
        finally:
            event.remove(get_engine(app), "before_cursor_execute", count)
        return len(statements)

    def overdue(first: int, last: int) -> None:
        for n in range(first, last):
            session.add(
                Person(
                    code=f"XA-Q-{n:04}",
                    full_name="庚",
                    caseworker_id=caseworker.id,
                    next_contact_due=local_today() - timedelta(2),
                )
            )
        session.commit()

    client = login(caseworker)
    overdue(0, 2)
    few = queries_for_home()
    overdue(2, 10)
    assert queries_for_home() == few


def followups_of(client: FlaskClient, session: Session, person: Person) -> list[FollowUp]:
    """The follow-ups the home page opened for the person."""
    assert client.get("/").status_code == 200
    session.rollback()
    return list(session.exec(select(FollowUp).where(FollowUp.person_id == person.id)))


def test_people_listed_on_the_home_page_are_logged_as_seen(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    called = person_with_need(session, caseworker, "XA-2026-0521")
    waiting = person_with_need(session, caseworker, "XA-2026-0522")
    quiet = person_with_need(session, caseworker, "XA-2026-0523")  # on the caseload, not on the page
    session.add(
        FollowUp(key="test", kind=FollowUpKind.CONTACT_OVERDUE, person_id=called.person_id, due_on=date(2026, 1, 1))
    )
    session.commit()
    refer(session, waiting, make_offer(provider), S.SENT)
    login(caseworker)
    assert client.get("/").status_code == 200
    seen = set(records_shown(session, caseworker.id, "list", "person"))
    assert seen == {called.person_id, waiting.person_id} and quiet.person_id not in seen


# --- The provider ------------------------------------------------------------------------------


def test_the_provider_home_shows_referrals_waiting_through_the_disclosure_only(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    provider: User,
    make_offer: Callable[..., Offer],
) -> None:
    offer = make_offer(provider, title="Night shelter", capacity=9)
    waiting = [
        refer(session, person_with_need(session, caseworker, f"XA-2026-053{number}"), offer, S.SENT, number + 1)
        for number in range(7)
    ]
    refer(session, person_with_need(session, caseworker, "XA-2026-0539"), offer, S.ACCEPTED)
    login(provider)
    html = client.get("/").get_data(as_text=True)
    assert '<a href="/referrals/inbox?state=waiting">7 referrals waiting for your answer</a>' in html
    shown = re.findall(r"<strong>(XA-[\d-]+)</strong>", html)
    assert shown == [f"XA-2026-053{n}" for n in range(5)]  # the first few, soonest deadline first
    assert "名字" not in html and "13800000000" not in html  # names and phones only through the inbox, if allowed
    session.rollback()
    # The home reads the referrals it shows, and only those are on the trail as seen.
    assert [bool(trail_of(session, [referral.id])) for referral in waiting] == [True] * 5 + [False] * 2


def test_the_provider_sees_places_left_and_confirms_stale_offers_without_javascript(
    client: FlaskClient, login: Login, session: Session, provider: User, make_offer: Callable[..., Offer]
) -> None:
    make_offer(provider, title="Night shelter", capacity=2)
    stale = make_offer(provider, title="Old workshop", capacity=1, last_confirmed_at=utcnow() - timedelta(days=100))
    login(provider)
    html = client.get("/").get_data(as_text=True)
    assert "2 places left" in html and "1 place left" in html
    stale_section = section(html, "stale")
    assert "Old workshop" in stale_section and "Night shelter" not in stale_section
    assert f'<form method="post" action="/offers/{stale.id}/confirm"' in stale_section
    assert client.post(f"/offers/{stale.id}/confirm").status_code == 303
    assert 'id="stale"' not in client.get("/").get_data(as_text=True)


def test_the_provider_home_lists_a_few_offers_and_the_longest_unconfirmed_and_my_offers_has_them_all(
    client: FlaskClient, login: Login, provider: User, make_offer: Callable[..., Offer]
) -> None:
    now = utcnow()
    for number in range(12):
        make_offer(provider, title=f"Workshop {number:02d}", last_confirmed_at=now - timedelta(days=100 + number))
    login(provider)
    html = client.get("/").get_data(as_text=True)
    titles = re.compile(r"<strong>(Workshop \d+)</strong>")
    assert titles.findall(section(html, "offers")) == [f"Workshop {n:02d}" for n in range(11, 1, -1)]
    assert titles.findall(section(html, "stale")) == [f"Workshop {n:02d}" for n in range(11, 1, -1)]
    assert sorted(titles.findall(client.get("/offers/mine").get_data(as_text=True))) == [
        f"Workshop {n:02d}" for n in range(12)
    ]


def test_my_offers_come_fifty_a_page_and_the_pages_hold_every_one_once(
    client: FlaskClient, login: Login, provider: User, make_offer: Callable[..., Offer]
) -> None:
    for number in range(53):
        make_offer(provider, title=f"Offer {number:02d}")
    login(provider)
    seen: list[str] = []
    pages: list[int] = []
    address: str | None = "/offers/mine"
    while address:
        html = client.get(address).get_data(as_text=True)
        shown = re.findall(r"<strong>(Offer \d+)</strong>", html)
        seen, pages = seen + shown, [*pages, len(shown)]
        found = re.search(r'rel="next" href="([^"]+)"', html)
        address = found.group(1).replace("&amp;", "&") if found else None
    assert pages == [50, 3]
    assert seen == [f"Offer {n:02d}" for n in range(52, -1, -1)]  # the latest changed first, each once
    assert client.get("/offers/mine?after=not-a-cursor").status_code == 400


# --- The volunteer -----------------------------------------------------------------------------


def test_the_volunteer_sees_the_people_matched_with_them_as_disclosed(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    volunteer, other = make_user(Role.VOLUNTEER), make_user(Role.VOLUNTEER)
    refer(
        session,
        person_with_need(session, caseworker, "XA-2026-0541"),
        make_offer(volunteer, title="Tutoring"),
        S.ACCEPTED,
    )
    refer(session, person_with_need(session, caseworker, "XA-2026-0542"), make_offer(other), S.ACCEPTED)
    refer(session, person_with_need(session, caseworker, "XA-2026-0543"), make_offer(volunteer), S.PROPOSED)
    login(volunteer)
    matched = section(client.get("/").get_data(as_text=True), "matched")
    assert "XA-2026-0541" in matched and "Housing" in matched and "Accepted" in matched and "Tutoring" in matched
    assert "XA-2026-0542" not in matched and "XA-2026-0543" not in matched  # another's, and one not sent yet
    assert "名字" not in matched and "需要住处" not in matched
