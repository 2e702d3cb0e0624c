"""What an operator watches: JSON log lines with no personal data in them, /readyz, and /metrics."""

import json
import logging
import re
import socket
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, select
from werkzeug.test import TestResponse

from portal import create_app
from portal.clock import local_today
from portal.config import ConfigError
from portal.db import get_engine
from portal.models import Area, Need, OutboxMail, Person, Referral, Role, User
from portal.people import views as people_views
from tests.conftest import PASSWORD, TEST_CONFIG, consent_to_every_recipient, keyed, sign_in_with_session

# Planted in every field a person's record, a staff account or a form can carry.
NAME, PHONE, ID_NUMBER = "Sentinelname Qx", "13911223344", "110101199001011234"
ADDRESS, NEED, NOTE = "Sentineladdress Road 7", "Sentinelneed wants a room", "Sentinelnote relapsed"
CHINESE, SUMMARY, TOKEN = "哨兵姓名", "Sentinelsummary for provider", "sentineltoken0123456789"
STAFF_NAME, STAFF_EMAIL = "Sentinelstaff Wu", "sentinel.staff@bridge.example"
SENTINELS = (NAME, PHONE, PHONE[-6:], ID_NUMBER, ADDRESS, NEED, NOTE, CHINESE, SUMMARY, TOKEN, STAFF_NAME)
SENTINELS += (STAFF_EMAIL, PASSWORD, "Sentinel", "sentinel")
REQUEST_FIELDS = {"request_id", "user_id", "method", "route", "status", "duration_ms", "db_ms", "db_queries"}


@pytest.fixture
def app(database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Flask]:
    """The portal logging as in production (json), its stderr captured from its creation on."""
    app = create_app(
        {**TEST_CONFIG, "DATABASE_URL": database_url, "INDEX_DIR": str(tmp_path / "index"), "LOG_FORMAT": "json"}
    )
    yield app
    get_engine(app).dispose()


def json_lines(capsys: pytest.CaptureFixture[str]) -> tuple[str, list[dict[str, Any]]]:
    written = capsys.readouterr().err
    return written, [json.loads(line) for line in written.splitlines()]


class Walk:
    """A client that keeps every answer, to match each with its log line."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.answers: list[TestResponse] = []

    def __call__(self, method: str, url: str, **kwargs: Any) -> TestResponse:
        answer = self.client.open(url, method=method, **kwargs)
        self.answers.append(answer)
        return answer


def fail_in_the_database(session: Session, *_args: Any) -> None:
    """A write the database refuses, as a race or a bug would have it: SQLAlchemy's message quotes
    the values bound, and PostgreSQL's names the duplicate value (DETAIL: Key (email)=(...))."""
    session.add(User(email=STAFF_EMAIL, name=STAFF_NAME, password_hash="-", role=Role.CASEWORKER))
    session.flush()


