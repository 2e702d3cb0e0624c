"""CSRF protection on every state-changing request, with the token in a header for htmx."""

import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.db import get_engine
from tests.conftest import TEST_CONFIG


@pytest.fixture
def protected(database_url: str) -> Iterator[FlaskClient]:
    app: Flask = create_app({**TEST_CONFIG, "WTF_CSRF_ENABLED": True, "DATABASE_URL": database_url})
    yield app.test_client()
    get_engine(app).dispose()


def token(client: FlaskClient) -> str:
    html = client.get("/auth/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match
    return match.group(1)


def test_a_form_without_its_token_is_refused_with_a_clear_page(protected: FlaskClient) -> None:
    response = protected.post("/auth/language", data={"lang": "zh"})
    assert response.status_code == 400
    assert "This form has expired" in response.get_data(as_text=True)


def test_the_form_token_is_accepted(protected: FlaskClient) -> None:
    response = protected.post("/auth/language", data={"lang": "zh", "csrf_token": token(protected)})
    assert response.status_code == 302


def test_htmx_requests_send_the_token_in_a_header(protected: FlaskClient) -> None:
    html = protected.get("/auth/login").get_data(as_text=True)
    header_token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', html)
    assert header_token
    response = protected.post(
        "/auth/language", data={"lang": "en"}, headers={"X-CSRFToken": header_token.group(1), "HX-Request": "true"}
    )
    assert response.status_code == 302
