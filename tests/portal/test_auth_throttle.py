"""Sign-in throttling and lock-out: per account and per address, the same for unknown accounts,
and every sign-in, failure and sign-out in the audit trail."""

import re
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Literal

import pytest
import time_machine
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal import create_app
from portal.auth import passwords
from portal.db import get_engine
from portal.models import AuditEvent, Role, User, utcnow
from tests.conftest import PASSWORD, TEST_CONFIG

TOO_MANY = "Too many sign-in attempts. Wait a minute, then try again."
LOCKED = "Too many failed attempts for this account. It is locked for 15 minutes."


def attempt(client: FlaskClient, email: str, password: str, address: str = "192.0.2.1") -> tuple[int, str]:
    response = client.post(
        "/auth/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address}
    )
    # Compare pages without what legitimately differs: the address typed, echoed back, and the CSRF token.
    body = response.get_data(as_text=True).replace(email, "EMAIL")
    body = re.sub(r'(csrf_token" value="|X-CSRFToken": ")[^"]*', r"\1", body)
    return response.status_code, body


def test_sixth_attempt_in_a_minute_gets_429(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(4):
            assert attempt(client, "v@bridge.example", "wrong password")[0] == 422
            clock.shift(timedelta(seconds=10))
        assert attempt(client, "v@bridge.example", PASSWORD)[0] == 302
        client.post("/auth/logout")
        status, body = attempt(client, "v@bridge.example", PASSWORD)
        assert status == 429 and TOO_MANY in body
        clock.shift(timedelta(seconds=61))
        assert attempt(client, "v@bridge.example", PASSWORD)[0] == 302


def test_one_address_gets_twenty_attempts_a_minute(client: FlaskClient) -> None:
    with time_machine.travel(utcnow(), tick=False):
        for number in range(20):
            assert attempt(client, f"guess{number}@bridge.example", "wrong password")[0] == 422
        status, body = attempt(client, "guess20@bridge.example", "wrong password")
        assert status == 429 and TOO_MANY in body
        assert attempt(client, "guess20@bridge.example", "wrong password", address="198.51.100.7")[0] == 422


def test_parallel_attempts_on_many_accounts_from_one_address_get_twenty_checks(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Forty guesses at forty accounts from one address, all at once: the address's limit holds
    (on PostgreSQL each check would otherwise count before any other was written)."""
    checks: list[str] = []
    counting = threading.Lock()

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            with counting:
                checks.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "hasher", CountingHasher(time_cost=2, memory_cost=19456, parallelism=1))
    start = threading.Barrier(40)
    statuses: list[int] = []

    def guess(number: int) -> None:
        client = app.test_client()
        start.wait()
        statuses.append(attempt(client, f"guess{number}@bridge.example", "wrong password")[0])

    threads = [threading.Thread(target=guess, args=(number,)) for number in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checks) == 20
    assert sorted(statuses) == [422] * 20 + [429] * 20


def test_five_failures_lock_the_account_for_fifteen_minutes(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        for _ in range(5):
            assert attempt(client, "cw@bridge.example", "wrong password")[0] == 422
            clock.shift(timedelta(minutes=2))
        status, body = attempt(client, "cw@bridge.example", PASSWORD)
        assert status == 429 and LOCKED in body  # the right password too
        clock.shift(timedelta(minutes=12))
        assert attempt(client, "cw@bridge.example", PASSWORD)[0] == 429
        clock.shift(timedelta(minutes=1, seconds=1))
        assert attempt(client, "cw@bridge.example", PASSWORD)[0] == 302


def test_failures_with_a_success_between_do_not_lock(client: FlaskClient, make_user: Callable[..., User]) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        for password in ["bad one", "bad two", PASSWORD, "bad three", "bad four", "bad five", "bad six"]:
            attempt(client, "v@bridge.example", password)
            client.post("/auth/logout")
            clock.shift(timedelta(minutes=1))
        assert attempt(client, "v@bridge.example", PASSWORD)[0] == 302


def test_unknown_accounts_get_the_same_answers_lock_included(
    client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    answers: dict[str, list[tuple[int, str]]] = {}
    with time_machine.travel(utcnow(), tick=False) as clock:
        for email in ("cw@bridge.example", "nobody@bridge.example"):
            answers[email] = []
            for _ in range(7):  # five failures, then locked, then locked again
                answers[email].append(attempt(client, email, "wrong password"))
                clock.shift(timedelta(seconds=20))
    assert [status for status, _ in answers["cw@bridge.example"]] == [422] * 5 + [429] * 2
    assert answers["cw@bridge.example"] == answers["nobody@bridge.example"]


def test_unknown_accounts_cost_a_password_check(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    checks: list[str] = []

    class CountingHasher(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            checks.append(str(password))
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "hasher", CountingHasher(time_cost=2, memory_cost=19456, parallelism=1))
    assert attempt(client, "nobody@bridge.example", "some password")[0] == 422
    assert checks == ["some password"]


def test_sign_ins_failures_and_sign_outs_are_audited(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    attempt(client, "cw@bridge.example", "wrong password")
    attempt(client, "nobody@bridge.example", "wrong password")
    attempt(client, "cw@bridge.example", PASSWORD)
    client.post("/auth/logout")
    events = session.exec(select(AuditEvent).order_by(col(AuditEvent.sequence))).all()
    assert [(e.action, e.actor_id, e.record_id) for e in events] == [
        ("login_failed", None, user.id),
        ("login_failed", None, None),
        ("login", user.id, user.id),
        ("logout", user.id, user.id),
    ]


@pytest.mark.parametrize(("proxies", "limited"), [(0, True), (1, False)])
def test_behind_a_trusted_proxy_the_client_address_is_counted(database_url: str, proxies: int, limited: bool) -> None:
    """Twenty clients behind one proxy: with the proxy declared each is counted apart; without it,
    forwarded headers are not believed (a client could send any) and the proxy's address counts."""
    app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url, "TRUSTED_PROXIES": proxies})
    client = app.test_client()
    with time_machine.travel(utcnow(), tick=False):
        for number in range(21):
            response = client.post(
                "/auth/login",
                data={"email": f"guess{number}@bridge.example", "password": "wrong password"},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},
                headers={"X-Forwarded-For": f"203.0.113.{number}"},
            )
    assert (response.status_code == 429) is limited
    get_engine(app).dispose()
