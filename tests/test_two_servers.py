"""Two app servers on one PostgreSQL (issue 13, "Several servers at once"): two gunicorn instances
started with the repository's gunicorn.conf.py, CSRF on, each with its own offer index folder as two
machines would have, driven over HTTP like browsers. What one server does, the other must see at its
next request; what both do at once must happen once. PostgreSQL only: a deployment of several
servers has no SQLite."""

import copy
import http.cookiejar
import json
import os
import re
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlmodel import Session, col, select

from portal import create_app
from portal.db import get_engine
from portal.models import (
    Category,
    FollowUp,
    Need,
    Notification,
    Offer,
    OfferStatus,
    Organization,
    OrganizationKind,
    OutboxMail,
    Person,
    Programme,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    VerificationStatus,
    utcnow,
)
from tests.conftest import PASSWORD, PASSWORD_HASH, POSTGRES_URL, TEST_CONFIG, _truncate_postgres
from tests.conftest import consent_to_every_recipient as consent_to_everyone

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="several servers need PostgreSQL (TEST_DATABASE_URL)")

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
USER_AGENT = "two-servers-test"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')
WAREHOUSE_NEED = "想找仓库或者物流的工作。"


# A browser over HTTP


@dataclass(frozen=True)
class Page:
    status: int
    location: str
    text: str


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Redirects are answers to look at (sign-in, the page after a form), not to follow."""

    def redirect_request(self, *_args: Any, **_kwargs: Any) -> None:
        return None


class Browser:
    """One person's browser: its cookies, sent to either server as a browser sends them to one host
    behind a load balancer, and its own client address as the reverse proxy forwards it."""

    def __init__(self, address: str, jar: http.cookiejar.CookieJar | None = None) -> None:
        self.address = address
        self.jar = jar if jar is not None else http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), _NoRedirect)

    def copy(self) -> "Browser":
        """Another browser holding a copy of this one's cookies (a stolen cookie, a second tab)."""
        jar = http.cookiejar.CookieJar()
        for cookie in self.jar:
            jar.set_cookie(copy.copy(cookie))
        return Browser(self.address, jar)

    def get(self, url: str) -> Page:
        return self._open(urllib.request.Request(url))

    def post(self, url: str, fields: dict[str, Any]) -> Page:
        body = urllib.parse.urlencode(fields, doseq=True).encode()
        return self._open(urllib.request.Request(url, data=body, method="POST"))

    def token(self, url: str) -> str:
        """The CSRF token of the page at this URL, as its forms carry it."""
        page = self.get(url)
        found = TOKEN.search(page.text)
        assert found, f"no CSRF token on {url} ({page.status})"
        return found.group(1)

    def sign_in(self, server: str, email: str, password: str = PASSWORD) -> Page:
        return self.post(
            f"{server}/auth/login",
            {"email": email, "password": password, "csrf_token": self.token(f"{server}/auth/login")},
        )

    def _open(self, request: urllib.request.Request) -> Page:
        request.add_header("User-Agent", USER_AGENT)
        request.add_header("X-Forwarded-For", self.address)
        try:
            with self.opener.open(request, timeout=60) as response:
                return Page(response.status, response.headers.get("Location", ""), response.read().decode())
        except urllib.error.HTTPError as answer:
            with answer:
                return Page(answer.code, answer.headers.get("Location", ""), answer.read().decode())


_addresses = iter(f"127.0.1.{n}" for n in range(1, 255))


def new_browser() -> Browser:
    """A browser on a machine of its own, so that sign-in limits per address count each apart."""
    return Browser(next(_addresses))


def signed_in(server: str, user: User) -> Browser:
    browser = new_browser()
    page = browser.sign_in(server, user.email)
    assert page.status in (302, 303) and "/auth/login" not in page.location, page
    return browser


# A mail server that keeps what it is given


