"""The periodic job at scale: it selects what is due by sets, loads no one it does not act on, and
two overlapping runs never both act (the second leaves, saying so)."""

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from sqlmodel import Session, col, select

from portal import jobs
from portal.audit.services import trail_of, verify_chain
from portal.db import get_engine
from portal.exceptions import JobsRunning
from portal.followups import services as followups
from portal.followups.services import Due
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.models import (
    AuditEvent,
    ContactLog,
    FollowUp,
    FollowUpKind,
    JobLock,
    Need,
    Notification,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    utcnow,
)

NOW = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def add_people(session: Session, caseworker: User, job: Offer, service: Offer, count: int, first: int) -> None:
    """People of every kind the job looks at: out of contact for months, in a job for half a year,
    referred to a provider who is late answering, and in touch last week."""
    for number in range(first, first + count):
        lost = Person(
            code=f"L-{number:04d}",
            full_name="失联 某",
            caseworker_id=caseworker.id,
            created_at=NOW - timedelta(days=300),
        )
        working = Person(code=f"W-{number:04d}", full_name="就业 某", caseworker_id=caseworker.id)
        waiting = Person(code=f"R-{number:04d}", full_name="转介 某", caseworker_id=caseworker.id)
        in_touch = Person(code=f"T-{number:04d}", full_name="联系 某", caseworker_id=caseworker.id)
        session.add_all([lost, working, waiting, in_touch])
        session.flush()
        for person in (working, waiting, in_touch):
            session.add(ContactLog(person_id=person.id, kind="visit", occurred_on=NOW.date() - timedelta(days=7)))
        job_need, service_need = (
            Need(person_id=working.id, category="employment"),
            Need(person_id=waiting.id, category="counselling"),
        )
        session.add_all([job_need, service_need])
        session.flush()
        placed = Referral(need_id=job_need.id, offer_id=job.id, status=ReferralStatus.IN_PROGRESS)
        late = Referral(
            need_id=service_need.id,
            offer_id=service.id,
            status=ReferralStatus.SENT,
            respond_by=NOW - timedelta(hours=12),
            reminded_at=NOW - timedelta(days=2),
        )
        session.add_all([placed, late])
        session.flush()
        session.add(
            ReferralEvent(referral_id=placed.id, to_status=ReferralStatus.IN_PROGRESS, at=NOW - timedelta(days=200))
        )
    session.commit()


@pytest.fixture
def caseload(
    clock: time_machine.Traveller,
    session: Session,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> Callable[[int, int], None]:
    caseworker, provider = make_user(Role.CASEWORKER), make_user(Role.PROVIDER)
    job = make_offer(provider, category="employment", title="仓库分拣员")
    service = make_offer(provider, title="心理辅导小组")

    def grow(count: int, first: int) -> None:
        add_people(session, caseworker, job, service, count, first)

    return grow


def run(app: Flask, session: Session) -> jobs.Report:
    return run_due_jobs(session, LiveIndex(), utcnow(), app.config)


class Watch:
    """The statements run and the people loaded while it watches."""

    def __init__(self, app: Flask) -> None:
        self.engine = get_engine(app)
        self.statements = 0
        self.people_loaded = 0

    def _statement(self, *_args: Any) -> None:
        self.statements += 1

    def _loaded(self, *_args: Any) -> None:
        self.people_loaded += 1

    def __enter__(self) -> "Watch":
        sa.event.listen(self.engine, "before_cursor_execute", self._statement)
        sa.event.listen(Person, "load", self._loaded)
        return self

    def __exit__(self, *_exc: object) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._statement)
        sa.event.remove(Person, "load", self._loaded)


def test_follow_ups_are_opened_for_everyone_due_and_only_once(
    app: Flask, session: Session, caseload: Callable[[int, int], None]
) -> None:
    caseload(3, 0)
    assert run(app, session).follow_ups == {
        "lost_contact": 3,
        "referral_overdue": 3,
        "employment_30": 3,
        "employment_90": 3,
        "employment_180": 3,
    }
    session.rollback()
    codes = {person.code for person in session.exec(select(Person).join(FollowUp)).all()}
    assert codes == {f"{kind}-{n:04d}" for kind in "LWR" for n in range(3)}  # nobody in touch
    assert run(app, session).follow_ups == {}


