"""Faults of issue 13 that a test can bring about on one machine: a worker killed mid-write.

benchmarks/bench_load.py drives gunicorn (2 workers) with caseworkers logging contacts and approving
matches and providers answering referrals, while one worker after another is killed with SIGKILL,
whatever it is doing. A write cut off is sent again with its one-time key, as a browser resends a
form. Then the database is read back: every write the server acknowledged is there exactly once,
and no referral's state disagrees with its history (nothing half-written)."""

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import POSTGRES_URL

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_load.py"


@pytest.fixture(params=["sqlite", "postgresql"])
def scratch_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of the test's own: the benchmark writes its data set into it from scratch."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'faults.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    server = sa.make_url(POSTGRES_URL)
    name = f"{server.database}_faults_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    yield server.set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
    admin.dispose()


def test_a_worker_killed_mid_write_loses_and_doubles_nothing(scratch_url: str) -> None:
    arguments = ["--database-url", scratch_url, "--scale", "0.005", "--seconds", "12", "--warmup", "1"]
    arguments += ["--think", "0.05", "--caseworkers", "4", "--providers", "2", "--supervisors", "1"]
    arguments += ["--kill-every", "3"]
    run = subprocess.run([sys.executable, str(SCRIPT), *arguments], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    figures = json.loads(run.stdout.strip().splitlines()[-1])
    assert figures["workers killed"] >= 2
    assert figures["contacts acknowledged"] > 0
    assert figures["lost contacts"] == 0
    assert figures["duplicated contacts"] == 0
    assert figures["contacts written"] == figures["contact keys used"]  # one contact for each key, retried or not
    assert figures["needs with two referrals to one offer"] == 0
    assert figures["offers overbooked by the run"] == 0
    assert figures["referrals whose state and history disagree"] == 0
