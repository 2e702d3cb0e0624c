"""Dates are the users' dates: at 01:00 in Xi'an (17:00 UTC the day before) "today" is already
the new day for overdue contacts, ages, snoozes, the contact form and the periodic job."""

import ast
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal import create_app
from portal.clock import local_date, local_today
from portal.config import ConfigError
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex, rank_need
from portal.models import (
    Area,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    Need,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    utcnow,
)
from tests.conftest import TEST_CONFIG

XIAN = ZoneInfo("Asia/Shanghai")
# 01:00 on 10 March in Xi'an: 17:00 on 9 March in UTC.
NOW = datetime(2026, 3, 10, 1, 0, tzinfo=XIAN)
TODAY = date(2026, 3, 10)
ROOT = Path(__file__).resolve().parents[2]

Login = Callable[[User], FlaskClient]


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


def person_of(session: Session, caseworker: User, grid: Area, **fields: object) -> Person:
    person = Person(code="XA-2026-0301", full_name="王 测试", caseworker_id=caseworker.id, area_id=grid.id, **fields)
    session.add(person)
    session.commit()
    return person


def run_jobs(app: Flask, session: Session) -> dict[str, int]:
    return run_due_jobs(session, LiveIndex(), utcnow(), app.config).follow_ups


def follow_up_of(session: Session, kind: FollowUpKind) -> FollowUp:
    return session.exec(select(FollowUp).where(FollowUp.kind == kind)).one()


def test_the_local_date_is_a_day_ahead_of_utc_after_midnight_in_xian(app: Flask, clock: time_machine.Traveller) -> None:
    assert utcnow().date() == date(2026, 3, 9)
    with app.app_context():
        assert local_today() == TODAY
        assert local_date(datetime(2026, 3, 9, 16, 0, tzinfo=UTC)) == TODAY


def test_the_time_zone_comes_from_the_configuration(app: Flask, clock: time_machine.Traveller) -> None:
    app.config["TIME_ZONE"] = "UTC"
    with app.app_context():
        assert local_today() == date(2026, 3, 9)
    with pytest.raises(ConfigError, match="PORTAL_TIME_ZONE"):
        create_app({**TEST_CONFIG, "TIME_ZONE": "Xi'an/Beilin"})


def test_a_next_contact_due_yesterday_is_overdue_at_one_in_the_morning(
    app: Flask, session: Session, clock: time_machine.Traveller, caseworker: User, grid: Area
) -> None:
    person_of(session, caseworker, grid, next_contact_due=date(2026, 3, 9))
    assert run_jobs(app, session) == {"contact_overdue": 1}
    assert follow_up_of(session, FollowUpKind.CONTACT_OVERDUE).due_on == date(2026, 3, 9)


def test_out_of_contact_counts_from_the_local_day_of_registration(
    app: Flask, session: Session, clock: time_machine.Traveller, caseworker: User, grid: Area
) -> None:
    person = person_of(session, caseworker, grid)
    person.created_at = datetime(2026, 1, 2, 1, 0, tzinfo=XIAN)  # 1 January in UTC
    session.commit()
    assert run_jobs(app, session) == {"lost_contact": 1}
    # Registered on 2 January in Xi'an: the 30 days allowed end on 1 February.
    assert follow_up_of(session, FollowUpKind.LOST_CONTACT).due_on == date(2026, 2, 1)


