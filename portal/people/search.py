"""Searching and filtering a caseload: what a caseworker types and picks at /people/.

Every filter is a condition in SQL, so a page of the caseload costs the 50 people shown whatever
its size. The one exception is a name: names are encrypted, so SQL cannot compare them. A text
search decrypts the names (only the names) of the people the other filters leave, matches them in
Python (the same way in SQLite and PostgreSQL; Chinese names need no collation), and hands SQL the
ids found. Codes are plain text and phone and ID numbers have blind indexes, so those are matched
in SQL: a phone or ID number is found when typed whole."""

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlmodel import Session, col, func, select
from sqlmodel.sql.expression import SelectOfScalar

from portal.clock import local_date, local_midnight
from portal.crypto import blind_lookup, open_selected
from portal.models import ContactLog, Need, NeedStatus, Person, Programme, Referral, ReferralStatus, UTCDateTime
from portal.referrals.states import AWAITING_ANSWER

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
    # A supervisor's choice of one caseworker's people; a caseworker's own caseload is theirs already.
    caseworker_id: uuid.UUID | None = None
    # People with a referral a provider has still to answer (the home page's waiting list, in full).
    waiting: bool = False
    # People with a referral proposed again after a decline or an expiry, waiting for approval.
    proposed: bool = False

    def link_args(self) -> dict[str, str]:
        """The filter as the query of a link (a next page, a home page figure): never the text,
        which is only ever POSTed."""
        args = {
            "area": str(self.area_id or ""),
            "programme": str(self.programme or ""),
            "contact": self.contact,
            "open_needs": "1" if self.open_needs else "",
            "caseworker": str(self.caseworker_id or ""),
            "waiting": "1" if self.waiting else "",
            "proposed": "1" if self.proposed else "",
        }
        return {name: value for name, value in args.items() if value}


def _uuid(args: Mapping[str, str], name: str, ignored: list[str]) -> uuid.UUID | None:
    if not args.get(name):
        return None
    try:
        return uuid.UUID(args[name])
    except ValueError:
        ignored.append(name)
        return None


def parse_filter(
    args: Mapping[str, str], text: str = "", by_caseworker: bool = False
) -> tuple[CaseloadFilter, list[str]]:
    """The filter from the form's fields, and the names of those not understood (they are ignored).
    The text searched (a name, a code, a phone number) is passed apart: it comes only from a POST
    body, never from a URL, where access logs and browser history would keep it. Only a supervisor
    (`by_caseworker`) picks a caseworker."""
    ignored: list[str] = []
    area_id = _uuid(args, "area", ignored)
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
        caseworker_id=_uuid(args, "caseworker", ignored) if by_caseworker else None,
        waiting=args.get("waiting") == "1",
        proposed=args.get("proposed") == "1",
    )
    return wanted, ignored


def contact_gap_ends(person: Person, allowed_gap: Mapping[str, int]) -> date:
    """The last day the person may go without contact: their last contact (never contacted: their
    registration) and the longest gap their programme allows. The day after, they are out of
    contact; the lost-contact follow-up is due on this day."""
    gap = allowed_gap.get(person.programme or "", allowed_gap["default"])
    return (person.last_contact_on or local_date(person.created_at)) + timedelta(days=gap)


# --- The rules in SQL -------------------------------------------------------------------------------
# The same rules as `contact_gap_ends` and `CaseloadRow.overdue`, written as conditions on a person
# row, so that the caseload's figures, its filters and the follow-ups opened agree with each other.


def _kept_as_last_contact(_mapper: Any, connection: sa.Connection, contact: ContactLog) -> None:
    """Every contact written, by any service, moves its person's last contact forward (never back:
    a contact logged late for an earlier day leaves a later one standing). One UPDATE, so two
    contacts logged at once keep the later date.

    The person's version stays: the date is derived from their log, no form writes it, so no edit
    can lose it; and the service logging the contact may be updating the same row in this flush."""
    last = col(Person.last_contact_on)
    connection.execute(
        sa.update(Person)  # versions: derived
        .where(col(Person.id) == contact.person_id, sa.or_(last.is_(None), last < contact.occurred_on))
        .values(last_contact_on=contact.occurred_on)
    )


sa.event.listen(ContactLog, "after_insert", _kept_as_last_contact)


def _by_programme(values: Mapping[str, Any], default: Any, type_: Any) -> sa.Case[Any]:
    """A value chosen by the person's programme, as the allowed gap is (no programme: the default)."""
    whens = {programme: sa.literal(value, type_) for programme, value in values.items()}
    return sa.case(whens, value=col(Person.programme), else_=sa.literal(default, type_))


