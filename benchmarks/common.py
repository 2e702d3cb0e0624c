"""What the benchmarks share, so that each measures the portal under the same settings: the
configuration, the `--database-url` argument, the database to write into (a temporary SQLite file
by default; a PostgreSQL database given is emptied first), the app on it, and a test client signed
in as a user.

A script run as `.venv/bin/python benchmarks/bench_x.py` has the benchmarks folder on its path, not
the repository: it puts the repository there before importing this module, as bench_pages.py does."""

import argparse
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session

from portal import create_app
from portal.auth import sessions as server_sessions
from portal.auth.access import AGENT_KEY, TOKEN_KEY, agent_digest
from portal.migrations import upgrade
from portal.models import User

# The settings the benchmarks run the portal with: fixed keys, no CSRF, no second factor.
CONFIG: dict[str, Any] = {
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


def add_database_argument(parser: argparse.ArgumentParser, required: bool = False) -> None:
    """`--database-url`, the same in every script."""
    parser.add_argument(
        "--database-url",
        required=required,
        default="",
        help="SQLAlchemy URL of the database to write into"
        + ("" if required else " (default: SQLite in a temporary folder; a PostgreSQL database is emptied first)"),
    )


def reset(url: str) -> None:
    """Empty the database: drop PostgreSQL's public schema, or delete the SQLite file."""
    if url.startswith("postgresql"):
        engine = sa.create_engine(url)
        with engine.begin() as connection:
            connection.exec_driver_sql("DROP SCHEMA public CASCADE")
            connection.exec_driver_sql("CREATE SCHEMA public")
        engine.dispose()
    elif url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


@contextmanager
def database(url: str = "", keep: bool = False) -> Iterator[str]:
    """The database a run writes into: `url`, or without one a SQLite file in a temporary folder,
    removed at the end. A PostgreSQL database is emptied first unless `keep` (a data set a run
    before wrote, to time two revisions on it); a SQLite file given is used as it is."""
    with tempfile.TemporaryDirectory() as folder:
        url = url or f"sqlite:///{Path(folder) / 'bench.db'}"
        if url.startswith("postgresql") and not keep:
            reset(url)
        yield url


def make_app(url: str, migrate: bool = True) -> Flask:
    """The portal on `url` with the benchmarks' settings; the database migrated first."""
    if migrate:
        upgrade(url)
    return create_app({**CONFIG, "DATABASE_URL": url})


def signed_in(app: Flask, session: Session, user: User) -> FlaskClient:
    """A test client signed in as `user`, with a fresh sign-in (the session is committed)."""
    token = server_sessions.start(session, user)
    session.commit()
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session.update(
            {
                "_user_id": str(user.id),
                "_fresh": True,
                TOKEN_KEY: token,
                AGENT_KEY: agent_digest(client.environ_base["HTTP_USER_AGENT"]),
            }
        )
    return client
