"""The indicators as CSV (RFC 4180) for Excel: one row per figure, headers in the reader's language,
numbers written plainly so that spreadsheets can compute with them, small cells suppressed as on
the page (portal/indicators/suppression.py)."""

import csv
import io
from collections.abc import Iterator
from datetime import date
from typing import Literal

from flask_babel import gettext as _

from portal.indicators.grids import PublishedGrid
from portal.indicators.services import NAMES
from portal.indicators.suppression import Cell, PublishedIndicators, PublishedMonth, marker, notes
from portal.labels import label
from portal.spreadsheets import safe_cell

Kind = Literal["count", "share", "days"]
Row = tuple[str, str, Cell, Kind]  # indicator key, detail, figure, what it measures


def _value(cell: Cell, kind: Kind) -> str:
    """The figure written plainly (a share in percent, days to one decimal), or the marker of a
    suppressed one; empty when there is no figure."""
    if cell.suppressed:
        return marker(cell)
    if cell.value is None:
        return ""
    if kind == "share":
        return f"{cell.value * 100:.1f}"
    return f"{cell.value:.1f}" if kind == "days" else str(int(cell.value))


def _unit(kind: Kind) -> str:
    return {"count": _("count"), "share": "%", "days": _("days")}[kind]


def _rows(figures: PublishedIndicators) -> Iterator[Row]:
    count: Kind = "count"
    share: Kind = "share"
    days: Kind = "days"
    yield "people_active", "", figures.people_active, count
    yield "contact_rate", "", figures.contact_rate, share
    yield "contact_rate", _("people contacted"), figures.people_contacted, count
    yield "out_of_contact", "", figures.out_of_contact, count
    for category, cell in figures.needs_by_category.items():
        yield "needs_by_category", label(category), cell, count
    for status, cell in figures.referrals_by_status.items():
        yield "referrals_by_status", label(status), cell, count
    for key, median in (
        ("need_to_approval", figures.need_to_approval),
        ("approval_to_answer", figures.approval_to_answer),
    ):
        yield key, _("median"), median.days, days
        yield key, _("referrals"), median.count, count
    for row in figures.completion_by_provider:
        yield "completion_by_provider", row.provider, row.rate, share
        yield "completion_by_provider", f"{row.provider} · {label('completed')}", row.completed, count
        yield "completion_by_provider", f"{row.provider} · {label('withdrawn')}", row.withdrawn, count
    yield "job_placements", "", figures.job_placements, count
    retention = figures.retention
    yield "retention", "", retention.rate, share
    yield "retention", _("placements reaching 90 days"), retention.placements, count
    yield "retention", label("still_employed"), retention.still_employed, count
    yield "retention", label("no_longer_employed"), retention.no_longer_employed, count
    yield "retention", _("not checked yet"), retention.not_checked, count
    yield "volunteer_hours", _("hours"), figures.volunteer_hours, count
    yield "volunteer_hours", _("volunteers"), figures.volunteers, count


def _monthly_rows(month: PublishedMonth) -> Iterator[Row]:
    count: Kind = "count"
    monthly = _("month")
    yield "people_active", monthly, month.people_active, count
    yield "contact_rate", monthly, month.contact_rate, "share"
    yield "out_of_contact", monthly, month.out_of_contact, count
    yield "needs_by_category", f"{monthly} · {_('all categories')}", month.needs_recorded, count
    yield "referrals_by_status", f"{monthly} · {_('all states')}", month.referrals_made, count
    yield "job_placements", monthly, month.job_placements, count


def csv_text(
    figures: PublishedIndicators,
    months: list[PublishedMonth],
    area_name: str,
    definitions: dict[str, str],
    as_of: str,
) -> str:
    """Every indicator of the period, then the monthly series, one figure per row; a suppressed
    figure has its marker for a value and a note saying why. Each row says when it was computed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            _("Indicator"),
            _("Detail"),
            _("Value"),
            _("Unit"),
            _("Area"),
            _("First day"),
            _("Last day"),
            _("Definition"),
            _("Note"),
            _("As of"),
        ]
    )

    def write(rows: Iterator[Row], start: date, end: date) -> None:
        for key, detail, figure, kind in rows:
            cells = [
                NAMES[key],
                detail,
                _value(figure, kind),
                _unit(kind),
                area_name,
                start.isoformat(),
                end.isoformat(),
                definitions[key],
                " ".join(notes([figure], figures.threshold)),
                as_of,
            ]
            writer.writerow([safe_cell(cell) for cell in cells])

    write(_rows(figures), figures.scope.start, figures.scope.end)
    for month in months:
        write(_monthly_rows(month), month.scope.start, month.scope.end)
    return out.getvalue()


def grids_csv_text(rows: list[PublishedGrid], language: str, start: date, end: date, threshold: int) -> str:
    """The grids-by-duty table (portal/indicators/grids.py), a grid a row, with the period and the
    notes of suppressed figures, as the indicators' CSV writes them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            _("Grid"),
            _("Code"),
            _("People"),
            _("Seen in the last %(days)s days", days=(end - start).days + 1) + " (%)",
            _("Contacts by grid workers"),
            _("Tests on time") + " (%)",
            _("Found again"),
            _("First day"),
            _("Last day"),
            _("Note"),
        ]
    )
    for row in rows:
        figures: list[tuple[Cell, Kind]] = [
            (row.people, "count"),
            (row.seen_share, "share"),
            (row.grid_contacts, "count"),
            (row.tests_on_time_share, "share"),
            (row.found_again, "count"),
        ]
        cells = [
            row.area.name(language),
            row.area.code,
            *(_value(cell, kind) for cell, kind in figures),
            start.isoformat(),
            end.isoformat(),
            " ".join(notes([cell for cell, _kind in figures], threshold)),
        ]
        writer.writerow([safe_cell(cell) for cell in cells])
    return out.getvalue()