def test_with_nothing_due_a_run_loads_no_one_and_asks_as_much_for_many_people_as_for_few(
    app: Flask, session: Session, caseload: Callable[[int, int], None]
) -> None:
    caseload(2, 0)
    run(app, session)
    with Watch(app) as few:
        assert run(app, session).follow_ups == {}
    caseload(25, 2)
    run(app, session)
    with Watch(app) as many:
        assert run(app, session).follow_ups == {}
    assert few.people_loaded == many.people_loaded == 0
    assert many.statements == few.statements < 50


def test_a_run_loads_only_the_people_it_opens_a_follow_up_for(
    app: Flask, session: Session, caseload: Callable[[int, int], None]
) -> None:
    caseload(20, 0)
    run(app, session)
    caseload(1, 20)
    with Watch(app) as watch:
        assert sum(run(app, session).follow_ups.values()) == 5
    assert 0 < watch.people_loaded <= 3


@pytest.fixture
def reminder_due(clock: time_machine.Traveller, session: Session, caseload: Callable[[int, int], None]) -> Referral:
    """A referral whose answer is due in twelve hours and whose provider was not reminded yet."""
    caseload(1, 0)
    referral = session.exec(select(Referral).where(Referral.status == ReferralStatus.SENT)).one()
    referral.respond_by = NOW + timedelta(hours=12)
    referral.reminded_at = None
    session.add(referral)
    session.commit()
    return referral


def reminders(session: Session) -> int:
    session.rollback()
    return len(session.exec(select(Notification).where(Notification.kind == "referral_reminder")).all())


def test_a_run_started_while_another_is_under_way_leaves_saying_so_and_nothing_is_sent_twice(
    app: Flask, session: Session, reminder_due: Referral, monkeypatch: pytest.MonkeyPatch
) -> None:
    under_way, finish = threading.Event(), threading.Event()
    anonymise_ended = jobs.anonymise_ended

    def slow_first_step(step_session: Session, *args: Any) -> None:
        anonymise_ended(step_session, *args)
        step_session.commit()  # the first run waits between its steps, in no transaction
        if not under_way.is_set():
            under_way.set()
            finish.wait(timeout=60)

    monkeypatch.setattr(jobs, "anonymise_ended", slow_first_step)
    first: list[jobs.Report] = []

    def first_run() -> None:
        with app.app_context(), Session(get_engine(app), expire_on_commit=False) as own:
            first.append(run(app, own))

    thread = threading.Thread(target=first_run)
    thread.start()
    try:
        assert under_way.wait(timeout=60)
        result = app.test_cli_runner().invoke(args=["run-due-jobs"])
    finally:
        finish.set()
        thread.join(timeout=60)
    assert result.exit_code == 0
    assert result.output.strip() == "another run of run-due-jobs is in progress; this one did nothing"
    assert [report.reminded for report in first] == [1]
    assert reminders(session) == 1
    assert session.exec(select(JobLock)).all() == []  # the first run gave the lock back
    assert "reminded 0" in app.test_cli_runner().invoke(args=["run-due-jobs"]).output


def test_runs_started_at_the_same_moment_remind_once(app: Flask, session: Session, reminder_due: Referral) -> None:
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def one_run() -> None:
        with app.app_context(), Session(get_engine(app), expire_on_commit=False) as own:
            start.wait(timeout=60)
            try:
                outcomes.append(f"reminded {run(app, own).reminded}")
            except JobsRunning:
                outcomes.append("left")

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(outcomes) in (["left", "reminded 1"], ["reminded 0", "reminded 1"])
    assert reminders(session) == 1


def test_a_lock_is_kept_while_its_run_may_still_be_going_and_taken_over_after(
    app: Flask, session: Session, reminder_due: Referral
) -> None:
    session.add(JobLock(name=jobs.LOCK_NAME, holder="elsewhere", taken_at=NOW, expires_at=NOW + timedelta(hours=1)))
    session.commit()
    with pytest.raises(JobsRunning):
        run(app, session)
    assert reminders(session) == 0
    with time_machine.travel(NOW + timedelta(hours=1, minutes=1), tick=False):
        assert run(app, session).reminded == 1  # the run that took it died: this one goes ahead
    assert session.exec(select(JobLock)).all() == []


