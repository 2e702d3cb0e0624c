"""The indicators dashboard and its CSV export, for supervisors (their areas) and administrators (all)."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from babel.dates import format_skeleton
from flask import Blueprint, Response, current_app, render_template, request
from flask_babel import format_date, get_locale
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session, col, select

from portal.audit import services as audit
from portal.auth.access import fresh_sign_in_required, role_required
from portal.clock import local_today
from portal.db import get_engine, get_session
from portal.forms import query_values, validate
from portal.htmx import render
from portal.i18n import language_code
from portal.indicators import charts, export, services
from portal.indicators import grids as grid_indicators
from portal.indicators.forms import Filters
from portal.indicators.summary import (
    as_of,
    cell_notes,
    days,
    freshness,
    number,
    percent,
    rules,
    snapshot,
)
from portal.indicators.suppression import PublishedIndicators, PublishedMonth
from portal.labels import label
from portal.models import Area, AreaLevel, Programme, Role, User

bp = Blueprint("indicators", __name__, url_prefix="/indicators")

VIEWERS = (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class Choice:
    """What the filters resolved to, or why they could not."""

    scope: services.Scope | None
    areas: list[Area]
    area_name: str
    errors: dict[str, str]


def choose(session: Session, user: User) -> Choice:
    """Read the filters of this request: a supervisor sees their own areas only; nothing else is found."""
    filters, errors = validate(Filters, request.args)
    permitted = services.areas_for(session, user)
    areas = permitted if permitted is not None else list(session.exec(select(Area).order_by(Area.code)))
    if permitted == []:
        errors["area"] = _("You have no area to supervise yet; an administrator can assign one.")
    if filters is None or errors:
        return Choice(None, areas, "", errors)
    area_id: uuid.UUID | None = filters.area
    if area_id is None and permitted is not None:
        area_id = user.area_id  # a supervisor's whole area
    chosen = next((area for area in areas if area.id == area_id), None)
    if area_id is not None and chosen is None:
        return Choice(None, areas, "", {"area": _("Choose an area from the list.")})
    start, end = filters.days(local_today())
    area_name = chosen.name(language_code()) if chosen else _("All areas")
    return Choice(services.Scope(area_id, start, end), areas, area_name, {})


def limits_text() -> str:
    """The contact limits of CONTACT_GAP_DAYS, as the out-of-contact definition states them."""
    rule = rules()
    parts = [
        _("%(programme)s: %(days)s days", programme=label(programme), days=rule.gap_for(programme))
        for programme in Programme
    ]
    parts.append(_("others: %(days)s days", days=rule.gap_for(None)))
    return "; ".join(parts)


def definitions() -> dict[str, str]:
    """Each indicator's definition; the out-of-contact one with the limits now configured."""
    texts = {key: str(text) for key, text in services.DEFINITIONS.items()}
    texts["out_of_contact"] = texts["out_of_contact"] % {"limits": limits_text()}
    return texts


def month_label(scope: services.Scope) -> str:
    """A month and its year in the order the language writes them ("Jun 2026", "2026年6月")."""
    return format_skeleton("yMMM", scope.start, locale=get_locale())


def month_tick(scope: services.Scope) -> str:
    """A month on a chart's axis: short enough for twelve side by side; the table gives the year."""
    return format_date(scope.start, format="LLL")