def test_no_log_line_holds_personal_data_and_each_request_has_its_line(
    client: FlaskClient,
    session: Session,
    make_user: Callable[..., User],
    make_offer: Callable[..., Any],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = Area(level="grid", name_en="Grid 9", name_zh="第九网格", code="OBS-G9")
    session.add(grid)
    session.commit()
    caseworker = make_user(Role.CASEWORKER, name=STAFF_NAME, email=STAFF_EMAIL, area_id=grid.id)
    provider = make_user(Role.PROVIDER)
    person = Person(
        code="OBS-0001",
        full_name=f"{NAME} {CHINESE}",
        phone=PHONE,
        id_number=ID_NUMBER,
        address=ADDRESS,
        caseworker_id=caseworker.id,
        area_id=grid.id,
    )
    session.add(person)
    session.commit()
    need = Need(person_id=person.id, category="housing", urgency=3, description=NEED)
    session.add(need)
    session.commit()
    consent_to_every_recipient(session, person)
    offer = make_offer(provider, category="housing", title="Shared flat", description="A room for a year.")
    walk = Walk(client)

    assert walk("POST", "/auth/login", data={"email": STAFF_EMAIL, "password": PASSWORD}).status_code == 302
    walk("GET", "/")
    walk("GET", "/people/")
    for typed in (NAME, PHONE, CHINESE):
        assert "OBS-0001" in walk("POST", "/people/", data={"q": typed}).get_data(as_text=True)
    walk("GET", f"/people/{person.id}")
    contact = {"kind": "call", "occurred_on": local_today().isoformat(), "outcome": "reached", "note": NOTE}
    assert walk("POST", f"/people/{person.id}/contacts", data=keyed(contact)).status_code == 303
    assert walk("POST", f"/people/{person.id}/needs", data=keyed(category="employment", description=NEED)).status_code
    walk("GET", f"/matches/needs/{need.id}")
    approved = walk("POST", f"/matches/needs/{need.id}/approve", data=keyed(offer_id=str(offer.id), summary=SUMMARY))
    assert approved.status_code == 303
    session.rollback()
    referral = session.exec(select(Referral).where(Referral.need_id == need.id)).one()
    sign_in_with_session(client, session, provider)
    walk("GET", "/referrals/inbox")
    assert walk("POST", f"/referrals/{referral.id}/act", data={"action": "accept", "note": NOTE}).status_code == 303
    client.delete_cookie("session")
    walk("GET", f"/auth/reset/{TOKEN}")
    walk("GET", f"/people/{person.id}?q={NAME}")
    sign_in_with_session(client, session, caseworker)
    monkeypatch.setattr(people_views.services, "caseload", fail_in_the_database)
    failed = walk("POST", "/people/", data={"q": NAME})
    assert failed.status_code == 500

    written, lines = json_lines(capsys)
    for sentinel in SENTINELS:
        assert sentinel not in written, sentinel
    assert str(person.id) not in written and str(need.id) not in written  # routes, not paths
    requests = [line for line in lines if line["logger"] == "portal.request"]
    assert len(requests) == len(walk.answers)
    for line, answer in zip(requests, walk.answers, strict=True):
        assert REQUEST_FIELDS <= line.keys()
        assert line["request_id"] == answer.headers["X-Request-ID"]
        assert line["status"] == answer.status_code
        assert line["duration_ms"] >= line["db_ms"] >= 0
    assert {line["route"] for line in requests} >= {"/people/<uuid:person_id>", "/auth/reset/<token>"}
    by_route: dict[tuple[str, str], dict[str, Any]] = {}
    for line in requests:
        by_route.setdefault((line["method"], line["route"]), line)  # the first: the signed-in visit
    assert by_route["GET", "/people/<uuid:person_id>"]["user_id"] == str(caseworker.id)
    assert by_route["GET", "/people/<uuid:person_id>"]["db_queries"] > 0
    assert by_route["GET", "/referrals/inbox"]["user_id"] == str(provider.id)
    assert by_route["GET", "/auth/reset/<token>"]["user_id"] is None
    # The failure is told in full, under the request's id, with its statement but not its values.
    [error] = [line for line in lines if line["level"] == "ERROR"]
    assert error["request_id"] == failed.headers["X-Request-ID"]
    assert "Traceback" in error["exception"] and "IntegrityError" in error["exception"]
    assert "parameters hidden" in error["exception"]


def test_records_of_the_portals_modules_are_json_lines_with_the_request_id_in_a_request(
    app: Flask, capsys: pytest.CaptureFixture[str]
) -> None:
    with app.test_request_context("/people/"):
        logging.getLogger("portal.matches.services").warning("index rebuilt")
    try:
        raise RuntimeError("the linker failed")
    except RuntimeError:
        logging.getLogger("portal.audit.services").exception("audit events left pending")
    _written, lines = json_lines(capsys)
    assert [(line["logger"], line["level"], line["message"]) for line in lines] == [
        ("portal.matches.services", "WARNING", "index rebuilt"),
        ("portal.audit.services", "ERROR", "audit events left pending"),
    ]
    assert re.fullmatch(r"[0-9a-f]{12}", lines[0]["request_id"])
    assert "request_id" not in lines[1]  # outside a request (the periodic job)
    assert "RuntimeError: the linker failed" in lines[1]["exception"]


def test_a_warning_is_a_json_line_too(database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():  # pytest records warnings itself: let them reach the app's logging
        warnings.simplefilter("always")
        app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url, "LOG_FORMAT": "json"})
        warnings.warn("the offer index is old", UserWarning, stacklevel=1)
    _written, lines = json_lines(capsys)
    [warned] = [line for line in lines if line["logger"] == "py.warnings"]
    assert warned["level"] == "WARNING" and "UserWarning: the offer index is old" in warned["message"]
    get_engine(app).dispose()


def test_one_id_per_request_in_the_header_and_different_for_the_next(client: FlaskClient) -> None:
    first, second = client.get("/healthz"), client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{12}", first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]


def test_logs_are_json_unless_in_development_or_tests(tmp_path: Path) -> None:
    database = {"DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", "ALLOW_SQLITE": True}
    production = {**TEST_CONFIG, **database, "TESTING": False, "ENV": "production"}
    assert create_app(production).config["LOG_FORMAT"] == "json"
    assert create_app({**TEST_CONFIG, **database}).config["LOG_FORMAT"] == "text"
    assert create_app({"ENV": "development", **database}).config["LOG_FORMAT"] == "text"


@pytest.mark.parametrize(
    ("setting", "value"),
    [("LOG_FORMAT", "xml"), ("METRICS_ALLOWED", "10.0.0.0/8"), ("METRICS_ALLOWED", ["10.0.0.1/8"])],
)
def test_a_wrong_setting_stops_the_portal(tmp_path: Path, setting: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"PORTAL_{setting}"):
        create_app({**TEST_CONFIG, "DATABASE_URL": f"sqlite:///{tmp_path / 'p.db'}", setting: value})


