"""`flask --app wsgi search reindex`: the directory's search after the vocabulary changed.

An offer's concepts (portal/offers/search.py) are read from the vocabulary when the offer is
written; after `matching/vocabulary.tsv` is edited, this writes them anew for every offer, so that
a synonym added finds the offers written before it too."""

import click
from flask import Flask
from flask.cli import AppGroup

from portal.db import session_scope
from portal.offers.search import rewrite_concepts

search_cli = AppGroup("search", help="The directory's text search.")


@search_cli.command("reindex")
def reindex_command() -> None:
    """Write every offer's concepts anew from the vocabulary as it is now (in one transaction)."""
    with session_scope() as session:
        count = rewrite_concepts(session)
    click.echo(f"concepts written anew; offers read: {count}")


def init_app(app: Flask) -> None:
    app.cli.add_command(search_cli)
