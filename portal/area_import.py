"""`flask --app wsgi areas import FILE.csv`: the programme's area tree (districts, streets 街道,
community grids 网格) from the city's own list, on a new deployment and whenever the grids change.

A caseworker can record a person only in an area, and only `seed-demo` wrote areas before: a new
deployment had none. The file has the columns `code,parent,level,name_zh,name_en` (UTF-8, a header
line; `parent` empty for a district), and may add `latitude,longitude`: the area's centre, where an
offer or a person placed in it is taken to be unless a pin says otherwise. An area is found again
by its code, so importing the same file twice changes nothing, and a corrected file renames it or
moves its centre. Every row is checked before anything is
written: one error anywhere and nothing is imported, each error named by its line."""

import csv
import io
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import click
from flask import Flask
from flask.cli import AppGroup
from sqlmodel import Session, select

from portal.db import session_scope
from portal.models import Area, AreaLevel

COLUMNS = ("code", "parent", "level", "name_zh", "name_en")
CENTRE = ("latitude", "longitude")
# What an area's parent must be, by level.
PARENT_LEVEL: dict[AreaLevel, AreaLevel | None] = {
    AreaLevel.DISTRICT: None,
    AreaLevel.STREET: AreaLevel.DISTRICT,
    AreaLevel.GRID: AreaLevel.STREET,
}
MAX_LENGTH = {"code": 40, "name_zh": 120, "name_en": 120}


class AreaFileError(ValueError):
    """The file cannot be imported; `errors` names each problem by line."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class Imported:
    added: list[str] = field(default_factory=list)
    renamed: list[str] = field(default_factory=list)
    recentred: list[str] = field(default_factory=list)
    unchanged: int = 0


def read_rows(text: str) -> list[dict[str, str]]:
    """The rows of the file, each with its columns stripped; the header must name them all."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    missing = [name for name in COLUMNS if name not in (reader.fieldnames or [])]
    if missing:
        raise AreaFileError([f"line 1: the header lacks {', '.join(missing)} (it must name {','.join(COLUMNS)})"])
    return [{name: (row.get(name) or "").strip() for name in (*COLUMNS, *CENTRE)} for row in reader]


def _centre(row: dict[str, str]) -> tuple[float | None, float | None]:
    """The row's centre, checked by `_problems` first; (None, None) when it gives none."""
    if not row["latitude"]:
        return None, None
    return float(row["latitude"]), float(row["longitude"])


def import_areas(session: Session, rows: list[dict[str, str]]) -> Imported:
    """Add the areas whose code is new and rename those whose names changed, in one transaction.

    :raise AreaFileError: for any row that is incomplete, too long, of an unknown level, under a
        parent that is missing or of the wrong level, repeated, or that would move an area already
        recorded (people and accounts are placed in it: moving is not an import's business).
    """
    known = {area.code: area for area in session.exec(select(Area))}
    levels = {code: area.level for code, area in known.items()}
    codes = {area.id: code for code, area in known.items()}
    errors: list[str] = []
    seen: set[str] = set()
    for line, row in enumerate(rows, start=2):
        problems = _problems(row, levels, seen, known, codes)
        errors += [f"line {line} ({row['code'] or 'no code'}): {problem}" for problem in problems]
        if not problems:
            seen.add(row["code"])
            levels[row["code"]] = AreaLevel(row["level"])
    if errors:
        session.rollback()
        raise AreaFileError(errors)
    result = Imported()
    ids = {code: area.id for code, area in known.items()}
    for row in rows:
        area = known.get(row["code"])
        if area is None:
            area = Area(
                code=row["code"],
                parent_id=ids[row["parent"]] if row["parent"] else None,
                level=AreaLevel(row["level"]),
                name_zh=row["name_zh"],
                name_en=row["name_en"],
            )
            area.latitude, area.longitude = _centre(row)
            session.add(area)
            ids[area.code] = area.id
            result.added.append(area.code)
            continue
        changed = False
        if (area.name_zh, area.name_en) != (row["name_zh"], row["name_en"]):
            area.name_zh, area.name_en = row["name_zh"], row["name_en"]
            result.renamed.append(area.code)
            changed = True
        if row["latitude"] and (area.latitude, area.longitude) != _centre(row):
            area.latitude, area.longitude = _centre(row)
            result.recentred.append(area.code)
            changed = True
        result.unchanged += not changed
    session.commit()
    return result


def _problems(
    row: dict[str, str],
    levels: dict[str, AreaLevel],
    seen: set[str],
    known: dict[str, Area],
    codes: dict[uuid.UUID, str],
) -> list[str]:
    problems = [f"{name} is empty" for name in ("code", "level", "name_zh", "name_en") if not row[name]]
    problems += [f"{name} is longer than {limit}" for name, limit in MAX_LENGTH.items() if len(row[name]) > limit]
    if row["code"] in seen:
        problems.append("this code is on an earlier line too")
    problems += _centre_problems(row)
    if row["level"] and row["level"] not in PARENT_LEVEL:
        return [*problems, f"level must be one of {', '.join(PARENT_LEVEL)}"]
    if problems:
        return problems
    level = AreaLevel(row["level"])
    wanted = PARENT_LEVEL[level]
    if wanted is None and row["parent"]:
        problems.append("a district has no parent")
    elif wanted is not None and levels.get(row["parent"]) != wanted:
        where = "on an earlier line or already recorded" if row["parent"] else "given"
        problems.append(f"a {level.value}'s parent must be a {wanted.value} {where}")
    recorded = known.get(row["code"])
    if recorded is not None:
        parent = codes[recorded.parent_id] if recorded.parent_id else ""
        if recorded.level != level or parent != row["parent"]:
            problems.append("this area is recorded at another place in the tree; an import does not move areas")
    return problems


def _centre_problems(row: dict[str, str]) -> list[str]:
    if bool(row["latitude"]) != bool(row["longitude"]):
        return ["give both latitude and longitude, or neither"]
    problems = []
    for name, limit in (("latitude", 90.0), ("longitude", 180.0)):
        if row[name]:
            try:
                value = float(row[name])
            except ValueError:
                problems.append(f"{name} is not a number")
                continue
            if not -limit <= value <= limit:  # also refuses nan; inf is out of range
                problems.append(f"{name} must be between -{limit:g} and {limit:g}")
    return problems


areas_cli = AppGroup("areas", help="The area tree: districts, streets and community grids.")


@areas_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_command(path: Path) -> None:
    """Add areas, rename them or move their centres from a CSV file; nothing if any row is wrong.

    Columns: code,parent,level,name_zh,name_en, and optionally latitude,longitude (the centre)."""
    try:
        with session_scope() as session:
            result = import_areas(session, read_rows(path.read_text(encoding="utf-8")))
    except UnicodeDecodeError as error:
        raise click.ClickException(f"{path} is not UTF-8 text: {error.reason}") from error
    except AreaFileError as error:
        for problem in error.errors:
            click.echo(problem, err=True)
        raise click.ClickException(f"nothing imported: {len(error.errors)} problem(s) in {path}") from error
    click.echo(
        f"areas added: {len(result.added)}, renamed: {len(result.renamed)}, "
        f"centre moved: {len(result.recentred)}, unchanged: {result.unchanged}"
    )


def init_app(app: Flask) -> None:
    app.cli.add_command(areas_cli)
