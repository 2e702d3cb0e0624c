"""Time the directory API (/api/hsds/, issue 17) at city size: 20,039 offers of 200 organizations
that publish to partners, read with a partner's token, as a partner system would: the first page of
50 services, a page deep in the list, the same fully nested, a text search, a taxonomy term, what
changed since yesterday, and the services at locations and organizations.

    .venv/bin/python benchmarks/bench_hsds.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_hsds.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

Target: a page of 50 services in at most 50 ms. Every request also counts the token's read and
writes its audit event, as in use. Prints the minimum, median and 95th percentile per address, each
marked held or NOT held, then one JSON line.
"""

import argparse
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_search import seed
from benchmarks.common import add_database_argument, database, make_app
from benchmarks.stand_in import stand_in_vectors
from matching import semantic
from portal.clock import local_today
from portal.db import get_engine
from portal.hsds import services, taxonomy
from portal.models import Offer, Organization, Publication

TARGET_MS = 50.0


def addresses() -> dict[str, str]:
    yesterday = (local_today() - timedelta(days=1)).isoformat()
    counselling = taxonomy.term_id(taxonomy.CATEGORIES, "counselling")
    return {
        "page 1 of 50 services": "/api/hsds/services?per_page=50",
        "page 200 of 50 services": "/api/hsds/services?per_page=50&page=200",
        "page 1, fully nested": "/api/hsds/services?per_page=50&full=true",
        "search 培训": "/api/hsds/services?per_page=50&search=培训",
        "taxonomy term (counselling)": f"/api/hsds/services?per_page=50&taxonomy_term_id={counselling}",
        "modified since yesterday": f"/api/hsds/services?per_page=50&modified_after={yesterday}",
        "services at locations": "/api/hsds/service_at_locations?per_page=50",
        "organizations": "/api/hsds/organizations?per_page=50",
    }


def publish_and_place(session: Session) -> None:
    """Every organization publishes to partners; half the offers have a place."""
    session.execute(sa.update(Organization).values(api_publication=Publication.PARTNERS, api_contacts=True))
    offer = Offer.__table__  # type: ignore[attr-defined]
    session.execute(
        sa.update(offer)
        .where(sa.func.substr(sa.cast(offer.c.id, sa.String), 1, 1).in_(list("01234567")))
        .values(address="西安市莲湖区北院门12号", latitude=34.267, longitude=108.9422)
    )
    session.commit()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--offers", type=int, default=20_039)
    parser.add_argument("--runs", type=int, default=30)
    add_database_argument(parser)
    args = parser.parse_args()
    figures: dict[str, Any] = {}
    with database(args.database_url) as url:
        app = make_app(url)
        app.config["API_READS_PER_HOUR"] = 1_000_000
        started = time.perf_counter()
        # The matching model's vectors as offers are written: stand-ins (benchmarks/stand_in.py).
        semantic.model_vectors = stand_in_vectors
        with Session(get_engine(app), expire_on_commit=False) as session:
            seed(session, args.offers)
            publish_and_place(session)
            _token, secret = services.create_token(session, "Benchmark partner", None)
        print(f"wrote {args.offers} offers in {time.perf_counter() - started:.0f} s")
        if url.startswith("postgresql"):
            with get_engine(app).connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        for name, address in addresses().items():
            for _ in range(3):  # warm-up
                client.get(address, headers=headers)
            times = []
            for _ in range(args.runs):
                start = time.perf_counter()
                response = client.get(address, headers=headers)
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, (address, response.status_code)
            size = response.get_json()["size"]
            row = {
                "min_ms": round(min(times), 1),
                "median_ms": round(statistics.median(times), 1),
                "p95_ms": round(statistics.quantiles(times, n=20)[-1], 1),
                "items": size,
            }
            held = "held" if row["median_ms"] <= TARGET_MS else "NOT held"
            figures[name] = row
            print(f"{name:30} " + ", ".join(f"{key} {value}" for key, value in row.items()) + f"  ({held})")
        get_engine(app).dispose()
    print(json.dumps({"database": url.split(":")[0], "offers": args.offers, "addresses": figures}, ensure_ascii=False))


if __name__ == "__main__":
    main()
