"""Small cells: no indicator on the page, its charts, the CSV or the home page lets a reader pick
out a person; an area of five people or more shows its real figures."""

import json
import re
from collections.abc import Callable
from datetime import date
from html import unescape
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal import create_app
from portal.config import ConfigError
from portal.indicators.suppression import Cell, Suppression
from portal.models import (
    Area,
    ContactLog,
    IndicatorSnapshot,
    Need,
    Offer,
    OfferStatus,
    Organization,
    Person,
    Referral,
    Role,
    User,
)
from tests.conftest import TEST_CONFIG
from tests.portal.test_indicators import JUNE_QUERY, S, add, at, history, read_csv

Login = Callable[[User], FlaskClient]
MARKERS = {"<5", "hidden", "—", ""}


@pytest.fixture
def street(session: Session) -> Area:
    area = Area(level="street", name_en="Small street", name_zh="小街道", code="SC-S")
    add(session, area)
    return area


def grid_of(session: Session, street: Area, name: str) -> Area:
    area = Area(level="grid", name_en=name, name_zh=name, code=f"SC-{name}", parent_id=street.id)
    add(session, area)
    return area


def register(session: Session, area: Area, caseworker: User, count: int, prefix: str) -> list[Person]:
    people = [
        Person(code=f"{prefix}{n}", full_name=f"{prefix}{n}", area_id=area.id, caseworker_id=caseworker.id)
        for n in range(count)
    ]
    for person in people:
        person.created_at = at("2026-01-10")
    add(session, *people)
    return people


def casework(session: Session, person: Person, job: Offer, flat: Offer) -> None:
    """A June of contacts, needs and referrals, one started job among them."""
    add(
        session,
        ContactLog(person_id=person.id, kind="visit", occurred_on=date(2026, 6, 15)),
        ContactLog(person_id=person.id, kind="call", occurred_on=date(2026, 6, 20)),
    )
    employment = Need(person_id=person.id, category="employment", created_at=at("2026-06-02"))
    housing = Need(person_id=person.id, category="housing", created_at=at("2026-06-03"))
    add(session, employment, housing)
    started = Referral(need_id=employment.id, offer_id=job.id, created_at=at("2026-06-03"))
    declined = Referral(need_id=housing.id, offer_id=flat.id, created_at=at("2026-06-04"))
    add(session, started, declined)
    history(
        session,
        started,
        [
            (S.PROPOSED, at("2026-06-03")),
            (S.APPROVED, at("2026-06-04")),
            (S.SENT, at("2026-06-04")),
            (S.ACCEPTED, at("2026-06-06")),
            (S.IN_PROGRESS, at("2026-06-10")),
        ],
    )
    history(
        session,
        declined,
        [(S.PROPOSED, at("2026-06-04")), (S.APPROVED, at("2026-06-05")), (S.DECLINED, at("2026-06-07"))],
    )


@pytest.fixture
def offers(session: Session, make_organization: Callable[..., Organization]) -> tuple[Offer, Offer]:
    employer = make_organization(name="Employer E")
    job = Offer(organization_id=employer.id, category="employment", title="Job", status=OfferStatus.OPEN)
    flat = Offer(organization_id=employer.id, category="housing", title="Flat", status=OfferStatus.OPEN)
    add(session, job, flat)
    return job, flat


def dashboard(html: str, area: Area) -> str:
    """The figures part of the page, with the area's name and id taken out."""
    figures = html[html.index('id="indicators-scope"') : html.index("</main>")]
    return figures.replace(str(area.id), "AREA").replace(area.name_en, "NAME")


def test_a_one_person_grid_shows_nothing_about_that_person(
    client: FlaskClient,
    login: Login,
    session: Session,
    street: Area,
    offers: tuple[Offer, Offer],
    make_user: Callable[..., User],
) -> None:
    """Two grids of one person each, one with a June of casework and one with none: the page, its
    charts and the CSV read the same for both, so they say nothing about either person."""
    caseworker = make_user(Role.CASEWORKER)
    busy, idle = grid_of(session, street, "Grid A"), grid_of(session, street, "Grid B")
    [person] = register(session, busy, caseworker, 1, "A")
    register(session, idle, caseworker, 1, "B")
    casework(session, person, *offers)
    login(make_user(Role.ADMIN, locale="en"))

    pages, exports = [], []
    for area in (busy, idle):
        html = client.get(f"/indicators?area={area.id}&{JUNE_QUERY}").get_data(as_text=True)
        pages.append(dashboard(html, area))
        rows = read_csv(client.get(f"/indicators/export.csv?area={area.id}&{JUNE_QUERY}"))
        exports.append([{k: v for k, v in row.items() if k not in ("Area", "As of")} for row in rows])
    assert pages[0] == pages[1]
    assert exports[0] == exports[1]

    page = pages[0]
    assert "Fewer than 5 people in this area" in page
    stat_numbers = re.findall(r'class="stat-number">([^<]*)<', page)
    assert len(stat_numbers) == 8 and set(stat_numbers) == {"hidden"}
    june_cells = re.findall(r"<td>([^<]*)</td>", page.split('id="monthly-table"')[0])
    assert june_cells and set(june_cells) == {"hidden"}
    assert "Employer E" not in page and "referral" not in page.split("ind-approval")[1].split("</section>")[0]
    bars = re.findall(r'class="chart-bar"[^>]* width="([^"]+)"', page)
    assert bars and set(bars) == {"0.0"}
    june_values = {row["Value"] for row in exports[0] if row["First day"] == "2026-06-01"}
    assert june_values == {"hidden"}
    assert all(row["Note"] for row in exports[0] if row["Value"] == "hidden")


