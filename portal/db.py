"""The database engine, its SQLite settings, and one session per request."""

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, current_app, g, has_request_context, request
from sqlalchemy import Engine, Insert, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from portal.crypto import KEYRING_OPTION, KeyRing

# The audit chain's HMAC key rides on the engine like the key ring (portal/audit/services.py).
AUDIT_KEY_OPTION = "portal_audit_key"
# Requests that only read take no write lock; every other request writes.
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _to_json(value: Any) -> str:
    # Keep Chinese as characters, so a text search on a JSON column finds it on every database.
    return json.dumps(value, ensure_ascii=False)


def make_engine(url: str, keyring: KeyRing | None = None, audit_key: bytes | None = None, **kwargs: Any) -> Engine:
    """Create an engine; on SQLite add WAL, foreign keys, a busy timeout and write locks taken up front.
    The keys travel with the engine, so every session on it encrypts, decrypts and chains with them."""
    kwargs.setdefault("json_serializer", _to_json)
    # A failed statement's message would carry its values (a searched name, a token's digest) into
    # the logs; the statement and the error stay.
    kwargs.setdefault("hide_parameters", True)
    if keyring is not None:
        kwargs["execution_options"] = {**kwargs.get("execution_options", {}), KEYRING_OPTION: keyring}
    if audit_key is not None:
        kwargs["execution_options"] = {**kwargs.get("execution_options", {}), AUDIT_KEY_OPTION: audit_key}
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True, **kwargs)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        # Hand transaction control to SQLAlchemy so the "begin" hook below decides how to begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        # SQLite ignores SELECT ... FOR UPDATE. A write transaction takes the write lock
        # before its first read (BEGIN IMMEDIATE), so a read-modify-write cannot lose an
        # update to a concurrent one. Read-only requests begin deferred and never block.
        if connection.get_execution_options().get("read_only"):
            connection.exec_driver_sql("BEGIN")
        else:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def get_engine(app: Flask | None = None) -> Engine:
    """The application's engine, created once per app."""
    app = app or current_app
    engine: Engine = app.extensions["portal_engine"]
    return engine


def reads_only(view: Any) -> Any:
    """Mark a view that only reads even when POSTed to: a search sent in the body, to keep what was
    typed (a name, a phone number) out of URLs and so out of access logs and browser history."""
    view.reads_only = True
    return view


def is_read_only_request() -> bool:
    if request.method in READ_ONLY_METHODS:
        return True
    view = current_app.view_functions.get(request.endpoint or "")
    return bool(getattr(view, "reads_only", False))


def get_session() -> Session:
    """The session of the current request: read-only requests do not take SQLite's write lock."""
    if "db_session" not in g:
        engine = get_engine()
        if has_request_context() and is_read_only_request():
            engine = engine.execution_options(read_only=True)
        g.db_session = Session(engine, expire_on_commit=False)
    session: Session = g.db_session
    return session


@contextmanager
def session_scope(app: Flask | None = None) -> Iterator[Session]:
    """A session outside a request (CLI commands, tests), closed at the end."""
    with Session(get_engine(app), expire_on_commit=False) as session:
        yield session


def _close_session(_exc: BaseException | None) -> None:
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    """Create the engine and close the request's session at teardown."""
    app.extensions["portal_engine"] = make_engine(
        app.config["DATABASE_URL"],
        keyring=app.extensions["portal_keyring"],
        audit_key=app.extensions["portal_audit_key"],
    )
    app.teardown_appcontext(_close_session)


def insert_new(session: Session, table: Any, unique: str, rows: list[dict[str, Any]]) -> Insert:
    """An INSERT of `rows` that skips each row whose `unique` column is taken already (ON CONFLICT DO
    NOTHING, which SQLite and PostgreSQL both write alike), waiting for a transaction that is writing
    the same value: of two writers at once, one inserts the row and the other learns it did not."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).values(rows).on_conflict_do_nothing(index_elements=[unique])
