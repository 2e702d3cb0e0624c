"""Who does what for a person in the programme: the one table of each role's duty, what it shows of
the person and what it lets them record. Grid workers (网格员), anti-drug specialists (禁毒专干) and
social workers (社工, the caseworker) share the same people; the article this project started from
names "how rights and duties are divided among them" as a problem, and this table is the answer.

- The **grid worker** keeps contact: the people of their own grids (or assigned to them), with what
  a visit needs (code, name, address, phone, when a contact is due, whether they are out of
  contact); they record visits and contacts. Never needs, consents, referrals or treatment details.
- The **anti-drug specialist** holds the programme side: programme dates, the agreement (社区戒毒/
  康复协议), its check-ins and tests (尿检) with their schedule and results; these count as contacts.
  Never needs, consents or referrals.
- The **social worker** keeps needs, consents, matches and referrals (the people blueprint, as before).
- The **supervisor** sees everything of the people of their areas and assigns each duty.

Templates of the grid and programme pages get a `PersonCard` built from this table, never the Person
row; tests/portal/test_disclosure.py crawls every page as every role with sentinels in every field.
"""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.areas import in_area
from portal.models import Duty, Person, Role, User
from portal.people.search import contact_gap_ends

# Each role's duty. Admins, providers and volunteers have none: they see no one's record.
DUTY_OF: dict[Role, Duty] = {
    Role.CASEWORKER: Duty.SOCIAL_WORK,
    Role.GRID_WORKER: Duty.GRID,
    Role.SPECIALIST: Duty.PROGRAMME,
}
# The role that holds each duty, and the person's column naming who holds it for them.
ROLE_OF: dict[Duty, Role] = {duty: role for role, duty in DUTY_OF.items()}
HOLDER_COLUMN: dict[Duty, str] = {
    Duty.SOCIAL_WORK: "caseworker_id",
    Duty.GRID: "grid_worker_id",
    Duty.PROGRAMME: "specialist_id",
}

# The fields of a person each duty shows (beyond the code, which everyone with a duty sees).
FIELDS: dict[Duty, tuple[str, ...]] = {
    Duty.GRID: ("full_name", "phone", "address", "area_id", "next_contact_due", "last_contact_on"),
    Duty.PROGRAMME: (
        "full_name",
        "phone",
        "address",
        "area_id",
        "next_contact_due",
        "last_contact_on",
        "programme",
        "programme_start",
        "programme_end",
    ),
}
# The programme side of a person's profile: once an anti-drug specialist holds a person, theirs
# alone to change (through the agreement); before that, the caseworker records what they know.
PROGRAMME_FIELDS = ("programme", "programme_start", "programme_end")


def programme_held(person: Person) -> bool:
    """Whether a specialist holds the person's programme side, so the caseworker's form keeps it."""
    return person.specialist_id is not None


# What each duty records about a person, of what more than one duty writes (`may_record` checks
# it). The social worker's own records (needs, consents, referrals, the profile) keep the people
# blueprint's checks: only the person's caseworker writes them.
RECORDS: dict[Duty, frozenset[str]] = {
    Duty.SOCIAL_WORK: frozenset({"contact"}),
    Duty.GRID: frozenset({"contact"}),
    Duty.PROGRAMME: frozenset({"contact", "agreement", "check"}),
}


def duty_visibility(user: User) -> sa.ColumnElement[bool]:
    """The people a grid worker or specialist works with: those assigned to them, and everyone in
    the areas they serve (their grid, or the street above several grids)."""
    duty = DUTY_OF.get(user.role)
    if duty not in (Duty.GRID, Duty.PROGRAMME):
        return sa.false()
    assigned = col(getattr(Person, HOLDER_COLUMN[duty])) == user.id
    if user.area_id is None:
        return assigned
    return sa.or_(assigned, in_area(col(Person.area_id), user.area_id))


def find_for_duty(session: Session, user: User, duty: Duty, person_id: uuid.UUID) -> Person | None:
    """A person whose record is open and whom this grid worker or specialist works with, when the
    user holds `duty`; missing and not-theirs look the same."""
    if DUTY_OF.get(user.role) != duty:
        return None
    return session.exec(
        select(Person).where(Person.id == person_id, duty_visibility(user), col(Person.anonymised_at).is_(None))
    ).first()


def may_record(session: Session, user: User, person: Person, what: str) -> bool:
    """Whether the user's duty records `what` (RECORDS) for this person: the caseworker for their own
    caseload, a grid worker or specialist for the people they work with."""
    duty = DUTY_OF.get(user.role)
    if duty is None or what not in RECORDS[duty]:
        return False
    if duty == Duty.SOCIAL_WORK:
        return person.caseworker_id == user.id
    return find_for_duty(session, user, duty, person.id) is not None


@dataclass(frozen=True)
class PersonCard:
    """A person as one duty sees them: the code, and the fields of that duty only."""

    id: uuid.UUID
    code: str
    fields: dict[str, Any]
    out_of_contact: bool

    def __getattr__(self, name: str) -> Any:
        try:
            return self.fields[name]
        except KeyError:
            raise AttributeError(name) from None


def card(person: Person, duty: Duty, today: date, allowed_gap: Mapping[str, int]) -> PersonCard:
    """What this duty shows of the person; `out_of_contact` as the caseload reads it."""
    out = today > contact_gap_ends(person, allowed_gap)
    return PersonCard(person.id, person.code, {name: getattr(person, name) for name in FIELDS[duty]}, out)
