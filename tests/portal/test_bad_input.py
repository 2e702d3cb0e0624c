"""Hostile and odd input gets a clear 4xx answer, never a server error, and saves nothing broken."""

import re
import uuid
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from portal.audit.services import record
from portal.models import Offer, Role, User
from tests.conftest import keyed
from tests.portal.test_auth_mfa import enrol, password_step

HOSTILE = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "x" * 20_000,
    "-1",
    "1e999",
    "nan",
    "inf",
    "99999999999999999999999",
    "0x10",
    "'; DROP TABLE offer; --",
    "<script>alert(1)</script>",
    "😀" * 50,
    "\u202e\u200b",
    "00000000-0000-0000-0000-000000000000",
    "not-a-uuid",
    "%(name)s",
    # str.isdigit() is true for these, and int() or compare_digest fails on them.
    "²",
    "¹²³⁴⁵⁶",
    "١٢",
    "１２",
]
# url_for keeps these names for itself: one in the address must not reach it through a link.
RESERVED_QUERY = {"_method": "POST", "_external": "1", "_anchor": "x", "_scheme": "ftp", "endpoint": "x", "values": "x"}

FORMS: dict[str, tuple[Role | None, list[str]]] = {
    "/offers/new": (
        Role.PROVIDER,
        [
            "category",
            "title",
            "description",
            "skills",
            "languages",
            "area_id",
            "latitude",
            "longitude",
            "remote",
            "schedule",
            "capacity",
            "min_age",
            "max_age",
            "genders",
            "min_months_in_recovery",
            "employment_type",
            "pay_min",
            "pay_max",
            "pay_period",
            "hours_per_week",
            "contact_email",
            "version",
            "idempotency_key",
        ],
    ),
    "/users/new": (Role.ADMIN, ["role", "area_id", "name", "email", "phone", "password", "idempotency_key"]),
    "/auth/signup/organization": (
        None,
        ["organization_name", "kind", "description", "name", "email", "password", "idempotency_key"]
        + ["credit_code", "registered_address", "contact_person", "contact_phone"],
    ),
    "/auth/login": (None, ["email", "password"]),
}


@pytest.mark.parametrize("url", sorted(FORMS))
def test_hostile_values_in_every_field_never_cause_a_server_error(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User], url: str
) -> None:
    role, fields = FORMS[url]
    if role is not None:
        login(make_user(role))
    for field in fields:
        for value in HOSTILE:
            response = client.post(url, data=keyed({field: value}))
            assert response.status_code < 500, (field, value, response.status_code)
            assert "Traceback" not in response.get_data(as_text=True)


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_directory_filters_never_cause_a_server_error(
    client: FlaskClient, login: Callable[[User], FlaskClient], make_user: Callable[..., User], value: str
) -> None:
    login(make_user(Role.CASEWORKER))
    for name in ("q", "category", "area", "language", "status", "after"):
        response = client.get("/offers/", query_string={name: value})
        assert response.status_code in {200, 400}, (name, value)


@pytest.mark.parametrize("name", sorted(RESERVED_QUERY))
def test_the_directory_pager_keeps_its_filters_and_nothing_else(
    app: Flask,
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    name: str,
) -> None:
    app.config["DIRECTORY_PAGE_SIZE"] = 1
    provider = make_user(Role.PROVIDER)
    for title in ("Night shelter", "Hostel bed", "Halfway house"):
        make_offer(provider, title=title, category="housing")
    login(make_user(Role.CASEWORKER))
    response = client.get("/offers/", query_string={"category": "housing", name: RESERVED_QUERY[name]})
    assert response.status_code == 200
    assert re.search(r'<a href="/offers/\?category=housing&amp;after=[\w-]+" ', response.text)


@pytest.mark.parametrize("name", sorted(RESERVED_QUERY))
def test_reserved_query_names_on_the_audit_and_indicator_pages_are_ignored(
    client: FlaskClient,
    login: Callable[[User], FlaskClient],
    make_user: Callable[..., User],
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    name: str,
) -> None:
    monkeypatch.setattr("portal.audit.views.PER_PAGE", 1)  # a pager on two events
    admin = make_user(Role.ADMIN)
    for _ in range(2):
        record(session, admin, "create", "person", uuid.uuid4())
    session.commit()
    login(admin)
    audit = client.get("/audit/", query_string={"action": "create", name: RESERVED_QUERY[name]})
    assert audit.status_code == 200 and 'href="/audit/?action=create&amp;after=' in audit.text
    indicators = client.get("/indicators", query_string={"period": "30", name: RESERVED_QUERY[name]})
    assert indicators.status_code == 200 and 'href="/indicators/export.csv?period=30"' in indicators.text


def test_a_code_typed_in_superscript_digits_is_refused_not_a_server_error(
    app: Flask, client: FlaskClient, make_user: Callable[..., User], session: Session
) -> None:
    user = make_user(Role.SUPERVISOR, email="sv@bridge.example")
    totp, _codes = enrol(session, user)
    password_step(client, "sv@bridge.example")
    superscript = totp.now().translate(str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹"))
    response = client.post("/auth/code", data={"code": superscript})
    assert response.status_code == 422 and "This code is not right" in response.text


def test_an_oversized_request_is_refused_with_413(client: FlaskClient) -> None:
    response = client.post("/auth/login", data={"email": "a@b.example", "password": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
