"""Passwords: the policy at every place one is chosen, exact comparison, and reset by e-mail."""

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, select

from portal.auth.passwords import check_password, hash_password, password_problem
from portal.models import OutboxMail, Role, User, utcnow
from tests.conftest import PASSWORD, keyed, sign_in_with_session

NEW_PASSWORD = "tea with grandmother on sundays"


def sign_in(client: FlaskClient, email: str, password: str) -> int:
    return client.post("/auth/login", data={"email": email, "password": password}).status_code


@pytest.mark.parametrize(
    ("password", "staff", "problem"),
    [
        ("elevenchars", False, "Use at least 12 characters."),
        ("a twelve chr", False, None),
        ("fourteen chars", True, "Use at least 15 characters."),
        ("Password1234!", False, "This password is too common."),
        ("qwerty123456", False, "This password is too common."),
        ("!!Bridge2026!!", False, "This password is too common."),
        ("康复之路从今天开始一步一个脚印", True, None),  # any Unicode; 15 characters
        ("x" * 256, True, None),
        ("x" * 257, True, "Use at most 256 characters."),
    ],
)
def test_password_policy(app: Flask, password: str, staff: bool, problem: str | None) -> None:
    with app.test_request_context():
        found = password_problem(password, staff)
    assert found == problem if problem is None else (found or "").startswith(problem)


@settings(max_examples=10, deadline=None)
@given(st.text(min_size=15, max_size=128))
def test_any_long_unicode_password_is_accepted_unless_common(password: str) -> None:
    with force_locale("en"):
        problem = password_problem(password, staff=True)
    assert problem is None or problem.startswith("This password is too common.")
    stored = hash_password(password)
    assert check_password(stored, password) and not check_password(stored, password[:-1])


def test_policy_applies_at_sign_up_and_staff_creation(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    response = client.post(
        "/auth/signup/volunteer", data=keyed({"name": "Li", "email": "li@bridge.example", "password": "Password1234!"})
    )
    assert response.status_code == 422 and "This password is too common." in response.get_data(as_text=True)
    login(make_user(Role.ADMIN))
    response = client.post(
        "/users/new",
        data=keyed({"role": "caseworker", "name": "Liu", "email": "liu@bridge.example", "password": "twelve chars"}),
    )
    assert response.status_code == 422 and "Use at least 15 characters." in response.get_data(as_text=True)


def test_passwords_are_compared_exactly_as_typed(client: FlaskClient, make_user: Callable[..., User]) -> None:
    long_password = "".join(chr(0x4E00 + i) for i in range(100))
    make_user(Role.VOLUNTEER, email="v@bridge.example", password_hash=hash_password(long_password))
    changed = long_password[:79] + "x" + long_password[80:]
    assert sign_in(client, "v@bridge.example", changed) == 422  # no truncation
    assert sign_in(client, "v@bridge.example", long_password) == 302
    client.post("/auth/logout")
    make_user(Role.VOLUNTEER, email="s@bridge.example", password_hash=hash_password("  spaces count too  "))
    assert sign_in(client, "s@bridge.example", "spaces count too") == 422
    assert sign_in(client, "s@bridge.example", "  spaces count too  ") == 302


def reset_link(session: Session, email: str) -> str:
    session.commit()
    mails = session.exec(
        select(OutboxMail).where(OutboxMail.to_address == email).order_by(col(OutboxMail.created_at))
    ).all()
    found = re.search(r"/auth/reset/[A-Za-z0-9_-]+", mails[-1].body)
    assert found is not None
    return found.group(0)


def test_forgot_password_gives_the_same_answer_for_unknown_addresses(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    known = client.post("/auth/forgot", data={"email": "v@bridge.example"}, follow_redirects=True)
    unknown = client.post("/auth/forgot", data={"email": "nobody@bridge.example"}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True) == unknown.get_data(as_text=True)
    assert [mail.to_address for mail in session.exec(select(OutboxMail))] == ["v@bridge.example"]


def test_reset_link_works_once_and_ends_every_session(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    elsewhere = sign_in_with_session(app.test_client(), session, user)
    client.post("/auth/forgot", data={"email": "CW@bridge.example"})
    link = reset_link(session, "cw@bridge.example")
    assert client.get(link).status_code == 200
    weak = client.post(link, data={"new_password": "too short"})
    assert weak.status_code == 422 and "Use at least 15 characters." in weak.get_data(as_text=True)
    assert client.post(link, data={"new_password": NEW_PASSWORD}).status_code == 303
    assert elsewhere.get("/notifications/").status_code == 302
    assert client.post(link, data={"new_password": NEW_PASSWORD + "!"}).status_code == 400  # used
    assert sign_in(client, "cw@bridge.example", PASSWORD) == 422
    assert sign_in(client, "cw@bridge.example", NEW_PASSWORD) == 302


def test_reset_links_expire_after_ten_minutes(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        client.post("/auth/forgot", data={"email": "v@bridge.example"})
        link = reset_link(session, "v@bridge.example")
        clock.shift(timedelta(minutes=9, seconds=59))
        assert client.get(link).status_code == 200
        clock.shift(timedelta(minutes=1, seconds=2))
        assert client.get(link).status_code == 400
        assert client.post(link, data={"new_password": NEW_PASSWORD}).status_code == 400


def test_at_most_five_reset_mails_an_hour(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(7):
            assert client.post("/auth/forgot", data={"email": "v@bridge.example"}).status_code == 303
            clock.shift(timedelta(minutes=5))
        session.commit()
        assert len(session.exec(select(OutboxMail)).all()) == 5
        clock.shift(timedelta(minutes=30))
        client.post("/auth/forgot", data={"email": "v@bridge.example"})
        session.commit()
        assert len(session.exec(select(OutboxMail)).all()) == 6
