"""Idempotent create forms (security.md item 48): a form sent twice, or five times at once, makes
one row, and every answer points to that row."""

import re
import threading
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, SQLModel, func, select

from portal import idempotency
from portal.clock import local_today
from portal.db import get_engine
from portal.models import (
    Area,
    Consent,
    ContactLog,
    IdempotencyKey,
    Need,
    Offer,
    Person,
    Role,
    User,
    utcnow,
)
from tests.conftest import keyed, sign_in_with_session
from tests.portal.test_consents import valid_form as valid_consent_form

Login = Callable[[User], FlaskClient]
HTMX = {"HX-Request": "true"}


@pytest.fixture
def person(session: Session, caseworker: User, grid: Area) -> Person:
    person = Person(code="XA-I-0001", full_name="刘强", caseworker_id=caseworker.id, area_id=grid.id)
    session.add(person)
    session.commit()
    return person


def count(session: Session, model: type[SQLModel]) -> int:
    session.commit()  # end any read begun before the app wrote
    return session.exec(select(func.count()).select_from(model)).one()


def key_in(html: str) -> str:
    found = re.search(r'name="idempotency_key" value="([^"]+)"', html)
    assert found, "the form carries no key"
    return found.group(1)


# --- Sent twice ---------------------------------------------------------------------------------


def test_a_new_person_sent_twice_is_recorded_once_and_both_answers_lead_to_them(
    client: FlaskClient, login: Login, session: Session, caseworker: User, grid: Area
) -> None:
    login(caseworker)
    form = {"full_name": "新来的人", "area_id": str(grid.id), "idempotency_key": key_in(client.get("/people/new").text)}
    first, second = client.post("/people/new", data=form), client.post("/people/new", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    (person,) = session.exec(select(Person)).all()
    assert first.headers["Location"] == f"/people/{person.id}"


def test_a_new_offer_sent_twice_is_saved_once(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.PROVIDER))
    form = keyed(category="counselling", title="Weekly group", capacity="3")
    first, second = client.post("/offers/new", data=form), client.post("/offers/new", data=form)
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert count(session, Offer) == 1


@pytest.mark.parametrize(
    ("section", "model", "form"),
    [
        ("needs", Need, {"category": "housing", "description": "一间房", "urgency": "2"}),
        ("contacts", ContactLog, {"kind": "call", "occurred_on": "today", "outcome": "reached"}),
        (
            "consents",
            Consent,
            {k: v for k, v in valid_consent_form("kind:ngo").items() if k != "idempotency_key"},
        ),
    ],
)
def test_a_section_form_sent_twice_adds_one_row(
    client: FlaskClient,
    login: Login,
    session: Session,
    caseworker: User,
    person: Person,
    section: str,
    model: type[SQLModel],
    form: dict[str, str],
) -> None:
    login(caseworker)
    today = local_today().isoformat()
    data = keyed({k: (today if v == "today" else v) for k, v in form.items()}, valid_from=today)
    url = f"/people/{person.id}/{section}"
    plain = client.post(url, data=data)
    again = client.post(url, data=data, headers=HTMX)  # the resend may come from htmx or not
    third = client.post(url, data=data)
    assert plain.status_code == third.status_code == 303 and again.status_code == 200
    assert plain.headers["Location"] == third.headers["Location"]
    assert count(session, model) == 1


def test_a_sign_up_sent_twice_makes_one_account_and_the_copy_is_not_signed_in(app: Flask, session: Session) -> None:
    form = keyed(name="Li Wei", email="liwei@bridge.example", password="a long password phrase")
    first, copy = app.test_client(), app.test_client()
    assert first.post("/auth/signup/volunteer", data=form).status_code == 303
    replay = copy.post("/auth/signup/volunteer", data=form)
    assert replay.status_code == 303 and replay.headers["Location"] == "/auth/login"
    assert count(session, User) == 1
    assert copy.get("/offers/mine").status_code in {302, 303}  # still anonymous: sent to sign in


def test_a_form_corrected_after_an_error_is_saved_with_the_same_key(
    client: FlaskClient, login: Login, session: Session, caseworker: User, grid: Area
) -> None:
    """A refused submission does not use the key up: the corrected form keeps it and saves."""
    login(caseworker)
    refused = client.post("/people/new", data=keyed(full_name="", area_id=str(grid.id)))
    assert refused.status_code == 422
    key = key_in(refused.text)
    saved = client.post("/people/new", data={"full_name": "改正后", "area_id": str(grid.id), "idempotency_key": key})
    assert saved.status_code == 303 and count(session, Person) == 1


