"""The audit trail's command line: `flask --app wsgi audit verify`, safe to run from cron."""

import click
from flask import Flask
from flask.cli import with_appcontext

from portal.audit.services import verify_chain
from portal.db import session_scope


@click.group("audit")
def audit_cli() -> None:
    """Check the audit trail."""


@audit_cli.command("verify")
@with_appcontext
def verify_command() -> None:
    """Recompute the hash chain; exit 1 at the first event that was edited, removed or inserted."""
    with session_scope() as session:
        verdict = verify_chain(session)
    if verdict.intact:
        click.echo(f"audit chain intact: {verdict.events} events")
        return
    click.echo(f"audit chain broken at sequence {verdict.broken_at} (after {verdict.events} intact events)", err=True)
    raise SystemExit(1)


def init_app(app: Flask) -> None:
    app.cli.add_command(audit_cli)
