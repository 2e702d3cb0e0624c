"""The first ranking in a new worker at city size: how long it takes and how much memory the worker holds.

Writes N offers (default 20,000, the synthetic catalogue of bench_matching.py: Chinese, English and
mixed text) owned by verified organizations, and one person with a need, through the models; then
starts fresh Python processes, as newly started workers would be, each of which makes the app and
ranks the need with `rank_need` twice (the first ranking, then a warm one), and prints both times
(wall and this process's CPU time, which a machine shared with other work does not inflate), the
process's peak resident memory (VmHWM: ru_maxrss would carry over the parent's through the exec)
and its resident memory after the rankings.

The workers share an index folder (PORTAL_INDEX_DIR), empty at first: the first worker is the cold
case (no index files yet: it assembles the index from the database and writes the files); the next
ones are the case of a running server, where an earlier worker or `run-due-jobs` wrote them and a
new worker maps them.

    .venv/bin/python benchmarks/bench_index.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_index.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)
    .venv/bin/python benchmarks/bench_index.py --offers 2000        # a quick run

Targets (issue 12, on PostgreSQL): first ranking in a new worker ≤ 1.5 s, memory ≤ 300 MiB.
The last line is one JSON line of the figures.
"""

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from sqlmodel import Session, select

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_caseload import CONFIG  # noqa: E402
from bench_matching import TextMaker, make_offer  # noqa: E402
from stand_in import stand_in_vectors  # noqa: E402

from benchmarks.common import reset  # noqa: E402
from matching import semantic  # noqa: E402
from portal import create_app  # noqa: E402
from portal.db import get_engine  # noqa: E402
from portal.migrations import upgrade  # noqa: E402
from portal.models import Need, Offer, Organization, OrganizationKind, Person, Role, User, VerificationStatus  # noqa: E402

SEED = 20261206
ORGANIZATIONS = 200
TARGET_FIRST_S = 1.5
TARGET_RSS_MIB = 300.0


def write(url: str, offers: int) -> None:
    """The catalogue and one person with an employment need, written through the models, their
    vectors stand-ins (benchmarks/stand_in.py): what a worker maps and ranks with is the same."""
    semantic.model_vectors = stand_in_vectors
    reset(url)
    upgrade(url)
    app = create_app({**CONFIG, "DATABASE_URL": url})
    rng = random.Random(SEED)
    text = TextMaker(rng, 20_000)
    started = time.perf_counter()
    with Session(get_engine(app)) as session:
        organizations = [
            Organization(name=f"Bench {n}", kind=OrganizationKind.NGO, status=VerificationStatus.VERIFIED)
            for n in range(ORGANIZATIONS)
        ]
        session.add_all(organizations)
        caseworker = User(email="cw@bench.example", name="Bench", password_hash="x", role=Role.CASEWORKER)
        session.add(caseworker)
        session.commit()
        for n in range(offers):
            offer = make_offer(rng, text, n)
            rules = offer.eligibility
            session.add(
                Offer(
                    organization_id=organizations[n % ORGANIZATIONS].id,
                    category=offer.category,
                    title=offer.title[:200],
                    description=offer.description[:5000],
                    skills=list(offer.skills),
                    languages=list(offer.languages),
                    latitude=offer.location.lat if offer.location else None,
                    longitude=offer.location.lon if offer.location else None,
                    remote=offer.remote,
                    schedule=list(offer.schedule),
                    capacity=offer.capacity,
                    status=offer.status,
                    min_age=rules.min_age,
                    max_age=rules.max_age,
                    genders=list(rules.genders),
                    min_months_in_recovery=rules.min_months_in_recovery,
                )
            )
            if n % 1000 == 999:
                session.commit()
        person = Person(
            code="XA-2026-0001",
            caseworker_id=caseworker.id,
            full_name="王小明",
            birth_date=date(1990, 1, 1),
            gender="male",
            languages=["zh", "en"],
            latitude=34.26,
            longitude=108.94,
            max_travel_km=15,
            availability=["weekday_day", "weekend"],
            programme="community_rehab",
            programme_start=date(2025, 6, 1),
        )
        session.add(person)
        session.flush()
        session.add(
            Need(
                person_id=person.id,
                category="employment",
                urgency=3,
                description="做过八年厨师，想找离家近的后厨工作 kitchen job, line cook, no night shifts",
            )
        )
        session.commit()
    get_engine(app).dispose()
    print(f"wrote {offers:,} offers in {time.perf_counter() - started:.1f} s")


