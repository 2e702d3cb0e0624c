"""Issue 13's mixed load: caseworkers, providers and supervisors using the portal at once, served by
gunicorn with the repository's gunicorn.conf.py, on the city-size data set of benchmarks/city.py.

    .venv/bin/python benchmarks/bench_load.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_city --reuse

Each simulated user signs in with a session of their own and repeats their round, pausing
`--think` seconds (±50%) between requests, as a person reading the page does:
- a caseworker: home, caseload, one of their people, the matches of an open need, logs a contact
  (with its one-time key), approves the first offer not yet tried;
- a provider: inbox, accepts a waiting referral, starts it, records its outcome;
- a supervisor: the indicators.
A write that meets a connection error is sent again with the same one-time key, as a browser would.
`--kill-every N` kills a gunicorn worker with SIGKILL every N seconds of the mix, whatever it is
doing (the fault of tests/test_faults.py); `--restart-database "pg_ctlcluster 15 main restart"`
restarts PostgreSQL a third of the way in (requests meanwhile must get the 503 page, never a 500,
and the portal must answer again by itself once the database is back).

Before the mix, a bare page (/healthz) is served the same way to as many clients without pause:
the server's ceiling on this machine, printed beside the mix's throughput. At the end the database
is read back: every acknowledged contact is there exactly once, no need holds two referrals to one
offer, no offer took more people than it had places, and every referral's state is the last step of
its history. Prints the figures, the targets, and the figures as one JSON line.
"""

import argparse
import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.city import has_data, write  # noqa: E402
from benchmarks.common import CONFIG, add_database_argument, database, make_app, signed_in  # noqa: E402
from portal.clock import local_date  # noqa: E402
from portal.db import get_engine  # noqa: E402
from portal.models import (  # noqa: E402
    ContactLog,
    IdempotencyKey,
    Need,
    NeedStatus,
    Offer,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    utcnow,
)

ROOT = Path(__file__).resolve().parents[1]
OFFER_IN_FORM = re.compile(r'name="offer_id" value="([0-9a-f-]{36})"')
REFERRAL_IN_INBOX = re.compile(r'action="/referrals/([0-9a-f-]{36})/act"')
P99_TARGET_MS = 1000.0


@dataclass
class Client:
    """One simulated user: their session cookie, and what their round works on."""

    role: str
    headers: dict[str, str]
    people: list[uuid.UUID] = field(default_factory=list)
    needs: list[uuid.UUID] = field(default_factory=list)
    tried: set[tuple[uuid.UUID, str]] = field(default_factory=set)


