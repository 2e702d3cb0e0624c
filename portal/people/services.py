"""People on caseloads: who sees whom, duplicates, and the changes caseworkers make.

Every lookup returns None both for a record that does not exist and for one the user may not
see, so nobody can probe another caseload by trying ids.
"""

import hashlib
import hmac
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from portal.areas import areas_within, in_area, place
from portal.audit.services import record
from portal.auth import throttle
from portal.clock import local_today
from portal.crypto import blind_lookup
from portal.duties import DUTY_OF, HOLDER_COLUMN, PROGRAMME_FIELDS, ROLE_OF, may_record, programme_held
from portal.exceptions import NotAllowed, OutsideYourAreas, RecordClosed, TooManyChecks
from portal.keyset import DEFAULT_PER_PAGE, SortKey, page_of
from portal.models import (
    Area,
    ContactLog,
    Duty,
    FollowUp,
    FollowUpKind,
    FollowUpStatus,
    Handover,
    Need,
    NeedStatus,
    NoticeTarget,
    Person,
    Referral,
    ReferralStatus,
    Role,
    User,
    id_number_key,
    phone_key,
    utcnow,
)
from portal.notifications.services import notify
from portal.people import search
from portal.people.forms import ContactForm, NeedForm, PersonForm
from portal.people.search import CaseloadFilter
from portal.versions import check_version

CODE_PREFIX = "XA"
# How many times to take the next free code when another caseworker took it at the same moment.
CODE_ATTEMPTS = 5


def ensure_open(person: Person) -> None:
    """:raise RecordClosed: for an anonymised record, which nothing may change any more."""
    if person.is_anonymised:
        raise RecordClosed(str(person.id))


def months_between(start: date, today: date) -> int:
    """Whole months from the start of the programme to today (0 before it starts)."""
    months = (today.year - start.year) * 12 + today.month - start.month - (today.day < start.day)
    return max(0, months)


def age_on(birth_date: date, today: date) -> int:
    return today.year - birth_date.year - ((today.month, today.day) < (birth_date.month, birth_date.day))


# --- Who sees whom ---------------------------------------------------------------------------


def visibility(user: User) -> sa.ColumnElement[bool]:
    """Which people a user may see: a caseworker their caseload, a supervisor their areas."""
    if user.role == Role.CASEWORKER:
        return col(Person.caseworker_id) == user.id
    if user.role == Role.SUPERVISOR and user.area_id is not None:
        return in_area(col(Person.area_id), user.area_id)
    # Administrators, providers, volunteers, and supervisors without an area see nobody.
    return sa.false()


Query = TypeVar("Query", bound="sa.Select[*tuple[Any, ...]]")


def of_caseload(query: Query, user: User, states: Iterable[ReferralStatus]) -> Query:
    """The referrals, in these states, of the people this user may see: from those people, through
    the referral's own person (an index on person and state), never from every referral in the city."""
    return query.join(Person, col(Person.id) == Referral.person_id).where(
        visibility(user), col(Referral.status).in_(sorted(states))
    )


def visible_people_query(user: User) -> SelectOfScalar[Person]:
    """A query for the people this user may see; add filters and an order to it."""
    return select(Person).where(visibility(user))


def find_person(session: Session, user: User, person_id: uuid.UUID) -> Person | None:
    """The person if this user may see them; missing and not-yours look the same."""
    return session.exec(visible_people_query(user).where(Person.id == person_id)).first()


def is_caseworker_of(user: User, person: Person) -> bool:
    """Only the person's own caseworker changes their record."""
    return user.role == Role.CASEWORKER and person.caseworker_id == user.id


def find_own_person(session: Session, user: User, person_id: uuid.UUID) -> Person | None:
    """The person if this user is their caseworker; missing and not-yours look the same."""
    person = session.get(Person, person_id)
    return person if person is not None and is_caseworker_of(user, person) else None


