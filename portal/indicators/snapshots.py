"""Indicators kept as computed, with a stated freshness: a view reads one stored row instead of
running some twenty aggregate queries over the whole caseload. A snapshot holds the figures of one
area, period and set of contact rules before small-cell suppression, which is applied as they are
shown, so a changed threshold takes effect at once. A view finding no snapshot, or one older than
INDICATORS_FRESH_MINUTES, computes the figures and stores them; run-due-jobs computes again the
stale snapshots of periods that end today (those people are looking at) and drops the others, so
the usual view never waits for the aggregates and the table holds about a day of views."""

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
from portal.indicators.services import Indicators, Median, Month, ProviderCompletion, Retention, Rules, Scope
from portal.models import IndicatorSnapshot, utcnow


@dataclass(frozen=True)
class Snapshot:
    """The figures of a scope and its monthly series, as they were at `computed_at`."""

    figures: Indicators
    months: list[Month]
    computed_at: datetime


def key_of(scope: Scope, rules: Rules) -> str:
    """What a snapshot is of: the area, the period and the contact rules the figures depend on."""
    gaps = json.dumps(sorted((str(k), int(v)) for k, v in rules.contact_gap_days.items()))
    digest = hashlib.sha256(gaps.encode()).hexdigest()[:16]
    return f"{scope.area_id or 'all'}:{scope.start.isoformat()}:{scope.end.isoformat()}:{digest}"


def current(session: Session, scope: Scope, rules: Rules, fresh: timedelta, now: datetime) -> Snapshot | None:
    """The stored snapshot of the scope if it is younger than `fresh`, else None: one query."""
    row = session.exec(select(IndicatorSnapshot).where(IndicatorSnapshot.key == key_of(scope, rules))).first()
    if row is None or row.computed_at < now - fresh:
        return None
    return _decoded(row.figures, row.computed_at)


def compute(session: Session, scope: Scope, rules: Rules) -> Snapshot:
    """The figures of the scope and its monthly series, from the aggregate queries, now."""
    computed_at = utcnow()
    figures = services.indicators(session, scope, rules)
    months = services.monthly(session, scope.area_id, scope.end, rules)
    return Snapshot(figures, months, computed_at)


def store(session: Session, snapshot: Snapshot, rules: Rules) -> None:
    """Keep the snapshot in place of the scope's earlier one; committed here. Two views storing the
    same scope at once both succeed: the second finds the first's row, or loses the race to insert
    and leaves the first's, which is as fresh."""
    key = key_of(snapshot.figures.scope, rules)
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


def refresh_stale(session: Session, rules: Rules, fresh: timedelta, today: date, now: datetime) -> int:
    """Compute again the stale snapshots of periods that end today or later under the current contact
    rules, and drop the other stale ones (a past day's presets, obsolete rules): how many were
    computed. With every snapshot fresh this is one query."""
    stale = session.exec(select(IndicatorSnapshot).where(col(IndicatorSnapshot.computed_at) < now - fresh)).all()
    refreshed = 0
    obsolete = []
    for row in stale:
        scope = _scope(row.figures["figures"]["scope"])
        if scope.end >= today and row.key == key_of(scope, rules):
            store(session, compute(session, scope, rules), rules)
            refreshed += 1
        else:
            obsolete.append(row.id)
    if obsolete:
        session.exec(delete(IndicatorSnapshot).where(col(IndicatorSnapshot.id).in_(obsolete)))
    session.commit()
    return refreshed


# --- Stored as JSON ------------------------------------------------------------------------------


def _encoded(snapshot: Snapshot) -> dict[str, Any]:
    figures = snapshot.figures
    return {
        "figures": {
            "scope": _scope_json(figures.scope),
            "people_registered": figures.people_registered,
            "people_active": figures.people_active,
            "people_contacted": figures.people_contacted,
            "out_of_contact": figures.out_of_contact,
            "needs_by_category": figures.needs_by_category,
            "referrals_by_status": figures.referrals_by_status,
            "need_to_approval": [figures.need_to_approval.days, figures.need_to_approval.count],
            "approval_to_answer": [figures.approval_to_answer.days, figures.approval_to_answer.count],
            "completion_by_provider": [[p.provider, p.completed, p.withdrawn] for p in figures.completion_by_provider],
            "job_placements": figures.job_placements,
            "retention": [
                figures.retention.placements,
                figures.retention.still_employed,
                figures.retention.no_longer_employed,
            ],
        },
        "months": [
            [
                _scope_json(month.scope),
                month.people_registered,
                month.people_active,
                month.people_contacted,
                month.out_of_contact,
                month.needs_recorded,
                month.referrals_made,
                month.job_placements,
            ]
            for month in snapshot.months
        ],
    }


def _decoded(data: dict[str, Any], computed_at: datetime) -> Snapshot:
    figures = data["figures"]
    indicators = Indicators(
        scope=_scope(figures["scope"]),
        people_registered=figures["people_registered"],
        people_active=figures["people_active"],
        people_contacted=figures["people_contacted"],
        out_of_contact=figures["out_of_contact"],
        needs_by_category=dict(figures["needs_by_category"]),
        referrals_by_status=dict(figures["referrals_by_status"]),
        need_to_approval=Median(*figures["need_to_approval"]),
        approval_to_answer=Median(*figures["approval_to_answer"]),
        completion_by_provider=[ProviderCompletion(*row) for row in figures["completion_by_provider"]],
        job_placements=figures["job_placements"],
        retention=Retention(*figures["retention"]),
    )
    months = [Month(_scope(scope), *counts) for scope, *counts in data["months"]]
    return Snapshot(indicators, months, computed_at)


def _scope_json(scope: Scope) -> dict[str, str | None]:
    return {
        "area": str(scope.area_id) if scope.area_id else None,
        "start": scope.start.isoformat(),
        "end": scope.end.isoformat(),
    }


def _scope(data: dict[str, Any]) -> Scope:
    area = uuid.UUID(data["area"]) if data["area"] else None
    return Scope(area, date.fromisoformat(data["start"]), date.fromisoformat(data["end"]))
