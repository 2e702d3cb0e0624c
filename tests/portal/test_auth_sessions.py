"""Server-side sessions: sign-out really signs out, time-outs are kept on the server, a password
change or a deactivation ends the user's other sessions, and the cookie is hardened."""

from collections.abc import Callable
from datetime import timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select

from portal import create_app
from portal.db import get_engine
from portal.models import Role, User, UserSession, utcnow
from tests.conftest import PASSWORD, TEST_CONFIG, sign_in_with_session

COOKIE = "session"  # `__Host-session` where the cookie is Secure (see the last test)


def sign_in(client: FlaskClient, email: str, password: str = PASSWORD) -> object:
    return client.post("/auth/login", data={"email": email, "password": password})


def cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    return cookie.value


def browser_with(app: Flask, cookie: str) -> FlaskClient:
    other = app.test_client()
    other.set_cookie(COOKIE, cookie)
    return other


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    app: Flask, client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    sign_in(client, "cw@bridge.example")
    copied = cookie_of(client)
    assert browser_with(app, copied).get("/offers/").status_code == 200

    response = client.post("/auth/logout")
    assert response.headers["Clear-Site-Data"] == '"cache", "storage"'

    replayed = browser_with(app, copied).get("/offers/")
    assert replayed.status_code == 302 and replayed.headers["Location"].startswith("/auth/login")
    htmx = browser_with(app, copied).get("/offers/?q=job", headers={"HX-Request": "true"})
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/auth/login")


def test_a_staff_cookie_replayed_from_another_browser_is_refused(
    app: Flask, client: FlaskClient, make_user: Callable[..., User]
) -> None:
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    make_user(Role.PROVIDER, email="ngo@bridge.example")
    sign_in(client, "cw@bridge.example")
    elsewhere = browser_with(app, cookie_of(client))
    assert elsewhere.get("/offers/", headers={"User-Agent": "Mozilla/5.0 (X11; Linux)"}).status_code == 302
    provider = app.test_client()
    sign_in(provider, "ngo@bridge.example")
    phone = browser_with(app, cookie_of(provider))
    assert phone.get("/offers/mine", headers={"User-Agent": "Mozilla/5.0 (Android 15)"}).status_code == 200


def test_each_sign_in_gets_a_new_session(client: FlaskClient, make_user: Callable[..., User], session: Session) -> None:
    user = make_user(Role.VOLUNTEER, email="v@bridge.example")
    client.post("/auth/language", data={"lang": "zh"})  # an anonymous session exists before sign-in
    before = cookie_of(client)
    sign_in(client, "v@bridge.example")
    first = cookie_of(client)
    assert '<html lang="zh-Hans-CN">' in client.get("/offers/mine").get_data(as_text=True)  # the language stays
    client.post("/auth/logout")
    sign_in(client, "v@bridge.example")
    assert len({before, first, cookie_of(client)}) == 3
    rows = session.exec(select(UserSession).where(UserSession.user_id == user.id)).all()
    assert len(rows) == 2 and len({row.token_hash for row in rows}) == 2
    assert sum(row.revoked_at is None for row in rows) == 1


def test_tokens_are_stored_only_as_hashes(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    sign_in(client, "v@bridge.example")
    with client.session_transaction() as flask_session:
        token = flask_session["auth_token"]
    assert len(token) >= 22  # 128 bits, URL-safe base64
    row = session.exec(select(UserSession)).one()
    assert token not in row.token_hash and len(row.token_hash) == 64


@pytest.mark.parametrize(("role", "idle"), [(Role.CASEWORKER, 15), (Role.ADMIN, 15), (Role.PROVIDER, 30)])
def test_idle_sessions_end_on_the_server(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User], role: Role, idle: int
) -> None:
    page = "/offers/mine" if role == Role.PROVIDER else "/notifications/"
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(make_user(role))
        clock.shift(timedelta(minutes=idle - 1, seconds=59))
        assert client.get(page).status_code == 200  # activity restarts the idle clock
        clock.shift(timedelta(minutes=idle - 1, seconds=59))
        assert client.get(page).status_code == 200
        clock.shift(timedelta(minutes=idle, seconds=1))
        assert client.get(page).status_code == 302


