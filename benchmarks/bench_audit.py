"""What a list view costs the audit trail: rows written, time to append, how long the linkers' lock
is held, list views a second with several writers at once (processes, like servers), and the time
to verify the chain and to find "who viewed this record" in a trail of city size.

    .venv/bin/python benchmarks/bench_audit.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_audit.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

The trail is first filled with --existing events of one record each (default 250,000, as the city
data set has), written pending and linked by the linker as the portal does. Prints each figure,
then one JSON line.
"""

import argparse
import json
import multiprocessing
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, func, select

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import add_database_argument, database, make_app
from portal.audit.services import digest_of, link_pending, record_view, trail_of, verify_chain
from portal.db import get_engine
from portal.models import AuditEvent, AuditEventRecord, Role, User, utcnow

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]


def fill(session: Session, actor: User, count: int) -> float:
    """`count` pending events of one record each, then linked; returns linked events a second."""
    for start in range(0, count, 10_000):
        session.execute(
            sa.insert(EVENTS),
            [
                {
                    "id": uuid.uuid4(),
                    "at": utcnow(),
                    "actor_id": actor.id,
                    "action": "view",
                    "record_type": "person",
                    "record_id": uuid.uuid4(),
                    "previous_hash": "",
                    "hash": "",
                }
                for _ in range(min(10_000, count - start))
            ],
        )
        session.commit()
    began = time.perf_counter()
    while link_pending(session):
        pass
    return count / (time.perf_counter() - began)


def rows(session: Session) -> tuple[int, int]:
    session.rollback()
    events = session.exec(select(func.count()).select_from(AuditEvent)).one()
    records = session.exec(select(func.count()).select_from(AuditEventRecord)).one()
    session.rollback()  # on SQLite this session's transaction holds the write lock: end it
    return events, records


def writer(url: str, actor_id: uuid.UUID, size: int, seconds: float, counts: Any) -> None:
    """One server: list views of `size` people, back to back, for `seconds`."""
    app = make_app(url, migrate=False)
    with app.app_context():
        with Session(get_engine(app)) as session:
            actor = session.get(User, actor_id)
        views, end = 0, time.perf_counter() + seconds
        while time.perf_counter() < end:
            record_view(actor, "list", "person", [uuid.uuid4() for _ in range(size)])
            views += 1
    counts.put(views)
    get_engine(app).dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    add_database_argument(parser)
    parser.add_argument("--existing", type=int, default=250_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--writers", type=int, default=4, help="processes appending at once")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with database(args.database_url) as url:
        app = make_app(url)
        with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
            actor = User(email="cw@bench.example", name="Bench", password_hash="x", role=Role.CASEWORKER)
            session.add(actor)
            session.commit()
            session.expunge(actor)  # a rollback of this session must not reload it (and lock SQLite)
            figures["linked_per_second_filling"] = round(fill(session, actor, args.existing))

            for size in (500, 1234):
                before = rows(session)
                times = []
                for _ in range(args.runs):
                    began = time.perf_counter()
                    record_view(actor, "list", "person", [uuid.uuid4() for _ in range(size)])
                    times.append((time.perf_counter() - began) * 1000)
                after = rows(session)
                figures[f"list_{size}"] = {
                    "event_rows_per_view": (after[0] - before[0]) / args.runs,
                    "record_rows_per_view": (after[1] - before[1]) / args.runs,
                    "append_and_link_median_ms": round(statistics.median(times), 2),
                }

            # The lock is held while one round links what is pending: here, one list of 1,234.
            held = []
            for _ in range(args.runs):
                listed = [uuid.uuid4() for _ in range(1234)]
                session.execute(
                    sa.insert(EVENTS).values(
                        id=(event_id := uuid.uuid4()),
                        at=utcnow(),
                        actor_id=actor.id,
                        action="list",
                        record_type="person",
                        records_digest=digest_of(listed),
                        previous_hash="",
                        hash="",
                    )
                )
                session.execute(
                    sa.insert(AuditEventRecord.__table__),  # type: ignore[attr-defined]
                    [{"event_id": event_id, "record_id": record_id} for record_id in listed],
                )
                session.commit()
                began = time.perf_counter()
                link_pending(session)
                held.append((time.perf_counter() - began) * 1000)
            figures["linker_call_median_ms"] = round(statistics.median(held), 2)

            counts: Any = multiprocessing.get_context("spawn").Queue()
            processes = [
                multiprocessing.get_context("spawn").Process(
                    target=writer, args=(url, actor.id, 500, args.seconds, counts)
                )
                for _ in range(args.writers)
            ]
            for process in processes:
                process.start()
            views = sum(counts.get() for _ in processes)
            for process in processes:
                process.join()
            left = link_pending(session)
            figures["concurrent"] = {
                "writers": args.writers,
                "list_views_per_second": round(views / args.seconds, 1),
                "left_pending_after": left,
            }

            shown = session.exec(select(AuditEventRecord.record_id).limit(1)).one()
            began = time.perf_counter()
            trail = trail_of(session, [shown])
            figures["who_viewed_ms"] = round((time.perf_counter() - began) * 1000, 2)
            assert trail, "a record shown in a list must be on its trail"

            began = time.perf_counter()
            verdict = verify_chain(session)
            took = time.perf_counter() - began
            assert verdict.intact, verdict
            figures["verify"] = {
                "events": verdict.events,
                "seconds": round(took, 1),
                "events_per_second": round(verdict.events / took),
            }
            figures["rows_at_end"] = dict(zip(("events", "list_records"), rows(session), strict=True))
        get_engine(app).dispose()
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(json.dumps({"database": url.split(":")[0], "existing": args.existing, **figures}))


if __name__ == "__main__":
    main()
