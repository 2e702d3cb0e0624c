"""The periodic job, driven with a frozen clock: reminders, expiry with re-proposal, follow-ups; twice is once."""

from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from sqlmodel import Session, select

from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.models import (
    ContactLog,
    FollowUp,
    Need,
    Notification,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
)
from portal.referrals import services
from tests.conftest import consent_to_every_recipient

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


@pytest.fixture
def world(
    clock: time_machine.Traveller,
    session: Session,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> dict[str, object]:
    caseworker, provider = make_user(Role.CASEWORKER), make_user(Role.PROVIDER)
    person = Person(
        code="XA-J-0001",
        full_name="李 测试",
        caseworker_id=caseworker.id,
        languages=["zh"],
        latitude=34.26,
        longitude=108.94,
        max_travel_km=20,
        programme="community_rehab",
        programme_start=date(2025, 1, 1),
    )
    session.add(person)
    session.commit()
    consent_to_every_recipient(session, person)
    need = Need(person_id=person.id, category="employment", urgency=2, description="想找仓库或者物流的工作。")
    session.add(need)
    session.commit()
    offers = [
        make_offer(
            provider,
            category="employment",
            title=title,
            description="仓库分拣、打包、装卸。",
            languages=["zh"],
            latitude=34.27,
            longitude=108.95,
            capacity=3,
        )
        for title in ("仓库分拣员", "物流打包工")
    ]
    return {"caseworker": caseworker, "provider": provider, "person": person, "need": need, "offers": offers}


def run(app: Flask, session: Session, live: LiveIndex) -> object:
    return run_due_jobs(session, live, datetime.now(UTC), app.config)


def test_reminder_then_expiry_then_the_next_best_is_proposed_each_once(
    app: Flask, session: Session, clock: time_machine.Traveller, world: dict[str, object]
) -> None:
    live = LiveIndex()
    need, caseworker, provider = world["need"], world["caseworker"], world["provider"]
    first = world["offers"][0]  # type: ignore[index]
    referral = services.approve_match(
        session, live, caseworker, need, first.id, services.Policy(response_days={"employment": 5})
    )  # type: ignore[arg-type]
    assert run(app, session, live).reminded == 0  # type: ignore[attr-defined]

    clock.move_to(START + timedelta(days=4, hours=12))  # less than a day before the answer is due
    assert run(app, session, live).reminded == 1  # type: ignore[attr-defined]
    assert run(app, session, live).reminded == 0  # type: ignore[attr-defined]
    reminders = session.exec(select(Notification).where(Notification.kind == "referral_reminder")).all()
    assert [n.user_id for n in reminders] == [provider.id]  # type: ignore[attr-defined]

    clock.move_to(START + timedelta(days=6))  # past the deadline, within the grace: overdue, not expired
    report = run(app, session, live)
    assert report.expired == 0 and report.follow_ups == {"referral_overdue": 1}  # type: ignore[attr-defined]

    clock.move_to(START + timedelta(days=7, hours=1))
    assert run(app, session, live).expired == 1  # type: ignore[attr-defined]
    assert run(app, session, live).expired == 0  # type: ignore[attr-defined]
    session.refresh(referral)
    assert referral.status == ReferralStatus.EXPIRED
    proposed = session.exec(select(Referral).where(Referral.status == ReferralStatus.PROPOSED)).all()
    assert [r.offer_id for r in proposed] == [world["offers"][1].id]  # type: ignore[index]


def test_people_out_of_contact_and_overdue_contacts_are_followed_up_once(
    app: Flask, session: Session, clock: time_machine.Traveller, world: dict[str, object]
) -> None:
    person = world["person"]
    session.add(ContactLog(person_id=person.id, kind="visit", occurred_on=START.date()))  # type: ignore[attr-defined]
    person.next_contact_due = START.date() + timedelta(days=14)  # type: ignore[attr-defined]
    session.commit()
    clock.move_to(START + timedelta(days=20))
    assert run(app, session, LiveIndex()).follow_ups == {"contact_overdue": 1}  # type: ignore[attr-defined]
    clock.move_to(START + timedelta(days=31))
    assert run(app, session, LiveIndex()).follow_ups == {"lost_contact": 1}  # type: ignore[attr-defined]
    assert run(app, session, LiveIndex()).follow_ups == {}  # type: ignore[attr-defined]
    kinds = sorted(f.kind for f in session.exec(select(FollowUp)).all())
    assert kinds == ["contact_overdue", "lost_contact"]


def test_jobs_are_followed_up_at_30_90_and_180_days(
    app: Flask, session: Session, clock: time_machine.Traveller, world: dict[str, object]
) -> None:
    need, offer = world["need"], world["offers"][0]  # type: ignore[index]
    referral = Referral(need_id=need.id, offer_id=offer.id, status=ReferralStatus.IN_PROGRESS)  # type: ignore[attr-defined]
    session.add(referral)
    session.commit()
    session.add(ReferralEvent(referral_id=referral.id, to_status=ReferralStatus.IN_PROGRESS))
    session.commit()

    def job_checks() -> dict[str, int]:
        report = run(app, session, LiveIndex())
        return {kind: n for kind, n in report.follow_ups.items() if kind.startswith("employment")}  # type: ignore[attr-defined]

    clock.move_to(START + timedelta(days=29))
    assert job_checks() == {}
    clock.move_to(START + timedelta(days=95))
    assert job_checks() == {"employment_30": 1, "employment_90": 1}
    clock.move_to(START + timedelta(days=181))
    assert job_checks() == {"employment_180": 1}
    assert job_checks() == {}


def test_the_command_runs_from_the_command_line(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["run-due-jobs"])
    assert result.exit_code == 0 and result.output.startswith("expired 0, reminded 0")
