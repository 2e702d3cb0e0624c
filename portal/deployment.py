"""`flask --app wsgi check-deploy`: what in this configuration is unsafe or missing for production,
read before real records go in (as Django's `check --deploy` reads its settings).

The worst mistakes never get this far: outside development the portal refuses to start without a
secret key, without its own encryption and audit keys, with the development ones, or on SQLite
unless PORTAL_ALLOW_SQLITE says so (portal/config.py). What remains is listed here, each finding
serious (the command then exits with status 1) or a warning, with the setting to change."""

from dataclasses import dataclass
from typing import Any

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext
from redis.exceptions import RedisError

from portal import queue
from portal.config import (
    DEVELOPMENT_AUDIT_KEY,
    DEVELOPMENT_BLIND_INDEX_KEY,
    DEVELOPMENT_DATA_KEYS,
    DEVELOPMENT_SECRET,
)
from portal.db import get_engine
from portal.migrations import revisions

SERIOUS, WARNING = "serious", "warning"
# Hosts where PostgreSQL is reached without crossing a network.
_LOCAL_HOSTS = {None, "", "localhost", "127.0.0.1", "::1"}
_TLS_MODES = {"require", "verify-ca", "verify-full"}
# A Flask secret key shorter than this is guessable by brute force.
_SECRET_MIN_LENGTH = 32


@dataclass(frozen=True)
class Finding:
    level: str
    setting: str
    message: str


def _settings(config: Any) -> list[Finding]:
    found: list[Finding] = []
    if config["ENV"] != "production":
        found.append(
            Finding(
                SERIOUS,
                "PORTAL_ENV",
                f"is {config['ENV']!r}: development keys, cookies without Secure and no second factor "
                "are accepted. Set it to production.",
            )
        )
    if config.get("DEBUG"):
        found.append(Finding(SERIOUS, "FLASK_DEBUG", "debug mode runs code sent from a browser. Turn it off."))
    if config["SECRET_KEY"] == DEVELOPMENT_SECRET:
        found.append(Finding(SERIOUS, "PORTAL_SECRET_KEY", "is the development secret: make one with `keys new`."))
    elif len(str(config["SECRET_KEY"] or "")) < _SECRET_MIN_LENGTH:
        message = f"is shorter than {_SECRET_MIN_LENGTH} characters: make one with `keys new`."
        found.append(Finding(SERIOUS, "PORTAL_SECRET_KEY", message))
    development_keys = {
        "PORTAL_DATA_KEYS": config["DATA_KEYS"] == DEVELOPMENT_DATA_KEYS,
        "PORTAL_BLIND_INDEX_KEY": config["BLIND_INDEX_KEY"] == DEVELOPMENT_BLIND_INDEX_KEY,
        "PORTAL_AUDIT_KEY": config["AUDIT_KEY"] == DEVELOPMENT_AUDIT_KEY,
    }
    for setting, published in development_keys.items():
        if published:
            message = "is the development key, published in portal/config.py: make one with `keys new`."
            found.append(Finding(SERIOUS, setting, message))
    if not config["MFA_REQUIRED"]:
        found.append(Finding(SERIOUS, "PORTAL_MFA_REQUIRED", "is off: staff sign in with a password alone."))
    if not config["SESSION_COOKIE_SECURE"]:
        found.append(
            Finding(SERIOUS, "PORTAL_SESSION_COOKIE_SECURE", "is off: the session cookie also travels without TLS.")
        )
    if not config["SMTP_HOST"]:
        found.append(
            Finding(WARNING, "PORTAL_SMTP_HOST", "is not set: no e-mail is sent; mails wait in the admins' outbox.")
        )
    if config["SMTP_HOST"] and not config["QUEUE_URL"]:
        found.append(
            Finding(
                WARNING,
                "PORTAL_QUEUE_URL",
                "is not set: each web worker sends the mail it wrote after its response, held up to 30 s "
                "by a slow mail server, and a failed mail waits for run-due-jobs. Set it to a Redis and "
                "run `flask --app wsgi mail-worker`.",
            )
        )
    if not str(config["PUBLIC_URL"]).startswith("https://"):
        found.append(
            Finding(WARNING, "PORTAL_PUBLIC_URL", "is not an https:// address: links in e-mails cannot be made.")
        )
    if not config["TRUSTED_PROXIES"]:
        found.append(
            Finding(
                WARNING,
                "PORTAL_TRUSTED_PROXIES",
                "is 0: behind a reverse proxy every client shares the proxy's address, for sign-in "
                "limits and the audit trail alike. Set it to the number of proxies (1 behind nginx).",
            )
        )
    if not config["AUDIT_ANCHOR_FILE"]:
        found.append(
            Finding(
                WARNING,
                "PORTAL_AUDIT_ANCHOR_FILE",
                "is not set: removing the newest audit events cannot be detected (`audit verify --anchor`).",
            )
        )
    return found + _metrics(config)


