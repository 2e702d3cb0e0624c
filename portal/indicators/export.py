"""The indicators as CSV (RFC 4180) for Excel: one row per figure, headers in the reader's language,
numbers written plainly so that spreadsheets can compute with them."""

import csv
import io
from collections.abc import Iterator
from datetime import date

from flask_babel import gettext as _

from portal.indicators.services import NAMES, Indicators, Month
from portal.labels import label

# A cell starting with one of these is run as a formula by spreadsheets (CSV injection).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

Row = tuple[str, str, str, str]  # indicator key, detail, value, unit


def safe_cell(value: object) -> str:
    """The cell's text, quoted with ' when a spreadsheet would otherwise read it as a formula."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _percent(rate: float | None) -> str:
    return f"{rate * 100:.1f}" if rate is not None else ""


def _days(value: float | None) -> str:
    return f"{value:.1f}" if value is not None else ""


def _rows(figures: Indicators) -> Iterator[Row]:
    count, share, days = _("count"), "%", _("days")
    yield "people_active", "", str(figures.people_active), count
    yield "contact_rate", "", _percent(figures.contact_rate), share
    yield "contact_rate", _("people contacted"), str(figures.people_contacted), count
    yield "out_of_contact", "", str(figures.out_of_contact), count
    for category, number in figures.needs_by_category.items():
        yield "needs_by_category", label(category), str(number), count
    for status, number in figures.referrals_by_status.items():
        yield "referrals_by_status", label(status), str(number), count
    for key, median in (
        ("need_to_approval", figures.need_to_approval),
        ("approval_to_answer", figures.approval_to_answer),
    ):
        yield key, _("median"), _days(median.days), days
        yield key, _("referrals"), str(median.count), count
    for row in figures.completion_by_provider:
        yield "completion_by_provider", row.provider, _percent(row.rate), share
        yield "completion_by_provider", f"{row.provider} · {label('completed')}", str(row.completed), count
        yield "completion_by_provider", f"{row.provider} · {label('withdrawn')}", str(row.withdrawn), count
    yield "job_placements", "", str(figures.job_placements), count
    retention = figures.retention
    yield "retention", "", _percent(retention.rate), share
    yield "retention", _("placements reaching 90 days"), str(retention.placements), count
    yield "retention", label("still_employed"), str(retention.still_employed), count
    yield "retention", label("no_longer_employed"), str(retention.no_longer_employed), count
    yield "retention", _("not checked yet"), str(retention.not_checked), count


def _monthly_rows(month: Month) -> Iterator[Row]:
    count, monthly = _("count"), _("month")
    yield "people_active", monthly, str(month.people_active), count
    yield "contact_rate", monthly, _percent(month.contact_rate), "%"
    yield "out_of_contact", monthly, str(month.out_of_contact), count
    yield "needs_by_category", f"{monthly} · {_('all categories')}", str(month.needs_recorded), count
    yield "referrals_by_status", f"{monthly} · {_('all states')}", str(month.referrals_made), count
    yield "job_placements", monthly, str(month.job_placements), count


def csv_text(figures: Indicators, months: list[Month], area_name: str, definitions: dict[str, str]) -> str:
    """Every indicator of the period, then the monthly series, one figure per row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [_("Indicator"), _("Detail"), _("Value"), _("Unit"), _("Area"), _("First day"), _("Last day"), _("Definition")]
    )

    def write(rows: Iterator[Row], start: date, end: date) -> None:
        for key, detail, value, unit in rows:
            cells = [NAMES[key], detail, value, unit, area_name, start.isoformat(), end.isoformat(), definitions[key]]
            writer.writerow([safe_cell(cell) for cell in cells])

    write(_rows(figures), figures.scope.start, figures.scope.end)
    for month in months:
        write(_monthly_rows(month), month.scope.start, month.scope.end)
    return out.getvalue()
