"""Indicators per grid and per duty: over the last 30 days, each grid's people, the share of them
seen (any contact by any worker), the contacts grid workers made, the tests due that were done on
time (by their due day), and the people found again (a contact after a gap longer than their
programme allows). Small cells are suppressed as on the indicators page (portal/indicators/suppression.py).
A few grouped queries read every grid at once, whatever their number."""

import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from portal.clock import local_date
from portal.indicators.suppression import Cell, Suppression
from portal.models import Area, CheckKind, ContactLog, Person, ProgrammeCheck, Role, User

DAYS = 30


@dataclass(frozen=True)
class GridFigures:
    area: Area
    people: int
    seen: int
    grid_contacts: int
    tests_due: int
    tests_on_time: int
    found_again: int


@dataclass(frozen=True)
class PublishedGrid:
    area: Area
    people: Cell
    seen_share: Cell
    grid_contacts: Cell
    tests_on_time_share: Cell
    found_again: Cell


def _people(grids: list[uuid.UUID]) -> list[sa.ColumnElement[bool]]:
    return [
        col(Person.area_id).in_(grids),
        col(Person.anonymised_at).is_(None),
        col(Person.caseworker_id).is_not(None),
    ]


def figures(session: Session, grids: Sequence[Area], today: date, allowed_gap: Mapping[str, int]) -> list[GridFigures]:
    """The figures of each grid over the 30 days up to today."""
    ids = [grid.id for grid in grids]
    start = today - timedelta(days=DAYS - 1)
    people: dict[uuid.UUID, tuple[int, int]] = {
        area: (total, seen)
        for area, total, seen in session.exec(
            select(
                Person.area_id,
                func.count(),
                func.count(sa.case((col(Person.last_contact_on) >= start, 1))),
            )
            .where(*_people(ids))
            .group_by(col(Person.area_id))
        ).all()
        if area is not None
    }
    by_grid_workers: dict[uuid.UUID, int] = {
        area: count
        for area, count in session.exec(
            select(Person.area_id, func.count())
            .select_from(ContactLog)
            .join(Person, col(Person.id) == ContactLog.person_id)
            .join(User, col(User.id) == ContactLog.caseworker_id)
            .where(
                *_people(ids),
                User.role == Role.GRID_WORKER,
                col(ContactLog.occurred_on) >= start,
                col(ContactLog.occurred_on) <= today,
            )
            .group_by(col(Person.area_id))
        ).all()
        if area is not None
    }
    tests: dict[uuid.UUID, tuple[int, int]] = {
        area: (due, on_time)
        for area, due, on_time in session.exec(
            select(
                Person.area_id,
                func.count(),
                func.count(sa.case((col(ProgrammeCheck.done_on) <= col(ProgrammeCheck.due_on), 1))),
            )
            .select_from(ProgrammeCheck)
            .join(Person, col(Person.id) == ProgrammeCheck.person_id)
            .where(
                *_people(ids),
                ProgrammeCheck.kind == CheckKind.TEST,
                col(ProgrammeCheck.due_on) >= start,
                col(ProgrammeCheck.due_on) <= today,
            )
            .group_by(col(Person.area_id))
        ).all()
        if area is not None
    }
    found = _found_again(session, ids, start, today, allowed_gap)
    return [
        GridFigures(
            grid,
            people.get(grid.id, (0, 0))[0],
            people.get(grid.id, (0, 0))[1],
            by_grid_workers.get(grid.id, 0),
            tests.get(grid.id, (0, 0))[0],
            tests.get(grid.id, (0, 0))[1],
            found[grid.id],
        )
        for grid in grids
    ]


def _found_again(
    session: Session, grids: list[uuid.UUID], start: date, today: date, allowed_gap: Mapping[str, int]
) -> Counter[uuid.UUID]:
    """Per grid, the people whose first contact of the period came after a longer gap than their
    programme allows: since their last contact before it, or since registration if none."""
    day = col(ContactLog.occurred_on)
    rows = session.execute(
        sa.select(
            col(Person.area_id),
            col(Person.programme),
            col(Person.created_at),
            func.min(sa.case((day >= start, day))),
            func.max(sa.case((day < start, day))),
        )
        .join(ContactLog, col(ContactLog.person_id) == Person.id)
        .where(*_people(grids), day <= today)
        .group_by(col(Person.id), col(Person.area_id), col(Person.programme), col(Person.created_at))
    ).all()
    found: Counter[uuid.UUID] = Counter()
    for area, programme, created_at, first_in_period, last_before in rows:
        if area is None or first_in_period is None:
            continue
        gap = allowed_gap.get(programme or "", allowed_gap["default"])
        since = last_before or local_date(created_at)
        if (first_in_period - since).days > gap:
            found[area] += 1
    return found


def publish(rows: Sequence[GridFigures], threshold: int) -> list[PublishedGrid]:
    """Each grid's figures with small cells suppressed: a grid of few people shows none."""
    published = []
    for row in rows:
        rule = Suppression.over(threshold, row.people)
        people, seen = rule.count(row.people), rule.count(row.seen)
        due, on_time = rule.count(row.tests_due), rule.count(row.tests_on_time)
        published.append(
            PublishedGrid(
                row.area,
                people,
                rule.rate(row.seen / row.people if row.people else None, people, seen),
                rule.count(row.grid_contacts),
                rule.rate(row.tests_on_time / row.tests_due if row.tests_due else None, due, on_time),
                rule.count(row.found_again),
            )
        )
    return published
