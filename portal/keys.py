"""`flask --app wsgi keys ...`: the encryption keys of portal/crypto.py, from the operator's side.

Rotation: add a new key to PORTAL_DATA_KEYS, make it PORTAL_DATA_KEY_CURRENT (new values use it
at once), run `keys rotate` to re-encrypt everything else, check `keys status`, then remove the old
key from the configuration.

The blind-index key (PORTAL_BLIND_INDEX_KEY) is changed with the portal stopped: set the new key,
run `keys reindex`, start the portal."""

import base64
import json
import secrets

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from sqlmodel import Session, SQLModel

from portal.crypto import KEY_BYTES, KeyRing, reindex, rotate, values_by_key
from portal.db import get_engine


def _ring() -> KeyRing:
    ring: KeyRing = current_app.extensions["portal_keyring"]
    return ring


# An AppGroup: its commands run inside the app context (the key ring and the engine), however invoked.
keys_cli = AppGroup("keys", help="Field-level encryption keys.")


@keys_cli.command("new")
def new_command() -> None:
    """Print a fresh random 256-bit key, base64, for PORTAL_DATA_KEYS, PORTAL_BLIND_INDEX_KEY or PORTAL_AUDIT_KEY."""
    click.echo(_fresh_key())


def _fresh_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


@keys_cli.command("env")
def env_command() -> None:
    """Print every secret a deployment needs, freshly made, as lines for its environment file.

    Single quotes keep the JSON of PORTAL_DATA_KEYS whole both for systemd's EnvironmentFile and for
    a shell that sources the file; base64 never holds a quote. Nothing is read from the database or
    from the configured keys, so `PORTAL_ENV=development` is enough to run it on a new server."""
    secrets_made = {
        "PORTAL_SECRET_KEY": _fresh_key(),
        "PORTAL_DATA_KEYS": json.dumps({"1": _fresh_key()}),
        "PORTAL_DATA_KEY_CURRENT": "1",
        "PORTAL_BLIND_INDEX_KEY": _fresh_key(),
        "PORTAL_AUDIT_KEY": _fresh_key(),
    }
    click.echo("# Made by `flask --app wsgi keys env`. Keep a copy in the secret store, never with the")
    click.echo("# database or its backups: without these keys a backup cannot be read.")
    for name, value in secrets_made.items():
        click.echo(f"{name}='{value}'")


@keys_cli.command("status")
def status_command() -> None:
    """How many stored values each key encrypted; the keys no value needs can be removed."""
    with get_engine().connect() as connection:
        counts = values_by_key(connection, SQLModel.metadata)
    ring = _ring()
    for key_id in sorted(counts, key=lambda k: -1 if k is None else k):
        label = "not encrypted" if key_id is None else f"key {key_id}"
        state = "" if key_id is None else (" (current)" if key_id == ring.current else "")
        missing = " NOT CONFIGURED" if key_id is not None and key_id not in ring.keys else ""
        click.echo(f"{label}{state}{missing}: {counts[key_id]} values")


@keys_cli.command("rotate")
def rotate_command() -> None:
    """Re-encrypt every value with the current key (PORTAL_DATA_KEY_CURRENT), in one transaction."""
    ring = _ring()
    with get_engine().begin() as connection:
        changed = rotate(connection, ring, SQLModel.metadata)
    total = sum(changed.values())
    click.echo(f"re-encrypted {total} rows with key {ring.current}")
    for table, count in changed.items():
        if count:
            click.echo(f"  {table}: {count}")


@keys_cli.command("reindex")
def reindex_command() -> None:
    """Recompute the blind indexes after PORTAL_BLIND_INDEX_KEY changed (run with the portal stopped)."""
    with Session(get_engine()) as session:
        changed = reindex(session, SQLModel._sa_registry.mappers)
    click.echo(f"recomputed the blind indexes of {changed} rows")


def init_app(app: Flask) -> None:
    app.cli.add_command(keys_cli)