def test_job_checks_and_late_answers_are_due_on_local_days(
    app: Flask,
    session: Session,
    clock: time_machine.Traveller,
    caseworker: User,
    grid: Area,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    person = person_of(session, caseworker, grid, next_contact_due=date(2026, 4, 1))
    need = Need(person_id=person.id, category="employment", description="仓库工作")
    session.add(need)
    session.commit()
    provider = make_user(Role.PROVIDER)
    work = make_offer(provider, category="employment", title="仓库分拣员")
    job = Referral(need_id=need.id, offer_id=work.id, status=ReferralStatus.IN_PROGRESS)
    # Due at 00:30 on 10 March in Xi'an: 16:30 on 9 March in UTC.
    late = Referral(
        need_id=need.id,
        offer_id=make_offer(provider).id,
        status=ReferralStatus.SENT,
        respond_by=datetime(2026, 3, 10, 0, 30, tzinfo=XIAN),
    )
    session.add_all([job, late])
    session.commit()
    # The job began at 01:00 on 8 February in Xi'an (7 February in UTC): its 30-day check is due today.
    session.add(
        ReferralEvent(
            referral_id=job.id, to_status=ReferralStatus.IN_PROGRESS, at=datetime(2026, 2, 8, 1, 0, tzinfo=XIAN)
        )
    )
    session.commit()
    assert run_jobs(app, session) == {"referral_overdue": 1, "employment_30": 1}
    assert follow_up_of(session, FollowUpKind.REFERRAL_OVERDUE).due_on == TODAY
    assert follow_up_of(session, FollowUpKind.EMPLOYMENT_30).due_on == TODAY


def test_a_record_is_anonymised_on_the_local_day_it_falls_due(
    app: Flask, session: Session, clock: time_machine.Traveller, caseworker: User, grid: Area
) -> None:
    keep = int(app.config["ANONYMISE_AFTER_DAYS"])
    person = person_of(session, caseworker, grid, programme_end=TODAY - timedelta(days=keep + 1))
    run_due_jobs(session, LiveIndex(), utcnow(), app.config)
    session.refresh(person)
    assert person.is_anonymised


def test_a_person_born_on_this_day_is_a_year_older_from_midnight(
    session: Session,
    clock: time_machine.Traveller,
    caseworker: User,
    grid: Area,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
) -> None:
    person = person_of(session, caseworker, grid, birth_date=date(1990, 3, 10))  # 36 today in Xi'an
    need = Need(person_id=person.id, category="counselling", description="想参加小组")
    session.add(need)
    session.commit()
    make_offer(make_user(Role.PROVIDER), title="Group for 36 and over", min_age=36)
    ranked = rank_need(session, LiveIndex(), need).ranked
    assert [match.offer.title for match in ranked] == ["Group for 36 and over"]


def test_a_snooze_of_one_day_lasts_until_tomorrow_in_xian(
    client: FlaskClient,
    login: Login,
    session: Session,
    clock: time_machine.Traveller,
    caseworker: User,
    grid: Area,
) -> None:
    person = person_of(session, caseworker, grid)
    item = FollowUp(key="check", kind=FollowUpKind.CONTACT_OVERDUE, person_id=person.id, due_on=date(2026, 3, 9))
    session.add(item)
    session.commit()
    login(caseworker)
    client.post(f"/followups/{item.id}/settle", data={"note": "No answer", "snooze": "1", "snooze_days": "1"})
    session.refresh(item)
    assert item.status == FollowUpStatus.SNOOZED and item.snoozed_until == date(2026, 3, 11)
    clock.move_to(datetime(2026, 3, 10, 9, 0, tzinfo=XIAN))  # the same morning: still asleep
    assert "XA-2026-0301" not in login(caseworker).get("/").text
    clock.move_to(datetime(2026, 3, 11, 1, 0, tzinfo=XIAN))  # the next day, just after midnight
    assert "XA-2026-0301" in login(caseworker).get("/").text


def test_the_contact_form_offers_todays_local_date_and_nothing_later(
    client: FlaskClient, login: Login, session: Session, clock: time_machine.Traveller, caseworker: User, grid: Area
) -> None:
    person = person_of(session, caseworker, grid)
    html = login(caseworker).get(f"/people/{person.id}").text
    field = re.search(r'<input id="occurred_on"[^>]*>', html)
    assert field is not None
    assert 'value="2026-03-10"' in field.group(0) and 'max="2026-03-10"' in field.group(0)


def test_no_code_takes_the_date_of_a_utc_moment() -> None:
    """Only portal/clock.py turns a moment into a date, and only models.utcnow asks for the time:
    `date.today()`, `utcnow().date()` or `datetime.now()` elsewhere would bring back the UTC day."""
    forbidden = re.compile(r"\.date\(\)|\.today\(\)|datetime\.(?:now|utcnow)\(|ZoneInfo\(")
    allowed = {("portal/clock.py", None), ("portal/models.py", "    return datetime.now(UTC)")}
    offenders = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for folder, pattern in (("portal", "*.py"), ("templates", "*.html"))
        for path in sorted((ROOT / folder).rglob(pattern))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if forbidden.search(line)
        and (str(path.relative_to(ROOT)), None) not in allowed
        and (str(path.relative_to(ROOT)), line) not in allowed
    ]
    assert offenders == []


CLOCK_READS = {"local_today", "utcnow", "now", "today"}


def clock_reads_on_import(module: ast.Module) -> Iterator[ast.Call]:
    """The calls that read the clock in what Python runs when it imports the module: its statements,
    decorators (pytest's parameters), default values and class bodies, not the functions' bodies."""
    pending: list[ast.AST] = list(module.body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defaults = [default for default in node.args.kw_defaults if default is not None]
            pending.extend([*node.decorator_list, *node.args.defaults, *defaults])
        elif isinstance(node, ast.ClassDef):
            pending.extend([*node.decorator_list, *node.bases, *node.body])
        else:
            for call in ast.walk(node):
                if isinstance(call, ast.Call):
                    called = call.func
                    name = called.id if isinstance(called, ast.Name) else getattr(called, "attr", "")
                    if name in CLOCK_READS:
                        yield call


def test_no_test_reads_the_date_when_it_is_collected() -> None:
    """The suite runs for half an hour and may cross the users' midnight (16:00 UTC): a "tomorrow"
    worked out when pytest imports a module is today for the tests that run after it. Tests read
    the date when they run (`tests/portal/days.py` for parameters)."""
    offenders = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path in sorted((ROOT / "tests").rglob("*.py"))
        for call in clock_reads_on_import(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert offenders == []
