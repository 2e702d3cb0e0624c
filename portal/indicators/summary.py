"""The indicators' figures as people read them, and the few the home page shows: shared by the
dashboard and the home page, so that neither view imports the other."""

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from flask_babel import format_decimal, format_percent
from sqlmodel import Session

from portal.indicators import services
from portal.models import Role, User
from portal.people.forms import local_today


def rules() -> services.Rules:
    return services.Rules(contact_gap_days=dict(current_app.config["CONTACT_GAP_DAYS"]))


def number(value: float) -> str:
    return format_decimal(value)


def percent(value: float | None) -> str:
    return format_percent(value, format="#,##0.0%") if value is not None else "—"


@dataclass(frozen=True)
class Summary:
    """The few figures the home page shows, over the last 30 days of the user's whole area."""

    people_active: str
    contact_rate: str
    out_of_contact: str
    job_placements: str


def summary(session: Session, user: User) -> Summary | None:
    """None for a supervisor without an area: there is nothing to sum up."""
    if user.role == Role.SUPERVISOR and user.area_id is None:
        return None
    today = local_today()
    scope = services.Scope(user.area_id if user.role == Role.SUPERVISOR else None, today - timedelta(days=29), today)
    [active] = services.people_active(session, [scope])
    [contacted] = services.people_contacted(session, [scope])
    [out] = services.out_of_contact(session, [scope], rules())
    [placements] = services.job_placements(session, [scope])
    return Summary(
        people_active=number(active),
        contact_rate=percent(contacted / active if active else None),
        out_of_contact=number(out),
        job_placements=number(placements),
    )
