"""CSRF protection on every state-changing request, with the token in a header for htmx."""

import re
import uuid
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


# --- Fetch Metadata: cross-site state changes are refused even with a valid token -----------------


def mutating_urls(app: Flask) -> list[str]:
    """Every URL that accepts a POST, with a made-up id wherever the rule takes one."""
    urls = []
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or set()):
            urls.append(rule.build({name: uuid.uuid4() for name in rule.arguments}, append_unknown=False)[1])
    return sorted(urls)


def test_every_mutating_route_refuses_a_cross_site_request_with_a_valid_token(protected: FlaskClient) -> None:
    valid = token(protected)
    urls = mutating_urls(protected.application)
    assert len(urls) > 20
    for url in urls:
        for site in ("cross-site", "same-site"):
            response = protected.post(url, data={"csrf_token": valid}, headers={"Sec-Fetch-Site": site})
            assert response.status_code == 403, (url, site)


@pytest.mark.parametrize("site", ["same-origin", "none"])
def test_our_own_pages_and_typed_addresses_pass(protected: FlaskClient, site: str) -> None:
    response = protected.post(
        "/auth/language", data={"lang": "zh", "csrf_token": token(protected)}, headers={"Sec-Fetch-Site": site}
    )
    assert response.status_code == 302


def test_without_fetch_metadata_a_foreign_origin_is_refused(protected: FlaskClient) -> None:
    valid = token(protected)
    for origin in ("https://evil.example", "null", "http://localhost.evil.example"):
        response = protected.post(
            "/auth/language", data={"lang": "zh", "csrf_token": valid}, headers={"Origin": origin}
        )
        assert response.status_code == 403, origin
    response = protected.post(
        "/auth/language", data={"lang": "zh", "csrf_token": valid}, headers={"Origin": "http://localhost"}
    )
    assert response.status_code == 302


def test_a_link_from_another_site_still_opens_a_page(protected: FlaskClient) -> None:
    assert protected.get("/auth/login", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200