# --- /readyz -----------------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_ready_when_the_database_answers(client: FlaskClient) -> None:
    answer = client.get("/readyz")
    assert (answer.status_code, answer.get_data(as_text=True)) == (200, "ready")


def test_ready_when_the_queue_answers_too(database_url: str) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 6379)) != 0:
            pytest.skip("no Redis on this machine")
    app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url, "QUEUE_URL": "redis://127.0.0.1:6379/0"})
    assert app.test_client().get("/readyz").status_code == 200
    get_engine(app).dispose()


@pytest.mark.parametrize("broken", ["database", "queue"])
def test_not_ready_names_what_does_not_answer_and_nothing_more(database_url: str, broken: str) -> None:
    port = closed_port()
    settings = {**TEST_CONFIG, "DATABASE_URL": database_url}
    if broken == "database":
        settings["DATABASE_URL"] = f"postgresql+psycopg://bridge:secretpassword@127.0.0.1:{port}/bridge"
    else:
        settings["QUEUE_URL"] = f"redis://:secretpassword@127.0.0.1:{port}/0"
    app = create_app(settings)
    answer = app.test_client().get("/readyz")
    assert (answer.status_code, answer.get_data(as_text=True)) == (503, f"not ready: {broken}")
    get_engine(app).dispose()


# --- /metrics ----------------------------------------------------------------------------------------


def sample(exposition: str, name: str, **labels: str) -> float | None:
    """The value of one series in Prometheus's text format, None when it is not there."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in exposition.splitlines():
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return None


def test_metrics_count_requests_per_route_and_status_class(client: FlaskClient, session: Session) -> None:
    def people_not_found() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        return sample(text, "bridge_requests_total", method="GET", route="/people/<uuid:person_id>", status="3xx") or 0

    before = people_not_found()
    for _ in range(3):
        client.get("/people/00000000-0000-0000-0000-000000000000")  # anonymous: sent to sign in
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics.mimetype == "text/plain"
    assert people_not_found() == before + 3
    text = metrics.get_data(as_text=True)
    assert "00000000-0000" not in text
    assert sample(text, "bridge_request_duration_seconds_count", method="GET", route="/people/<uuid:person_id>")


def test_metrics_read_the_outbox_the_jobs_and_the_audit_chain(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    session.add(OutboxMail(to_address="someone@bridge.example", subject="Hello", body="Waiting"))
    session.commit()
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "bridge_database_up") == 1
    assert sample(text, "bridge_outbox_unsent") == 1
    assert sample(text, "bridge_job_last_success_timestamp_seconds", job="run-due-jobs") is None
    runner = app.test_cli_runner()
    assert runner.invoke(args=["run-due-jobs"]).exit_code == 0
    assert runner.invoke(args=["audit", "verify"]).exit_code == 0
    text = client.get("/metrics").get_data(as_text=True)
    assert sample(text, "bridge_outbox_unsent") == 1  # no SMTP here: it waits for the admins
    assert sample(text, "bridge_job_last_success_timestamp_seconds", job="run-due-jobs")
    assert sample(text, "bridge_job_last_success_timestamp_seconds", job="audit-verify")
    assert sample(text, "bridge_audit_unlinked_events") == 0
    assert sample(text, "bridge_audit_oldest_unlinked_timestamp_seconds") == 0


def test_metrics_say_the_database_is_down_rather_than_fail() -> None:
    port = closed_port()
    app = create_app({**TEST_CONFIG, "DATABASE_URL": f"postgresql+psycopg://bridge@127.0.0.1:{port}/bridge"})
    answer = app.test_client().get("/metrics")
    assert answer.status_code == 200
    assert sample(answer.get_data(as_text=True), "bridge_database_up") == 0
    get_engine(app).dispose()


@pytest.mark.parametrize(
    ("address", "settings", "authorization", "status"),
    [
        ("127.0.0.1", {}, None, 200),
        ("203.0.113.9", {}, None, 404),
        ("10.1.2.3", {"METRICS_ALLOWED": ["10.0.0.0/8"]}, None, 200),
        ("127.0.0.1", {"METRICS_ALLOWED": ["10.0.0.0/8"]}, None, 404),
        ("203.0.113.9", {"METRICS_TOKEN": "scrape-token"}, "Bearer scrape-token", 200),
        ("203.0.113.9", {"METRICS_TOKEN": "scrape-token"}, "Bearer wrong-token", 404),
        ("203.0.113.9", {}, "Bearer ", 404),  # no token set: an empty one opens nothing
    ],
)
def test_metrics_only_for_allowed_addresses_or_the_token(
    database_url: str, address: str, settings: dict[str, Any], authorization: str | None, status: int
) -> None:
    app = create_app({**TEST_CONFIG, "DATABASE_URL": database_url, **settings})
    headers = {"Authorization": authorization} if authorization else {}
    answer = app.test_client().get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})
    assert answer.status_code == status
    if status == 404:
        assert "bridge_" not in answer.get_data(as_text=True)
    get_engine(app).dispose()
