"""What the hours' views share: the export's columns in the user's language, and a period refused."""

from collections.abc import Sequence

from flask import make_response, render_template
from flask_babel import pgettext
from werkzeug.wrappers import Response

from portal.hours.services import ExportRow
from portal.labels import label
from portal.spreadsheets import csv_bytes


def export_csv(rows: Sequence[ExportRow]) -> bytes:
    """The columns of China's volunteer service records (志愿服务记录): name, ID type, hours,
    activity, date, organization; an activity served for a referral has no organization."""
    return csv_bytes(
        [
            pgettext("volunteer record", "Name"),
            pgettext("volunteer record", "ID type"),
            pgettext("volunteer record", "Hours"),
            pgettext("volunteer record", "Activity"),
            pgettext("volunteer record", "Date"),
            pgettext("volunteer record", "Organization"),
        ],
        (
            [
                row.volunteer.name,
                label(row.volunteer.id_type) if row.volunteer.id_type else "",
                f"{row.activity.hours:g}",
                _activity(row),
                row.activity.done_on.isoformat(),
                row.organization,
            ]
            for row in rows
        ),
    )


def _activity(row: ExportRow) -> str:
    """The kind, and the volunteer's words when the hours served an organization. Words about hours
    for a referral may name its person, who is in a drug programme: they stay with the caseworker."""
    if row.activity.referral_id is not None:
        return label(row.activity.kind)
    return f"{label(row.activity.kind)}: {row.activity.description}"


def period_errors_page(errors: dict[str, str]) -> Response:
    """A period typed wrong in the address: what was wrong, and nothing else."""
    message = " ".join(errors.values())
    return make_response(render_template("errors/error.html", status=422, message=message), 422)
