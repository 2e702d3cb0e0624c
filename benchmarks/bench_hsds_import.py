"""Time an HSDS 3.0 import of 10,000 services (issue 17: at most 60 s), from tabular data another
directory could have written: 200 organizations; each service with an Open Eligibility term (by
its code, under the source's own ids), Bridge's capacity attribute, one or two schedules and
languages, a place with an address, and a contact with a phone; about half the texts Chinese.

    .venv/bin/python benchmarks/bench_hsds_import.py                      # SQLite in a temp folder
    .venv/bin/python benchmarks/bench_hsds_import.py --database-url postgresql+psycopg://…/db
        (the PostgreSQL database is emptied first)

Prints the seconds to read and check the files (the dry run), to apply them into an empty
directory, and to import them a second time (which changes nothing); then one JSON line. The
offers' matching features are not part of an import (`flask matching backfill` computes them).
"""

import argparse
import json
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from sqlmodel import func, select

if not __package__:  # run as a script: make the repository importable, as under pytest
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import add_database_argument, database, make_app
from portal.db import session_scope
from portal.hsds import importing, reading, tabular, taxonomy
from portal.models import Offer

ZH = "社区 康复 服务 每周 免费 家属 支持 心理 辅导 培训 就业 技能 同伴 互助 住房 法律 援助 咨询 健康 检查".split()
EN = "community recovery service weekly free family support counselling training job skills peer help".split()
DAYS = ["MO,TU,WE,TH,FR", "SA,SU", "MO,WE,FR", "TU,TH"]


def _text(rng: random.Random, words: int) -> str:
    if rng.random() < 0.5:
        return "".join(rng.choice(ZH) for _ in range(words))
    return " ".join(rng.choice(EN) for _ in range(words)).capitalize()


def write_source(folder: Path, services: int, organizations: int = 200) -> None:
    """An HSDS 3.0 tabular data set of `services` services, as another directory would write it."""
    rng = random.Random(17)
    ids = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731 - ids repeatable by seed
    source_taxonomy = {"id": ids(), "name": "Open Eligibility", "description": "Open Eligibility", "version": "2.0"}
    codes = sorted(set(taxonomy.OPEN_ELIGIBILITY_OF.values()))
    terms = {
        code: {
            "id": ids(),
            "code": code,
            "name": code,
            "description": code,
            "taxonomy": "Open Eligibility",
            "taxonomy_id": source_taxonomy["id"],
        }
        for code in codes
    }
    capacity = taxonomy.attribute_term(taxonomy.CAPACITY)
    tables: dict[str, list[Any]] = {table: [] for table in tabular.TABLES}
    tables["taxonomy"] = [source_taxonomy]
    tables["taxonomy_term"] = list(terms.values())
    owners = []
    for n in range(organizations):
        owner = {"id": ids(), "name": f"Provider {n} {_text(rng, 3)}", "description": _text(rng, 30)}
        owners.append(owner)
        tables["organization"].append(owner)
        tables["phone"].append({"id": ids(), "organization_id": owner["id"], "number": f"029-8{n:03d} {n:04d}"})
    for n in range(services):
        service_id, location_id, contact_id = ids(), ids(), ids()
        tables["service"].append(
            {
                "id": service_id,
                "organization_id": owners[n % organizations]["id"],
                "name": f"{_text(rng, 4)} {n}",
                "description": _text(rng, 60),
                "status": "active",
                "minimum_age": 18,
                "maximum_age": rng.choice([None, 60, 65]),
                "assured_date": "2026-11-01",
            }
        )
        for term in (terms[rng.choice(codes)],):
            tables["attribute"].append(
                {"id": ids(), "link_id": service_id, "link_entity": "service", "taxonomy_term_id": term["id"]}
            )
        tables["attribute"].append(
            {
                "id": ids(),
                "link_id": service_id,
                "link_entity": "service",
                "taxonomy_term_id": str(capacity.id),
                "value": rng.randint(1, 30),
            }
        )
        for days in rng.sample(DAYS, rng.randint(1, 2)):
            opens = rng.choice(["09:00", "14:00", "18:30"])
            tables["schedule"].append(
                {"id": ids(), "service_id": service_id, "freq": "WEEKLY", "byday": days, "opens_at": opens}
            )
        for code in rng.sample(["zh", "en"], rng.randint(1, 2)):
            tables["language"].append({"id": ids(), "service_id": service_id, "code": code, "name": code})
        latitude, longitude = 34.2 + rng.random() / 5, 108.8 + rng.random() / 3
        tables["location"].append(
            {"id": location_id, "location_type": "physical", "latitude": latitude, "longitude": longitude}
        )
        tables["service_at_location"].append({"id": ids(), "service_id": service_id, "location_id": location_id})
        tables["address"].append(
            {
                "id": ids(),
                "location_id": location_id,
                "address_1": f"西安市某路{n}号",
                "city": "西安",
                "state_province": "陕西",
                "postal_code": "710000",
                "country": "CN",
                "address_type": "physical",
            }
        )
        tables["contact"].append({"id": contact_id, "service_id": service_id, "name": "王丽", "email": "a@b.example"})
        tables["phone"].append({"id": ids(), "contact_id": contact_id, "number": f"1390000{n:04d}"})
    tabular.write(folder, tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_database_argument(parser)
    parser.add_argument("--services", type=int, default=10_000)
    args = parser.parse_args()
    figures: dict[str, Any] = {"services": args.services}
    with tempfile.TemporaryDirectory() as folder, database(args.database_url) as url:
        source_folder = Path(folder) / "source"
        started = time.perf_counter()
        write_source(source_folder, args.services)
        figures["write_source_s"] = round(time.perf_counter() - started, 1)
        figures["source_mb"] = round(sum(p.stat().st_size for p in source_folder.iterdir()) / 2**20, 1)
        app = make_app(url)
        with app.app_context(), session_scope(app) as session:
            started = time.perf_counter()
            checked = importing.dry_run(session, reading.read(str(source_folder)))
            figures["dry_run_s"] = round(time.perf_counter() - started, 1)
            assert checked.report.ok, importing.english(checked.report)[:20]
            started = time.perf_counter()
            importing.apply(session, checked)
            figures["apply_s"] = round(time.perf_counter() - started, 1)
            figures["import_s"] = round(figures["dry_run_s"] + figures["apply_s"], 1)
            figures["offers"] = session.exec(select(func.count()).select_from(Offer)).one()
        with app.app_context(), session_scope(app) as session:
            started = time.perf_counter()
            again = importing.dry_run(session, reading.read(str(source_folder)))
            importing.apply(session, again)
            figures["second_import_s"] = round(time.perf_counter() - started, 1)
            figures["second_unchanged"] = again.report.offers.unchanged
    for name, value in figures.items():
        print(f"{name}: {value}")
    print(json.dumps({"database": url.split(":")[0], **figures}))


if __name__ == "__main__":
    main()