def find_own_need(session: Session, user: User, need_id: uuid.UUID) -> tuple[Need, Person] | None:
    """A need with its person, if this user is the person's caseworker. The needs of an anonymised
    record are gone for matching and referrals, so they are not found either."""
    need = session.get(Need, need_id)
    if need is None:
        return None
    person = find_own_person(session, user, need.person_id)
    return (need, person) if person is not None and not person.is_anonymised else None


def set_legal_hold(
    session: Session, supervisor: User, person: Person, hold: bool, reason: str, version: int | None = None
) -> Person:
    """Set or lift a legal hold; while it is set the record is not anonymised.

    :raise NotAllowed: unless the user supervises the person's area and the record is still whole.
    :raise StaleEdit: if the record changed since the page was loaded (nothing is saved).
    """
    if supervisor.role != Role.SUPERVISOR or find_person(session, supervisor, person.id) is None:
        raise NotAllowed("only a supervisor of the person's area sets a legal hold")
    person = _lock(session, person)
    check_version(session, person.id, person.version, version)
    ensure_open(person)
    person.legal_hold = hold
    person.legal_hold_reason = reason.strip() if hold else ""
    person.updated_at = utcnow()
    record(session, supervisor, "legal_hold_set" if hold else "legal_hold_lifted", "person", person.id)
    session.commit()
    return person


def areas_open_to(session: Session, user: User) -> list[Area]:
    """The areas a user may put a person in: their own area and those below it. Staff without an
    area, and everyone else, have none."""
    if user.role not in (Role.CASEWORKER, Role.SUPERVISOR) or user.area_id is None:
        return []
    return list(session.exec(select(Area).where(col(Area.id).in_(areas_within(user.area_id))).order_by(col(Area.code))))


def may_place(session: Session, user: User, area_id: uuid.UUID | None, person: Person | None = None) -> bool:
    """Whether a user may put a person in this area; a person may stay where they already are."""
    if person is not None and area_id is not None and area_id == person.area_id:
        return True
    return area_id is not None and any(area.id == area_id for area in areas_open_to(session, user))


def move_person(
    session: Session, supervisor: User, person: Person, area_id: uuid.UUID, version: int | None = None
) -> Person:
    """A supervisor moves a person to another of the areas they supervise.

    :raise NotAllowed: unless the user supervises the person's area.
    :raise OutsideYourAreas: for an area outside the supervisor's own.
    :raise StaleEdit: if the record changed since the page was loaded (nothing is saved).
    """
    if supervisor.role != Role.SUPERVISOR or find_person(session, supervisor, person.id) is None:
        raise NotAllowed("only a supervisor of the person's area moves them")
    if not may_place(session, supervisor, area_id):
        raise OutsideYourAreas(str(area_id))
    person = _lock(session, person)
    check_version(session, person.id, person.version, version)
    ensure_open(person)
    before = (person.area_id, person.latitude, person.longitude)
    person.latitude, person.longitude = place(session, area_id, (person.latitude, person.longitude), before)
    person.area_id = area_id
    person.updated_at = utcnow()
    record(session, supervisor, "moved", "person", person.id)
    session.commit()
    return person


def _check_caseworker(user: User, person: Person) -> None:
    if not is_caseworker_of(user, person):
        raise NotAllowed("only the person's caseworker changes their record")
    ensure_open(person)


# --- The caseload ----------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseloadRow:
    person: Person
    open_needs: int
    caseworker: User | None
    area: Area | None

    def overdue(self, today: date) -> bool:
        due = self.person.next_contact_due
        return due is not None and due < today


# The sort value of a person with no next contact set: after every date, so they come last.
NOT_DUE = date(9999, 12, 31)
# Soonest next contact first; the code (unique) makes the order total, as keyset pages need.
CASELOAD_ORDER = (SortKey(func.coalesce(col(Person.next_contact_due), NOT_DUE)), SortKey(col(Person.code)))


@dataclass(frozen=True)
class CaseloadPage:
    rows: list[CaseloadRow]
    # How many people match in all, and the cursor of the page after this one (None: the last).
    total: int
    next_cursor: str | None


