"""Time of the caseload page (/people/) and a person's page (/people/<id>) for one caseworker with
a caseload of N people (default 500), each with two needs and two contact notes.

Written to measure what field-level encryption costs (every name, phone, address, need and note is
decrypted on load), but it only uses the app factory and the models, so it runs on any revision:

    .venv/bin/python benchmarks/bench_caseload.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_caseload.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

Prints the median and 95th percentile of each page in milliseconds, then one JSON line.
"""

import argparse
import json
import statistics
import tempfile
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

from portal import create_app
from portal.auth import sessions as server_sessions
from portal.auth.access import AGENT_KEY, TOKEN_KEY, agent_digest
from portal.db import get_engine
from portal.migrations import upgrade
from portal.models import ContactLog, Need, Person, Role, User

CONFIG = {
    "TESTING": True,
    "ENV": "testing",
    "SECRET_KEY": "bench-secret",
    "WTF_CSRF_ENABLED": False,
    "SESSION_COOKIE_SECURE": False,
    "MFA_REQUIRED": False,
    "DATA_KEYS": {"1": "YmVuY2gtb25seS1kYXRhLWtleS0wMDAwMDAwMDAwMDE="},
    "DATA_KEY_CURRENT": "1",
    "BLIND_INDEX_KEY": "YmVuY2gtb25seS1ibGluZC1pbmRleC1rZXktMDAwMDA=",
    "AUDIT_KEY": "YmVuY2gtb25seS1hdWRpdC1jaGFpbi1rZXktMDAwMDA=",
}


def seed(session: Session, people: int) -> tuple[User, list[uuid.UUID]]:
    caseworker = User(email="cw@bench.example", name="Bench", password_hash="x", role=Role.CASEWORKER)
    session.add(caseworker)
    session.commit()
    ids = []
    for n in range(people):
        person = Person(
            code=f"XA-2026-{n:04d}",
            caseworker_id=caseworker.id,
            full_name=f"王小明 {n}",
            phone=f"138 0013 {n:04d}",
            id_number=f"61010319900101{n:04d}",
            address=f"北院门 {n} 号",
            birth_date=date(1990, 1, 1) + timedelta(days=n),
            programme="community_rehab",
            next_contact_due=date(2026, 12, 1) + timedelta(days=n % 30),
        )
        session.add(person)
        session.flush()  # no ORM relationships order the inserts: the person goes first
        session.add_all(
            [Need(person_id=person.id, category="housing", description=f"needs a room {n} " * 5) for _ in range(2)]
        )
        session.add_all(
            [
                ContactLog(
                    person_id=person.id,
                    caseworker_id=caseworker.id,
                    kind="visit",
                    occurred_on=date(2026, 11, 1) - timedelta(days=k),
                    note=f"talked about work {n} " * 5,
                )
                for k in range(2)
            ]
        )
        ids.append(person.id)
        if n % 100 == 99:
            session.commit()
    session.commit()
    return caseworker, ids


def timed(client: object, url: str, runs: int) -> list[tuple[float, float]]:
    """(wall, CPU) milliseconds per request. On a shared machine the wall time is noisy; the CPU
    time of this process (the portal's own work: queries' Python side, decryption, templates) is not."""
    times = []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        response = client.get(url)  # type: ignore[attr-defined]
        times.append(((time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000))
        assert response.status_code == 200, (url, response.status_code)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        if url.startswith("postgresql"):
            engine = sa.create_engine(url)
            with engine.begin() as connection:
                connection.exec_driver_sql("DROP SCHEMA public CASCADE")
                connection.exec_driver_sql("CREATE SCHEMA public")
            engine.dispose()
        upgrade(url)
        app = create_app({**CONFIG, "DATABASE_URL": url})
        with Session(get_engine(app), expire_on_commit=False) as session:
            caseworker, ids = seed(session, args.people)
            token = server_sessions.start(session, caseworker)
            session.commit()
        client = app.test_client()
        with client.session_transaction() as flask_session:
            flask_session.update(
                {
                    "_user_id": str(caseworker.id),
                    "_fresh": True,
                    TOKEN_KEY: token,
                    AGENT_KEY: agent_digest(client.environ_base["HTTP_USER_AGENT"]),
                }
            )
        timed(client, "/people/", 2)  # warm-up: templates, caches
        timed(client, f"/people/{ids[-1]}", 2)
        caseload = timed(client, "/people/", args.runs)
        person = [t for i in range(args.runs) for t in timed(client, f"/people/{ids[i * 7 % len(ids)]}", 1)]
        get_engine(app).dispose()
    figures = {}
    for name, times in (("caseload_page", caseload), ("person_page", person)):
        wall = [w for w, _ in times]
        median, p95 = statistics.median(wall), statistics.quantiles(wall, n=20)[-1]
        cpu = statistics.median(c for _, c in times)
        figures[name] = {"median_ms": round(median, 1), "p95_ms": round(p95, 1), "cpu_median_ms": round(cpu, 1)}
        print(
            f"{name}: median {median:.1f} ms, p95 {p95:.1f} ms, CPU median {cpu:.1f} ms"
            f" ({args.runs} runs, {args.people} people)"
        )
    print(json.dumps({"database": url.split(":")[0], "people": args.people, **figures}))


if __name__ == "__main__":
    main()
