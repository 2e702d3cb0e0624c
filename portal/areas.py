"""Areas form a tree (district → street → community grid); what lies within one is asked of SQL."""

import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlmodel import Session, select
from sqlmodel.sql.expression import SelectOfScalar

from matching.geo import distance_km
from matching.model import Location
from portal.models import Area


def areas_within(area_id: uuid.UUID) -> SelectOfScalar[uuid.UUID]:
    """The ids of an area and every area below it (a district's streets and their grids)."""
    tree = select(Area.id).where(Area.id == area_id).cte("area_tree", recursive=True)
    tree = tree.union_all(select(Area.id).where(Area.parent_id == tree.c.id))
    return select(tree.c.id)


def areas_containing(area_id: uuid.UUID) -> SelectOfScalar[uuid.UUID]:
    """The ids of an area and every area above it (a grid's street and district): the areas whose
    supervisors oversee it."""
    tree = select(Area.id, Area.parent_id).where(Area.id == area_id).cte("area_path", recursive=True)
    tree = tree.union_all(select(Area.id, Area.parent_id).where(Area.id == tree.c.parent_id))
    return select(tree.c.id)


class _InArea(sa.ColumnElement[bool]):
    """`column IN (the area and the areas below it)`."""

    inherit_cache = True
    _traverse_internals = [
        ("column", InternalTraversal.dp_clauseelement),
        ("areas", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: Any, area_id: uuid.UUID) -> None:
        self.column = column
        self.areas = areas_within(area_id).scalar_subquery()


def in_area(column: Any, area_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """Whether `column` (an area id) lies within the area: a supervisor's people, a directory's
    offers."""
    return _InArea(column, area_id)


@compiles(_InArea)
def _as_in(element: _InArea, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{compiler.process(element.column, **kw)} IN {compiler.process(element.areas, **kw)}"


@compiles(_InArea, "postgresql")
def _as_any_array(element: _InArea, compiler: SQLCompiler, **kw: Any) -> str:
    """PostgreSQL guesses a recursive CTE at ten times its start, so `IN (tree)` looks like half the
    city and it reads every person; an array built first is a parameter to it, and a district's
    people are found through the index on their area."""
    return f"{compiler.process(element.column, **kw)} = ANY(ARRAY{compiler.process(element.areas, **kw)})"


def nearest_centre(area: Area | None, parent: Callable[[uuid.UUID], Area | None]) -> tuple[float, float] | None:
    """Where a place in this area is taken to be when no pin says otherwise: the area's centre, or
    else the nearest centre above it (a grid without one is placed at its street's); `parent`
    finds an area by its id."""
    while area is not None:
        if area.latitude is not None and area.longitude is not None:
            return area.latitude, area.longitude
        area = parent(area.parent_id) if area.parent_id else None
    return None


def centre_of(session: Session, area_id: uuid.UUID | None) -> tuple[float, float] | None:
    """`nearest_centre` of the area with this id, read from the database."""
    return nearest_centre(
        session.get(Area, area_id) if area_id else None, lambda parent_id: session.get(Area, parent_id)
    )


def place(
    session: Session,
    area_id: uuid.UUID | None,
    pinned: tuple[float | None, float | None],
    before: tuple[uuid.UUID | None, float | None, float | None] | None = None,
) -> tuple[float | None, float | None]:
    """The coordinates to keep for a record placed in this area: the pin when one is given, else
    the area's centre. `before` (the record's area and coordinates until now) tells a pin from a
    centre: coordinates that were the old area's centre follow the record to its new area."""
    latitude, longitude = pinned
    if latitude is not None and longitude is not None:
        if before is None or before[0] == area_id or (latitude, longitude) != centre_of(session, before[0]):
            return latitude, longitude
    centre = centre_of(session, area_id)
    return centre if centre is not None else (None, None)


def metres_between(a: tuple[float, float], b: tuple[float, float]) -> int:
    """The distance between two (latitude, longitude) points, as the matching engine measures it."""
    return round(distance_km(Location(*a), Location(*b)) * 1000)
