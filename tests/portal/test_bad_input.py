"""Hostile and odd input gets a clear 4xx answer, never a server error, and saves nothing broken."""

from collections.abc import Callable

import pytest
from flask.testing import FlaskClient

from portal.models import Role, User
from tests.conftest import keyed

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
]

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
        ["organization_name", "kind", "description", "name", "email", "password", "idempotency_key"],
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
    for name in ("q", "category", "area", "language", "status", "page"):
        response = client.get("/offers/", query_string={name: value})
        assert response.status_code in {200, 400}, (name, value)


def test_an_oversized_request_is_refused_with_413(client: FlaskClient) -> None:
    response = client.post("/auth/login", data={"email": "a@b.example", "password": "x" * (2 * 1024 * 1024)})
    assert response.status_code == 413
