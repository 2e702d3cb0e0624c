"""Alembic, driven from the portal: `flask --app wsgi db upgrade|downgrade|check|revision`, and the
SQLite online backup, `db backup PATH`."""

import os
import sqlite3
from collections.abc import Mapping
from contextlib import closing
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app
from flask.cli import with_appcontext

from portal.crypto import KeyRing
from portal.db import get_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(
    database_url: str,
    keyring: KeyRing | None = None,
    audit_key: bytes | None = None,
    settings: Mapping[str, Any] | None = None,
) -> Config:
    """An Alembic configuration for the given database, with no alembic.ini needed; the key ring is
    for migrations that encrypt or decrypt stored values, the audit key for those that re-chain the
    audit trail, the app's settings for one that reads a retired key (the two-step seeds'
    PORTAL_TOTP_KEY, or SECRET_KEY)."""
    config = Config()
    if keyring is not None:
        config.attributes["keyring"] = keyring
    if audit_key is not None:
        config.attributes["audit_key"] = audit_key
    if settings is not None:
        config.attributes["settings"] = settings
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser treats % as interpolation; URLs may contain it (escaped passwords).
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(
    database_url: str,
    revision: str = "head",
    keyring: KeyRing | None = None,
    audit_key: bytes | None = None,
    settings: Mapping[str, Any] | None = None,
) -> None:
    command.upgrade(alembic_config(database_url, keyring, audit_key, settings), revision)


def downgrade(
    database_url: str,
    revision: str = "base",
    keyring: KeyRing | None = None,
    audit_key: bytes | None = None,
    settings: Mapping[str, Any] | None = None,
) -> None:
    command.downgrade(alembic_config(database_url, keyring, audit_key, settings), revision)


def revisions(connection: sa.Connection) -> tuple[str | None, str | None]:
    """The database's revision and the code's newest one; equal when the schema is up to date."""
    head = ScriptDirectory.from_config(alembic_config("")).get_current_head()
    return MigrationContext.configure(connection).get_current_revision(), head


@click.group("db")
def db_cli() -> None:
    """Manage the database schema."""


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    upgrade(
        current_app.config["DATABASE_URL"],
        revision,
        current_app.extensions["portal_keyring"],
        current_app.extensions["portal_audit_key"],
        current_app.config,
    )


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def downgrade_command(revision: str) -> None:
    """Undo migrations down to REVISION (default: one step)."""
    downgrade(
        current_app.config["DATABASE_URL"],
        revision,
        current_app.extensions["portal_keyring"],
        current_app.extensions["portal_audit_key"],
        current_app.config,
    )


@db_cli.command("check")
def check_command() -> None:
    """Fail when the models and the migrations disagree."""
    command.check(alembic_config(current_app.config["DATABASE_URL"]))


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
def revision_command(message: str) -> None:
    """Write a new migration from the difference between the models and the database."""
    command.revision(alembic_config(current_app.config["DATABASE_URL"]), message=message, autogenerate=True)


def backup_sqlite(engine: sa.Engine, path: Path) -> None:
    """Copy a live SQLite database page by page (SQLite's online backup), consistent even while the
    portal writes. The copy is made under another name and renamed when whole, so a file at `path` is
    never a half-written backup."""
    partial = path.with_name(path.name + ".partial")
    source = engine.raw_connection()
    try:
        with closing(sqlite3.connect(partial)) as target:
            source.driver_connection.backup(target)  # type: ignore[union-attr]
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    os.replace(partial, path)


@db_cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@with_appcontext
def backup_command(path: Path) -> None:
    """Copy the SQLite database to PATH while the portal runs (PostgreSQL: pg_dump -Fc)."""
    engine = get_engine()
    if engine.dialect.name != "sqlite":
        raise click.ClickException(
            'db backup copies a SQLite database; back up PostgreSQL with `pg_dump -Fc` (README, "Backups and restore").'
        )
    if path.exists():
        raise click.ClickException(f"{path} exists: give the backup a new name.")
    backup_sqlite(engine, path)
    click.echo(f"backed up to {path}; its personal fields open only with the data keys, which are not in it")


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
