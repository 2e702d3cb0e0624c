"""Fresh sign-in: exports, the consent override, account changes and the audit trail ask for the
password (and code) again when it was last given more than 5 minutes ago; and the idle warning."""

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal.models import AuditEvent, ConsentOverride, LoginAttempt, Role, User, UserSession, utcnow
from tests.conftest import PASSWORD, keyed
from tests.portal.test_access import cast  # noqa: F401 - the same cast of users and records
from tests.portal.test_auth_mfa import enrol

# (endpoint, method, url template, who uses it here). Every view marked fresh_sign_in_required.
PROTECTED = [
    ("people.export_json", "GET", "/people/{person}/export.json", Role.CASEWORKER),
    ("people.export_caseload", "GET", "/people/export.csv", Role.CASEWORKER),
    ("people.export_page", "GET", "/people/{person}/export", Role.SUPERVISOR),
    ("indicators.export_csv", "GET", "/indicators/export.csv", Role.ADMIN),
    ("indicators.grids_csv", "GET", "/indicators/grids.csv", Role.SUPERVISOR),
    ("hours.export", "GET", "/hours/export.csv", Role.ADMIN),
    ("consents.override", "POST", "/referrals/{referral}/override", Role.SUPERVISOR),
    ("users.create", "GET", "/users/new", Role.ADMIN),
    ("users.create", "POST", "/users/new", Role.ADMIN),
    ("users.verify", "POST", "/users/{volunteer}/verify", Role.ADMIN),
    ("users.active", "POST", "/users/{volunteer}/active", Role.ADMIN),
    ("users.reset_second_factor", "POST", "/users/{volunteer}/two-step/reset", Role.ADMIN),
    ("audit.index", "GET", "/audit/", Role.ADMIN),
    ("erasure.erase", "POST", "/erasure-requests/{erasure_request}/erase", Role.ADMIN),
    # Verifying an organization lets its staff receive referrals: a permission change.
    ("organizations.verify", "POST", "/organizations/{organization}/verify", Role.ADMIN),
    # A partner's token reads the directory: making and revoking one are permission changes.
    ("hsds.create_token", "POST", "/api/hsds/tokens", Role.ADMIN),
    ("hsds.revoke_token", "POST", "/api/hsds/tokens/{api_token}/revoke", Role.ADMIN),
    ("hsds.apply_import", "POST", "/api/hsds/imports/{directory_import}/apply", Role.ADMIN),
    ("hsds.restart_import", "POST", "/api/hsds/imports/{directory_import}/restart", Role.ADMIN),
]
HTMX = {"HX-Request": "true"}


def url_of(template: str, records: dict[Any, Any]) -> str:
    return template.format(
        person=records["person"].id,
        referral=records["referrals"][Role.PROVIDER].id,
        volunteer=records["volunteer"].id,
        erasure_request=records["erasure_request"].id,
        organization=records["organization"].id,
        api_token=records["api_token"].id,
        directory_import=records["directory_import"].id,
    )


def confirm_target(location: str) -> str:
    """The `next` of a redirect to the confirmation page (fails if it goes anywhere else)."""
    parts = urlsplit(location)
    assert parts.path == "/auth/confirm", location
    return parse_qs(parts.query)["next"][0]


def test_every_view_that_asks_for_a_fresh_sign_in_is_listed_here(app: Flask) -> None:
    """A decorator dropped, or added without a test, fails here."""
    marked = {endpoint for endpoint, view in app.view_functions.items() if getattr(view, "fresh_sign_in", False)}
    assert marked == {endpoint for endpoint, _method, _url, _role in PROTECTED}


