"""Backups as README "Backups and restore" makes them: a copy restored into an empty database reads
back whole with the deployment's keys, its audit trail still reaches the anchor kept outside it, and
without the keys nothing in it can be read."""

import re
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from portal import create_app
from portal.crypto import UndecryptableValue
from portal.db import get_engine
from portal.models import Area, Offer, Person, User
from tests.conftest import TEST_CONFIG
from tests.portal.person_record import SENTINEL, build_record, texts_holding

OTHER_KEY = "b3RoZXItZGVwbG95bWVudHMta2V5LW5vdC10aGlzLTA="


def _libpq(url: sa.URL) -> str:
    """The URL as pg_dump and pg_restore read it (no SQLAlchemy driver name)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def _run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def _pg_tools() -> None:
    for tool in ("pg_dump", "pg_restore"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")


@contextmanager
def _restored_postgresql(url: sa.URL, tmp_path: Path) -> Iterator[str]:
    """pg_dump -Fc, then pg_restore into a new, empty database, dropped at the end."""
    _pg_tools()
    dump = tmp_path / "bridge.dump"
    _run("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", f"--dbname={_libpq(url)}")
    restored = url.set(database=f"{url.database}_restore")
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    drop = f'DROP DATABASE IF EXISTS "{restored.database}" WITH (FORCE)'
    with admin.connect() as connection:
        connection.exec_driver_sql(drop)
        connection.exec_driver_sql(f'CREATE DATABASE "{restored.database}"')
    try:
        _run(
            "pg_restore",
            "--no-owner",
            "--exit-on-error",
            "--single-transaction",
            f"--dbname={_libpq(restored)}",
            str(dump),
        )
        yield restored.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(drop)
        admin.dispose()


@contextmanager
def _restored_sqlite(app: Flask, tmp_path: Path) -> Iterator[str]:
    """`db backup` while the portal could be writing; restoring is putting the file in place."""
    backup = tmp_path / "backup.db"
    result = app.test_cli_runner().invoke(args=["db", "backup", str(backup)])
    assert result.exit_code == 0, result.output
    restored = tmp_path / "restored" / "portal.db"
    restored.parent.mkdir()
    shutil.copy(backup, restored)
    yield f"sqlite:///{restored}"


def _restored(app: Flask, tmp_path: Path) -> AbstractContextManager[str]:
    url = sa.make_url(app.config["DATABASE_URL"])
    if url.get_backend_name() == "sqlite":
        return _restored_sqlite(app, tmp_path)
    return _restored_postgresql(url, tmp_path)


@contextmanager
def _portal_on(url: str, **keys: object) -> Iterator[Flask]:
    restored = create_app({**TEST_CONFIG, "DATABASE_URL": url, **keys})
    try:
        yield restored
    finally:
        get_engine(restored).dispose()


def _person_fields(app: Flask, person_id: object) -> tuple[str | None, ...]:
    with Session(get_engine(app)) as reader:
        person = reader.get(Person, person_id)
        assert person is not None
        return person.full_name, person.phone, person.id_number, person.address


def test_a_restored_backup_reads_back_whole_with_the_keys_and_not_without(
    app: Flask,
    session: Session,
    caseworker: User,
    grid: Area,
    offer: Offer,
    login: Callable[[User], FlaskClient],
    tmp_path: Path,
) -> None:
    record = build_record(session, caseworker, grid, offer, programme_end=None)
    assert login(caseworker).get(f"/people/{record.person.id}").status_code == 200  # an audited view
    anchors = tmp_path / "audit-anchors.log"
    app.config["AUDIT_ANCHOR_FILE"] = str(anchors)
    assert app.test_cli_runner().invoke(args=["run-due-jobs"]).exit_code == 0
    assert "audit anchor" in anchors.read_text()
    readable = texts_holding(session, SENTINEL)
    fields = _person_fields(app, record.person.id)
    session.close()

    with _restored(app, tmp_path) as restored_url:
        with _portal_on(restored_url) as restored:
            assert _person_fields(restored, record.person.id) == fields
            with Session(get_engine(restored)) as reader:
                assert texts_holding(reader, SENTINEL) == readable
            runner = restored.test_cli_runner()
            verified = runner.invoke(args=["audit", "verify", "--anchor", str(anchors)])
            assert verified.exit_code == 0, verified.output
            assert re.search(r"audit chain intact: \d+ events, anchor at sequence \d+ matches", verified.output)
            status = runner.invoke(args=["keys", "status"]).output
            assert "key 1 (current): " in status and "NOT CONFIGURED" not in status

        other_keys = {"DATA_KEYS": {"1": OTHER_KEY}, "AUDIT_KEY": OTHER_KEY}
        with _portal_on(restored_url, **other_keys) as stranger:
            with pytest.raises(UndecryptableValue, match="does not decrypt with key 1"):
                _person_fields(stranger, record.person.id)
            refused = stranger.test_cli_runner().invoke(args=["audit", "verify"])
            assert refused.exit_code == 1 and "audit chain broken at sequence 1 " in refused.output


def test_db_backup_refuses_postgresql_and_names_pg_dump() -> None:
    with _portal_on("postgresql+psycopg://bridge@db.invalid/bridge") as portal:
        result = portal.test_cli_runner().invoke(args=["db", "backup", "copy.db"])
    assert result.exit_code == 1
    assert "pg_dump -Fc" in result.output


def test_db_backup_never_writes_over_an_earlier_backup(app: Flask, tmp_path: Path) -> None:
    if not app.config["DATABASE_URL"].startswith("sqlite"):
        pytest.skip("db backup is SQLite's")
    earlier = tmp_path / "monday.db"
    earlier.write_bytes(b"monday's backup")
    result = app.test_cli_runner().invoke(args=["db", "backup", str(earlier)])
    assert result.exit_code == 1 and "exists" in result.output
    assert earlier.read_bytes() == b"monday's backup"
