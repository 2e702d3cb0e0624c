"""No default accounts: the first administrator comes from `flask create-admin`, with a one-time
password that works for 24 hours and must be replaced before anything else."""

import re
from datetime import timedelta

import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, func, select

from portal.models import Role, User, utcnow
from tests.portal.test_auth_mfa import strict_app  # noqa: F401 - the portal with MFA required

NEW_PASSWORD = "a lantern over the quiet river"


def create_admin(app: Flask, *args: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["create-admin", *args])
    return result.exit_code, result.output


def printed_password(output: str) -> str:
    found = re.search(r"One-time password \(shown only now\): (\S+)", output)
    assert found is not None, output
    return found.group(1)


def sign_in(client: FlaskClient, email: str, password: str) -> int:
    return client.post("/auth/login", data={"email": email, "password": password}).status_code


def test_a_new_database_has_no_accounts_and_admin_admin_does_not_sign_in(client: FlaskClient, session: Session) -> None:
    assert session.exec(select(func.count()).select_from(User)).one() == 0
    refused = client.post("/auth/login", data={"email": "admin", "password": "admin"})
    assert refused.status_code == 422
    assert client.get("/users/").status_code == 302  # not signed in


def test_the_printed_password_signs_in_once_and_must_be_replaced_first(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    code, output = create_admin(app, "Root@Bridge.example", "Li Wei")
    assert code == 0, output
    password = printed_password(output)
    assert len(password) >= 24 and output.count(password) == 1
    admin = session.exec(select(User)).one()
    assert admin.email == "root@bridge.example" and admin.role == Role.ADMIN and password not in admin.password_hash

    assert sign_in(client, "root@bridge.example", password) == 302
    for page in ("/users/", "/", "/notifications/", "/audit/"):
        response = client.get(page)
        assert response.status_code == 302 and response.headers["Location"] == "/auth/account", page
    assert client.get("/users/", headers={"HX-Request": "true"}).headers["HX-Redirect"] == "/auth/account"
    account = client.get("/auth/account").get_data(as_text=True)
    assert "You signed in with a one-time password." in account

    changed = client.post("/auth/password", data={"current_password": password, "new_password": NEW_PASSWORD})
    assert changed.status_code == 303
    assert client.get("/users/").status_code == 200
    client.post("/auth/logout")
    assert sign_in(client, "root@bridge.example", password) == 422  # the one-time password is gone
    assert sign_in(client, "root@bridge.example", NEW_PASSWORD) == 302


def test_the_one_time_password_stops_working_after_24_hours(app: Flask, client: FlaskClient) -> None:
    with time_machine.travel(utcnow(), tick=False) as clock:
        password = printed_password(create_admin(app, "root@bridge.example", "Li Wei")[1])
        clock.shift(timedelta(hours=23, minutes=59))
        assert sign_in(client, "root@bridge.example", password) == 302
        client.post("/auth/logout")
        clock.shift(timedelta(minutes=1))
        response = client.post("/auth/login", data={"email": "root@bridge.example", "password": password})
        assert response.status_code == 422  # the same answer as any wrong password
        assert "The e-mail address or password is not right." in response.get_data(as_text=True)


def test_a_second_admin_needs_force_and_a_lost_password_is_issued_again(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    with time_machine.travel(utcnow(), tick=False) as clock:
        first = printed_password(create_admin(app, "root@bridge.example", "Li Wei")[1])
        code, output = create_admin(app, "other@bridge.example", "Zhang Min")
        assert code == 1 and "An active administrator exists already" in output
        assert session.exec(select(func.count()).select_from(User)).one() == 1

        clock.shift(timedelta(hours=25))  # the first password expired unused: ask again for the same admin
        code, output = create_admin(app, "root@bridge.example", "Li Wei")
        assert code == 0
        again = printed_password(output)
        assert sign_in(client, "root@bridge.example", first) == 422
        assert sign_in(client, "root@bridge.example", again) == 302

        code, output = create_admin(app, "other@bridge.example", "Zhang Min", "--force")
        assert code == 0, output
    session.rollback()
    assert session.exec(select(func.count()).select_from(User).where(User.role == Role.ADMIN)).one() == 2


def test_an_address_in_use_or_not_an_address_is_refused(app: Flask, make_user: object) -> None:
    assert create_admin(app, "not an address", "Li Wei")[0] == 2
    assert create_admin(app, "root@bridge.example", "")[0] == 2
    make_user(Role.CASEWORKER, email="cw@bridge.example")  # type: ignore[operator]
    code, output = create_admin(app, "cw@bridge.example", "Li Wei", "--force")
    assert code == 1 and "exists already" in output


def test_where_two_step_sign_in_is_required_the_password_comes_first(strict_app: Flask) -> None:  # noqa: F811
    client = strict_app.test_client()
    password = printed_password(create_admin(strict_app, "root@bridge.example", "Li Wei")[1])
    assert sign_in(client, "root@bridge.example", password) == 302
    assert client.get("/auth/two-step").headers["Location"] == "/auth/account"
    assert client.get("/auth/account").status_code == 200
    client.post("/auth/password", data={"current_password": password, "new_password": NEW_PASSWORD})
    assert client.get("/users/").headers["Location"] == "/auth/two-step"