def rss_mib(field: str = "VmRSS") -> float:
    """The resident memory of this process now, or its peak with "VmHWM" (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def first_ranking(url: str, index_dir: str) -> None:
    """Run in a fresh process: the app, then the need ranked twice. Prints one JSON line."""
    from portal.matches.services import live_index, rank_need

    app = create_app({**CONFIG, "DATABASE_URL": url, "INDEX_DIR": index_dir})
    before = rss_mib()
    with app.app_context(), Session(get_engine(app)) as session:
        need = session.exec(select(Need)).one()
        started, cpu = time.perf_counter(), time.process_time()
        first = rank_need(session, live_index(app), need)
        first_s, first_cpu_s = time.perf_counter() - started, time.process_time() - cpu
        session.rollback()
        started, cpu = time.perf_counter(), time.process_time()
        warm = rank_need(session, live_index(app), need)
        warm_s, warm_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    assert [m.offer.id for m in first.ranked] == [m.offer.id for m in warm.ranked]
    print(
        json.dumps(
            {
                "first_s": round(first_s, 3),
                "first_cpu_s": round(first_cpu_s, 3),
                "warm_s": round(warm_s, 3),
                "warm_cpu_s": round(warm_cpu_s, 3),
                "rss_before_mib": round(before, 1),
                "rss_after_mib": round(rss_mib(), 1),
                "peak_rss_mib": round(rss_mib("VmHWM"), 1),
                "ranked": len(first.ranked),
                "ids": [str(m.offer.id) for m in first.ranked],
                "top": [m.offer.title[:30] for m in first.ranked[:3]],
            },
            ensure_ascii=False,
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=20_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--first-ranking", help=argparse.SUPPRESS)  # the child's index folder
    parser.add_argument("--reuse", action="store_true", help="rank against the data already written")
    args = parser.parse_args()
    if args.first_ranking is not None:
        first_ranking(args.database_url, args.first_ranking)
        return
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{Path(folder) / 'bench.db'}"
        if not args.reuse:
            write(url, args.offers)
        index_dir = str(Path(folder) / "offer-index")
        runs = []
        for _ in range(3):
            done = subprocess.run(
                [sys.executable, __file__, "--first-ranking", index_dir, "--database-url", url],
                check=True,
                capture_output=True,
                text=True,
            )
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    if any(run["ids"] != runs[0]["ids"] for run in runs):
        raise SystemExit("the workers ranked differently")
    for n, run in enumerate(runs):
        case = "no index files yet (cold)" if n == 0 else "index files present"
        print(
            f"new worker {n + 1}, {case}: first ranking {run['first_s']:.2f} s, CPU {run['first_cpu_s']:.2f} s"
            f" (target ≤ {TARGET_FIRST_S} s); warm {run['warm_s'] * 1000:.0f} ms,"
            f" CPU {run['warm_cpu_s'] * 1000:.0f} ms;"
            f" memory {run['rss_before_mib']:.0f} MiB before,"
            f" {run['rss_after_mib']:.0f} MiB after, peak {run['peak_rss_mib']:.0f} MiB (target ≤ {TARGET_RSS_MIB:.0f})"
        )
    print(json.dumps({"database": url.split(":")[0], "offers": args.offers, "workers": runs}, ensure_ascii=False))


if __name__ == "__main__":
    main()