def caseload(
    session: Session,
    user: User,
    wanted: CaseloadFilter,
    today: date,
    allowed_gap: Mapping[str, int],
    cursor: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
) -> CaseloadPage:
    """One page of the people a user sees that match the filter, soonest next contact first, with
    their open needs and last contact. Only the people on the page are loaded (and decrypted).

    :raise BadCursor: the cursor was not written for this list.
    """
    query = search.filtered(session, visible_people_query(user), wanted, today, allowed_gap)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = page_of(session, query, CASELOAD_ORDER, lambda p: (p.next_contact_due or NOT_DUE, p.code), cursor, per_page)
    return CaseloadPage(rows=caseload_rows(session, page.items), total=total, next_cursor=page.next_cursor)


def whole_caseload(session: Session, user: User) -> list[CaseloadRow]:
    """Every person on a caseworker's own caseload (anonymised records aside), in the caseload's
    order, for the file they take away.

    :raise NotAllowed: if the user is not a caseworker.
    """
    if user.role != Role.CASEWORKER:
        raise NotAllowed("only a caseworker exports their caseload")
    ordered = [key.column.asc() for key in CASELOAD_ORDER]
    people = session.exec(
        select(Person).where(Person.caseworker_id == user.id, col(Person.anonymised_at).is_(None)).order_by(*ordered)
    ).all()
    return caseload_rows(session, list(people))


def caseload_rows(session: Session, people: list[Person]) -> list[CaseloadRow]:
    """The people with their open needs, last contact, caseworker and area: a query for each, not for each person."""
    ids = [person.id for person in people]
    if not ids:
        return []
    open_needs = dict(
        session.exec(
            select(Need.person_id, func.count())
            .where(col(Need.person_id).in_(ids), Need.status == NeedStatus.OPEN)
            .group_by(col(Need.person_id))
        ).all()
    )
    caseworkers = _users(session, {p.caseworker_id for p in people if p.caseworker_id})
    areas = _areas(session, {p.area_id for p in people if p.area_id})
    return [
        CaseloadRow(
            person=person,
            open_needs=open_needs.get(person.id, 0),
            caseworker=caseworkers.get(person.caseworker_id) if person.caseworker_id else None,
            area=areas.get(person.area_id) if person.area_id else None,
        )
        for person in people
    ]


def caseload_areas(session: Session, user: User, caseworker_id: uuid.UUID | None = None) -> list[Area]:
    """The areas the people a user sees live in (of one caseworker's, if chosen), for the area filter."""
    lived_in = select(Person.area_id).where(visibility(user))
    if caseworker_id is not None:
        lived_in = lived_in.where(Person.caseworker_id == caseworker_id)
    return list(session.exec(select(Area).where(col(Area.id).in_(lived_in)).order_by(col(Area.code))))


def caseworkers_seen_by(session: Session, user: User) -> list[User]:
    """The caseworkers holding the people a user sees, for the supervisor's filter."""
    holders = select(Person.caseworker_id).where(visibility(user))
    return list(session.exec(select(User).where(col(User.id).in_(holders)).order_by(col(User.name))))


def _users(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, User]:
    if not ids:
        return {}
    return {user.id: user for user in session.exec(select(User).where(col(User.id).in_(ids)))}


def _areas(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Area]:
    if not ids:
        return {}
    return {area.id: area for area in session.exec(select(Area).where(col(Area.id).in_(ids)))}


# --- Likely duplicates -----------------------------------------------------------------------

SAME_PHONE = "same_phone"
SAME_ID_NUMBER = "same_id_number"
SIMILAR_NAME = "similar_name_and_birth_date"


@dataclass
class Duplicate:
    """Someone already recorded who may be the same person, and why we think so."""

    person: Person
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Found:
    """A likely duplicate as the user who asked may see it: `person` only when on their own caseload.
    Of anyone else they learn that a record exists and why it matches, never whose, where or who
    holds it: the check must not tell a caseworker who else is on the register."""

    reasons: list[str]
    person: Person | None