def cells_in(node: Any) -> list[list[Any]]:
    """Every figure in stored snapshot figures, as stored: [value, small, hidden]."""
    if isinstance(node, list) and len(node) == 3 and isinstance(node[2], bool):
        return [node]
    items = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    return [cell for item in items for cell in cells_in(item)]


def stored_cells(session: Session) -> list[list[Any]]:
    session.rollback()
    return cells_in([row.figures for row in session.exec(select(IndicatorSnapshot)).all()])


def test_the_stored_figures_of_a_one_person_grid_name_no_provider_and_hold_no_figure(
    client: FlaskClient,
    login: Login,
    session: Session,
    street: Area,
    offers: tuple[Offer, Offer],
    make_user: Callable[..., User],
) -> None:
    """A volunteer who took the grid's one person on is named nowhere, not even in the stored
    figures: the page shows no provider of so few people, and the snapshot keeps what the page shows."""
    caseworker, volunteer = make_user(Role.CASEWORKER), make_user(Role.VOLUNTEER, name="王志愿")
    grid = grid_of(session, street, "Grid A")
    [person] = register(session, grid, caseworker, 1, "A")
    casework(session, person, *offers)
    mentoring = Offer(volunteer_id=volunteer.id, category="counselling", title="Mentor", status=OfferStatus.OPEN)
    need = Need(person_id=person.id, category="counselling", created_at=at("2026-06-02"))
    add(session, mentoring, need)
    done = Referral(need_id=need.id, offer_id=mentoring.id, created_at=at("2026-06-03"))
    add(session, done)
    history(
        session,
        done,
        [(S.PROPOSED, at("2026-06-03")), (S.ACCEPTED, at("2026-06-04")), (S.COMPLETED, at("2026-06-20"))],
    )
    login(make_user(Role.ADMIN, locale="en"))
    page = client.get(f"/indicators?area={grid.id}&{JUNE_QUERY}").get_data(as_text=True)
    assert "Fewer than 5 people in this area" in page and "王志愿" not in page

    session.rollback()
    [stored] = session.exec(select(IndicatorSnapshot)).all()
    text = json.dumps(stored.figures, ensure_ascii=False)
    assert "王志愿" not in text and "Employer E" not in text
    period = cells_in(stored.figures["figures"])
    assert period and all(value is None and hidden for value, _small, hidden in period)
    assert not any(value for value, _small, _hidden in cells_in(stored.figures["months"]))  # 0 before January


def test_a_supervisor_of_a_one_person_grid_sees_no_figure_of_it_at_home(
    client: FlaskClient, login: Login, session: Session, street: Area, make_user: Callable[..., User]
) -> None:
    grid = grid_of(session, street, "Grid A")
    [person] = register(session, grid, make_user(Role.CASEWORKER), 1, "A")
    person.created_at = at("2025-01-10")  # long out of contact: "1" would say so
    add(session, person)
    login(make_user(Role.SUPERVISOR, area_id=grid.id, locale="en"))
    home = client.get("/").get_data(as_text=True)
    summary = home.split('id="summary-heading"')[1].split("</section>")[0]
    assert re.findall(r'class="stat-number">([^<]*)<', summary) == ["hidden"] * 4
    assert "fewer than 5 people" in home