@dataclass
class Tally:
    """What every request came back with, shared by the threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    errors: list[str] = field(default_factory=list)
    # 503 answers ("the database cannot be reached"), with when: expected while it restarts, not after.
    unavailable: list[float] = field(default_factory=list)
    contact_keys: list[uuid.UUID] = field(default_factory=list)  # of the contacts the server acknowledged
    retries: int = 0
    taken: set[str] = field(default_factory=set)  # referrals a provider has begun to answer

    def add(self, action: str, seconds: float, status: int) -> None:
        with self.lock:
            self.latencies[action].append(seconds * 1000)
            self.statuses[action][status] += 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _session_headers(app: Any, session: Session, user: User) -> dict[str, str]:
    client = signed_in(app, session, user)
    name = app.config["SESSION_COOKIE_NAME"]
    cookie = client.get_cookie(name)
    assert cookie is not None
    return {"Cookie": f"{name}={cookie.value}", "User-Agent": client.environ_base["HTTP_USER_AGENT"]}


def plan(app: Any, caseworkers: int, providers: int, supervisors: int) -> list[Client]:
    """Sign every simulated user in; accounts are shared round-robin when the data set has fewer."""
    clients: list[Client] = []
    with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
        workers = session.exec(
            select(User).where(User.role == Role.CASEWORKER, col(User.active)).order_by(col(User.email))
        ).all()
        caseloads = []
        for worker in workers:
            people = list(session.exec(select(Person.id).where(Person.caseworker_id == worker.id).limit(200)))
            needs = list(
                session.exec(
                    select(Need.id)
                    .join(Person, col(Person.id) == Need.person_id)
                    .where(Person.caseworker_id == worker.id, Need.status == NeedStatus.OPEN)
                    .limit(200)
                )
            )
            if people and needs:
                caseloads.append((worker, people, needs))
        for n in range(caseworkers):
            worker, people, needs = caseloads[n % len(caseloads)]
            clients.append(Client("caseworker", _session_headers(app, session, worker), people=people, needs=needs))
        owners = session.exec(
            select(User)
            .where(User.role == Role.PROVIDER, col(User.active), col(User.organization_id).is_not(None))
            .order_by(col(User.email))
        ).all()
        for n in range(providers):
            clients.append(Client("provider", _session_headers(app, session, owners[n % len(owners)])))
        chiefs = session.exec(select(User).where(User.role == Role.SUPERVISOR, col(User.active))).all()
        for n in range(supervisors):
            clients.append(Client("supervisor", _session_headers(app, session, chiefs[n % len(chiefs)])))
    return clients


class Server:
    """gunicorn with the repository's settings, on its own port."""

    def __init__(self, url: str, workers: int) -> None:
        self.port = _free_port()
        environment = {**os.environ, "PORTAL_DATABASE_URL": url, "BRIDGE_BIND": f"127.0.0.1:{self.port}"}
        environment["BRIDGE_WORKERS"] = str(workers)
        environment.update({f"PORTAL_{k}": json.dumps(v) for k, v in CONFIG.items() if k != "TESTING"})
        environment.update({"PORTAL_SECRET_KEY": CONFIG["SECRET_KEY"], "PORTAL_ENV": CONFIG["ENV"]})
        for name in ("PORTAL_DATA_KEY_CURRENT", "PORTAL_BLIND_INDEX_KEY", "PORTAL_AUDIT_KEY"):
            environment[name] = str(CONFIG[name.removeprefix("PORTAL_")])
        gunicorn = Path(sys.executable).with_name("gunicorn")
        # The portal logs each request as production does (a JSON line); into a file, not the report.
        self.log = tempfile.NamedTemporaryFile(prefix="bench-load-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "--access-logfile", "/dev/null", "wsgi:app"],
            cwd=ROOT,
            env=environment,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise SystemExit(f"gunicorn did not start; its log: {self.log.name}") from None
                time.sleep(0.2)

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)
        self.log.close()
        print(f"the server's log: {self.log.name}")


def workers_of(master: int) -> list[int]:
    """The pids of gunicorn's workers: the processes whose parent is the master."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == master:
                found.append(int(entry.name))
    return found


def kill_workers(server: "Server", every: float, stop: threading.Event, killed: list[int]) -> None:
    """`kill -9` one worker every `every` seconds, whatever it is doing; gunicorn starts another."""
    rng = random.Random(13)
    while not stop.wait(every):
        pids = workers_of(server.process.pid)
        if pids:
            pid = rng.choice(pids)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)


@dataclass
class Restart:
    """When the database was restarted during the mix (monotonic seconds), and how it went."""

    began: float = 0.0
    ended: float = 0.0
    exit_code: int | None = None


def restart_database(command: str, after: float, restart: Restart) -> None:
    """Run the operator's restart command (e.g. `pg_ctlcluster 15 main restart`) `after` seconds in."""
    time.sleep(after)
    restart.began = time.monotonic()
    restart.exit_code = subprocess.run(command, shell=True, check=False).returncode  # noqa: S602 - the operator's own
    restart.ended = time.monotonic()


def request(
    port: int, tally: Tally, action: str, method: str, path: str, headers: dict[str, str], form: dict[str, str] | None
) -> tuple[int, str]:
    """One request; a write is sent again after a connection error (it carries its one-time key)."""
    body = urlencode(form) if form is not None else None
    sent_headers = {**headers, **({"Content-Type": "application/x-www-form-urlencoded"} if body else {})}
    for attempt in range(3):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start = time.perf_counter()
        try:
            connection.request(method, path, body=body, headers=sent_headers)
            response = connection.getresponse()
            text = response.read().decode("utf-8", "replace")
        except (OSError, http.client.HTTPException) as error:
            if method == "GET" or attempt == 2:
                tally.add(action, time.perf_counter() - start, 0)
                with tally.lock:
                    tally.errors.append(f"{action}: {type(error).__name__}")
                return 0, ""
            with tally.lock:
                tally.retries += 1
            continue
        finally:
            connection.close()
        tally.add(action, time.perf_counter() - start, response.status)
        if response.status == 503:
            with tally.lock:
                tally.unavailable.append(time.monotonic())
        elif response.status >= 500 or response.status in (400, 403, 404, 422):
            with tally.lock:
                tally.errors.append(f"{action}: {response.status}")
        return response.status, text
    return 0, ""