@dataclass(frozen=True)
class Duplicates:
    """What a duplicate check found, and the token a "these are different people" box carries: it
    holds for these people and these typed values only, and names nobody."""

    found: list[Found]
    token: str

    @property
    def elsewhere(self) -> bool:
        return any(found.person is None for found in self.found)


def name_key(name: str) -> str:
    """A name without spaces (any width) or middle dots, in one case: "Li  Ming" is "liming"."""
    return re.sub(r"[\s·•・.]", "", name).casefold()


def similar_names(first: str, second: str) -> bool:
    """The same name, or one inside the other when both have two characters or more."""
    a, b = name_key(first), name_key(second)
    if not a or not b:
        return False
    return a == b or (min(len(a), len(b)) >= 2 and (a in b or b in a))


def find_duplicates(
    session: Session,
    full_name: str,
    phone: str,
    id_number: str,
    birth_date: date | None,
    exclude: uuid.UUID | None = None,
) -> list[Duplicate]:
    """Everyone recorded, on any caseload, with the same phone, the same ID number, or a similar
    name and the same birth date. Nothing is merged: the caseworker decides. Users ask through
    `check_duplicates`, which limits, logs and hides what they may not see."""
    found: dict[uuid.UUID, Duplicate] = {}

    def note(people: list[Person], reason: str) -> None:
        for person in people:
            if person.id != exclude:
                found.setdefault(person.id, Duplicate(person)).reasons.append(reason)

    # Phone and ID number are encrypted: their blind indexes (keyed hashes of the normalised
    # values, kept up to date by portal/crypto.py) are what SQL can compare.
    phone_index = blind_lookup(session, Person.phone_index, phone)
    if phone_index:
        note(list(session.exec(select(Person).where(Person.phone_index == phone_index))), SAME_PHONE)
    id_index = blind_lookup(session, Person.id_number_index, id_number)
    if id_index:
        note(list(session.exec(select(Person).where(Person.id_number_index == id_index))), SAME_ID_NUMBER)
    if birth_date is not None:
        born_same_day = session.exec(select(Person).where(Person.birth_date == birth_date))
        note([p for p in born_same_day if similar_names(p.full_name, full_name)], SIMILAR_NAME)
    return sorted(found.values(), key=lambda d: d.person.code)


def check_duplicates(
    session: Session,
    user: User,
    typed: tuple[str, str, str, date | None],
    limit: int,
    secret: str,
    exclude: uuid.UUID | None = None,
) -> Duplicates:
    """The duplicate check as a user may ask it: `typed` is the full name, phone, ID number and
    birth date; at most `limit` checks an hour per user; every person found goes on the audit trail;
    people of other caseloads are shown without anything that identifies them.

    :raise TooManyChecks: past the hour's limit (nothing is looked up, nothing is written).
    """
    if not throttle.take(session, "duplicate_check", user.id.hex, limit, utcnow()):
        session.rollback()
        raise TooManyChecks(limit)
    full_name, phone, id_number, birth_date = typed
    duplicates = find_duplicates(session, full_name, phone, id_number, birth_date, exclude)
    for duplicate in duplicates:
        record(session, user, "duplicate_found", "person", duplicate.person.id)
    session.commit()
    shown = [Found(d.reasons, d.person if is_caseworker_of(user, d.person) else None) for d in duplicates]
    return Duplicates(shown, _confirmation(secret, user, typed, duplicates))


def _confirmation(secret: str, user: User, typed: tuple[str, str, str, date | None], found: list[Duplicate]) -> str:
    """A keyed hash of who asked, what they typed and whom it found: the same answer for the same
    form, and nothing a caseworker could compare across numbers to tell one person from another."""
    full_name, phone, id_number, birth_date = typed
    parts = [str(user.id), name_key(full_name), phone_key(phone), id_number_key(id_number), str(birth_date)]
    parts += sorted(str(d.person.id) for d in found)
    return hmac.new(secret.encode(), "|".join(parts).encode(), hashlib.sha256).hexdigest()


# --- Changes ---------------------------------------------------------------------------------