def test_a_grid_of_five_or_more_shows_real_figures_and_hides_only_small_cells(
    client: FlaskClient,
    login: Login,
    session: Session,
    street: Area,
    offers: tuple[Offer, Offer],
    make_user: Callable[..., User],
) -> None:
    grid = grid_of(session, street, "Grid C")
    people = register(session, grid, make_user(Role.CASEWORKER), 10, "C")
    for person in people[:6]:
        add(session, ContactLog(person_id=person.id, kind="call", occurred_on=date(2026, 6, 15)))
    needs = [("employment", p) for p in people[:6]] + [("housing", p) for p in people[:5]] + [("legal", people[0])]
    add(session, *(Need(person_id=p.id, category=c, created_at=at("2026-06-02")) for c, p in needs))
    login(make_user(Role.ADMIN, locale="en"))

    html = client.get(f"/indicators?area={grid.id}&{JUNE_QUERY}").get_data(as_text=True)
    assert "Fewer than 5 people" not in html
    cards = [unescape(c) for c in re.findall(r'class="stat-number">([^<]*)<', html)]
    assert cards[:3] == ["10", "60.0%", "<5"]  # active, contact rate, out of contact (4)
    assert "6 of 10 people" in html
    needs_table = {k: unescape(v) for k, v in re.findall(r'<th scope="row">([^<]+)</th><td>([^<]*)</td>', html)}
    # legal aid (1) is small; housing (5), the next smallest, is hidden with it, or 12 − 6 − 5 gives 1
    assert (needs_table["Employment"], needs_table["Housing"], needs_table["Legal aid"]) == ("6", "hidden", "<5")
    assert "fewer than 5, not shown so that no one can be recognised" in html

    rows = read_csv(client.get(f"/indicators/export.csv?area={grid.id}&{JUNE_QUERY}"))
    june = {(r["Indicator"], r["Detail"]): r for r in rows if r["First day"] == "2026-06-01"}
    assert june["People active", ""]["Value"] == "10" and june["Contact rate", ""]["Value"] == "60.0"
    assert june["Needs by category", "Employment"]["Value"] == "6"
    assert june["Needs by category", "Legal aid"]["Value"] == "<5" and june["Needs by category", "Legal aid"]["Note"]
    assert june["Needs by category", "Housing"]["Value"] == "hidden"
    assert june["People active", ""]["Note"] == ""

    # Stored as shown: the small cell and the one hidden with it keep no value.
    stored = {value for value, small, hidden in stored_cells(session) if small or hidden}
    assert stored == {None}


def test_the_threshold_is_a_setting(
    app: Flask, client: FlaskClient, login: Login, session: Session, street: Area, make_user: Callable[..., User]
) -> None:
    grid = grid_of(session, street, "Grid C")
    register(session, grid, make_user(Role.CASEWORKER), 10, "C")
    app.config["SMALL_CELL_THRESHOLD"] = 11
    login(make_user(Role.ADMIN, locale="en"))
    html = client.get(f"/indicators?area={grid.id}&{JUNE_QUERY}").get_data(as_text=True)
    assert "Fewer than 11 people in this area" in html


def test_a_threshold_under_one_is_refused_at_start() -> None:
    with pytest.raises(ConfigError, match="PORTAL_SMALL_CELL_THRESHOLD"):
        create_app({**TEST_CONFIG, "DATABASE_URL": "sqlite://", "SMALL_CELL_THRESHOLD": 0})


# --- The rule itself ------------------------------------------------------------------------------

RULE = Suppression(threshold=5, few_people=False)


def test_counts_under_the_threshold_are_small_and_zero_stays() -> None:
    assert [RULE.count(n) for n in (0, 1, 4, 5)] == [Cell(0), Cell(small=5), Cell(small=5), Cell(5)]


def test_with_few_people_every_figure_is_hidden_zeros_too() -> None:
    few = Suppression.over(5, 12, 3)
    assert few.few_people and Suppression.over(5, 0, 0) == RULE
    assert few.count(0) == few.count(40) == Cell(hidden=True)
    assert set(few.parts({"a": 0, "b": 9}).values()) == {Cell(hidden=True)}


@pytest.mark.parametrize(
    ("counts", "shown"),
    [
        ({"a": 10, "b": 7, "c": 0}, {"a": 10, "b": 7, "c": 0}),  # nothing small
        ({"a": 10, "b": 7, "c": 2}, {"a": 10, "b": "hidden", "c": "<5"}),  # 2 would be 19 − 17
        ({"a": 10, "b": 1, "c": 1, "d": 9}, {"a": 10, "b": "<5", "c": "<5", "d": "hidden"}),  # 1 + 1 < 5
        ({"a": 3, "b": 2, "c": 20}, {"a": "<5", "b": "<5", "c": 20}),  # the hidden add up to 5
        ({"a": 3, "b": 0}, {"a": "<5", "b": 0}),  # the total is small too: nothing else to hide
    ],
)
def test_parts_of_a_total_hide_enough_that_no_small_one_can_be_worked_out(
    counts: dict[str, int], shown: dict[str, object]
) -> None:
    cells = RULE.parts(counts)
    assert {k: "<5" if c.small else "hidden" if c.hidden else c.value for k, c in cells.items()} == shown


def test_rates_and_medians_of_few_are_hidden() -> None:
    def rate(part: int, whole: int) -> Cell:
        return RULE.rate(part / whole if whole else None, RULE.count(part), RULE.count(whole))

    assert rate(6, 10) == Cell(0.6) and rate(0, 10) == Cell(0.0) and rate(0, 0) == Cell()
    assert rate(3, 10).hidden and rate(3, 4).hidden  # a small numerator; a small denominator
    assert RULE.rate(0.8, RULE.count(8), RULE.count(2)).hidden  # 8 completed, 2 withdrawn
    assert RULE.median(2.5, 4) == (Cell(hidden=True), Cell(small=5))
    assert RULE.median(2.5, 5) == (Cell(2.5), Cell(5))