@bp.route("")
@role_required(*VIEWERS)
def index() -> Response:
    """The figures, charts and definitions for the chosen area and period; htmx gets the dashboard alone."""
    session = get_session()
    choice = choose(session, current_user)
    context: dict[str, Any] = {
        "form": query_values(Filters.model_fields, request.args),
        "errors": choice.errors,
        "areas": choice.areas,
        "all_areas": current_user.role == Role.ADMIN,
        "names": services.NAMES,
        "definitions": definitions(),
        "number": number,
        "percent": percent,
        "days": days,
    }
    if choice.scope is None:
        return render("indicators/index.html", "indicators/_dashboard.html", status=422, **context)
    figures, months, computed_at = published(session, choice.scope)
    context.update(
        figures=figures,
        months=months,
        as_of=as_of(computed_at),
        fresh_minutes=int(freshness().total_seconds() // 60),
        month_labels=[month_label(month.scope) for month in months],
        area_name=choice.area_name,
        charts=_charts(figures, months),
        notes=cell_notes,
    )
    return render("indicators/index.html", "indicators/_dashboard.html", **context)


def published(session: Session, scope: services.Scope) -> tuple[PublishedIndicators, list[PublishedMonth], datetime]:
    """The period's indicators and the monthly series, small cells suppressed: all that leaves here;
    and when they were computed."""
    stored = snapshot(session, scope)
    return stored.figures, stored.months, stored.computed_at


def _charts(figures: PublishedIndicators, months: list[PublishedMonth]) -> dict[str, object]:
    """The charts' geometry from the published figures only: a suppressed cell draws no bar or point."""
    names = services.NAMES
    labels = [month_tick(month.scope) for month in months]
    needs = [(label(c), cell.value or 0, number(cell)) for c, cell in figures.needs_by_category.items()]
    referrals = [(label(s), cell.value or 0, number(cell)) for s, cell in figures.referrals_by_status.items()]
    completion = [
        (row.provider, (row.rate.value or 0) * 100, percent(row.rate)) for row in figures.completion_by_provider
    ]
    return {
        "needs": charts.bar_chart(
            "chart-needs", str(names["needs_by_category"]), _("Needs recorded in the period, by category."), needs
        ),
        "referrals": charts.bar_chart(
            "chart-referrals",
            str(names["referrals_by_status"]),
            _("Referrals made in the period, by state now."),
            referrals,
        ),
        "completion": charts.bar_chart(
            "chart-completion",
            str(names["completion_by_provider"]),
            _("Share of accepted referrals completed, per provider."),
            completion,
        ),
        "active": charts.line_chart(
            "chart-active",
            str(names["people_active"]),
            _("People active, month by month over the last twelve months."),
            labels,
            [m.people_active.value for m in months],
            [number(m.people_active) for m in months],
        ),
        "contact_rate": charts.line_chart(
            "chart-contact-rate",
            str(names["contact_rate"]),
            _("Contact rate, month by month over the last twelve months."),
            labels,
            [m.contact_rate.value * 100 if m.contact_rate.value is not None else None for m in months],
            [percent(m.contact_rate) for m in months],
        ),
        "out_of_contact": charts.line_chart(
            "chart-out-of-contact",
            str(names["out_of_contact"]),
            _("People out of contact at the end of each month over the last twelve months."),
            labels,
            [m.out_of_contact.value for m in months],
            [number(m.out_of_contact) for m in months],
        ),
        "placements": charts.line_chart(
            "chart-placements",
            str(names["job_placements"]),
            _("Job placements, month by month over the last twelve months."),
            labels,
            [m.job_placements.value for m in months],
            [number(m.job_placements) for m in months],
        ),
    }


@bp.route("/export.csv")
@role_required(*VIEWERS)
@fresh_sign_in_required
def export_csv() -> Response:
    """Every indicator for the chosen filters as CSV for Excel; headers in the user's language."""
    session = get_session()
    choice = choose(session, current_user)
    if choice.scope is None:
        return Response("\n".join(choice.errors.values()) + "\n", status=422, mimetype="text/plain")
    # An export leaves the portal: recorded in the audit trail, in its own short write transaction
    # because this GET reads in a read-only one.
    with Session(get_engine()) as writer:
        audit.record(writer, current_user, "export", "indicators")
        writer.commit()
    figures, months, computed_at = published(session, choice.scope)
    body = export.csv_text(figures, months, choice.area_name, definitions(), as_of(computed_at))
    filename = f"indicators_{choice.scope.start.isoformat()}_{choice.scope.end.isoformat()}.csv"
    return Response(
        body.encode("utf-8-sig"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


def _grid_rows(session: Session, today: date) -> list[grid_indicators.PublishedGrid]:
    allowed = services.areas_for(session, current_user)
    query = select(Area).where(Area.level == AreaLevel.GRID).order_by(Area.code)
    if allowed is not None:
        query = query.where(col(Area.id).in_([area.id for area in allowed]))
    rows = grid_indicators.figures(session, list(session.exec(query)), today, rules().contact_gap_days)
    return grid_indicators.publish(rows, current_app.config["SMALL_CELL_THRESHOLD"])


@bp.route("/grids")
@role_required(*VIEWERS)
def grids() -> str:
    """Each grid's figures by duty over the last 30 days: people seen, grid workers' contacts, tests
    done on time, people found again; small cells suppressed."""
    return render_template(
        "indicators/grids.html",
        rows=_grid_rows(get_session(), local_today()),
        number=number,
        percent=percent,
        days=grid_indicators.DAYS,
    )


@bp.route("/grids.csv")
@role_required(*VIEWERS)
@fresh_sign_in_required
def grids_csv() -> Response:
    """The grids-by-duty table as CSV for Excel; an export, so audited as the indicators' is."""
    session = get_session()
    with Session(get_engine()) as writer:
        audit.record(writer, current_user, "export", "indicators")
        writer.commit()
    today = local_today()
    start = today - timedelta(days=grid_indicators.DAYS - 1)
    threshold = current_app.config["SMALL_CELL_THRESHOLD"]
    body = export.grids_csv_text(_grid_rows(session, today), language_code(), start, today, threshold)
    return Response(
        body.encode("utf-8-sig"),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="grids_{start.isoformat()}_{today.isoformat()}.csv"'},
    )
