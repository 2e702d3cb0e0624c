"""The last-resort error handler: a failure nobody foresaw shows a reference, never a traceback."""

import logging
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app
from portal.auth.access import public
from portal.db import get_engine
from tests.conftest import TEST_CONFIG


@pytest.fixture
def failing(database_url: str) -> Iterator[FlaskClient]:
    """The portal with one extra route, for this test only, that fails like a bug would."""
    app: Flask = create_app({**TEST_CONFIG, "DATABASE_URL": database_url})

    @public
    def boom() -> str:
        raise RuntimeError('SELECT full_name FROM person WHERE id = 1; File "portal/secret.py"')

    app.add_url_rule("/test-only/boom", "boom", boom, methods=["GET", "POST"])
    yield app.test_client()
    get_engine(app).dispose()


@pytest.mark.parametrize("headers", [{}, {"HX-Request": "true"}])
def test_an_unexpected_error_shows_a_reference_and_no_detail(
    failing: FlaskClient, caplog: pytest.LogCaptureFixture, headers: dict[str, str]
) -> None:
    with caplog.at_level(logging.ERROR):
        response = failing.get("/test-only/boom", headers=headers)
    assert response.status_code == 500
    body = response.get_data(as_text=True)
    for leak in ("Traceback", 'File "', "SELECT", "RuntimeError", "portal/secret.py"):
        assert leak not in body
    assert "Something went wrong" in body
    request_id = response.headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{12}", request_id)
    assert request_id in body
    # The detail is in the log, under the same reference, for whoever investigates.
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert "SELECT full_name" in str(logged[0].exc_info[1])


def test_each_failure_gets_its_own_reference(failing: FlaskClient) -> None:
    first = failing.post("/test-only/boom").headers["X-Request-ID"]
    second = failing.post("/test-only/boom").headers["X-Request-ID"]
    assert first != second
