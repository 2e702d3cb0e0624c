"""An import reads another directory's API from public addresses only: a URL typed on the admins'
page must not become the server's way into what only it reaches (the databases on 127.0.0.1, the
cloud's metadata, the city's internal systems). An operator at the command line may ask for a
partner inside a private network."""

import socket
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session
from werkzeug.serving import make_server

from portal.demo import load_demo_data
from portal.hsds import network, services
from portal.models import ImportState, Role, User
from tests.conftest import sign_in_with_session
from tests.portal.test_hsds_import import _ended, _import_id, published

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@pytest.fixture
def directory_server(app: Flask) -> Iterator[tuple[int, list[str]]]:
    """The portal's own API served on 127.0.0.1 (a port of its own), and the paths it was asked for."""
    asked: list[str] = []

    def counting(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        asked.append(environ["PATH_INFO"])
        return app(environ, start_response)

    server = make_server("127.0.0.1", 0, counting, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, asked
    server.shutdown()
    thread.join()


@pytest.fixture
def admin(make_user: Callable[..., User], login: Callable[[User], FlaskClient]) -> FlaskClient:
    return login(make_user(Role.ADMIN))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_an_address_typed_on_the_page_that_reaches_the_server_itself_is_refused_unasked(
    app: Flask,
    admin: FlaskClient,
    session: Session,
    make_user: Callable[..., User],
    directory_server: tuple[int, list[str]],
    host: str,
) -> None:
    port, asked = directory_server
    import_id = _import_id(admin.post("/api/hsds/imports", data={"url": f"http://{host}:{port}/api/hsds/"}))
    row = _ended(session, import_id)
    assert row.state == ImportState.REFUSED
    assert asked == []  # refused on connecting: not one request was sent
    page = admin.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)
    assert "is on a private network (127.0.0.1)" in page and "--private-network" in page
    assert "Import these records" not in page
    chinese = sign_in_with_session(app.test_client(), session, make_user(Role.ADMIN, locale="zh"))
    assert "位于内部网络（127.0.0.1）" in chinese.get(f"/api/hsds/imports/{import_id}").get_data(as_text=True)


def test_an_operator_reads_a_partner_inside_the_network_by_asking_for_it(
    app: Flask, session: Session, directory_server: tuple[int, list[str]]
) -> None:
    load_demo_data(session)
    session.rollback()
    expected = len(published(session))
    secret = services.create_token(session, "Partner inside the network", None)[1]
    port, asked = directory_server
    base = f"http://127.0.0.1:{port}/api/hsds"
    runner = app.test_cli_runner()
    refused = runner.invoke(args=["hsds", "import", base, "--token", secret])
    assert refused.exit_code == 1
    assert "is on a private network (127.0.0.1)" in refused.output and asked == []
    read = runner.invoke(args=["hsds", "import", base, "--token", secret, "--private-network"])
    assert f"{expected} service(s) read" in read.output and expected > 0
    assert any(path.startswith("/api/hsds/services") for path in asked)


class _Reached(Exception):
    """The fake socket was written to: the request went out."""


class _FakeSocket:
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.closed = False

    def getpeername(self) -> tuple[str, int]:
        return (self.peer, 80)

    def close(self) -> None:
        self.closed = True

    def setsockopt(self, *_args: object) -> None:
        pass

    def sendall(self, _data: bytes) -> None:
        raise _Reached


@pytest.mark.parametrize(
    ("peer", "refused"),
    [
        ("169.254.169.254", True),  # the cloud's metadata
        ("10.0.0.8", True),
        ("192.168.1.20", True),
        ("172.16.5.5", True),
        ("100.64.0.1", True),  # carrier-grade NAT
        ("::1", True),
        ("fd12:3456::1", True),
        ("::ffff:127.0.0.1", True),
        ("0.0.0.0", True),
        ("203.119.26.1", False),
        ("2400:3200::1", False),
    ],
)
def test_only_public_addresses_are_written_to(monkeypatch: pytest.MonkeyPatch, peer: str, refused: bool) -> None:
    sockets: list[_FakeSocket] = []

    def connect(*_args: Any, **_kwargs: Any) -> _FakeSocket:
        sockets.append(_FakeSocket(peer))
        return sockets[-1]

    monkeypatch.setattr(socket, "create_connection", connect)
    request = urllib.request.Request(f"http://directory-{uuid.uuid4().hex[:6]}.example/api/hsds/")
    if refused:
        with pytest.raises(urllib.error.URLError) as raised:
            network.opener()(request, timeout=5)
        assert isinstance(raised.value.reason, network.PrivateAddress) and sockets[0].closed
    else:
        with pytest.raises(_Reached):
            network.opener()(request, timeout=5)
