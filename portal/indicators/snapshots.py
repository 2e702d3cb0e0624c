"""Indicators kept as published, with a stated freshness: a view reads one stored row instead of
running some twenty aggregate queries over the whole caseload. A snapshot holds the figures of one
area, period, set of contact rules and small-cell threshold after suppression, exactly as the page
shows them: no count under the threshold, no figure of an area of few people, and provider names
only where the page shows them. The threshold is part of what a snapshot is of, so a changed
threshold takes effect at once (the next view computes the figures again). Who reads them does not
change what is published: a supervisor sees the figures of their own areas, an administrator those
of any, and both see the same figures of an area. A view finding no snapshot, or one older than
INDICATORS_FRESH_MINUTES, computes the figures and stores them; run-due-jobs computes again the stale
snapshots of periods that end today (those people are looking at) and drops the others, so the
usual view never waits for the aggregates and the table holds about a day of views."""

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.indicators import services
from portal.indicators.services import Rules, Scope
from portal.indicators.suppression import (
    Cell,
    PublishedCompletion,
    PublishedIndicators,
    PublishedMedian,
    PublishedMonth,
    PublishedRetention,
    publish,
    publish_month,
)
from portal.models import IndicatorSnapshot, utcnow


@dataclass(frozen=True)
class Snapshot:
    """The published figures of a scope and its monthly series, as they were at `computed_at`."""

    figures: PublishedIndicators
    months: list[PublishedMonth]
    computed_at: datetime


def key_of(scope: Scope, rules: Rules, threshold: int) -> str:
    """What a snapshot is of: the area, the period, and the contact rules and small-cell threshold
    the published figures depend on."""
    gaps = json.dumps(sorted((str(k), int(v)) for k, v in rules.contact_gap_days.items()))
    digest = hashlib.sha256(gaps.encode()).hexdigest()[:16]
    return f"{scope.area_id or 'all'}:{scope.start.isoformat()}:{scope.end.isoformat()}:{digest}:{threshold}"


def current(
    session: Session, scope: Scope, rules: Rules, threshold: int, fresh: timedelta, now: datetime
) -> Snapshot | None:
    """The stored snapshot of the scope if it is younger than `fresh`, else None: one query."""
    key = key_of(scope, rules, threshold)
    row = session.exec(select(IndicatorSnapshot).where(IndicatorSnapshot.key == key)).first()
    if row is None or row.computed_at < now - fresh:
        return None
    return _decoded(row.figures, row.computed_at)


def compute(session: Session, scope: Scope, rules: Rules, threshold: int) -> Snapshot:
    """The figures of the scope and its monthly series, from the aggregate queries, now, published:
    the figures before suppression never leave this function."""
    computed_at = utcnow()
    figures = publish(services.indicators(session, scope, rules), threshold)
    months = [publish_month(month, threshold) for month in services.monthly(session, scope.area_id, scope.end, rules)]
    return Snapshot(figures, months, computed_at)


def store(session: Session, snapshot: Snapshot, rules: Rules) -> None:
    """Keep the snapshot in place of the scope's earlier one; committed here. Two views storing the
    same scope at once both succeed: the second finds the first's row, or loses the race to insert
    and leaves the first's, which is as fresh."""
    key = key_of(snapshot.figures.scope, rules, snapshot.figures.threshold)
    row = session.exec(select(IndicatorSnapshot).where(IndicatorSnapshot.key == key)).first()
    if row is None:
        row = IndicatorSnapshot(key=key, computed_at=snapshot.computed_at)
    row.computed_at = snapshot.computed_at
    row.figures = _encoded(snapshot)
    session.add(row)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()


def refresh_stale(session: Session, rules: Rules, threshold: int, fresh: timedelta, today: date, now: datetime) -> int:
    """Compute again the stale snapshots of periods that end today or later under the current contact
    rules and threshold, and drop the other stale ones (a past day's presets, obsolete rules or
    threshold): how many were computed. With every snapshot fresh this is one query."""
    stale = session.exec(select(IndicatorSnapshot).where(col(IndicatorSnapshot.computed_at) < now - fresh)).all()
    refreshed = 0
    obsolete = []
    for row in stale:
        scope = _scope(row.figures["figures"]["scope"])
        if scope.end >= today and row.key == key_of(scope, rules, threshold):
            store(session, compute(session, scope, rules, threshold), rules)
            refreshed += 1
        else:
            obsolete.append(row.id)
    if obsolete:
        session.exec(delete(IndicatorSnapshot).where(col(IndicatorSnapshot.id).in_(obsolete)))
    session.commit()
    return refreshed