def caseworker_round(port: int, tally: Tally, client: Client, rng: random.Random, pause: Callable[[], bool]) -> None:
    person = rng.choice(client.people)
    need = rng.choice(client.needs)
    for action, path in (("home", "/"), ("caseload", "/people/"), ("person", f"/people/{person}")):
        request(port, tally, action, "GET", path, client.headers, None)
        if pause():
            return
    _, page = request(port, tally, "matches", "GET", f"/matches/needs/{need}", client.headers, None)
    if pause():
        return
    key = uuid.uuid4()
    contact = {
        "idempotency_key": str(key),
        "kind": "call",
        "occurred_on": local_date(utcnow()).isoformat(),
        "outcome": "reached",
        "note": "load test",
    }
    status, _ = request(port, tally, "log contact", "POST", f"/people/{person}/contacts", client.headers, contact)
    if status in (200, 303):
        with tally.lock:
            tally.contact_keys.append(key)
    if pause():
        return
    offer = next((o for o in OFFER_IN_FORM.findall(page) if (need, o) not in client.tried), None)
    if offer is not None:
        client.tried.add((need, offer))
        approval = {"idempotency_key": str(uuid.uuid4()), "offer_id": offer, "summary": "Load test: please call."}
        request(port, tally, "approve", "POST", f"/matches/needs/{need}/approve", client.headers, approval)
    pause()


def provider_round(port: int, tally: Tally, client: Client, rng: random.Random, pause: Callable[[], bool]) -> None:
    """Open the waiting referrals, take one no other simulated user took, and see it through."""
    _, page = request(port, tally, "inbox", "GET", "/referrals/inbox?state=waiting", client.headers, None)
    if pause():
        return
    with tally.lock:
        referral = next((r for r in REFERRAL_IN_INBOX.findall(page) if r not in tally.taken), None)
        if referral is None:
            return
        tally.taken.add(referral)
    for action, extra in (("accept", {}), ("start", {}), ("complete", {"reason": "got_help"})):
        status, _ = request(
            port, tally, action, "POST", f"/referrals/{referral}/act", client.headers, {"action": action, **extra}
        )
        if pause() or status not in (200, 303):
            return


def supervisor_round(port: int, tally: Tally, client: Client, rng: random.Random, pause: Callable[[], bool]) -> None:
    request(port, tally, "indicators", "GET", "/indicators", client.headers, None)
    pause()


ROUNDS = {"caseworker": caseworker_round, "provider": provider_round, "supervisor": supervisor_round}


def run_mix(port: int, clients: list[Client], seconds: float, think: float) -> tuple[Tally, float]:
    tally = Tally()
    stop = time.monotonic() + seconds

    def user(client: Client, seed: int) -> None:
        rng = random.Random(seed)

        def pause() -> bool:
            """Think, then say whether the run is over."""
            time.sleep(think * rng.uniform(0.5, 1.5))
            return time.monotonic() >= stop

        time.sleep(rng.uniform(0, think))  # users do not all click at the same instant
        while time.monotonic() < stop:
            ROUNDS[client.role](port, tally, client, rng, pause)

    return tally, run_all([threading.Thread(target=user, args=(client, n)) for n, client in enumerate(clients)])


def run_all(threads: list[threading.Thread]) -> float:
    """Start the simulated users together, wait for every one; the seconds it took."""
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.monotonic() - start


def run_bare(port: int, clients: int, seconds: float) -> tuple[Tally, float]:
    """The same number of clients asking for /healthz without pause: the server's ceiling here."""
    tally = Tally()
    stop = time.monotonic() + seconds

    def user() -> None:
        while time.monotonic() < stop:
            request(port, tally, "bare", "GET", "/healthz", {}, None)

    return tally, run_all([threading.Thread(target=user) for _ in range(clients)])


