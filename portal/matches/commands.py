"""`flask --app wsgi matching backfill|evaluate|retrain`: the matching engine's stored features, and
learning from the caseworkers' decisions (portal/matches/learning.py)."""

import sys
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup

from matching import ranker as ranker_module
from portal.db import session_scope
from portal.matches import learning
from portal.matches.services import backfill_vectors

matching_cli = AppGroup("matching", help="The matching engine's stored features, and learning from decisions.")


@matching_cli.command("backfill")
@click.option("--batch", default=100, show_default=True, help="Rows computed and committed together.")
def backfill_command(batch: int) -> None:
    """Compute the features every offer and need still lacks (about 0.1 s a text), a batch at a time."""
    with session_scope() as session:
        offers, needs = backfill_vectors(session, batch, progress=lambda done: click.echo(f"  {done} done", err=True))
    click.echo(f"features computed: {offers} offers, {needs} needs")


def _share(hits: int, total: int) -> str:
    return f"{hits}/{total} ({hits / total:.0%})" if total else "-"


@matching_cli.command("evaluate")
def evaluate_command() -> None:
    """Replay the caseworkers' recorded approvals: how often the approved offer was in the top 1, 3
    and 5 of its ranking as shown, and as the current ranker's weights would order it."""
    current = ranker_module.RANKER
    with session_scope() as session:
        found = learning.evaluate(session, current)
    if not found.rankings:
        click.echo(
            "Nothing recorded: no ranking was shown to a caseworker in a programme of PORTAL_LEARNING_PROGRAMMES."
        )
        return
    counts = ", ".join(f"{kind} {n}" for kind, n in sorted(found.decisions.items())) or "none"
    click.echo(f"rankings recorded: {found.rankings}; decisions: {counts}")
    if not found.approved:
        click.echo("No approval recorded yet: nothing to replay.")
        return
    click.echo(f"approved offers: {found.approved} (referral completed with the person helped: {found.helped})")
    click.echo(f"  {'approved offer in the':34} {'top 1':>12} {'top 3':>12} {'top 5':>12}")
    then = ", ".join(sorted(found.rankers_then))
    for label, hits in ((f"as shown (ranker {then})", found.then), (f"current ranker {current.digest()}", found.now)):
        click.echo(f"  {label[:34]:34} " + " ".join(f"{_share(hits[k], found.approved):>12}" for k in learning.TOP))


@matching_cli.command("retrain")
@click.option("--write", is_flag=True, help="Write the new ranker if no labelled figure falls.")
@click.option(
    "--to",
    "path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=ranker_module.RANKER_FILE,
    show_default=True,
    help="Where the ranker is written.",
)
def retrain_command(write: bool, path: Path) -> None:
    """Fit new weights from the recorded decisions with the labelled sets, and keep them only if no
    labelled figure (nDCG@5, allocation; cross-validated by person) falls."""
    sets = learning.labelled_sets()
    if not sets:
        click.echo("No labelled set found: nothing to judge a new ranker by.", err=True)
        sys.exit(1)
    with session_scope() as session:
        try:
            found = learning.retrain(session, sets)
        except ValueError as exc:
            click.echo(f"Not retrained: {exc}.", err=True)
            sys.exit(1)
    click.echo(f"fitted on {', '.join(found.ranker.trained_on)}")
    click.echo("labelled sets, cross-validated: fitted without the decisions (as the current ranker)")
    click.echo("\n".join(learning.figures_table(found.before)))
    click.echo("with the decisions")
    click.echo("\n".join(learning.figures_table(found.after)))
    if found.fell:
        fell = ", ".join(
            f"{figure} of {name} ({found.before[name][figure]:.3f} -> {found.after[name][figure]:.3f})"
            for name, figure in found.fell
        )
        click.echo(f"Not written: {fell} fell.", err=True)
        sys.exit(1)
    if not write:
        click.echo("No labelled figure fell; run again with --write to use the new weights.")
        return
    found.ranker.save(path)
    click.echo(f"written to {path} (ranker {found.ranker.digest()}); restart the portal to rank with it.")


def init_app(app: Flask) -> None:
    app.cli.add_command(matching_cli)