def _next_code(session: Session, year: int) -> str:
    """The next free code of the year: XA-2026-0001, XA-2026-0002, … (five digits after 9999)."""
    prefix = f"{CODE_PREFIX}-{year}-"
    codes = select(Person.code).where(col(Person.code).startswith(prefix, autoescape=True))
    # Longest first, so XA-2026-10000 comes before XA-2026-9999.
    last = session.exec(codes.order_by(func.length(Person.code).desc(), col(Person.code).desc())).first()
    tail = last[len(prefix) :] if last else ""
    number = int(tail) + 1 if tail.isdigit() else 1
    return f"{prefix}{number:04d}"


def _apply(
    session: Session, person: Person, form: PersonForm, today: date, new: bool = False, kept: tuple[str, ...] = ()
) -> None:
    before = None if new else (person.area_id, person.latitude, person.longitude)
    # Placed first: reading the areas must not flush half a change (one save, one new version).
    latitude, longitude = place(session, form.area_id, (form.latitude, form.longitude), before)
    values = form.model_dump(exclude={"age", "skills", "birth_date", "version", *kept})
    for name, value in values.items():
        setattr(person, name, value)
    person.birth_date = form.birth_date_or_estimate(today)
    person.skills = form.skill_list()
    person.latitude, person.longitude = latitude, longitude


def create_person(session: Session, user: User, form: PersonForm) -> Person:
    """Record a new person on the caseworker's own caseload, under the next free code.

    :raise NotAllowed: if the user is not a caseworker.
    :raise OutsideYourAreas: for an area outside the caseworker's own.
    """
    if user.role != Role.CASEWORKER:
        raise NotAllowed("only caseworkers record people")
    if not may_place(session, user, form.area_id):
        raise OutsideYourAreas(str(form.area_id))
    caseworker_id = user.id
    today = local_today()
    for attempt in range(CODE_ATTEMPTS):
        person = Person(code=_next_code(session, today.year), caseworker_id=caseworker_id, full_name=form.full_name)
        _apply(session, person, form, today, new=True)
        # Before the add: the trail's read must not flush the person ahead of the commit below.
        record(session, user, "create", "person", person.id)
        session.add(person)
        try:
            session.commit()
        except IntegrityError:
            # Another caseworker took the same code between our read and our write (PostgreSQL;
            # SQLite's write lock makes this impossible). Anything else is a real error.
            session.rollback()
            taken = session.exec(select(Person.id).where(Person.code == person.code)).first() is not None
            if not taken or attempt == CODE_ATTEMPTS - 1:
                raise
            continue
        return person
    raise AssertionError("unreachable")  # pragma: no cover


def _lock(session: Session, person: Person) -> Person:
    """Re-read the person under a row lock, so two saves cannot interleave (PostgreSQL)."""
    locked = session.exec(select(Person).where(Person.id == person.id).with_for_update()).one()
    session.refresh(locked)
    return locked


def update_person(session: Session, user: User, person: Person, form: PersonForm) -> Person:
    """Save the caseworker's changes to a person's profile; the code and caseworker stay, and so
    does the programme side once an anti-drug specialist holds it (whatever the form says).

    :raise OutsideYourAreas: for a new area outside the caseworker's own.
    :raise StaleEdit: if the profile changed since the form was loaded (nothing is saved).
    """
    _check_caseworker(user, person)
    if not may_place(session, user, form.area_id, person):
        raise OutsideYourAreas(str(form.area_id))
    person = _lock(session, person)
    check_version(session, person.id, person.version, form.version)
    _apply(session, person, form, local_today(), kept=PROGRAMME_FIELDS if programme_held(person) else ())
    person.updated_at = utcnow()
    record(session, user, "update", "person", person.id)
    session.commit()
    return person


def needs_of(session: Session, person: Person) -> list[Need]:
    """Open needs first, most urgent first, then the newest."""
    is_open = sa.case((col(Need.status) == NeedStatus.OPEN, 0), else_=1)
    query = select(Need).where(Need.person_id == person.id)
    return list(
        session.exec(query.order_by(is_open, col(Need.urgency).desc(), col(Need.created_at).desc(), col(Need.id)))
    )


