"""A provider's history of the referrals sent to its offers, and its own figures (issue 15): every
referral it received stays findable after its outcome, by state, offer, code and date, and shows
its record only, never a field of the person."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.audit.services import naming
from portal.clock import local_today
from portal.demo import load_demo_data
from portal.models import AuditEvent, Need, Offer, Person, Referral, ReferralStatus, Role, User
from portal.referrals import history
from portal.referrals.services import propose, transition

Login = Callable[[User], FlaskClient]


@pytest.fixture
def demo(session: Session) -> Session:
    assert load_demo_data(session)
    return session


def user(session: Session, email: str) -> User:
    """A demo account, reading the portal in English (the demo's accounts read it in Chinese)."""
    found = session.exec(select(User).where(User.email == email)).one()
    found.locale = "en"
    session.commit()
    return found


def test_the_history_keeps_what_left_the_inbox_and_shows_the_record_only(demo: Session, login: Login) -> None:
    client = login(user(demo, "ngo@bridge.example"))
    inbox = client.get("/referrals/inbox").get_data(as_text=True)
    assert "Evening phone counselling line" not in inbox  # declined: gone from the inbox

    page = client.get("/referrals/history")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for code in ("XA-2026-0002", "XA-2026-0003", "XA-2026-0007"):
        assert code in html
    assert "Evening phone counselling line" in html
    assert "家庭关系辅导" not in html  # another organization's offer
    for name, phone in (("马晓军", "139-0000-1002"), ("杜丽", "139-0000-1003"), ("韩雪", "139-0000-1007")):
        assert name not in html and phone not in html


def test_filters_by_state_offer_code_and_date(demo: Session, login: Login) -> None:
    client = login(user(demo, "ngo@bridge.example"))
    declined = client.get("/referrals/history?state=declined").get_data(as_text=True)
    assert "XA-2026-0007" in declined and "XA-2026-0003" not in declined
    assert "(1)" in declined  # the declined filter counts one

    by_code = client.get("/referrals/history?code=xa-2026-0002").get_data(as_text=True)
    assert "XA-2026-0002" in by_code and "XA-2026-0007" not in by_code
    assert by_code.count("<tr>") == 1 + 2  # the header, and the person's two referrals

    halfway = demo.exec(select(Offer).where(Offer.title.startswith("过渡性住房"))).one()  # type: ignore[attr-defined]
    by_offer = client.get(f"/referrals/history?offer={halfway.id}").get_data(as_text=True)
    assert "XA-2026-0003" in by_offer and "XA-2026-0002" not in by_offer

    tomorrow = local_today() + timedelta(days=1)
    later = client.get(f"/referrals/history?sent_from={tomorrow}").get_data(as_text=True)
    assert "No referrals match this search." in later
    today = client.get(f"/referrals/history?sent_from={local_today()}&sent_to={local_today()}")
    assert "XA-2026-0007" in today.get_data(as_text=True)


def test_the_figures_count_answers_acceptances_and_outcomes(demo: Session) -> None:
    ngo = history.figures(demo, user(demo, "ngo@bridge.example"), history.HistoryQuery())
    # Qiming: one sent, one waitlisted, one accepted and started, one declined.
    assert (ngo.received, ngo.answered, ngo.accepted, ngo.declined, ngo.completed) == (4, 3, 1, 1, 0)
    assert ngo.acceptance == 0.5 and ngo.completion == 0.0
    assert ngo.median_answer is not None and ngo.median_answer >= timedelta(0)

    employer = history.figures(demo, user(demo, "employer@bridge.example"), history.HistoryQuery())
    # Silkroad: one sent, one accepted, one completed with help.
    assert (employer.received, employer.accepted, employer.completed, employer.got_help) == (3, 2, 1, 1)
    assert employer.completion == 0.5

    page = history.history(demo, user(demo, "employer@bridge.example"), history.HistoryQuery())
    assert page.counts["all"] == 3 and page.counts["completed"] == 1 and page.counts["waiting"] == 1


def test_a_referral_never_sent_is_not_in_the_providers_history(demo: Session, login: Login) -> None:
    person = demo.exec(select(Person).where(Person.code == "XA-2026-0006")).one()
    need = demo.exec(select(Need).where(Need.person_id == person.id, Need.category == "counselling")).one()
    phone_line = demo.exec(select(Offer).where(Offer.title == "Evening phone counselling line")).one()
    caseworker = demo.get(User, person.caseworker_id)
    referral = propose(demo, need, phone_line.id, caseworker, None, [])
    demo.commit()
    transition(demo, referral, "withdraw", caseworker, reason="needs_changed")

    html = login(user(demo, "ngo@bridge.example")).get("/referrals/history").get_data(as_text=True)
    assert "XA-2026-0006" not in html


def test_the_history_is_one_audit_event_naming_the_referrals_shown(demo: Session, login: Login) -> None:
    client = login(user(demo, "ngo@bridge.example"))
    client.get("/referrals/history?state=declined")
    demo.commit()
    declined = demo.exec(select(Referral).where(Referral.status == ReferralStatus.DECLINED)).one()
    events = demo.exec(
        select(AuditEvent).where(col(AuditEvent.id).in_(naming([declined.id])), AuditEvent.action == "list")
    ).all()
    assert len(events) == 1 and events[0].record_type == "referral"


@pytest.mark.parametrize(
    ("query", "status", "message"),
    [
        ("sent_from=2026-05-02&sent_to=2026-05-01", 422, "The end date cannot be before the start date."),
        ("sent_from=yesterday", 422, "Enter a date as YYYY-MM-DD."),
        ("state=lost", 422, "Choose one of the options."),
        ("after=not-a-cursor", 400, "This page link was not made for this search."),
    ],
)
def test_a_search_that_cannot_run_says_why(demo: Session, login: Login, query: str, status: int, message: str) -> None:
    response = login(user(demo, "ngo@bridge.example")).get(f"/referrals/history?{query}")
    assert response.status_code == status
    assert message in response.get_data(as_text=True)


def test_another_organizations_offer_cannot_be_chosen(demo: Session, login: Login) -> None:
    other = demo.exec(select(Offer).where(Offer.title.startswith("家庭关系辅导"))).one()  # type: ignore[attr-defined]
    response = login(user(demo, "ngo@bridge.example")).get(f"/referrals/history?offer={other.id}")
    assert response.status_code == 422
    assert "Choose one of your offers." in response.get_data(as_text=True)
    assert "XA-2026-0001" not in response.get_data(as_text=True)


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.SUPERVISOR, Role.ADMIN])
def test_only_providers_keep_a_history(demo: Session, login: Login, role: Role) -> None:
    staff = demo.exec(select(User).where(User.role == role)).first()
    assert staff is not None
    assert login(staff).get("/referrals/history").status_code == 403


def test_the_history_pages_without_repeating_a_referral(demo: Session, login: Login) -> None:
    found = history.history(demo, user(demo, "ngo@bridge.example"), history.HistoryQuery(), per_page=3)
    assert len(found.page.items) == 3 and found.page.next_cursor
    rest = history.history(
        demo, user(demo, "ngo@bridge.example"), history.HistoryQuery(), found.page.next_cursor, per_page=3
    )
    assert len(rest.page.items) == 1 and rest.page.next_cursor is None
    seen = [item.referral_id for item in found.page.items + rest.page.items]
    assert len(set(seen)) == 4
    assert [item.sent_at for item in found.page.items + rest.page.items] == sorted(
        (item.sent_at for item in found.page.items + rest.page.items), reverse=True
    )