def test_a_run_that_fails_gives_the_lock_back(
    app: Flask, session: Session, reminder_due: Referral, monkeypatch: pytest.MonkeyPatch
) -> None:
    held: list[str] = []

    def broken(*_args: Any) -> None:
        with Session(get_engine(app).execution_options(read_only=True)) as other:
            held.extend(lock.holder for lock in other.exec(select(JobLock)))
        raise RuntimeError("the mail server fell over")

    monkeypatch.setattr(jobs, "deliver_outbox", broken)
    with pytest.raises(RuntimeError):
        run(app, session)
    assert len(held) == 1  # held while the run went on
    session.rollback()
    assert session.exec(select(JobLock)).all() == []
    monkeypatch.undo()
    assert run(app, session).reminded == 0  # sent by the failed run before it failed, not again


def test_people_of_a_programme_with_a_longer_gap_are_out_of_contact_later(
    app: Flask, session: Session, clock: time_machine.Traveller, make_user: Callable[..., User]
) -> None:
    app.config["CONTACT_GAP_DAYS"] = {"default": 30, "community_rehab": 60}
    caseworker = make_user(Role.CASEWORKER)
    last_contact = NOW.date() - timedelta(days=45)
    for code, programme in (("D-1", "community_detox"), ("R-1", "community_rehab")):
        person = Person(code=code, full_name="某", caseworker_id=caseworker.id, programme=programme)
        session.add(person)
        session.flush()
        session.add(ContactLog(person_id=person.id, kind="call", occurred_on=last_contact))
    never = Person(
        code="N-1", full_name="某", caseworker_id=caseworker.id, created_at=datetime(2026, 6, 30, 16, 30, tzinfo=UTC)
    )
    session.add(never)  # registered on 1 July in Xi'an (00:30), still 30 June in UTC
    session.commit()
    assert run(app, session).follow_ups == {"lost_contact": 2}
    session.rollback()
    due = {f.key.split(":")[1]: f.due_on for f in session.exec(select(FollowUp)).all()}
    ids = {p.code: str(p.id) for p in session.exec(select(Person)).all()}
    assert due == {ids["D-1"]: last_contact + timedelta(days=30), ids["N-1"]: date(2026, 7, 31)}
    assert session.exec(select(FollowUp).where(col(FollowUp.person_id) == never.id)).one()


def test_a_first_run_asks_as_much_for_many_people_as_for_few_and_loads_only_the_lost(
    app: Flask, session: Session, caseload: Callable[[int, int], None]
) -> None:
    caseload(8, 0)
    with Watch(app) as few:
        assert sum(run(app, session).follow_ups.values()) == 8 * 5
    session.rollback()
    session.exec(sa.delete(Notification))
    session.exec(sa.delete(FollowUp))
    session.commit()
    caseload(100, 8)  # 108 of each kind now, nobody followed up yet
    with Watch(app) as many:
        assert sum(run(app, session).follow_ups.values()) == 108 * 5
    assert many.statements == few.statements < 80
    # The people out of contact are read for their programme and registration; nobody else.
    assert (few.people_loaded, many.people_loaded) == (8, 108)


