"""`flask --app wsgi matching backfill`: the vectors of meaning of offers and needs written before
the engine had them (or under an older model), computed with the portal running."""

import click
from flask import Flask
from flask.cli import AppGroup

from portal.db import session_scope
from portal.matches.services import backfill_vectors

matching_cli = AppGroup("matching", help="The matching engine's stored features.")


@matching_cli.command("backfill")
@click.option("--batch", default=100, show_default=True, help="Rows computed and committed together.")
def backfill_command(batch: int) -> None:
    """Compute the features every offer and need still lacks (about 0.1 s a text), a batch at a time."""
    with session_scope() as session:
        offers, needs = backfill_vectors(session, batch, progress=lambda done: click.echo(f"  {done} done", err=True))
    click.echo(f"features computed: {offers} offers, {needs} needs")


def init_app(app: Flask) -> None:
    app.cli.add_command(matching_cli)
