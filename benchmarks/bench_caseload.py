"""Time of the caseload's pages for one caseworker with a caseload of N people (default 500), each
with two needs and two contact notes, and for their supervisor, who also sees M more people of
other caseworkers in the same area (default 734: 1,234 in all): the caseworker's and supervisor's
home pages, /people/ (the first page), /people/?contact=overdue, a name search (POSTed; names are
encrypted, so it decrypts the names of the caseload) and a person's page.

Written to measure what field-level encryption costs (every name, phone, address, need and note is
decrypted on load), but it only uses the app factory and the models (and benchmarks/common.py), so it
runs on any revision:

    .venv/bin/python benchmarks/bench_caseload.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_caseload.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

Prints the median and 95th percentile of each page in milliseconds, the SQL statements and values
decrypted per request, then one JSON line.
"""

import argparse
import json
import statistics
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlmodel import Session

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# CONFIG stays importable from here: bench_index.py reads it from this module.
from benchmarks.common import CONFIG, add_database_argument, database, make_app, signed_in  # noqa: F401
from portal.crypto import KeyRing
from portal.db import get_engine
from portal.models import Area, ContactLog, Need, Person, Role, User


def seed(session: Session, people: int, area: Area, name: str, first: int = 0) -> tuple[User, list[uuid.UUID]]:
    caseworker = User(
        email=f"{name}@bench.example", name=name, password_hash="x", role=Role.CASEWORKER, area_id=area.id
    )
    session.add(caseworker)
    session.commit()
    ids = []
    for n in range(first, first + people):
        person = Person(
            code=f"XA-2026-{n:04d}",
            caseworker_id=caseworker.id,
            area_id=area.id,
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


COUNTS = {"statements": 0, "decrypted": 0}


def _count_statement(*_args: object) -> None:
    COUNTS["statements"] += 1


_open = KeyRing.open


def _count_decrypted(ring: KeyRing, stored: str, aad: str) -> str:
    COUNTS["decrypted"] += 1
    return _open(ring, stored, aad)


def timed(client: object, url: str, runs: int, form: dict[str, str] | None = None) -> list[tuple[float, float]]:
    """(wall, CPU) milliseconds per request (a POST of `form` if given). On a shared machine the wall
    time is noisy; the CPU time of this process (the portal's own work: queries' Python side,
    decryption, templates) is not."""
    times = []
    for _ in range(runs):
        start, cpu = time.perf_counter(), time.process_time()
        if form is None:
            response = client.get(url)  # type: ignore[attr-defined]
        else:
            response = client.post(url, data=form)  # type: ignore[attr-defined]
        times.append(((time.perf_counter() - start) * 1000, (time.process_time() - cpu) * 1000))
        assert response.status_code == 200, (url, response.status_code)
    return times


def per_request(client: object, url: str, form: dict[str, str] | None = None) -> dict[str, int]:
    """SQL statements and values decrypted by one request."""
    COUNTS.update(statements=0, decrypted=0)
    timed(client, url, 1, form)
    return dict(COUNTS)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--others", type=int, default=734)
    parser.add_argument("--runs", type=int, default=20)
    add_database_argument(parser)
    args = parser.parse_args()
    with database(args.database_url) as url:
        app = make_app(url)
        with Session(get_engine(app), expire_on_commit=False) as session:
            area = Area(level="district", name_en="Bench", name_zh="测试区", code="BENCH")
            session.add(area)
            session.commit()
            caseworker, ids = seed(session, args.people, area, "Bench")
            seed(session, args.others, area, "Other", first=args.people)
            supervisor = User(
                email="sv@bench.example", name="Sup", password_hash="x", role=Role.SUPERVISOR, area_id=area.id
            )
            session.add(supervisor)
            session.commit()
            mine, theirs = signed_in(app, session, caseworker), signed_in(app, session, supervisor)
        search = {"q": "王小明 1"}  # a name: decrypts the caseload's names, shows a page of matches
        pages = {
            "caseworker_home": (mine, "/", None),
            "caseload_page": (mine, "/people/", None),
            "caseload_overdue": (mine, "/people/?contact=overdue", None),
            "caseload_name_search": (mine, "/people/", search),
            "person_page": (mine, f"/people/{ids[-1]}", None),
            "supervisor_home": (theirs, "/", None),
            "supervisor_people": (theirs, "/people/", None),
            "supervisor_name_search": (theirs, "/people/", search),
        }
        for client, page, form in pages.values():
            timed(client, page, 2, form)  # warm-up: templates, caches, follow-ups opened
        sa.event.listen(get_engine(app), "before_cursor_execute", _count_statement)
        KeyRing.open = _count_decrypted  # type: ignore[method-assign]
        counts = {name: per_request(client, page, form) for name, (client, page, form) in pages.items()}
        times = {name: timed(client, page, args.runs, form) for name, (client, page, form) in pages.items()}
        get_engine(app).dispose()
    figures = {}
    for name, measured in times.items():
        wall = [w for w, _ in measured]
        median, p95 = statistics.median(wall), statistics.quantiles(wall, n=20)[-1]
        cpu = statistics.median(c for _, c in measured)
        figures[name] = {
            "median_ms": round(median, 1),
            "p95_ms": round(p95, 1),
            "cpu_median_ms": round(cpu, 1),
            **counts[name],
        }
        print(
            f"{name:24} median {median:6.1f} ms, p95 {p95:6.1f} ms, CPU median {cpu:6.1f} ms,"
            f" {counts[name]['statements']:3} statements, {counts[name]['decrypted']:5} values decrypted"
        )
    print(f"({args.runs} runs; caseworker {args.people} people, supervisor {args.people + args.others})")
    print(json.dumps({"database": url.split(":")[0], "people": args.people, "others": args.others, **figures}))


if __name__ == "__main__":
    main()