@pytest.mark.parametrize(("endpoint", "method", "template", "role"), PROTECTED, ids=lambda v: str(v))
def test_a_sign_in_older_than_five_minutes_is_sent_to_confirm(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],  # noqa: F811
    session: Session,
    endpoint: str,
    method: str,
    template: str,
    role: Role,
) -> None:
    url = url_of(template, cast)
    data = keyed(active="0", basis="medical_emergency", note="x") if method == "POST" else None
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(cast["users"][role])
        clock.shift(timedelta(minutes=4, seconds=59))  # still fresh: the view runs
        fresh = client.open(url, method=method, data=data)
        assert fresh.status_code in {200, 303, 409, 422}, fresh.headers.get("Location")
        assert "/auth/" not in fresh.headers.get("Location", "")

        clock.shift(timedelta(seconds=61))
        session.rollback()
        events_before = len(session.exec(select(AuditEvent.id)).all())
        response = client.open(url, method=method, data=data, headers={"Referer": "http://localhost/users/"})
        assert response.status_code == 302
        if method == "GET":
            assert confirm_target(response.headers["Location"]) == url
        else:  # back to the page the form was on, which is asked again: the POST itself is not repeated
            assert confirm_target(response.headers["Location"]) == "/users/"
        htmx = client.open(url, method=method, data=data, headers=HTMX)
        assert htmx.status_code == 401 and urlsplit(htmx.headers["HX-Redirect"]).path == "/auth/confirm"
        assert htmx.get_data() == b""
        session.rollback()
        # Nothing was exported, shown or changed: not even an audit event was written.
        assert len(session.exec(select(AuditEvent.id)).all()) == events_before


def test_a_refused_post_changes_nothing(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],  # noqa: F811
    session: Session,
) -> None:
    volunteer, referral = cast["volunteer"], cast["referrals"][Role.PROVIDER]
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(cast["users"][Role.ADMIN])
        clock.shift(timedelta(minutes=6))
        assert client.post(f"/users/{volunteer.id}/active", data={"active": "0"}).status_code == 302
        assert client.post(f"/users/{volunteer.id}/verify").status_code == 302
        login(cast["users"][Role.SUPERVISOR])
        clock.shift(timedelta(minutes=6))
        form = {"basis": "medical_emergency", "note": "Overdose, the person cannot consent"}
        assert client.post(f"/referrals/{referral.id}/override", data=form).status_code == 302
    session.rollback()
    volunteer = session.get(User, volunteer.id)
    assert volunteer is not None and volunteer.active and volunteer.verified_at is None
    assert session.exec(select(ConsentOverride)).all() == []


def test_the_export_works_again_after_the_password_is_given(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],  # noqa: F811
    session: Session,
) -> None:
    caseworker, person = cast["users"][Role.CASEWORKER], cast["person"]
    export = f"/people/{person.id}/export.json"
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(caseworker)
        clock.shift(timedelta(minutes=6))
        asked = client.get(export)
        target = confirm_target(asked.headers["Location"])
        page = client.get(asked.headers["Location"]).get_data(as_text=True)
        assert 'name="password"' in page and 'name="code"' not in page  # no second factor enrolled
        assert f'name="next" value="{target}"' in page

        wrong = client.post("/auth/confirm", data={"password": "not my password", "next": target})
        assert wrong.status_code == 422 and "This is not your current password." in wrong.get_data(as_text=True)
        assert client.get(export).status_code == 302

        right = client.post("/auth/confirm", data={"password": PASSWORD, "next": target})
        assert right.status_code == 303 and right.headers["Location"] == export
        exported = client.get(export)
        assert exported.status_code == 200 and exported.mimetype == "application/json"

        clock.shift(timedelta(minutes=5, seconds=1))
        assert client.get(export).status_code == 302  # fresh for five minutes, not for the session

    session.rollback()
    attempts = session.exec(select(LoginAttempt).order_by(col(LoginAttempt.at))).all()
    assert [attempt.succeeded for attempt in attempts] == [False, True]  # counted like sign-in attempts
    actions = session.exec(select(AuditEvent.action).where(AuditEvent.actor_id == caseworker.id)).all()
    assert {"reauthentication_failed", "reauthenticated"} <= set(actions)