# --- Stored as JSON ------------------------------------------------------------------------------


# A cell is [value, small, hidden]: a suppressed one has no value, as on the page.


def _cell(cell: Cell) -> list[Any]:
    return [cell.value, cell.small, cell.hidden]


def _cells(cells: dict[str, Cell]) -> dict[str, list[Any]]:
    return {key: _cell(cell) for key, cell in cells.items()}


def _read(data: list[Any]) -> Cell:
    value, small, hidden = data
    return Cell(value, small, hidden)


def _encoded(snapshot: Snapshot) -> dict[str, Any]:
    figures = snapshot.figures
    retention = figures.retention
    return {
        "figures": {
            "scope": _scope_json(figures.scope),
            "threshold": figures.threshold,
            "few_people": figures.few_people,
            "people_active": _cell(figures.people_active),
            "people_contacted": _cell(figures.people_contacted),
            "contact_rate": _cell(figures.contact_rate),
            "out_of_contact": _cell(figures.out_of_contact),
            "needs_by_category": _cells(figures.needs_by_category),
            "referrals_by_status": _cells(figures.referrals_by_status),
            "need_to_approval": [_cell(figures.need_to_approval.days), _cell(figures.need_to_approval.count)],
            "approval_to_answer": [_cell(figures.approval_to_answer.days), _cell(figures.approval_to_answer.count)],
            "completion_by_provider": [
                [row.provider, *(_cell(cell) for cell in row.cells)] for row in figures.completion_by_provider
            ],
            "job_placements": _cell(figures.job_placements),
            "retention": [
                _cell(cell)
                for cell in (
                    retention.placements,
                    retention.still_employed,
                    retention.no_longer_employed,
                    retention.not_checked,
                    retention.rate,
                )
            ],
            "volunteer_hours": _cell(figures.volunteer_hours),
            "volunteers": _cell(figures.volunteers),
        },
        "months": [[_scope_json(month.scope), *(_cell(cell) for cell in month.cells)] for month in snapshot.months],
    }


def _decoded(data: dict[str, Any], computed_at: datetime) -> Snapshot:
    figures = data["figures"]
    published = PublishedIndicators(
        scope=_scope(figures["scope"]),
        threshold=figures["threshold"],
        few_people=figures["few_people"],
        people_active=_read(figures["people_active"]),
        people_contacted=_read(figures["people_contacted"]),
        contact_rate=_read(figures["contact_rate"]),
        out_of_contact=_read(figures["out_of_contact"]),
        needs_by_category={key: _read(cell) for key, cell in figures["needs_by_category"].items()},
        referrals_by_status={key: _read(cell) for key, cell in figures["referrals_by_status"].items()},
        need_to_approval=PublishedMedian(*(_read(cell) for cell in figures["need_to_approval"])),
        approval_to_answer=PublishedMedian(*(_read(cell) for cell in figures["approval_to_answer"])),
        completion_by_provider=[
            PublishedCompletion(provider, *(_read(cell) for cell in cells))
            for provider, *cells in figures["completion_by_provider"]
        ],
        job_placements=_read(figures["job_placements"]),
        retention=PublishedRetention(*(_read(cell) for cell in figures["retention"])),
        # Snapshots published before volunteers' hours were counted have no figure for them.
        volunteer_hours=_read(figures.get("volunteer_hours", [None, 0, False])),
        volunteers=_read(figures.get("volunteers", [None, 0, False])),
    )
    months = [PublishedMonth(_scope(scope), *(_read(cell) for cell in cells)) for scope, *cells in data["months"]]
    return Snapshot(published, months, computed_at)


def _scope_json(scope: Scope) -> dict[str, str | None]:
    return {
        "area": str(scope.area_id) if scope.area_id else None,
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
    }


def _scope(data: dict[str, Any]) -> Scope:
    area = uuid.UUID(data["area"]) if data["area"] else None
    return Scope(area, date.fromisoformat(data["start"]), date.fromisoformat(data["end"]))
