"""The last-resort error handler: a failure nobody foresaw shows a reference, never a traceback."""

import logging
import re
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

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


class Cuttable:
    """A TCP relay to PostgreSQL that can be cut and restored on the same port: the database
    "restarting" as the portal sees it, without touching the server other tests use."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = 0
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        """Refuse new connections and break every open one, as a stopped server does."""
        assert self.listener is not None
        # shutdown wakes the thread blocked in accept(); close alone would leave it listening.
        with suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.listener = None
        for connection in self.open:
            with suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()
        self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.open += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        with suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@pytest.fixture
def relayed(database_url: str) -> Iterator[tuple[FlaskClient, Cuttable]]:
    if not database_url.startswith("postgresql"):
        pytest.skip("an outage of the database server: PostgreSQL")
    url = make_url(database_url)
    relay = Cuttable((url.host or "127.0.0.1", url.port or 5432))
    relay.start()
    app = create_app(
        {**TEST_CONFIG, "DATABASE_URL": url.set(host="127.0.0.1", port=relay.port).render_as_string(False)}
    )
    yield app.test_client(), relay
    with suppress(Exception):
        relay.cut()
    get_engine(app).dispose()


def test_a_database_outage_shows_a_retry_page_and_the_portal_recovers_by_itself(
    relayed: tuple[FlaskClient, Cuttable], caplog: pytest.LogCaptureFixture
) -> None:
    client, relay = relayed
    assert client.get("/healthz").status_code == 200  # a pooled connection now exists
    relay.cut()
    with caplog.at_level(logging.WARNING):
        during = [client.get("/healthz"), client.post("/auth/login", data={"email": "a@b.example", "password": "x"})]
    for response in during:
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "30"
        body = response.get_data(as_text=True)
        assert "cannot reach its database" in body
        assert "Traceback" not in body and "psycopg" not in body and "OperationalError" not in body
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
    relay.start()
    # The same app, not restarted: the dead pooled connections are noticed and replaced.
    assert client.get("/healthz").status_code == 200


def test_the_outage_page_is_in_the_browsers_language(relayed: tuple[FlaskClient, Cuttable]) -> None:
    client, relay = relayed
    relay.cut()
    response = client.get("/healthz", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert response.status_code == 503
    assert "门户暂时无法连接数据库" in response.get_data(as_text=True)


def test_a_read_only_sqlite_file_refuses_a_write_with_a_clear_page_and_keeps_the_data(
    database_url: str, tmp_path: Path
) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("a database file the portal may not write: SQLite")
    path = database_url.removeprefix("sqlite:///")
    read_only = create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///file:{path}?mode=ro&uri=true"})
    client = read_only.test_client()
    assert client.get("/healthz").status_code == 200  # reading still works
    response = client.post("/auth/login", data={"email": "someone@example.org", "password": "not this one"})
    assert response.status_code == 503
    assert "cannot reach its database" in response.get_data(as_text=True)
    get_engine(read_only).dispose()
    with sqlite3.connect(path) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