def test_keys_belong_to_their_user(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> None:
    """UNIQUE(actor_id, key): another user's key neither blocks nor reveals their record."""
    key = str(uuid.uuid4())
    login(make_user(Role.CASEWORKER, area_id=grid.id))
    mine = client.post("/people/new", data={"full_name": "甲", "area_id": str(grid.id), "idempotency_key": key})
    login(make_user(Role.CASEWORKER, area_id=grid.id))
    theirs = client.post("/people/new", data={"full_name": "乙", "area_id": str(grid.id), "idempotency_key": key})
    assert mine.status_code == theirs.status_code == 303
    assert mine.headers["Location"] != theirs.headers["Location"]
    assert count(session, Person) == 2


# --- Missing or malformed keys ------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "", "not-a-key", str(uuid.uuid1()), "0" * 36, "{" + str(uuid.uuid4()) + "}"])
def test_a_missing_or_malformed_key_is_a_400_and_the_typing_comes_back(
    client: FlaskClient, login: Login, session: Session, caseworker: User, grid: Area, key: str | None
) -> None:
    login(caseworker)
    form = {"full_name": "没有钥匙", "area_id": str(grid.id)}
    if key is not None:
        form["idempotency_key"] = key
    response = client.post("/people/new", data=form)
    assert response.status_code == 400
    assert 'value="没有钥匙"' in response.text and "send it again" in response.text
    assert idempotency.parse_key(key_in(response.text)) is not None  # a fresh key to send it with
    assert count(session, Person) == 0


# --- Concurrency --------------------------------------------------------------------------------


def test_five_simultaneous_copies_make_one_person(app: Flask, session: Session, caseworker: User, grid: Area) -> None:
    """Real threads, on both databases. On PostgreSQL the copies race to insert the key and the
    unique index makes the others wait for the first commit; on SQLite BEGIN IMMEDIATE orders them."""
    clients = [sign_in_with_session(app.test_client(), session, caseworker) for _ in range(5)]
    form = keyed(full_name="同时提交", area_id=str(grid.id))
    start = threading.Barrier(len(clients))
    answers: list[tuple[int, str]] = []

    def send(client: FlaskClient) -> None:
        start.wait()
        response = client.post("/people/new", data=form)
        answers.append((response.status_code, response.headers.get("Location", "")))

    threads = [threading.Thread(target=send, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(answers) == 5 and {status for status, _ in answers} == {303}
    assert len({location for _, location in answers}) == 1
    with Session(get_engine(app)) as fresh:
        assert fresh.exec(select(func.count()).select_from(Person)).one() == 1
        assert fresh.exec(select(func.count()).select_from(IdempotencyKey)).one() == 1


# --- The page side, and the purge ---------------------------------------------------------------


def test_htmx_create_forms_disable_their_button_and_drop_a_second_submit(
    client: FlaskClient, login: Login, caseworker: User, person: Person
) -> None:
    login(caseworker)
    page = client.get(f"/people/{person.id}").text
    for form_class in ("need-form", "contact-form", "consent-form"):
        tag = re.search(rf'<form [^>]*class="{form_class}"[^>]*>', page)
        assert tag, form_class
        assert "hx-disabled-elt=\"find button[type='submit']\"" in tag.group(0)
        assert 'hx-sync="this:drop"' in tag.group(0)


def test_keys_older_than_a_day_are_purged_and_a_second_purge_removes_none(
    client: FlaskClient, login: Login, session: Session, caseworker: User, grid: Area, app: Flask
) -> None:
    login(caseworker)
    client.post("/people/new", data=keyed(full_name="甲", area_id=str(grid.id)))
    session.commit()
    with Session(get_engine(app)) as jobs:
        assert idempotency.purge(jobs, utcnow() + timedelta(hours=23)) == 0
        assert idempotency.purge(jobs, utcnow() + timedelta(hours=25)) == 1
        assert idempotency.purge(jobs, utcnow() + timedelta(hours=25)) == 0
    assert count(session, Person) == 1  # the record stays; only the key is forgotten