def percentile(values: list[float], share: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[round(share * 100) - 1]


def check_writes(app: Any, started: Any, acknowledged: list[uuid.UUID]) -> dict[str, int]:
    """Read back what the run wrote: each acknowledged contact by its key, every contact against the
    keys used (one key, one contact), referrals against needs and offers."""
    with app.app_context(), Session(get_engine(app)) as session:
        found: set[uuid.UUID] = set()
        for start in range(0, len(acknowledged), 1000):
            batch = acknowledged[start : start + 1000]
            found.update(
                session.exec(
                    select(IdempotencyKey.key)
                    .join(ContactLog, col(ContactLog.id) == IdempotencyKey.record_id)
                    .where(col(IdempotencyKey.key).in_(batch))
                )
            )
        contacts = session.exec(
            select(func.count()).select_from(ContactLog).where(ContactLog.created_at >= started)
        ).one()
        keys = session.exec(
            select(func.count())
            .select_from(IdempotencyKey)
            .where(IdempotencyKey.created_at >= started, IdempotencyKey.record_type == ContactLog.__tablename__)
        ).one()
        doubled = session.exec(
            select(func.count()).select_from(
                select(Referral.need_id, Referral.offer_id)
                .where(Referral.created_at >= started)
                .group_by(col(Referral.need_id), col(Referral.offer_id))
                .having(func.count() > 1)
                .subquery()
            )
        ).one()
        referrals = session.exec(select(func.count()).select_from(Referral).where(Referral.created_at >= started)).one()
    return {
        "contacts written": contacts,
        "contact keys used": keys,
        "contacts acknowledged": len(acknowledged),
        "lost contacts": len(set(acknowledged) - found),
        "duplicated contacts": max(0, contacts - keys),
        "referrals written": referrals,
        "needs with two referrals to one offer": doubled,
    }


def places_left(app: Any) -> dict[uuid.UUID, int]:
    """Each offer's places left (`Offer.capacity` counts down as referrals are accepted)."""
    with app.app_context(), Session(get_engine(app)) as session:
        return dict(session.exec(select(Offer.id, Offer.capacity)).all())


def overbooked(app: Any, before: dict[uuid.UUID, int], started: Any) -> int:
    """Offers that took more people during the run than the places they had left before it."""
    taken = (
        select(Referral.offer_id, func.count().label("taken"))
        .join(ReferralEvent, col(ReferralEvent.referral_id) == Referral.id)
        .where(ReferralEvent.to_status == ReferralStatus.ACCEPTED, ReferralEvent.at >= started)
        .group_by(col(Referral.offer_id))
    )
    with app.app_context(), Session(get_engine(app)) as session:
        return sum(1 for offer_id, count in session.exec(taken) if count > before.get(offer_id, 0))


def half_written(app: Any, started: Any) -> int:
    """Referrals the run moved whose state is not the last step their history records."""
    last_step = (
        select(ReferralEvent.referral_id, func.max(ReferralEvent.at).label("at"))
        .where(ReferralEvent.at >= started)
        .group_by(col(ReferralEvent.referral_id))
        .subquery()
    )
    latest = (
        select(Referral.status, ReferralEvent.to_status)
        .join(last_step, last_step.c.referral_id == Referral.id)
        .join(
            ReferralEvent,
            (col(ReferralEvent.referral_id) == Referral.id) & (col(ReferralEvent.at) == last_step.c.at),
        )
    )
    with app.app_context(), Session(get_engine(app)) as session:
        return sum(1 for status, step in session.exec(latest) if status != step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_argument(parser)
    parser.add_argument("--size", choices=["demo", "city"], default="city")
    parser.add_argument("--scale", type=float, default=1.0, help="shrink the city (for a quick look)")
    parser.add_argument("--reuse", action="store_true", help="keep the data set already in the database")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=10.0, help="seconds of the mix not counted")
    parser.add_argument("--think", type=float, default=1.0, help="seconds a user pauses between requests")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--restart-database", default="", help="a shell command that restarts the database, run a third of the way in"
    )
    parser.add_argument("--kill-every", type=float, default=0.0, help="kill -9 a worker every so many seconds")
    parser.add_argument("--caseworkers", type=int, default=50)
    parser.add_argument("--providers", type=int, default=20)
    parser.add_argument("--supervisors", type=int, default=5)
    args = parser.parse_args()
    with database(args.database_url, keep=args.reuse) as url:
        if not (args.reuse and has_data(url)):
            write(url, args.size, args.scale)
        app = make_app(url)
        clients = plan(app, args.caseworkers, args.providers, args.supervisors)
        started = utcnow()
        places = places_left(app)
        server = Server(url, args.workers)
        try:
            bare, bare_seconds = run_bare(server.port, len(clients), min(10.0, args.seconds))
            # Not counted: every worker builds its caches (the matches index maps its files) once.
            warm, _ = run_mix(server.port, clients, args.warmup, args.think)
            stop_killing, killed = threading.Event(), []
            if args.kill_every:
                killer = threading.Thread(target=kill_workers, args=(server, args.kill_every, stop_killing, killed))
                killer.start()
            restart = Restart()
            if args.restart_database:
                after = args.seconds / 3
                threading.Thread(target=restart_database, args=(args.restart_database, after, restart)).start()
            tally, seconds = run_mix(server.port, clients, args.seconds, args.think)
            stop_killing.set()
        finally:
            server.stop()
        writes = check_writes(app, started, warm.contact_keys + tally.contact_keys)
        writes["offers overbooked by the run"] = overbooked(app, places, started)
        writes["referrals whose state and history disagree"] = half_written(app, started)
        writes["workers killed"] = len(killed)
        get_engine(app).dispose()
    report(args, url, bare, bare_seconds, tally, seconds, writes, restart)


