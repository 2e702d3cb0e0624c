"""Searching and filtering a caseload: what a caseworker types and picks at /people/.

The caseload is one caseworker's people (or one supervisor's areas), so the search runs over the
rows already loaded: names are matched in Python, the same way in SQLite and PostgreSQL, and
Chinese names need no collation."""

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta

from portal.clock import local_date
from portal.models import Person, Programme
from portal.people.forms import phone_key
from portal.people.services import CaseloadRow

# Contact statuses a caseworker filters by; "ok" is neither overdue nor out of contact.
CONTACT_STATUSES = ("overdue", "out_of_contact", "ok")
PHONE_QUERY = re.compile(r"^[\d\s+()-]+$")


@dataclass(frozen=True)
class CaseloadFilter:
    text: str = ""
    area_id: uuid.UUID | None = None
    programme: Programme | None = None
    contact: str = ""
    open_needs: bool = False


def parse_filter(args: Mapping[str, str], text: str = "") -> tuple[CaseloadFilter, list[str]]:
    """The filter from the form's fields, and the names of those not understood (they are ignored).
    The text searched (a name, a code, a phone number) is passed apart: it comes only from a POST
    body, never from a URL, where access logs and browser history would keep it."""
    ignored = []
    area_id = None
    if args.get("area"):
        try:
            area_id = uuid.UUID(args["area"])
        except ValueError:
            ignored.append("area")
    programme = None
    if args.get("programme"):
        try:
            programme = Programme(args["programme"])
        except ValueError:
            ignored.append("programme")
    contact = args.get("contact", "")
    if contact and contact not in CONTACT_STATUSES:
        ignored.append("contact")
        contact = ""
    wanted = CaseloadFilter(
        text=text.strip()[:100],
        area_id=area_id,
        programme=programme,
        contact=contact,
        open_needs=args.get("open_needs") == "1",
    )
    return wanted, ignored


def contact_gap_ends(person: Person, last_contact: date | None, allowed_gap: Mapping[str, int]) -> date:
    """The last day the person may go without contact: their last contact (never contacted: their
    registration) and the longest gap their programme allows. The day after, they are out of
    contact; the lost-contact follow-up is due on this day."""
    gap = allowed_gap.get(person.programme or "", allowed_gap["default"])
    return (last_contact or local_date(person.created_at)) + timedelta(days=gap)


def out_of_contact(row: CaseloadRow, today: date, allowed_gap: Mapping[str, int]) -> bool:
    """Longer without contact than the programme allows, the rule of the lost-contact follow-up.
    An anonymised record is closed: never out of contact."""
    return not row.person.is_anonymised and today > contact_gap_ends(row.person, row.last_contact, allowed_gap)


def contact_status(row: CaseloadRow, today: date, allowed_gap: Mapping[str, int]) -> set[str]:
    statuses = set()
    if row.overdue(today):
        statuses.add("overdue")
    if out_of_contact(row, today, allowed_gap):
        statuses.add("out_of_contact")
    return statuses or {"ok"}


def _matches_text(row: CaseloadRow, text: str) -> bool:
    person = row.person
    wanted = text.casefold()
    if wanted in person.code.casefold():
        return True
    if not person.is_anonymised and wanted in person.full_name.casefold():
        return True
    # Only a query that looks like a phone number searches phones: "Li 3" is not the number 3.
    digits = phone_key(text)
    return bool(PHONE_QUERY.match(text)) and len(digits) >= 3 and digits in phone_key(person.phone)


def search(
    rows: list[CaseloadRow], wanted: CaseloadFilter, today: date, allowed_gap: Mapping[str, int]
) -> list[CaseloadRow]:
    """The rows that match every part of the filter, in the caseload's order."""
    return [
        row
        for row in rows
        if (not wanted.text or _matches_text(row, wanted.text))
        and (wanted.area_id is None or row.person.area_id == wanted.area_id)
        and (wanted.programme is None or row.person.programme == wanted.programme)
        and (not wanted.contact or wanted.contact in contact_status(row, today, allowed_gap))
        and (not wanted.open_needs or row.open_needs > 0)
    ]


@dataclass(frozen=True)
class CaseloadSummary:
    on_caseload: int
    contact_overdue: int
    out_of_contact: int


def summarize(rows: list[CaseloadRow], today: date, allowed_gap: Mapping[str, int]) -> CaseloadSummary:
    """The counts a caseworker's home page shows, each a link to the filtered caseload."""
    active = [row for row in rows if not row.person.is_anonymised]
    return CaseloadSummary(
        on_caseload=len(active),
        contact_overdue=sum(row.overdue(today) for row in active),
        out_of_contact=sum(out_of_contact(row, today, allowed_gap) for row in active),
    )
