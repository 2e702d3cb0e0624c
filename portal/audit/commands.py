"""The audit trail's command line: `flask --app wsgi audit verify [--anchor FILE]`, safe from cron."""

from pathlib import Path

import click
from flask import Flask
from flask.cli import with_appcontext

from portal import job_runs
from portal.audit.services import PENDING_GRACE, newest_anchor, verify_chain
from portal.db import session_scope
from portal.exceptions import BadAnchorFile
from portal.models import utcnow

# The name the metrics know the last clean verification by (portal/job_runs.py).
VERIFY_JOB = "audit-verify"


@click.group("audit")
def audit_cli() -> None:
    """Check the audit trail."""


@audit_cli.command("verify")
@click.option(
    "--anchor",
    "anchor_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The anchor file run-due-jobs writes (PORTAL_AUDIT_ANCHOR_FILE), or a log with its lines: "
    "the newest anchored event must still be there with the same MAC.",
)
@with_appcontext
def verify_command(anchor_file: Path | None) -> None:
    """Recompute the MAC chain; exit 1 at the first event that was edited, removed or inserted, when
    the trail no longer reaches the newest anchor unchanged, or when events wait too long to be linked."""
    anchor = None
    if anchor_file is not None:
        try:
            anchor = newest_anchor(anchor_file)
        except BadAnchorFile as exc:
            raise click.ClickException(str(exc)) from exc
        if anchor is None:
            raise click.ClickException(f"{anchor_file} holds no audit anchor")
    with session_scope() as session:
        verdict = verify_chain(session, anchor)
        if verdict.intact:
            job_runs.record_success(session, VERIFY_JOB, utcnow())
    if verdict.broken_at is not None:
        click.echo(
            f"audit chain broken at sequence {verdict.broken_at} (after {verdict.events} intact events)", err=True
        )
        raise SystemExit(1)
    if verdict.anchor_problem is not None:
        click.echo(f"audit chain does not match its anchor: {verdict.anchor_problem}", err=True)
        raise SystemExit(1)
    if verdict.stale_pending:
        click.echo(
            f"audit chain incomplete: {verdict.stale_pending} event{'s' if verdict.stale_pending > 1 else ''} "
            "waiting to be linked for more than "
            f"{PENDING_GRACE.seconds // 60} minutes; is run-due-jobs running?",
            err=True,
        )
        raise SystemExit(1)
    reached = f", anchor at sequence {anchor.sequence} matches" if anchor else ""
    click.echo(f"audit chain intact: {verdict.events} events{reached}")


def init_app(app: Flask) -> None:
    app.cli.add_command(audit_cli)