def test_follow_ups_opened_in_batches_are_each_told_once_and_named_on_the_trail(
    app: Flask, session: Session, caseload: Callable[[int, int], None], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(followups, "OPEN_BATCH", 4)
    caseload(5, 0)
    assert sum(run(app, session).follow_ups.values()) == 25
    session.rollback()
    opened = session.exec(select(FollowUp)).all()
    told = session.exec(select(Notification).where(col(Notification.kind).startswith("follow_up_"))).all()
    assert sorted(n.params["person"] for n in told) == sorted(
        session.get(Person, f.person_id).code  # type: ignore[union-attr]
        for f in opened
    )
    events = session.exec(select(AuditEvent).where(AuditEvent.record_type == "follow_up")).all()
    assert {event.action for event in events} == {"create"}
    assert len(events) <= 8  # 5 lost in two batches; 20 about referrals in five
    for follow_up in opened:
        assert [entry.action for entry in trail_of(session, [follow_up.id])] == ["create"]
    assert verify_chain(session).intact


def test_a_follow_up_opened_a_moment_ago_by_another_is_neither_opened_nor_told_again(
    session: Session, caseload: Callable[[int, int], None]
) -> None:
    caseload(1, 0)
    person = session.exec(select(Person).where(Person.code == "L-0000")).one()
    due = [Due(FollowUpKind.LOST_CONTACT, person.id, person.caseworker_id, person.code, NOW.date())]
    assert followups.open_follow_ups(session, due) == {"lost_contact": 1}
    assert followups.open_follow_ups(session, due * 2) == {}  # the other's INSERT skips it
    assert len(session.exec(select(FollowUp)).all()) == 1
    assert len(session.exec(select(Notification)).all()) == 1


def test_a_reminder_marked_meanwhile_is_not_sent_again_and_each_sent_is_on_the_trail(
    session: Session, reminder_due: Referral
) -> None:
    version = reminder_due.version
    assert jobs.remind(session, [reminder_due.id], NOW) == 1
    assert jobs.remind(session, [reminder_due.id], NOW) == 0
    assert reminders(session) == 1
    assert [entry.action for entry in trail_of(session, [reminder_due.id])] == ["reminded"]
    # A change like any other: a form loaded before the reminder is told the referral changed.
    session.refresh(reminder_due)
    assert (reminder_due.reminded_at, reminder_due.version) == (NOW, version + 1)


def due_tomorrow(session: Session) -> None:
    """Every referral waiting on its provider is due in twelve hours, and nobody was reminded."""
    session.exec(
        sa.update(Referral)
        .where(col(Referral.status) == ReferralStatus.SENT)
        .values(respond_by=NOW + timedelta(hours=12), reminded_at=None)
    )
    session.commit()


def test_reminders_cost_as_many_queries_for_many_referrals_as_for_few(
    app: Flask, session: Session, caseload: Callable[[int, int], None]
) -> None:
    caseload(8, 0)
    run(app, session)
    due_tomorrow(session)
    with Watch(app) as few:
        assert run(app, session).reminded == 8
    caseload(100, 8)
    run(app, session)
    due_tomorrow(session)
    with Watch(app) as many:
        assert run(app, session).reminded == 108
    assert many.statements == few.statements
    assert reminders(session) == 8 + 108


def test_anonymised_records_get_no_follow_up_in_a_first_run(
    app: Flask, session: Session, caseload: Callable[[int, int], None]
) -> None:
    caseload(2, 0)
    for person in session.exec(select(Person).where(col(Person.code).endswith("-0001"))).all():
        person.anonymised_at = NOW - timedelta(days=1)
    session.commit()
    assert sum(run(app, session).follow_ups.values()) == 5
    session.rollback()
    codes = {person.code for person in session.exec(select(Person).join(FollowUp)).all()}
    assert codes == {"L-0000", "W-0000", "R-0000"}


def test_two_writers_opening_the_same_follow_ups_at_once_open_and_tell_each_once(
    app: Flask, session: Session, caseload: Callable[[int, int], None]
) -> None:
    """The job and a caseworker's home page, say, each given the occasions in its own order."""
    caseload(30, 0)
    people = session.exec(select(Person)).all()
    due = [Due(FollowUpKind.CONTACT_OVERDUE, p.id, p.caseworker_id, p.code, NOW.date()) for p in people]
    start = threading.Barrier(2)
    opened: list[int] = []

    def writer(order: list[Due]) -> None:
        with app.app_context(), Session(get_engine(app), expire_on_commit=False) as own:
            start.wait(timeout=60)
            opened.append(sum(followups.open_follow_ups(own, order).values()))

    threads = [threading.Thread(target=writer, args=(order,)) for order in (due, due[::-1])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert sum(opened) == len(people) == 120 and len(opened) == 2
    session.rollback()
    assert len(session.exec(select(FollowUp)).all()) == 120
    assert len(session.exec(select(Notification)).all()) == 120