def _metrics(config: Any) -> list[Finding]:
    """/metrics is read from the allowed addresses as the portal sees them, after the proxies it trusts."""
    found: list[Finding] = []
    allowed = config["METRICS_ALLOWED"]
    if not config["TRUSTED_PROXIES"] and any(network.is_loopback for network in allowed):
        found.append(
            Finding(
                WARNING,
                "PORTAL_METRICS_ALLOWED",
                "allows this machine while PORTAL_TRUSTED_PROXIES is 0: behind a reverse proxy here, every "
                "visitor seems to come from this machine and can read /metrics.",
            )
        )
    public = [str(network) for network in allowed if not (network.is_private or network.is_loopback)]
    if public:
        found.append(
            Finding(
                WARNING,
                "PORTAL_METRICS_ALLOWED",
                f"allows addresses on the internet ({', '.join(public)}) to read /metrics: allow the "
                "monitoring server's address, or use PORTAL_METRICS_TOKEN.",
            )
        )
    return found


def _database(engine: sa.Engine) -> list[Finding]:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        message = "is SQLite: one machine, one writer at a time, no replica. Production runs on PostgreSQL."
        return [Finding(SERIOUS, "PORTAL_DATABASE_URL", message)]
    found: list[Finding] = []
    if url.host not in _LOCAL_HOSTS and url.query.get("sslmode") not in _TLS_MODES:
        found.append(
            Finding(
                SERIOUS,
                "PORTAL_DATABASE_URL",
                f"reaches PostgreSQL at {url.host} without TLS: add ?sslmode=verify-full.",
            )
        )
    try:
        with engine.connect() as connection:
            current, head = revisions(connection)
            autovacuum = connection.exec_driver_sql("SHOW autovacuum").scalar()
    except sa.exc.DBAPIError as error:
        return [*found, Finding(SERIOUS, "PORTAL_DATABASE_URL", f"cannot be reached: {error.orig}")]
    if current != head:
        message = f"is at revision {current}, the code at {head}: run `flask --app wsgi db upgrade`."
        found.append(Finding(SERIOUS, "database schema", message))
    if autovacuum != "on":
        found.append(
            Finding(
                SERIOUS,
                "PostgreSQL autovacuum",
                "is off: tables are never analysed, the planner misjudges every list and the lists' "
                "index-only reads stop working. Set autovacuum = on in postgresql.conf.",
            )
        )
    return found


def _queue(app: Flask) -> list[Finding]:
    if not app.config["QUEUE_URL"]:
        return []
    try:
        queue.connection(app).ping()
    except RedisError as error:
        message = f"cannot be reached ({type(error).__name__}): mail waits for run-due-jobs."
        return [Finding(WARNING, "PORTAL_QUEUE_URL", message)]
    return []


def findings(app: Flask) -> list[Finding]:
    """Every setting of this app that is unsafe or missing for production, the serious ones first."""
    found = _settings(app.config) + _database(get_engine(app)) + _queue(app)
    return sorted(found, key=lambda finding: finding.level != SERIOUS)


@click.command("check-deploy")
@with_appcontext
def check_deploy_command() -> None:
    """List what in this configuration is unsafe or missing for production; exit 1 if any is serious."""
    found = findings(current_app)
    for finding in found:
        click.echo(f"{finding.level.upper():8} {finding.setting}: {finding.message}")
    serious = sum(finding.level == SERIOUS for finding in found)
    click.echo(f"{serious} serious, {len(found) - serious} warnings.")
    if serious:
        raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(check_deploy_command)
