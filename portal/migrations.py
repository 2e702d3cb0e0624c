"""Alembic, driven from the portal: `flask --app wsgi db upgrade|downgrade|check|revision`."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, current_app

from portal.crypto import KeyRing

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


def init_app(app: Flask) -> None:
    app.cli.add_command(db_cli)
