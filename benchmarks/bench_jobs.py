"""Cost of run-due-jobs and of the indicators page at city size: queries and seconds of a first run
(everything due), of a run with nothing due, and of an indicators view that computes the figures
and one that reads them stored.

The data are written through the models (not the services: this measures the job, not the seeding):
N people (default 5,000) on 50 caseworkers' caseloads in 10 grids, two needs and ten contacts each,
four referrals each (one job in progress, one waiting on its provider, two finished), 2,000 offers.

    .venv/bin/python benchmarks/bench_jobs.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_jobs.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

It uses the app factory, the models and `run_due_jobs` only, so it also runs on a revision before
this one (the lines about the snapshot then read what that revision did). Prints one line a
measure, then one JSON line.
"""

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from portal import create_app
from portal.auth import sessions as server_sessions
from portal.auth.access import AGENT_KEY, TOKEN_KEY, agent_digest
from portal.db import get_engine
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.migrations import upgrade
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


def measured(engine: sa.Engine, work: Callable[[], Any]) -> tuple[Any, int, float]:
    counter = Counter()
    sa.event.listen(engine, "before_cursor_execute", counter)
    start = time.perf_counter()
    try:
        result = work()
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
    return result, counter.statements, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--people", type=int, default=5000)
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    figures: dict[str, Any] = {}
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
        engine = get_engine(app)
        start = time.perf_counter()
        with Session(engine, expire_on_commit=False) as session:
            admin = seed(session, args.people)
            token = server_sessions.start(session, admin)
            session.commit()
        print(f"seeded {args.people} people in {time.perf_counter() - start:.0f} s")
        with app.app_context():
            for name in ("first_run", "nothing_due_run"):
                with Session(engine, expire_on_commit=False) as session:
                    report, statements, seconds = measured(
                        engine, lambda s=session: run_due_jobs(s, LiveIndex(), utcnow(), app.config)
                    )
                opened = sum(report.follow_ups.values())
                figures[name] = {"queries": statements, "seconds": round(seconds, 2), "follow_ups_opened": opened}
                print(f"run-due-jobs {name}: {statements} queries, {seconds:.2f} s, {opened} follow-ups opened")
        client = app.test_client()
        with client.session_transaction() as flask_session:
            flask_session.update(
                {
                    "_user_id": str(admin.id),
                    "_fresh": True,
                    TOKEN_KEY: token,
                    AGENT_KEY: agent_digest(client.environ_base["HTTP_USER_AGENT"]),
                }
            )
        for name in ("indicators_first_view", "indicators_next_view", "indicators_view_again"):
            response, statements, seconds = measured(engine, lambda: client.get("/indicators"))
            assert response.status_code == 200, response.status_code
            figures[name] = {"queries": statements, "ms": round(seconds * 1000, 1)}
            print(f"{name}: {statements} queries, {seconds * 1000:.1f} ms")
        engine.dispose()
    print(json.dumps({"database": url.split(":")[0], "people": args.people, **figures}))


if __name__ == "__main__":
    main()