def add_need(session: Session, user: User, person: Person, form: NeedForm) -> Need:
    """Record one need from the needs assessment; it starts open."""
    _check_caseworker(user, person)
    need = Need(person_id=person.id, created_by_id=user.id, **form.model_dump())
    session.add(need)
    record(session, user, "create", "need", need.id)
    session.commit()
    return need


def set_need_status(session: Session, user: User, need: Need, status: NeedStatus, version: int | None = None) -> Need:
    """Mark a need met or closed, or open it again, unless the need changed since it was shown.

    :raise StaleEdit: if it did (nothing is saved).
    """
    person = session.get(Person, need.person_id)
    if person is None:
        raise NotAllowed("the need has no person")
    _check_caseworker(user, person)
    need = session.exec(select(Need).where(Need.id == need.id).with_for_update()).one()
    session.refresh(need)
    check_version(session, need.id, need.version, version)
    need.status = status
    record(session, user, "status", "need", need.id)
    session.commit()
    return need


def contacts_of(session: Session, person: Person) -> list[ContactLog]:
    """The contact log, newest first."""
    query = select(ContactLog).where(ContactLog.person_id == person.id)
    return list(session.exec(query.order_by(col(ContactLog.occurred_on).desc(), col(ContactLog.created_at).desc())))


def log_contact(session: Session, user: User, person: Person, form: ContactForm) -> ContactLog:
    """Record a contact, by the person's caseworker, or their grid worker or specialist (whose
    duties include contacts); a next contact date given with it becomes the person's next contact due."""
    if not may_record(session, user, person, "contact"):
        raise NotAllowed("only the person's workers record contacts with them")
    ensure_open(person)
    person = _lock(session, person)
    contact = ContactLog(
        person_id=person.id,
        caseworker_id=user.id,
        kind=form.kind,
        occurred_on=form.occurred_on,
        outcome=form.outcome,
        note=form.note,
        latitude=form.latitude if form.longitude is not None else None,
        longitude=form.longitude if form.latitude is not None else None,
    )
    session.add(contact)
    if form.next_contact_due is not None:
        person.next_contact_due = form.next_contact_due
        person.updated_at = utcnow()
    _settle_contact_follow_ups(session, user, person, contact)
    record(session, user, "create", "contact", contact.id)
    session.commit()
    return contact


def _settle_contact_follow_ups(session: Session, user: User, person: Person, contact: ContactLog) -> None:
    """A contact answers the follow-ups it makes moot, so the attention list never keeps an item
    the home page's figures no longer count: lost contact once a contact is dated on or after the
    day it was lost, an overdue next contact once the next contact is no longer overdue. Whatever
    is still due after this is opened again, for its new date, when the home page is next shown."""
    still_overdue = person.next_contact_due is not None and person.next_contact_due < local_today()
    pending = session.exec(
        select(FollowUp).where(
            FollowUp.person_id == person.id,
            col(FollowUp.status).in_([FollowUpStatus.OPEN, FollowUpStatus.SNOOZED]),
            col(FollowUp.kind).in_([FollowUpKind.LOST_CONTACT, FollowUpKind.CONTACT_OVERDUE]),
        )
    ).all()
    for follow_up in pending:
        answered = (
            contact.occurred_on >= follow_up.due_on
            if follow_up.kind == FollowUpKind.LOST_CONTACT
            else not still_overdue
        )
        if answered:
            follow_up.status = FollowUpStatus.DONE
            follow_up.resolved_by_id = user.id
            follow_up.resolved_at = utcnow()


# --- Supervision ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CaseworkerLoad:
    caseworker: User
    people: int
    overdue_contacts: int
    open_follow_ups: int


