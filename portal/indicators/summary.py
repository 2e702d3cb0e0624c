"""The indicators' figures as people read them, and the few the home page shows: shared by the
dashboard and the home page, so that neither view imports the other. Every figure passes through
small-cell suppression first (suppression.py): a formatter is given a Cell, never a bare count."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from flask_babel import format_decimal, format_percent
from sqlmodel import Session

from portal.clock import local_date, local_time, local_today
from portal.db import get_engine
from portal.indicators import services, snapshots
from portal.indicators.suppression import Cell, marker, notes
from portal.models import Role, User, utcnow


def rules() -> services.Rules:
    return services.Rules(contact_gap_days=dict(current_app.config["CONTACT_GAP_DAYS"]))


def threshold() -> int:
    return int(current_app.config["SMALL_CELL_THRESHOLD"])


def freshness() -> timedelta:
    """How old the stored indicators may be and still be shown (portal/indicators/snapshots.py)."""
    return timedelta(minutes=int(current_app.config["INDICATORS_FRESH_MINUTES"]))


def as_of(moment: datetime) -> str:
    """When figures were computed, in the users' time: the time alone on the day itself."""
    local = local_time(moment)
    return local.strftime("%H:%M") if local_date(moment) == local_today() else local.strftime("%Y-%m-%d %H:%M")


def number(cell: Cell) -> str:
    if cell.suppressed:
        return marker(cell)
    return format_decimal(cell.value) if cell.value is not None else "—"


def percent(cell: Cell) -> str:
    if cell.suppressed:
        return marker(cell)
    return format_percent(cell.value, format="#,##0.0%") if cell.value is not None else "—"


def days(cell: Cell) -> str:
    if cell.suppressed:
        return marker(cell)
    return format_decimal(cell.value, format="#,##0.0") if cell.value is not None else "—"


def cell_notes(cells: Iterable[Cell]) -> list[str]:
    """The notes that explain the markers among these cells, for the template to print beside them."""
    return notes(list(cells), threshold())


@dataclass(frozen=True)
class Summary:
    """The few figures the home page shows, over the last 30 days of the user's whole area."""

    people_active: str
    contact_rate: str
    out_of_contact: str
    job_placements: str
    notes: list[str]
    as_of: str


def snapshot(session: Session, scope: services.Scope) -> snapshots.Snapshot:
    """The scope's published figures from its snapshot when fresh (one query); else computed now and
    stored for the next views, in a short write transaction of its own, since a page reads in a
    read-only one."""
    found = snapshots.current(session, scope, rules(), threshold(), freshness(), utcnow())
    if found is not None:
        return found
    computed = snapshots.compute(session, scope, rules(), threshold())
    with Session(get_engine()) as writer:
        snapshots.store(writer, computed, rules())
    return computed


def summary(session: Session, user: User) -> Summary | None:
    """None for a supervisor without an area: there is nothing to sum up. The figures are those of
    the dashboard's last 30 days, from the same snapshot."""
    if user.role == Role.SUPERVISOR and user.area_id is None:
        return None
    today = local_today()
    scope = services.Scope(user.area_id if user.role == Role.SUPERVISOR else None, today - timedelta(days=29), today)
    stored = snapshot(session, scope)
    figures = stored.figures
    cells = [figures.people_active, figures.contact_rate, figures.out_of_contact, figures.job_placements]
    return Summary(
        people_active=number(figures.people_active),
        contact_rate=percent(figures.contact_rate),
        out_of_contact=number(figures.out_of_contact),
        job_placements=number(figures.job_placements),
        notes=cell_notes(cells),
        as_of=as_of(stored.computed_at),
    )