def test_sessions_end_after_eight_hours_however_busy(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(make_user(Role.CASEWORKER))
        for _ in range(48):  # a page every ten minutes for eight hours
            clock.shift(timedelta(minutes=10))
            assert client.get("/notifications/").status_code == 200
        clock.shift(timedelta(minutes=1))
        assert client.get("/notifications/").status_code == 302


def test_last_seen_is_written_at_most_once_a_minute(
    app: Flask, client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    def last_seen() -> object:
        with Session(get_engine(app)) as fresh:
            return fresh.exec(select(UserSession.last_seen_at)).one()

    with time_machine.travel(utcnow(), tick=False) as clock:
        login(make_user(Role.CASEWORKER))
        started = last_seen()
        clock.shift(timedelta(seconds=30))
        assert client.get("/notifications/").status_code == 200
        assert last_seen() == started  # a page view within the minute writes nothing
        clock.shift(timedelta(seconds=31))
        assert client.get("/notifications/").status_code == 200  # a GET: written in its own transaction
        assert last_seen() == utcnow()
        clock.shift(timedelta(seconds=61))
        assert client.post("/notifications/read").status_code in {302, 303}
        assert last_seen() == utcnow()


def test_password_change_needs_the_current_password_and_ends_other_sessions(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.CASEWORKER, email="cw@bridge.example")
    other = sign_in_with_session(app.test_client(), session, user)
    sign_in(client, "cw@bridge.example")
    new_password = "a river runs past the old mill"

    wrong = client.post("/auth/password", data={"current_password": "guess", "new_password": new_password})
    assert wrong.status_code == 422 and "This is not your current password." in wrong.get_data(as_text=True)
    assert other.get("/notifications/").status_code == 200

    short = client.post("/auth/password", data={"current_password": PASSWORD, "new_password": "fourteen chars"})
    assert short.status_code == 422 and "Use at least 15 characters." in short.get_data(as_text=True)

    done = client.post("/auth/password", data={"current_password": PASSWORD, "new_password": new_password})
    assert done.status_code == 303
    assert client.get("/notifications/").status_code == 200  # this browser stays signed in
    assert other.get("/notifications/").status_code == 302
    client.post("/auth/logout")
    assert sign_in(client, "cw@bridge.example").status_code == 422  # type: ignore[attr-defined]
    assert sign_in(client, "cw@bridge.example", new_password).status_code == 302  # type: ignore[attr-defined]


def test_sign_out_other_sessions(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.VOLUNTEER, email="v@bridge.example")
    phone = sign_in_with_session(app.test_client(), session, user)
    sign_in(client, "v@bridge.example")
    assert "1 other browser" in client.get("/auth/account").get_data(as_text=True)
    assert client.post("/auth/sessions/others").status_code == 303
    assert phone.get("/offers/mine").status_code == 302
    assert client.get("/offers/mine").status_code == 200
    assert "signed in only here" in client.get("/auth/account").get_data(as_text=True)


def test_deactivation_ends_every_session_of_the_user(
    app: Flask, login: Callable[[User], FlaskClient], make_user: Callable[..., User], session: Session
) -> None:
    volunteer = make_user(Role.VOLUNTEER)
    browsers = [sign_in_with_session(app.test_client(), session, volunteer) for _ in range(2)]
    admin = login(make_user(Role.ADMIN))
    assert admin.post(f"/users/{volunteer.id}/active", data={"active": "0"}).status_code == 303
    session.commit()
    rows = session.exec(select(UserSession).where(UserSession.user_id == volunteer.id)).all()
    assert rows and all(row.revoked_at is not None for row in rows)
    assert all(browser.get("/offers/mine").status_code == 302 for browser in browsers)


def test_session_cookie_is_hardened_in_production(
    database_url: str, make_user: Callable[..., User], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("PORTAL_ENV", "PORTAL_SESSION_COOKIE_NAME", "PORTAL_SESSION_COOKIE_SECURE", "PORTAL_MFA_REQUIRED"):
        monkeypatch.delenv(name, raising=False)
    production = {key: value for key, value in TEST_CONFIG.items() if "SECURE" not in key and key != "MFA_REQUIRED"}
    app = create_app({**production, "ENV": "production", "DATABASE_URL": database_url, "ALLOW_SQLITE": True})
    make_user(Role.VOLUNTEER, email="v@bridge.example")
    client = app.test_client()
    response = client.post(
        "/auth/login", data={"email": "v@bridge.example", "password": PASSWORD}, base_url="https://localhost"
    )
    assert response.status_code == 302
    [header] = response.headers.getlist("Set-Cookie")
    cookie = SimpleCookie()
    cookie.load(header)
    morsel = cookie["__Host-session"]
    assert morsel["secure"] and morsel["httponly"] and morsel["samesite"] == "Lax"
    assert morsel["path"] == "/" and not morsel["domain"]
    assert parsedate_to_datetime(morsel["expires"]) <= utcnow() + timedelta(hours=8)
    assert "remember_token" not in header
    assert app.config["MFA_REQUIRED"] is True
    get_engine(app).dispose()


def test_an_admin_signs_a_user_out_everywhere(
    app: Flask, login: Callable[[User], FlaskClient], make_user: Callable[..., User], session: Session
) -> None:
    provider = make_user(Role.PROVIDER)
    laptop = sign_in_with_session(app.test_client(), session, provider)
    admin = login(make_user(Role.ADMIN))
    assert admin.post(f"/users/{provider.id}/sessions/end").status_code == 303
    assert laptop.get("/offers/mine").status_code == 302
    assert admin.get("/users/").status_code == 200  # the admin's own session is untouched
