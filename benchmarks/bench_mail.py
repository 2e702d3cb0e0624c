"""How soon a mail reaches the SMTP server once the transaction that wrote it commits, through the
queue: `flask --app wsgi mail-worker` (a separate process, as deployed) on Redis, a real SMTP server
on a local port, and mails committed one at a time (--apart seconds between them), then all at once:
the time from each commit to the server, and how long a batch takes (one worker, one mail a job).

    .venv/bin/python benchmarks/bench_mail.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_mail.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

The worker uses the "mail" queue of --queue-url (default Redis database 14), emptied first. Prints
each figure, then one JSON line.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

from redis import Redis
from rq import Queue, Worker
from sqlmodel import Session

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import CONFIG, add_database_argument, database, make_app
from portal.db import get_engine
from portal.models import Role, User
from portal.notifications.services import notify
from portal.queue import MAIL_QUEUE
from tests.portal.smtp_server import SMTPServer

ROOT = Path(__file__).resolve().parents[1]


class TimedServer(SMTPServer):
    """Notes when each recipient's mail arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived: dict[str, float] = {}

    def keep(self, data: bytes) -> None:
        super().keep(data)
        self.arrived[str(self.messages[-1]["To"])] = time.perf_counter()


def _environment(url: str, queue_url: str, smtp: SMTPServer) -> dict[str, str]:
    settings = {**CONFIG, **smtp.config(), "DATABASE_URL": url, "QUEUE_URL": queue_url}
    encoded = {
        f"PORTAL_{name}": value if isinstance(value, str) else json.dumps(value) for name, value in settings.items()
    }
    return {**os.environ, **encoded}


def _wait_for_worker(connection: Redis, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not Worker.count(connection=connection, queue=Queue(MAIL_QUEUE, connection=connection)):
        if time.monotonic() > deadline:
            raise SystemExit("the mail worker did not start")
        time.sleep(0.2)


def _commit_mails(session: Session, users: list[User], apart: float) -> dict[str, float]:
    committed = {}
    for user in users:
        notify(session, user.id, "referral_reminder", offer="Job club")
        session.commit()
        committed[user.email] = time.perf_counter()
        time.sleep(apart)
    return committed


def _wait_for(smtp: TimedServer, addresses: list[str], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while not all(address in smtp.arrived for address in addresses) and time.monotonic() < deadline:
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_argument(parser)
    parser.add_argument("--queue-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--mails", type=int, default=50, help="mails committed one at a time, then as many at once")
    parser.add_argument("--apart", type=float, default=0.2, help="seconds between the mails committed one at a time")
    args = parser.parse_args()
    connection = Redis.from_url(args.queue_url)
    Queue(MAIL_QUEUE, connection=connection).empty()
    smtp = TimedServer()
    smtp.start()
    with database(args.database_url) as url:
        app = make_app(url)
        app.config.update(smtp.config(), QUEUE_URL=args.queue_url)
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "mail-worker"],
            cwd=ROOT,
            env=_environment(url, args.queue_url, smtp),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_worker(connection)
            with app.app_context(), Session(get_engine(app), expire_on_commit=False) as session:
                users = [
                    User(
                        email=f"u{n}-{uuid.uuid4().hex[:6]}@bench.example",
                        name="U",
                        password_hash="x",
                        role=Role.PROVIDER,
                    )
                    for n in range(2 * args.mails)
                ]
                session.add_all(users)
                session.commit()
                one_by_one = _commit_mails(session, users[: args.mails], args.apart)
                _wait_for(smtp, list(one_by_one))
                start = time.perf_counter()
                at_once = users[args.mails :]
                for user in at_once:
                    notify(session, user.id, "referral_reminder", offer="Job club")
                session.commit()
                _wait_for(smtp, [user.email for user in at_once])
        finally:
            worker.terminate()
            worker.wait(timeout=90)
            smtp.stop()
            get_engine(app).dispose()
    latencies = sorted(
        (smtp.arrived[address] - at) * 1000 for address, at in one_by_one.items() if address in smtp.arrived
    )
    batch = [smtp.arrived[user.email] for user in at_once if user.email in smtp.arrived]
    figures = {
        "database": url.split(":", 1)[0].split("+")[0],
        "mails": args.mails,
        "apart_seconds": args.apart,
        "delivered_one_by_one": len(latencies),
        "latency_ms_median": round(statistics.median(latencies)),
        "latency_ms_p95": round(latencies[int(len(latencies) * 0.95) - 1]),
        "latency_ms_max": round(latencies[-1]),
        "delivered_at_once": len(batch),
        "batch_seconds": round(max(batch) - start, 2) if batch else None,
    }
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
