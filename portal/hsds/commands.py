"""`flask --app wsgi api-tokens create NAME | list | revoke ID`: partner systems' tokens for the
directory API, for a deployment's operator (admins also manage them in the portal).

`flask --app wsgi hsds export DIR | import PATH [--apply]`: the directory as HSDS 3.0 tabular data,
and another directory's HSDS 3.0 data imported (portal/hsds/tabular.py, portal/hsds/importing.py)."""

import uuid
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from portal.clock import local_date
from portal.db import session_scope
from portal.hsds import importing, network, reading, services, tabular

api_tokens_cli = AppGroup("api-tokens", help="Partner systems' tokens for the directory API (HSDS).")


@api_tokens_cli.command("create")
@click.argument("name")
def create_command(name: str) -> None:
    """Make a token for a partner system; it is printed once and only its hash is kept."""
    if not name.strip() or len(name.strip()) > 120:
        raise click.UsageError("NAME: the partner system's name, up to 120 characters")
    with session_scope() as session:
        token, secret = services.create_token(session, name, None)
        click.echo(f"token for {token.name} (id {token.id}); copy it now, it is not shown again:")
        click.echo(secret)


@api_tokens_cli.command("list")
def list_command() -> None:
    """The tokens: id, name, made, last used, revoked."""
    with session_scope() as session:
        for token in services.list_tokens(session):
            used = token.last_used_at.isoformat(timespec="minutes") if token.last_used_at else "never used"
            revoked = f"revoked {token.revoked_at.isoformat(timespec='minutes')}" if token.revoked_at else "in use"
            click.echo(f"{token.id}  {token.name}  made {local_date(token.created_at)}  {used}  {revoked}")


@api_tokens_cli.command("revoke")
@click.argument("token_id", type=click.UUID)
def revoke_command(token_id: uuid.UUID) -> None:
    """Refuse a token's reads from now on."""
    with session_scope() as session:
        token = services.find_token(session, token_id)
        if token is None:
            raise click.UsageError(f"no token {token_id}")
        services.revoke_token(session, token, None)
        click.echo(f"revoked: {token.name}")


hsds_cli = AppGroup("hsds", help="The directory as HSDS 3.0 files, and other directories' HSDS data imported.")


@hsds_cli.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
@click.option("--language", type=click.Choice(["en", "zh"]), default="en", show_default=True)
def export_command(folder: Path, language: str) -> None:
    """Write what partners may read as HSDS 3.0 tabular data: CSV files and datapackage.json.
    Bridge's own words (category names, eligibility, schedules) are in the language chosen."""
    with session_scope() as session:
        written = tabular.export(session, folder, language)
    click.echo(f"written to {folder}: " + ", ".join(f"{tabular.file_name(t)} {n}" for t, n in written.items()))


@hsds_cli.command("import")
@click.argument("location")
@click.option("--apply", is_flag=True, help="Write the records (without it, a dry run that only reports).")
@click.option("--token", default=None, help="A token for another portal's HSDS API, if it asks for one.")
@click.option(
    "--private-network",
    is_flag=True,
    help="Read an API at a private address (a partner inside the city's network); public ones only without it.",
)
def import_command(location: str, apply: bool, token: str | None, private_network: bool) -> None:
    """Import HSDS 3.0 data: a folder or .zip of its CSV files, a JSON file of services, or an API's
    base URL. A dry run first; with --apply, written only when the data has no problems at all."""
    source = reading.read(location, token=token, opener=network.opener(private_network))
    with session_scope() as session:
        checked = importing.dry_run(session, source)
        if apply and checked.report.ok:
            importing.apply(session, checked)
    for line in importing.english(checked.report):
        click.echo(line)
    if not checked.report.ok:
        raise click.exceptions.Exit(1)
    if apply:
        click.echo(
            "imported: the organizations wait for verification; compute the offers' matching features with "
            "`flask --app wsgi matching backfill`."
        )
    else:
        click.echo("dry run: nothing written (add --apply to import)")


def init_app(app: Flask) -> None:
    app.cli.add_command(api_tokens_cli)
    app.cli.add_command(hsds_cli)
