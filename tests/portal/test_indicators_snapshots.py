"""Indicators kept as computed: a view reads the stored figures in a few queries and says as of
when; figures older than the stated freshness are computed again, by the next view or by the
periodic job; suppression still applies to stored figures, with the threshold of the day."""

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal.db import get_engine
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.models import Area, IndicatorSnapshot, Person, Role, User, utcnow
from tests.portal.test_indicators import JUNE_QUERY, read_csv

Login = Callable[[User], FlaskClient]
TEN_FIVE = datetime(2026, 7, 1, 2, 5, tzinfo=UTC)  # 10:05 in Xi'an


@pytest.fixture
def clock() -> Iterator[time_machine.Traveller]:
    with time_machine.travel(TEN_FIVE, tick=False) as traveller:
        yield traveller


@pytest.fixture
def area(session: Session) -> Area:
    grid = Area(level="grid", name_en="Grid S", name_zh="S 网格", code="SN-G")
    session.add(grid)
    session.commit()
    return grid


@pytest.fixture
def register(
    session: Session, area: Area, make_user: Callable[..., User], clock: time_machine.Traveller
) -> Callable[[int], None]:
    caseworker = make_user(Role.CASEWORKER, area_id=area.id)
    registered = [0]

    def add(count: int) -> None:
        for _ in range(count):
            registered[0] += 1
            session.add(
                Person(
                    code=f"SN-{registered[0]:04d}",
                    full_name="某",
                    area_id=area.id,
                    caseworker_id=caseworker.id,
                    created_at=datetime(2026, 1, 10, tzinfo=UTC),
                )
            )
        session.commit()

    return add


@pytest.fixture
def admin(clock: time_machine.Traveller, login: Login, make_user: Callable[..., User]) -> FlaskClient:
    return login(make_user(Role.ADMIN, locale="en"))


def people_active(html: str) -> str:
    return re.findall(r'class="stat-number">([^<]*)<', html)[0]


def as_of(html: str) -> str:
    found = re.search(r'id="indicators-as-of">Figures as of ([^;]+);', html)
    assert found is not None
    return found.group(1)


def statements(app: Flask, request: Callable[[], Any]) -> tuple[Any, int]:
    count = [0]

    def counted(*_args: Any) -> None:
        count[0] += 1

    sa.event.listen(get_engine(app), "before_cursor_execute", counted)
    try:
        return request(), count[0]
    finally:
        sa.event.remove(get_engine(app), "before_cursor_execute", counted)


def test_the_page_says_as_of_when_and_keeps_its_figures_until_they_are_stale(
    admin: FlaskClient, register: Callable[[int], None], clock: time_machine.Traveller
) -> None:
    register(6)
    html = admin.get("/indicators").get_data(as_text=True)
    assert (people_active(html), as_of(html)) == ("6", "10:05")
    assert "worked out again when more than 15 minutes old" in html
    register(1)
    clock.move_to(TEN_FIVE + timedelta(minutes=14))
    html = admin.get("/indicators").get_data(as_text=True)
    assert (people_active(html), as_of(html)) == ("6", "10:05")  # as of 10:05, as it says
    clock.move_to(TEN_FIVE + timedelta(minutes=16))
    html = admin.get("/indicators").get_data(as_text=True)
    assert (people_active(html), as_of(html)) == ("7", "10:21")


def test_a_view_of_stored_figures_asks_a_few_queries_however_many_people_there_are(
    app: Flask, admin: FlaskClient, register: Callable[[int], None], clock: time_machine.Traveller
) -> None:
    register(6)
    _first, computing = statements(app, lambda: admin.get("/indicators"))
    _page, few = statements(app, lambda: admin.get("/indicators"))
    register(40)
    clock.move_to(TEN_FIVE + timedelta(minutes=10))  # signed-in sessions end after 15 idle minutes
    admin.get("/indicators")
    clock.move_to(TEN_FIVE + timedelta(minutes=20))
    admin.get("/indicators")
    page, many = statements(app, lambda: admin.get("/indicators"))
    assert people_active(page.get_data(as_text=True)) == "46"
    assert few == many <= 10 < computing