def test_a_user_with_two_step_sign_in_gives_a_code_too(
    app: Flask,
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],  # noqa: F811
    session: Session,
) -> None:
    admin = cast["users"][Role.ADMIN]
    totp, recovery = enrol(session, admin)
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(admin)
        clock.shift(timedelta(minutes=6))
        page = client.get("/auth/confirm?next=/audit/").get_data(as_text=True)
        assert 'name="code"' in page
        no_code = client.post("/auth/confirm", data={"password": PASSWORD, "next": "/audit/"})
        assert no_code.status_code == 422 and "The password or the code is not right." in no_code.get_data(True)
        wrong_password = client.post("/auth/confirm", data={"password": "nope", "code": totp.now(), "next": "/audit/"})
        assert wrong_password.status_code == 422
        code = totp.now()
        both = client.post("/auth/confirm", data={"password": PASSWORD, "code": code, "next": "/audit/"})
        assert both.status_code == 303 and both.headers["Location"] == "/audit/"
        assert client.get("/audit/").status_code == 200
        # The code just used is refused a second time; later, a recovery code works instead.
        assert client.post("/auth/confirm", data={"password": PASSWORD, "code": code}).status_code == 422
        clock.shift(timedelta(minutes=6))
        assert client.get("/audit/").status_code == 302
        assert client.post("/auth/confirm", data={"password": PASSWORD, "code": recovery[0]}).status_code == 303
        assert client.get("/audit/").status_code == 200


def test_confirming_is_throttled_and_locked_like_signing_in(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],  # noqa: F811
) -> None:
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(cast["users"][Role.ADMIN])
        clock.shift(timedelta(minutes=6))
        for _ in range(5):
            assert client.post("/auth/confirm", data={"password": "guess"}).status_code == 422
        locked = client.post("/auth/confirm", data={"password": PASSWORD})
        assert locked.status_code == 429 and "locked" in locked.get_data(as_text=True)
        assert client.get("/audit/").status_code == 302  # the right password did not help while locked


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/\\evil.example", "javascript:x"])
def test_confirming_never_leads_to_another_site(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    cast: dict[Any, Any],  # noqa: F811
    target: str,
) -> None:
    login(cast["users"][Role.ADMIN])
    response = client.post("/auth/confirm", data={"password": PASSWORD, "next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_sign_in_through_the_form_counts_as_fresh(
    client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    make_user(Role.ADMIN, email="root@bridge.example")
    with time_machine.travel(utcnow(), tick=False) as clock:
        client.post("/auth/login", data={"email": "root@bridge.example", "password": PASSWORD})
        assert client.get("/audit/").status_code == 200
        clock.shift(timedelta(minutes=5, seconds=1))
        assert client.get("/audit/").status_code == 302
    session.rollback()
    row = session.exec(select(UserSession)).one()
    assert row.authenticated_at == row.created_at


# --- The idle warning -------------------------------------------------------------------------------


def test_signed_in_pages_carry_the_idle_warning_without_inline_script(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    assert "session-warning" not in client.get("/auth/login").get_data(as_text=True)
    login(make_user(Role.CASEWORKER))
    page = client.get("/notifications/").get_data(as_text=True)
    box = re.search(r'<div id="session-warning"[^>]*>', page)
    assert box is not None and " hidden" in box.group(0) and 'role="alertdialog"' in box.group(0)
    assert 'data-idle-full-seconds="900"' in box.group(0) and 'data-keep-alive-url="/auth/keep-alive"' in box.group(0)
    assert "You will be signed out in 2 minutes" in page and 'id="session-warning-stay"' in page
    assert '<script src="/static/session-timeout.js" defer></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)  # every script is a file: the CSP allows no inline
    assert " onclick=" not in page
    with client.get("/static/session-timeout.js") as script:
        assert script.status_code == 200 and b"keepAlive" in script.data


def test_the_warning_counts_down_from_the_servers_last_seen(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(make_user(Role.PROVIDER))
        clock.shift(timedelta(seconds=30))  # last-seen is not written again within the minute
        page = client.get("/offers/mine").get_data(as_text=True)
        assert 'data-idle-seconds="1770"' in page and 'data-idle-full-seconds="1800"' in page


def test_staying_signed_in_keeps_an_idle_session_alive(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User]
) -> None:
    with time_machine.travel(utcnow(), tick=False) as clock:
        login(make_user(Role.CASEWORKER))
        clock.shift(timedelta(minutes=13, seconds=30))  # the warning is showing
        assert client.post("/auth/keep-alive").status_code == 204
        clock.shift(timedelta(minutes=14))
        assert client.get("/notifications/").status_code == 200  # 27.5 minutes after the last page
        clock.shift(timedelta(minutes=15, seconds=1))
        assert client.post("/auth/keep-alive").status_code == 302  # too late: signed out on the server