class _SMTPSession(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: every message is kept whole."""

    def handle(self) -> None:
        self.wfile.write(b"220 sink\r\n")
        while line := self.rfile.readline():
            verb = line[:4].upper()
            if verb == b"DATA":
                self.wfile.write(b"354 go on\r\n")
                lines = []
                while (data := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(data[1:] if data.startswith(b"..") else data)
                self.server.messages.append(b"".join(lines))  # type: ignore[attr-defined]
                self.wfile.write(b"250 kept\r\n")
            elif verb == b"QUIT":
                self.wfile.write(b"221 bye\r\n")
                return
            else:
                self.wfile.write(b"250 ok\r\n")


class MailSink(socketserver.ThreadingTCPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _SMTPSession)
        self.messages: list[bytes] = []

    def message_ids(self) -> list[str]:
        return [str(message_from_bytes(raw)["Message-ID"]) for raw in self.messages]


# The two servers


@dataclass(frozen=True)
class Servers:
    a: str
    b: str
    environment: dict[str, str]
    mail: MailSink


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=5) as response:  # noqa: S310 - a local test server
                if response.status == 200:
                    return
        except OSError:
            pass
        assert server.poll() is None, log.read_text()
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.2)


@pytest.fixture(scope="module")
def portal_app(postgres_migrated: str) -> Iterator[Flask]:
    """The test's own view of the database, to set up records and check what the servers did."""
    _truncate_postgres(postgres_migrated)
    app = create_app({**TEST_CONFIG, "DATABASE_URL": postgres_migrated})
    yield app
    get_engine(app).dispose()
    _truncate_postgres(postgres_migrated)


@contextmanager
def serving(database_url: str, folder: Path, shared_index: bool) -> Iterator[Servers]:
    """A with two workers, B with one: B's only process keeps its offer index between requests, so
    what B ranks after an edit on A is the catching up of an index it already held. Each has an
    index folder of its own, as two machines would, unless `shared_index` (one network volume)."""
    mail = MailSink()
    threading.Thread(target=mail.serve_forever, daemon=True).start()
    # As users get it: CSRF on. Behind one reverse proxy, whose X-Forwarded-For names the client.
    settings = {key: value for key, value in TEST_CONFIG.items() if key not in ("TESTING", "WTF_CSRF_ENABLED")}
    settings |= {
        "DATABASE_URL": database_url,
        "TRUSTED_PROXIES": 1,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": mail.server_address[1],
        "SMTP_STARTTLS": False,
        "MAIL_FROM": "bridge@bridge.example",
    }
    environment = {**os.environ, **{f"PORTAL_{name}": json.dumps(value) for name, value in settings.items()}}
    environment["PORTAL_INDEX_DIR"] = json.dumps(str(folder / "index-jobs"))
    started = []
    for name, workers in (("a", 2), ("b", 1)):
        port = _free_port()
        log = folder / f"{name}.log"
        index = folder / ("index" if shared_index else f"index-{name}")
        with log.open("wb") as output:  # the server writes to its own copy of the file
            server = subprocess.Popen(
                [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "wsgi:app"],
                cwd=ROOT,
                env={
                    **environment,
                    "PORTAL_INDEX_DIR": json.dumps(str(index)),
                    "BRIDGE_BIND": f"127.0.0.1:{port}",
                    "BRIDGE_WORKERS": str(workers),
                },
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        started.append((f"http://127.0.0.1:{port}", server, log))
    try:
        for url, server, log in started:
            _wait_until_up(url, server, log)
        yield Servers(started[0][0], started[1][0], environment, mail)
    finally:
        for _url, server, _log in started:
            server.send_signal(signal.SIGTERM)
        for _url, server, _log in started:
            server.wait(timeout=60)
        mail.shutdown()
        mail.server_close()
    for _url, _server, log in started:
        assert " 500 " not in log.read_text(), log.read_text()


@pytest.fixture(scope="module")
def servers(portal_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with serving(portal_app.config["DATABASE_URL"], tmp_path_factory.mktemp("two-servers"), False) as started:
        yield started


@pytest.fixture(scope="module")
def servers_sharing_an_index(portal_app: Flask, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    with serving(portal_app.config["DATABASE_URL"], tmp_path_factory.mktemp("shared-index"), True) as started:
        yield started


# Records, written as the portal's services would leave them


@pytest.fixture
def db(portal_app: Flask) -> Iterator[Session]:
    with Session(get_engine(portal_app), expire_on_commit=False) as session:
        yield session


def add(db: Session, *rows: Any) -> None:
    for row in rows:
        db.add(row)
        db.commit()


def a_user(db: Session, role: Role, organization: Organization | None = None) -> User:
    user = User(
        email=f"{role}-{uuid.uuid4().hex[:8]}@bridge.example",
        name=f"{role.title()} Tester",
        password_hash=PASSWORD_HASH,
        role=role,
        organization_id=organization.id if organization else None,
        verified_at=utcnow(),
    )
    add(db, user)
    return user


def a_provider(db: Session) -> User:
    organization = Organization(
        name=f"Org {uuid.uuid4().hex[:6]}",
        kind=OrganizationKind.NGO,
        status=VerificationStatus.VERIFIED,
        verified_at=utcnow(),
    )
    add(db, organization)
    return a_user(db, Role.PROVIDER, organization)


def an_offer(db: Session, provider: User, **fields: Any) -> Offer:
    offer = Offer(
        organization_id=provider.organization_id,
        status=OfferStatus.OPEN,
        languages=["zh"],
        latitude=34.27,
        longitude=108.95,
        **{"category": "employment", "title": "仓库分拣员", "description": "仓库分拣、打包、装卸。", **fields},
    )
    add(db, offer)
    return offer


def a_need(db: Session, caseworker: User, description: str = WAREHOUSE_NEED) -> Need:
    """A person of this caseworker's, consenting to every recipient, with one employment need."""
    person = Person(
        code=f"XA-{uuid.uuid4().hex[:6]}",
        full_name="李 测试",
        caseworker_id=caseworker.id,
        languages=["zh"],
        latitude=34.26,
        longitude=108.94,
        max_travel_km=20,
        programme=Programme.COMMUNITY_REHAB,
        programme_start=date(2025, 1, 1),
    )
    add(db, person)
    consent_to_everyone(db, person)
    need = Need(person_id=person.id, category=Category.EMPLOYMENT, urgency=2, description=description)
    add(db, need)
    return need


def forget_what_was_read(db: Session) -> None:
    """The servers wrote since: end the test's transaction and let go of the rows it loaded."""
    db.rollback()
    db.expire_all()


def at_once(calls: list[Callable[[], Page]]) -> list[Page]:
    """Every call in its own thread, all released together."""
    gate = threading.Barrier(len(calls))

    def run(call: Callable[[], Page]) -> Page:
        gate.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# 1. Sessions


def test_a_session_signed_in_on_one_server_works_on_the_other_and_sign_out_revokes_it_on_both(
    servers: Servers, db: Session
) -> None:
    caseworker = a_user(db, Role.CASEWORKER)
    browser = signed_in(servers.a, caseworker)
    assert browser.get(f"{servers.b}/people/").status == 200
    copied = browser.copy()

    signed_out = browser.post(f"{servers.a}/auth/logout", {"csrf_token": browser.token(f"{servers.a}/people/")})
    assert signed_out.status == 302 and signed_out.location.endswith("/auth/login")

    refused = copied.get(f"{servers.b}/people/")
    assert refused.status == 302 and "/auth/login" in refused.location
    assert copied.get(f"{servers.a}/people/").status == 302


# 2. Sign-in limits


def test_failed_sign_ins_on_both_servers_lock_the_account_together(servers: Servers, db: Session) -> None:
    user = a_user(db, Role.CASEWORKER)
    browser = new_browser()
    # Five failures, three on A and two on B: neither server alone saw five.
    for server in (servers.a, servers.b, servers.a, servers.b, servers.a):
        assert browser.sign_in(server, user.email, "not the password").status == 422
    locked = browser.sign_in(servers.b, user.email)
    assert locked.status == 429 and "locked" in locked.text
    assert browser.get(f"{servers.b}/people/").status == 302  # the right password signed nobody in


# 3. The offer index


def _ranked(page: Page) -> dict[str, tuple[int, str]]:
    """Each ranked offer's place on the matches page and its score, by offer id."""
    assert page.status == 200, page
    ranked = re.findall(r'id="match-([0-9a-f-]{36})".*?Score ([0-9.]+)', page.text, re.S)
    return {offer_id: (place, score) for place, (offer_id, score) in enumerate(ranked)}


@pytest.mark.parametrize("pair", ["servers", "servers_sharing_an_index"])
def test_an_offer_edited_on_one_server_is_ranked_as_edited_by_the_other_at_its_next_request(
    pair: str, request: pytest.FixtureRequest, db: Session
) -> None:
    servers: Servers = request.getfixturevalue(pair)
    caseworker, provider = a_user(db, Role.CASEWORKER), a_provider(db)
    need = a_need(db, caseworker)
    warehouse = an_offer(db, provider)
    flat = an_offer(db, provider, category="housing", title="合租房间", description="合租公寓里的一个房间。")
    reader = signed_in(servers.b, caseworker)
    # A ranks first: with a shared folder, B then maps the index files A wrote.
    assert _ranked(reader.get(f"{servers.a}/matches/needs/{need.id}")).keys() >= {str(warehouse.id), str(flat.id)}
    matches = f"{servers.b}/matches/needs/{need.id}"
    before = _ranked(reader.get(matches))
    assert before[str(warehouse.id)][0] < before[str(flat.id)][0]

    editor = signed_in(servers.a, provider)

    def edit(**fields: str) -> None:
        form = editor.get(f"{servers.a}/offers/{flat.id}/edit")
        version = re.search(r'name="version" value="(\d+)"', form.text)
        assert version, form
        saved = editor.post(
            f"{servers.a}/offers/{flat.id}/edit",
            {
                "csrf_token": TOKEN.search(form.text).group(1),  # type: ignore[union-attr]
                "version": version.group(1),
                "languages": "zh",
                "latitude": "34.27",
                "longitude": "108.95",
                "capacity": "1",
                **fields,
            },
        )
        assert saved.status == 303, saved

    edit(
        category="employment",
        employment_type="full_time",
        fair_chance_statement="不因既往经历拒绝录用。",
        title="物流仓库打包工",
        description="物流仓库的分拣、打包、装卸工作。",
    )
    after = _ranked(reader.get(matches))
    assert after[str(flat.id)][0] < after[str(warehouse.id)][0]
    assert float(after[str(flat.id)][1]) > float(before[str(flat.id)][1])

    edit(category="housing", title="合租房间", description="合租公寓里的一个房间。")
    assert _ranked(reader.get(matches))[str(flat.id)] == before[str(flat.id)]


# 4. Concurrent approvals and acceptances


def test_concurrent_approvals_and_acceptances_on_both_servers_refer_once_and_never_overbook(
    servers: Servers, db: Session
) -> None:
    caseworker, provider = a_user(db, Role.CASEWORKER), a_provider(db)
    offer = an_offer(db, provider, capacity=2)
    needs = [a_need(db, caseworker) for _ in range(5)]
    case = signed_in(servers.a, caseworker)
    token = case.token(f"{servers.b}/people/")

    def approve(server: str, need: Need, key: str) -> Callable[[], Page]:
        fields = {
            "csrf_token": token,
            "idempotency_key": key,
            "offer_id": str(offer.id),
            "summary": "Looking for warehouse work.",
            "contact_method": "via_caseworker",
        }
        tab = case.copy()
        return lambda: tab.post(f"{server}/matches/needs/{need.id}/approve", fields)

    approvals = []
    for need in needs:
        resent, other_tab, third_tab = (str(uuid.uuid4()) for _ in range(3))
        # One form sent to both servers (a resend), and two more tabs, one on each.
        approvals += [
            approve(servers.a, need, resent),
            approve(servers.b, need, resent),
            approve(servers.a, need, other_tab),
            approve(servers.b, need, third_tab),
        ]
    approved = at_once(approvals)
    assert Counter(page.status for page in approved).keys() <= {303, 409}, [p for p in approved if p.status >= 500]
    forget_what_was_read(db)
    referrals = db.exec(select(Referral).where(Referral.offer_id == offer.id)).all()
    assert sorted(r.need_id for r in referrals) == sorted(need.id for need in needs)
    assert {r.status for r in referrals} == {ReferralStatus.SENT}

    inbox = signed_in(servers.b, provider)
    inbox_token = inbox.token(f"{servers.a}/referrals/inbox")

    def accept(server: str, referral: Referral) -> Callable[[], Page]:
        tab = inbox.copy()
        fields = {"csrf_token": inbox_token, "action": "accept", "version": str(referral.version)}
        return lambda: tab.post(f"{server}/referrals/{referral.id}/act", fields)

    accepted = at_once([accept(server, r) for r in referrals for server in (servers.a, servers.b) * 2])
    assert Counter(page.status for page in accepted) == {303: 2, 409: 18}
    forget_what_was_read(db)
    statuses = Counter(r.status for r in db.exec(select(Referral).where(Referral.offer_id == offer.id)))
    assert statuses == {ReferralStatus.ACCEPTED: 2, ReferralStatus.SENT: 3}
    places = db.exec(select(Offer.capacity).where(Offer.id == offer.id)).one()
    events = db.exec(
        select(ReferralEvent).where(
            col(ReferralEvent.referral_id).in_([r.id for r in referrals]),
            ReferralEvent.to_status == ReferralStatus.ACCEPTED,
        )
    ).all()
    assert places == 0 and len(events) == 2


# 5. The periodic work


def _reported(output: str, what: str) -> int:
    found = re.search(rf"\b{what} (\d+)", output)
    return int(found.group(1)) if found else 0


def test_the_periodic_work_started_on_both_servers_at_once_is_done_once(servers: Servers, db: Session) -> None:
    caseworker, provider = a_user(db, Role.CASEWORKER), a_provider(db)
    offer = an_offer(db, provider, capacity=3)
    an_offer(db, provider, title="物流打包工")  # proposed next, once the first referral expires
    now = utcnow()
    answer_by = {
        "expires": now - timedelta(days=3),  # past the two days' grace
        "overdue": now - timedelta(hours=12),  # late, within the grace: followed up and reminded
        "reminded": now + timedelta(hours=12),  # due within a day
    }
    referrals = {}
    for name, respond_by in answer_by.items():
        need = a_need(db, caseworker)
        referrals[name] = Referral(
            need_id=need.id, offer_id=offer.id, status=ReferralStatus.SENT, respond_by=respond_by, summary="x"
        )
        add(db, referrals[name])

    # Started together, as the timers of two machines would, with the servers' settings.
    command = [str(BIN / "flask"), "--app", "wsgi", "run-due-jobs"]
    runs = [
        subprocess.Popen(command, cwd=ROOT, env=servers.environment, stdout=subprocess.PIPE, text=True)
        for _ in ("on A", "on B")
    ]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs

    forget_what_was_read(db)
    mine = [r.id for r in referrals.values()]
    by_id = {r.id: r for r in db.exec(select(Referral).where(col(Referral.id).in_(mine)))}
    assert [by_id[r.id].status for r in referrals.values()] == [
        ReferralStatus.EXPIRED,
        ReferralStatus.SENT,
        ReferralStatus.SENT,
    ]
    expiries = db.exec(
        select(ReferralEvent).where(
            col(ReferralEvent.referral_id).in_(mine), ReferralEvent.to_status == ReferralStatus.EXPIRED
        )
    ).all()
    proposed = db.exec(
        select(Referral).where(
            Referral.need_id == referrals["expires"].need_id, Referral.status == ReferralStatus.PROPOSED
        )
    ).all()
    assert len(expiries) == 1 and len(proposed) == 1
    reminders = db.exec(
        select(Notification).where(Notification.user_id == provider.id, Notification.kind == "referral_reminder")
    ).all()
    assert len(reminders) == 2
    overdue = db.exec(select(FollowUp).where(FollowUp.referral_id == referrals["overdue"].id)).all()
    assert [f.kind for f in overdue] == ["referral_overdue"]
    told = Counter(n.kind for n in db.exec(select(Notification).where(Notification.user_id == caseworker.id)).all())
    assert told == {"referral_expire": 1, "referral_proposed": 1, "follow_up_referral_overdue": 1}

    # One run did it all; the other found the lock taken (or, started late, nothing left to do).
    assert sorted(_reported(o, "expired") for o in outputs) == [0, 1]
    assert sorted(_reported(o, "reminded") for o in outputs) == [0, 2]
    sent = db.exec(select(OutboxMail.id).where(col(OutboxMail.sent_at).is_not(None))).all()
    assert not db.exec(select(OutboxMail.id).where(col(OutboxMail.sent_at).is_(None))).all()
    # One mail per notification (every user here has an address), each handed to the mail server once
    # (sent as its run committed it, without a queue; the runs' sweeps found none left).
    assert len(sent) == len(db.exec(select(Notification.id)).all())
    delivered = servers.mail.message_ids()
    assert len(delivered) == len(set(delivered)) == len(sent)
    assert {i.strip("<>").partition("@")[0] for i in delivered} == {str(i) for i in sent}