def out_of_contact(today: date, allowed_gap: Mapping[str, int]) -> sa.ColumnElement[bool]:
    """Longer without contact than the programme allows: their last contact, or when never contacted
    their registration, is before today less the gap. An anonymised record is closed: never out of contact."""
    cutoffs = {p: today - timedelta(days=gap) for p, gap in allowed_gap.items() if p != "default"}
    default = today - timedelta(days=allowed_gap["default"])
    last = col(Person.last_contact_on)
    return sa.and_(
        col(Person.anonymised_at).is_(None),
        sa.or_(
            sa.and_(last.is_not(None), last < _by_programme(cutoffs, default, sa.Date())),
            sa.and_(
                last.is_(None),
                col(Person.created_at)
                < _by_programme(
                    {p: local_midnight(day) for p, day in cutoffs.items()}, local_midnight(default), UTCDateTime()
                ),
            ),
        ),
    )


def overdue(today: date) -> sa.ColumnElement[bool]:
    """The next contact was due before today (an anonymised record is closed: never overdue)."""
    return sa.and_(
        col(Person.anonymised_at).is_(None),
        col(Person.next_contact_due).is_not(None),
        col(Person.next_contact_due) < today,
    )


def _contact_condition(status: str, today: date, allowed_gap: Mapping[str, int]) -> sa.ColumnElement[bool]:
    if status == "overdue":
        return overdue(today)
    if status == "out_of_contact":
        return out_of_contact(today, allowed_gap)
    return sa.and_(sa.not_(overdue(today)), sa.not_(out_of_contact(today, allowed_gap)))


def _text_condition(session: Session, query: SelectOfScalar[Person], text: str) -> sa.ColumnElement[bool]:
    """A code containing the text, a phone or ID number that is the text, or a name containing it."""
    wanted = text.casefold()
    found: list[sa.ColumnElement[bool]] = [col(Person.code).icontains(text, autoescape=True)]
    # Only a query that looks like a phone number searches phones: "Li 3" is not a number.
    if PHONE_QUERY.match(text):
        phone = blind_lookup(session, Person.phone_index, text)
        if phone:
            found.append(col(Person.phone_index) == phone)
    id_number = blind_lookup(session, Person.id_number_index, text)
    if id_number:
        found.append(col(Person.id_number_index) == id_number)
    # The names of the people the other filters leave: ids and names only, no other field decrypted.
    assert query.whereclause is not None  # the people a user sees: always narrowed
    names = session.exec(
        select(col(Person.id), col(Person.full_name)).where(query.whereclause, col(Person.anonymised_at).is_(None))
    ).all()
    named = [
        person_id for person_id, name in open_selected(session, Person.full_name, names) if wanted in name.casefold()
    ]
    if named:
        found.append(col(Person.id).in_(named))
    return sa.or_(*found)


def filtered(
    session: Session,
    query: SelectOfScalar[Person],
    wanted: CaseloadFilter,
    today: date,
    allowed_gap: Mapping[str, int],
) -> SelectOfScalar[Person]:
    """`query` (the people a user sees) narrowed to those matching every part of the filter."""
    if wanted.caseworker_id is not None:
        query = query.where(col(Person.caseworker_id) == wanted.caseworker_id)
    if wanted.area_id is not None:
        query = query.where(col(Person.area_id) == wanted.area_id)
    if wanted.programme is not None:
        query = query.where(col(Person.programme) == wanted.programme)
    if wanted.contact:
        query = query.where(_contact_condition(wanted.contact, today, allowed_gap))
    if wanted.open_needs:
        query = query.where(
            select(Need.id)
            .where(Need.person_id == Person.id, Need.status == NeedStatus.OPEN)
            .correlate(Person)
            .exists()
        )
    if wanted.waiting:
        query = query.where(_has_referral_in(AWAITING_ANSWER))
    if wanted.proposed:
        query = query.where(_has_referral_in((ReferralStatus.PROPOSED,)))
    if wanted.text:
        query = query.where(_text_condition(session, query, wanted.text))
    return query


def _has_referral_in(states: Iterable[ReferralStatus]) -> ColumnElement[bool]:
    """The person has a referral in one of these states."""
    return (
        select(Referral.id)
        .where(Referral.person_id == Person.id, col(Referral.status).in_(sorted(states)))
        .correlate(Person)
        .exists()
    )


@dataclass(frozen=True)
class CaseloadSummary:
    on_caseload: int
    contact_overdue: int
    out_of_contact: int


def summarize(
    session: Session, visible: sa.ColumnElement[bool], today: date, allowed_gap: Mapping[str, int]
) -> CaseloadSummary:
    """The counts a caseworker's home page shows, each a link to the filtered caseload: one
    aggregate over the people `visible` selects, none of them loaded."""

    def counted(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return func.coalesce(func.sum(sa.case((condition, 1), else_=0)), 0)

    on_caseload, contact_overdue, lost = session.exec(
        select(func.count(), counted(overdue(today)), counted(out_of_contact(today, allowed_gap))).where(
            visible, col(Person.anonymised_at).is_(None)
        )
    ).one()
    return CaseloadSummary(on_caseload=on_caseload, contact_overdue=contact_overdue, out_of_contact=lost)
