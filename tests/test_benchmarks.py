"""The city-size data set of benchmarks/city.py, written at a tiny scale on each database, so the
benchmark's data cannot silently rot: what it reports is what it wrote, and what it wrote is what the
pages of issue 12 are measured on."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from benchmarks.city import CASEWORKER, CITY, PROVIDER, SUPERVISED_DISTRICT, write
from benchmarks.common import database, make_app
from portal.areas import areas_within
from portal.audit.services import trail_of, verify_chain
from portal.db import get_engine
from portal.demo import DATA_FILE
from portal.migrations import upgrade
from portal.models import (
    Area,
    Category,
    Need,
    Offer,
    OfferStatus,
    Person,
    Referral,
    ReferralStatus,
    User,
)

SCALE = 0.005
SIZE = CITY.scaled(SCALE)
DEMO = json.loads(DATA_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def written(database_url: str) -> tuple[str, object, list[str]]:
    lines: list[str] = []
    return database_url, write(database_url, "city", SCALE, out=lines.append), lines


def test_the_city_writer_reports_what_it_wrote_on_top_of_the_demo(written: tuple[str, object, list[str]]) -> None:
    url, result, lines = written
    counts = result.counts  # type: ignore[attr-defined]
    demo_needs = sum(len(person["needs"]) for person in DEMO["people"])
    assert counts["offers"] == len(DEMO["offers"]) + SIZE.offers
    assert counts["people"] == len(DEMO["people"]) + SIZE.people
    assert counts["needs"] == demo_needs + SIZE.needs
    # The demo's report-ins and tests the person came to are contacts too (portal/programme/services.py).
    demo_contacts = sum(
        result != "missed"
        for agreement in DEMO["programme_agreements"]
        for results in agreement["results"].values()
        for result in results
    )
    assert counts["contacts"] == demo_contacts + SIZE.contacts
    assert counts["referrals"] == len(DEMO["referrals"]) + SIZE.referrals
    assert counts["audit_events"] >= SIZE.audit
    # The report names every table's count, and the time the whole took.
    assert f"offers {counts['offers']:,}" in lines[-2]
    assert lines[-1].startswith("  total: ")

    app = make_app(url, migrate=False)
    try:
        with app.app_context(), Session(get_engine(app)) as session:
            # Every category is offered, and the offers are open in the main.
            offered = set(session.exec(select(Offer.category).distinct()))
            assert offered == set(Category)
            open_offers = session.exec(select(func.count()).where(Offer.status == OfferStatus.OPEN)).one()
            assert open_offers > SIZE.offers * 0.8

            caseworker = session.exec(select(User).where(User.email == CASEWORKER)).one()
            caseload = session.exec(select(func.count()).where(Person.caseworker_id == caseworker.id)).one()
            assert caseload >= SIZE.caseload
            district = session.exec(select(Area.id).where(Area.code == SUPERVISED_DISTRICT)).one()
            in_district = session.exec(
                select(func.count()).where(col(Person.area_id).in_(areas_within(district)))
            ).one()
            assert in_district >= SIZE.district

            # Referrals in every state, and the provider's inbox holds the waiting ones.
            states = set(session.exec(select(Referral.status).distinct()))
            assert states == set(ReferralStatus)
            provider = session.exec(select(User).where(User.email == PROVIDER)).one()
            waiting = session.exec(
                select(func.count())
                .select_from(Referral)
                .join(Offer, col(Offer.id) == Referral.offer_id)
                .where(
                    Offer.organization_id == provider.organization_id,
                    col(Referral.status).in_([ReferralStatus.SENT, ReferralStatus.WAITLISTED]),
                )
            ).one()
            assert waiting >= SIZE.inbox

            # Written through the models: names are stored encrypted, and read back decrypted.
            person = session.exec(select(Person).where(col(Person.code).startswith("XA-2025-"))).first()
            assert person is not None and person.full_name
            stored = session.execute(
                sa.text("SELECT full_name FROM person WHERE code = :code"), {"code": person.code}
            ).scalar_one()
            assert person.full_name not in stored
            assert session.exec(select(func.count()).select_from(Need)).one() == counts["needs"]

            # The trail is whole and names the records it was written about.
            assert verify_chain(session).intact
            assert trail_of(session, [person.id]) or trail_of(session, session.exec(select(Person.id)).all())
    finally:
        get_engine(app).dispose()


def tables_of(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_benchmark_writes_into_an_emptied_database_or_a_temporary_file(database_url: str) -> None:
    """The PostgreSQL database given is emptied (a run never measures what an earlier one left); a
    SQLite file given is used as it is; without a URL, a temporary SQLite file, gone afterwards."""
    with database(database_url) as url:
        if url.startswith("postgresql"):
            assert tables_of(url) == set()
            upgrade(url)  # for the tests after this one
        else:
            assert "person" in tables_of(url)
    with database() as temporary:
        assert temporary.startswith("sqlite:///") and temporary != database_url
        get_engine(make_app(temporary)).dispose()
        assert "person" in tables_of(temporary)
        path = Path(temporary.removeprefix("sqlite:///"))
    assert not path.exists()


def test_the_load_benchmark_checks_its_writes_and_prints_its_targets(tmp_path: Path) -> None:
    """bench_load.py at a tiny size for a few seconds (on SQLite: the script empties a PostgreSQL
    database it is given): every simulated user signs in and works, the writes are read back."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_load.py"
    arguments = ["--database-url", f"sqlite:///{tmp_path / 'load.db'}", "--scale", "0.005"]
    arguments += ["--seconds", "4", "--warmup", "1", "--think", "0.05"]
    arguments += ["--caseworkers", "3", "--providers", "2", "--supervisors", "1"]
    run = subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=600, check=True
    )
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["contacts acknowledged"] > 0
    assert figures["contacts written"] == figures["contacts acknowledged"] == figures["contact keys used"]
    assert figures["lost contacts"] == figures["duplicated contacts"] == 0
    assert figures["needs with two referrals to one offer"] == figures["offers overbooked by the run"] == 0
    assert figures["rps"] > 0 and figures["bare_rps"] > 0
    assert figures["errors"] == figures["unavailable"] == 0, run.stdout[-2000:]


def test_the_directory_api_benchmark_reads_every_address_and_prints_its_target(tmp_path: Path) -> None:
    """bench_hsds.py at a tiny size: every address answers pages of published services to the
    partner's token, and the figures end with one JSON line."""
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_hsds.py"
    arguments = ["--database-url", f"sqlite:///{tmp_path / 'hsds.db'}", "--offers", "120", "--runs", "3"]
    run = subprocess.run(
        [sys.executable, str(script), *arguments], capture_output=True, text=True, timeout=600, check=True
    )
    assert "page 1 of 50 services" in run.stdout and "held" in run.stdout
    figures = json.loads(run.stdout.strip().splitlines()[-1])["addresses"]
    assert figures["page 1 of 50 services"]["items"] == 50
    assert figures["services at locations"]["items"] > 0
    assert figures["organizations"]["items"] == 50