def caseworker_loads(session: Session, supervisor: User, today: date) -> list[CaseworkerLoad]:
    """Each caseworker's load among the people of the supervisor's areas, with what is overdue:
    one count over the people and their open follow-ups."""
    person = col(Person.id)
    overdue = sa.case((search.overdue(today), person))
    loads = session.exec(
        select(
            Person.caseworker_id,
            func.count(person.distinct()),
            func.count(overdue.distinct()),
            func.count(col(FollowUp.id)),
        )
        .outerjoin(FollowUp, sa.and_(col(FollowUp.person_id) == Person.id, col(FollowUp.status) == FollowUpStatus.OPEN))
        .where(visibility(supervisor), col(Person.caseworker_id).is_not(None))
        .group_by(col(Person.caseworker_id))
    ).all()
    counts = {caseworker_id: (people, late, follow_ups) for caseworker_id, people, late, follow_ups in loads}
    caseworkers = _users(session, {cid for cid in counts if cid is not None})
    return [CaseworkerLoad(user, *counts[user.id]) for user in sorted(caseworkers.values(), key=lambda u: u.name)]


# What each duty's workers are told of a hand-over, and the page it opens: the caseworker's the
# person's page, the others their start page (they have no access to the person page).
HANDOVER_NOTICES: dict[Duty, tuple[str, NoticeTarget]] = {
    Duty.SOCIAL_WORK: ("person_handed_over", NoticeTarget.PERSON),
    Duty.GRID: ("grid_visits_handed_over", NoticeTarget.HOME),
    Duty.PROGRAMME: ("programme_handed_over", NoticeTarget.HOME),
}


def _handover_candidates(supervisor: User) -> SelectOfScalar[User]:
    """The active workers a supervisor may give a duty to: those of the supervisor's areas, and
    those serving no area in particular (a city has hundreds of workers; another district's are
    its supervisor's to assign)."""
    query = select(User).where(col(User.role).in_(list(ROLE_OF.values())), col(User.active).is_(True))
    if supervisor.area_id is None:
        return query
    return query.where(sa.or_(col(User.area_id).is_(None), in_area(col(User.area_id), supervisor.area_id)))


def workers_for_handover(session: Session, supervisor: User) -> list[User]:
    """The workers a supervisor may hand a person's duty to, by role then name."""
    return list(session.exec(_handover_candidates(supervisor).order_by(col(User.role), col(User.name))))


def hand_over(
    session: Session, supervisor: User, person: Person, to_user: User, note: str, version: int | None = None
) -> Handover:
    """Give the person's duty of the new worker's role (social work, the grid, the programme) to
    them, with a required note; nothing else of the record changes hands, and both workers are told.

    :raise StaleEdit: if the record changed since the page was loaded, a hand-over sent twice included.
    """
    if supervisor.role != Role.SUPERVISOR or find_person(session, supervisor, person.id) is None:
        raise NotAllowed("only a supervisor of the person's area hands them over")
    duty = DUTY_OF.get(to_user.role)
    if duty is None or session.exec(_handover_candidates(supervisor).where(User.id == to_user.id)).first() is None:
        raise ValueError("hand over to an active caseworker, grid worker or specialist of the supervisor's areas")
    if not note.strip():
        raise ValueError("a hand-over needs a note")
    person = _lock(session, person)
    check_version(session, person.id, person.version, version)
    column = HOLDER_COLUMN[duty]
    previous = getattr(person, column)
    handover = Handover(
        person_id=person.id,
        duty=duty,
        from_user_id=previous,
        to_user_id=to_user.id,
        note=note.strip(),
        by_id=supervisor.id,
    )
    session.add(handover)
    setattr(person, column, to_user.id)
    person.updated_at = utcnow()
    kind, target = HANDOVER_NOTICES[duty]
    for user_id in (previous, to_user.id):
        notify(session, user_id, kind, target, person.id, person=person.code)
    record(session, supervisor, "handover", "person", person.id)
    session.commit()
    return handover


def handovers_of(session: Session, person: Person) -> list[Handover]:
    return list(session.exec(select(Handover).where(Handover.person_id == person.id).order_by(col(Handover.at).desc())))