def test_the_job_computes_again_the_stale_figures_of_today_and_drops_past_periods(
    app: Flask, session: Session, admin: FlaskClient, register: Callable[[int], None], clock: time_machine.Traveller
) -> None:
    register(6)
    admin.get("/indicators")
    admin.get(f"/indicators?{JUNE_QUERY}")  # a period that ended yesterday
    register(2)
    clock.move_to(TEN_FIVE + timedelta(minutes=10))  # signed-in sessions end after 15 idle minutes
    admin.get("/indicators")
    clock.move_to(TEN_FIVE + timedelta(minutes=16))
    assert run_due_jobs(session, LiveIndex(), utcnow(), app.config).indicators_refreshed == 1
    session.rollback()
    [kept] = session.exec(select(IndicatorSnapshot)).all()
    assert kept.computed_at == utcnow() and kept.key.startswith("all:2026-04-03:2026-07-01:")
    clock.move_to(TEN_FIVE + timedelta(minutes=20))
    page, count = statements(app, lambda: admin.get("/indicators"))
    html = page.get_data(as_text=True)
    assert (people_active(html), as_of(html)) == ("8", "10:21") and count <= 10
    assert run_due_jobs(session, LiveIndex(), utcnow(), app.config).indicators_refreshed == 0


def test_each_filter_has_its_own_figures(
    admin: FlaskClient, area: Area, register: Callable[[int], None], session: Session
) -> None:
    register(6)
    other = Area(level="grid", name_en="Grid T", name_zh="T 网格", code="SN-T")
    session.add(other)
    session.commit()
    assert people_active(admin.get(f"/indicators?area={area.id}").get_data(as_text=True)) == "6"
    assert people_active(admin.get(f"/indicators?area={other.id}").get_data(as_text=True)) == "0"
    assert people_active(admin.get(f"/indicators?area={area.id}&{JUNE_QUERY}").get_data(as_text=True)) == "6"
    assert (
        people_active(admin.get("/indicators?period=custom&start=2025-06-01&end=2025-06-30").get_data(as_text=True))
        == "0"
    )
    assert len(session.exec(select(IndicatorSnapshot)).all()) == 4


def test_stored_figures_are_suppressed_with_the_threshold_of_the_moment(
    app: Flask, admin: FlaskClient, area: Area, register: Callable[[int], None]
) -> None:
    register(6)
    assert people_active(admin.get(f"/indicators?area={area.id}").get_data(as_text=True)) == "6"
    app.config["SMALL_CELL_THRESHOLD"] = 10
    assert people_active(admin.get(f"/indicators?area={area.id}").get_data(as_text=True)) == "hidden"


def test_the_export_says_as_of_when_on_every_row(
    admin: FlaskClient, register: Callable[[int], None], clock: time_machine.Traveller
) -> None:
    register(6)
    admin.get("/indicators")
    clock.move_to(TEN_FIVE + timedelta(minutes=3))
    rows = read_csv(admin.get("/indicators/export.csv"))
    assert rows and {row["As of"] for row in rows} == {"10:05"}
    assert [row["Value"] for row in rows if row["Indicator"] == "People active"][0] == "6"


def test_the_home_summary_is_the_stored_30_days_and_says_as_of_when(
    admin: FlaskClient, register: Callable[[int], None], clock: time_machine.Traveller
) -> None:
    register(6)
    assert people_active(admin.get("/indicators?period=30").get_data(as_text=True)) == "6"
    register(1)
    clock.move_to(TEN_FIVE + timedelta(minutes=5))
    home = admin.get("/").get_data(as_text=True)
    assert "6" in re.findall(r'class="stat-number">([^<]*)<', home) and "Figures as of 10:05." in home
    clock.move_to(TEN_FIVE + timedelta(minutes=16))
    home = admin.get("/").get_data(as_text=True)
    assert "7" in re.findall(r'class="stat-number">([^<]*)<', home) and "Figures as of 10:21." in home
