"""`flask --app wsgi api-tokens create NAME | list | revoke ID`: partner systems' tokens for the
directory API, for a deployment's operator (admins also manage them in the portal)."""

import uuid

import click
from flask import Flask
from flask.cli import AppGroup

from portal.db import session_scope
from portal.hsds import services

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
            click.echo(f"{token.id}  {token.name}  made {token.created_at.date()}  {used}  {revoked}")


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


def init_app(app: Flask) -> None:
    app.cli.add_command(api_tokens_cli)
