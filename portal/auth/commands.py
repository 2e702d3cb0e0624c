"""The first administrator: `flask --app wsgi create-admin EMAIL NAME`. There are no default
accounts; this command is how a new installation gets its first way in."""

import click
from email_validator import EmailNotValidError, validate_email
from flask import Flask
from flask.cli import with_appcontext

from portal.auth import services
from portal.db import session_scope
from portal.exceptions import AdminExists, EmailTaken


@click.command("create-admin")
@click.argument("email")
@click.argument("name")
@click.option(
    "--force",
    is_flag=True,
    help="Create the administrator even though an active one exists (e.g. the only one left is unreachable).",
)
@with_appcontext
def create_admin_command(email: str, name: str, force: bool) -> None:
    """Create an administrator with a one-time password, printed once: it works for 24 hours and must be
    replaced at the first sign-in. Run again for an admin who never signed in, it prints a new one."""
    try:
        address = validate_email(email, check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise click.BadParameter(str(exc), param_hint="EMAIL") from exc
    name = name.strip()
    if not name or len(name) > 120:
        raise click.BadParameter("give a name of 1 to 120 characters", param_hint="NAME")
    with session_scope() as session:
        try:
            user, password = services.create_first_admin(session, address, name, force=force)
        except AdminExists as exc:
            click.echo(
                f"An active administrator exists already ({exc}). Admins create accounts at /users/new; "
                "use --force only if no administrator can sign in.",
                err=True,
            )
            raise SystemExit(1) from exc
        except EmailTaken as exc:
            click.echo("An account with this e-mail address exists already.", err=True)
            raise SystemExit(1) from exc
        expires = user.password_expires_at
    click.echo(f"Administrator {address} created.")
    click.echo(f"One-time password (shown only now): {password}")
    click.echo(f"It stops working at {expires:%Y-%m-%d %H:%M} UTC and must be changed at the first sign-in.")


def init_app(app: Flask) -> None:
    app.cli.add_command(create_admin_command)
