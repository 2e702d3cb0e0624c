"""Cost of run-due-jobs and of the indicators page at city size: queries and seconds of a first run
(everything due), of a run with nothing due, and of an indicators view that computes the figures
and one that reads them stored.

The data are written through the models (not the services: this measures the job, not the seeding):
N people (default 5,000) on 50 caseworkers' caseloads in 10 grids, two needs and ten contacts each,
four referrals each (one job in progress, one waiting on its provider, two finished), 2,000 offers.

    .venv/bin/python benchmarks/bench_jobs.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_jobs.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

It uses the app factory, the models and `run_due_jobs` only (and benchmarks/common.py, which it
takes along), so it also runs on a revision before this one (the lines about the snapshot then read
what that revision did). Prints one line a
measure (the job's CPU time is this process's, not the database server's), then one JSON line.
"""

import argparse
import json
import random
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import add_database_argument, database, make_app, signed_in
from portal.db import get_engine
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.models import (
    Area,
    ContactLog,
    Need,
    Offer,
    OfferStatus,
    Organization,
    Person,
    Referral,
    ReferralEvent,
    ReferralStatus,
    Role,
    User,
    utcnow,
)


def seed(session: Session, people: int) -> User:
    """The city; returns an administrator to view the indicators as."""
    rng = random.Random(12)
    now = utcnow()
    today = now.date()
    grids = [Area(level="grid", name_en=f"Grid {n}", name_zh=f"网格{n}", code=f"B-G{n}") for n in range(10)]
    session.add_all(grids)
    session.flush()
    admin = User(email="admin@bench.example", name="Admin", password_hash="x", role=Role.ADMIN)
    caseworkers = [
        User(
            email=f"cw{n}@bench.example",
            name=f"CW {n}",
            password_hash="x",
            role=Role.CASEWORKER,
            area_id=grids[n % 10].id,
        )
        for n in range(50)
    ]
    organizations = [Organization(name=f"NGO {n}", kind="ngo", status="verified") for n in range(20)]
    session.add_all([admin, *caseworkers, *organizations])
    session.flush()
    offers = [
        Offer(
            organization_id=organizations[n % 20].id,
            category="employment" if n % 2 else "counselling",
            title=f"Offer {n}",
            status=OfferStatus.OPEN,
            capacity=5,
        )
        for n in range(2000)
    ]
    session.add_all(offers)
    session.commit()
    for n in range(people):
        caseworker = caseworkers[n % 50]
        person = Person(
            code=f"B-{n:05d}",
            caseworker_id=caseworker.id,
            area_id=caseworker.area_id,
            full_name=f"王小明 {n}",
            phone=f"138 0013 {n:04d}",
            programme="community_rehab",
            next_contact_due=today + timedelta(days=rng.randint(-20, 30)),
            created_at=now - timedelta(days=rng.randint(60, 700)),
        )
        session.add(person)
        session.flush()
        job, service = (
            Need(person_id=person.id, category="employment"),
            Need(person_id=person.id, category="counselling"),
        )
        session.add_all([job, service])
        session.add_all(
            ContactLog(
                person_id=person.id,
                caseworker_id=caseworker.id,
                kind="visit",
                occurred_on=today - timedelta(days=rng.randint(1, 90)),
                note="谈了工作的事",
            )
            for _ in range(10)
        )
        session.flush()
        placed = Referral(
            need_id=job.id, offer_id=offers[1 + 2 * rng.randrange(1000)].id, status=ReferralStatus.IN_PROGRESS
        )
        waiting = Referral(
            need_id=service.id,
            offer_id=offers[2 * rng.randrange(1000)].id,
            status=ReferralStatus.SENT,
            respond_by=now + timedelta(days=rng.randint(-1, 5)),
        )
        finished = [
            Referral(need_id=service.id, offer_id=offers[2 * rng.randrange(1000)].id, status=status)
            for status in (ReferralStatus.COMPLETED, ReferralStatus.DECLINED)
        ]
        session.add_all([placed, waiting, *finished])
        session.flush()
        session.add(
            ReferralEvent(
                referral_id=placed.id,
                to_status=ReferralStatus.IN_PROGRESS,
                at=now - timedelta(days=rng.randint(1, 250)),
            )
        )
        if n % 200 == 199:
            session.commit()
    session.commit()
    return admin


class Counter:
    def __init__(self) -> None:
        self.statements = 0

    def __call__(self, *_args: Any) -> None:
        self.statements += 1


def measured(engine: sa.Engine, work: Callable[[], Any]) -> tuple[Any, int, float, float]:
    """What `work` returned, the statements it ran, and its wall and CPU seconds (this process's
    CPU: the database server's is not counted)."""
    counter = Counter()
    sa.event.listen(engine, "before_cursor_execute", counter)
    start, cpu = time.perf_counter(), time.process_time()
    try:
        result = work()
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
    return result, counter.statements, time.perf_counter() - start, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=5000)
    add_database_argument(parser)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with database(args.database_url) as url:
        app = make_app(url)
        engine = get_engine(app)
        start = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            admin = seed(session, args.people)
        print(f"seeded {args.people} people in {time.perf_counter() - start:.0f} s")
        with app.app_context():
            for name in ("first_run", "nothing_due_run"):
                with Session(engine, expire_on_commit=False) as session:
                    report, statements, seconds, cpu = measured(
                        engine, lambda s=session: run_due_jobs(s, LiveIndex(), utcnow(), app.config)
                    )
                opened = sum(report.follow_ups.values())
                figures[name] = {
                    "queries": statements,
                    "seconds": round(seconds, 2),
                    "cpu_seconds": round(cpu, 2),
                    "follow_ups_opened": opened,
                }
                print(
                    f"run-due-jobs {name}: {statements} queries, {seconds:.2f} s (CPU {cpu:.2f} s),"
                    f" {opened} follow-ups opened"
                )
        with Session(engine, expire_on_commit=False) as session:
            client = signed_in(app, session, admin)
        for name in ("indicators_first_view", "indicators_next_view", "indicators_view_again"):
            response, statements, seconds, _cpu = measured(engine, lambda: client.get("/indicators"))
            assert response.status_code == 200, response.status_code
            figures[name] = {"queries": statements, "ms": round(seconds * 1000, 1)}
            print(f"{name}: {statements} queries, {seconds * 1000:.1f} ms")
        engine.dispose()
    print(json.dumps({"database": url.split(":")[0], "people": args.people, **figures}))


if __name__ == "__main__":
    main()