def late_unavailable(tally: Tally, restart: Restart) -> int:
    """503 answers outside a restart, or more than 5 s after it ended (time for the pool to replace
    its broken connections): the portal did not come back by itself."""
    if not restart.began:
        return len(tally.unavailable)
    return sum(1 for moment in tally.unavailable if not restart.began <= moment <= restart.ended + 5)


def report(
    args: Any,
    url: str,
    bare: Tally,
    bare_seconds: float,
    tally: Tally,
    seconds: float,
    writes: dict[str, int],
    restart: Restart,
) -> None:
    database_name = sa.make_url(url).get_backend_name()
    users = args.caseworkers + args.providers + args.supervisors
    print(f"\n{args.size} size on {database_name}, gunicorn {args.workers} workers, {users} users, {seconds:.0f} s")
    print("| action | requests | median ms | p95 ms | p99 ms | statuses |")
    print("|---|---|---|---|---|---|")
    every: list[float] = []
    for action, values in sorted(tally.latencies.items()):
        every += values
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(tally.statuses[action].items()))
        print(
            f"| {action} | {len(values)} | {statistics.median(values):.0f} | {percentile(values, 0.95):.0f} "
            f"| {percentile(values, 0.99):.0f} | {statuses} |"
        )
    bare_values = bare.latencies["bare"]
    mixed_rps = len(every) / seconds
    bare_rps = len(bare_values) / bare_seconds
    p99 = percentile(every, 0.99)
    print(
        f"\nmix: {mixed_rps:.1f} requests/s, p99 {p99:.0f} ms; bare /healthz, {users} clients without pause: "
        f"{bare_rps:.1f} requests/s, p99 {percentile(bare_values, 0.99):.0f} ms"
    )
    print(f"writes sent again after a connection error: {tally.retries}")
    if restart.began:
        print(
            f"database restarted (exit code {restart.exit_code}) in {restart.ended - restart.began:.1f} s; "
            f"503 answers (the retry page): {len(tally.unavailable)}"
        )
    late = late_unavailable(tally, restart)
    for name, value in writes.items():
        print(f"{name}: {value}")
    lost_or_doubled = (
        writes["lost contacts"]
        + writes["duplicated contacts"]
        + writes["needs with two referrals to one offer"]
        + writes["referrals whose state and history disagree"]
    )
    rows = [
        ("errors (5xx but 503, 4xx but 409, no answer)", "0", len(tally.errors) == 0, len(tally.errors)),
        ("503 but while the database restarts", "0", late == 0, late),
        ("lost or duplicated writes", "0", lost_or_doubled == 0, lost_or_doubled),
        ("offers overbooked", "0", writes["offers overbooked by the run"] == 0, writes["offers overbooked by the run"]),
        ("p99 of every request", f"≤ {P99_TARGET_MS:.0f} ms", p99 <= P99_TARGET_MS, f"{p99:.0f} ms"),
    ]
    print("\n| target | wanted | measured | held |")
    print("|---|---|---|---|")
    for name, wanted, held, measured in rows:
        print(f"| {name} | {wanted} | {measured} | {'held' if held else 'NOT held'} |")
    if tally.errors:
        print("first errors:", "; ".join(tally.errors[:10]))
    figures = {"rps": round(mixed_rps, 1), "bare_rps": round(bare_rps, 1), "p99_ms": round(p99)}
    figures |= {"errors": len(tally.errors), "unavailable": len(tally.unavailable), "late_unavailable": late}
    print(json.dumps({**figures, **writes}))


if __name__ == "__main__":
    main()
