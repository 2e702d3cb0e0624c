"""Passwords: the policy at every place one is chosen, exact comparison, and reset by e-mail (sent
at once to a fake SMTP server, never kept)."""

import re
import smtplib
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import force_locale
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import Session, SQLModel, select

from portal.auth import resets
from portal.auth import sessions as server_sessions
from portal.auth.passwords import check_password, hash_password, password_problem
from portal.db import get_engine
from portal.models import OutboxMail, PasswordReset, Role, User, utcnow
from tests.conftest import PASSWORD, keyed, sign_in_with_session
from tests.portal.test_notifications import SMTP_CONFIG, FakeServer, FakeSMTP

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


@pytest.fixture
def smtp(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """An SMTP server configured and reachable: reset links are sent during the request."""
    server = FakeServer()
    monkeypatch.setattr(smtplib, "SMTP", lambda *args, **kwargs: FakeSMTP(server, *args, **kwargs))
    app.config.update(SMTP_CONFIG)
    yield server


def reset_link(smtp: FakeServer, email: str) -> str:
    """The link in the newest reset mail the server took for this address."""
    sent = [message for message in smtp.messages if message["To"] == email]
    found = re.search(r"/auth/reset/[A-Za-z0-9_-]+", sent[-1].get_content())
    assert found is not None
    return found.group(0)


def without_csrf_tokens(page: str) -> str:
    """CSRF tokens carry the second they were signed in, so two pages a second apart differ there."""
    return re.sub(r"[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{20,}", "TOKEN", page)


def test_forgot_password_gives_the_same_answer_for_unknown_addresses(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    known = client.post("/auth/forgot", data={"email": "v@bridge.example"}, follow_redirects=True)
    unknown = client.post("/auth/forgot", data={"email": "nobody@bridge.example"}, follow_redirects=True)
    assert known.status_code == unknown.status_code == 200
    assert without_csrf_tokens(known.get_data(as_text=True)) == without_csrf_tokens(unknown.get_data(as_text=True))
    assert [mail.to_address for mail in session.exec(select(OutboxMail))] == ["v@bridge.example"]


def test_reset_link_works_once_and_ends_every_session(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session, smtp: FakeServer
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    elsewhere = sign_in_with_session(app.test_client(), session, user)
    client.post("/auth/forgot", data={"email": "CW@bridge.example"})
    link = reset_link(smtp, "cw@bridge.example")
    assert client.get(link).status_code == 200
    weak = client.post(link, data={"new_password": "too short"})
    assert weak.status_code == 422 and "Use at least 15 characters." in weak.get_data(as_text=True)
    assert client.post(link, data={"new_password": NEW_PASSWORD}).status_code == 303
    assert elsewhere.get("/notifications/").status_code == 302
    assert client.post(link, data={"new_password": NEW_PASSWORD + "!"}).status_code == 400  # used
    assert sign_in(client, "cw@bridge.example", PASSWORD) == 422
    assert sign_in(client, "cw@bridge.example", NEW_PASSWORD) == 302


def test_reset_links_expire_after_ten_minutes(
    client: FlaskClient, make_user: Callable[..., User], smtp: FakeServer
) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        client.post("/auth/forgot", data={"email": "v@bridge.example"})
        link = reset_link(smtp, "v@bridge.example")
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


def _every_stored_value(app: Flask) -> str:
    """Every value of every row of every table, as text."""
    with get_engine(app).connect() as connection:
        return "\n".join(
            str(value)
            for table in SQLModel.metadata.sorted_tables
            for row in connection.execute(table.select())
            for value in row
        )


@pytest.mark.parametrize("server", ["none", "unreachable"])
def test_an_undelivered_reset_link_is_stored_nowhere(
    app: Flask,
    client: FlaskClient,
    make_user: Callable[..., User],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    server: str,
) -> None:
    """Whoever reads the database must find no link to take the account over with."""
    if server == "unreachable":
        down = FakeServer()
        down.unreachable = True
        monkeypatch.setattr(smtplib, "SMTP", lambda *args, **kwargs: FakeSMTP(down, *args, **kwargs))
        app.config.update(SMTP_CONFIG)
    tokens: list[str] = []  # every random token made in the request, the reset link's among them
    make_token = resets.secrets.token_urlsafe
    monkeypatch.setattr(resets.secrets, "token_urlsafe", lambda size: tokens.append(make_token(size)) or tokens[-1])
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    answer = client.post("/auth/forgot", data={"email": "v@bridge.example"}, follow_redirects=True)
    assert answer.status_code == 200 and "a link to reset its password is on its way" in answer.get_data(as_text=True)
    [reset] = session.exec(select(PasswordReset)).all()
    [token] = [token for token in tokens if server_sessions.digest(token) == reset.token_hash]
    stored = _every_stored_value(app)
    assert token not in stored and "/auth/reset/" not in stored
    [mail] = session.exec(select(OutboxMail)).all()
    assert mail.sent_at is None and "The link could not be sent. Ask for a new one" in mail.body
    assert client.get(f"/auth/reset/{token}").status_code == 200  # the link itself was good


def test_a_sent_reset_link_is_not_kept_either(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session, smtp: FakeServer
) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    client.post("/auth/forgot", data={"email": "v@bridge.example"})
    link = reset_link(smtp, "v@bridge.example")
    assert link.rpartition("/")[2] not in _every_stored_value(app)
    [mail] = session.exec(select(OutboxMail)).all()
    assert mail.sent_at is not None and "The link was sent in this e-mail; it is not kept." in mail.body


def test_earlier_reset_links_die_when_the_password_changes(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session, smtp: FakeServer
) -> None:
    """A link left in a mailbox is no way in once the owner has chosen a new password, by another
    link or on the account page."""
    user = make_user(Role.VOLUNTEER, email="v@bridge.example")
    client.post("/auth/forgot", data={"email": "v@bridge.example"})
    first = reset_link(smtp, "v@bridge.example")
    client.post("/auth/forgot", data={"email": "v@bridge.example"})
    second = reset_link(smtp, "v@bridge.example")
    assert first != second and client.get(first).status_code == 200
    assert client.post(second, data={"new_password": NEW_PASSWORD}).status_code == 303
    assert client.get(first).status_code == 400
    assert client.post(first, data={"new_password": NEW_PASSWORD + "!"}).status_code == 400

    client.post("/auth/forgot", data={"email": "v@bridge.example"})
    third = reset_link(smtp, "v@bridge.example")
    signed_in = sign_in_with_session(app.test_client(), session, user)
    changed = signed_in.post(
        "/auth/password", data={"current_password": NEW_PASSWORD, "new_password": "another long passphrase"}
    )
    assert changed.status_code == 303
    assert client.get(third).status_code == 400
    assert sign_in(client, "v@bridge.example", "another long passphrase") == 302
