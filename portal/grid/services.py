"""What a grid worker's day is made of: the people of their grids whose contact is due, overdue or
lost, nearest first when the phone says where the worker is; every one of them on request."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.areas import metres_between
from portal.duties import PersonCard, card, duty_visibility
from portal.models import Duty, Person, User
from portal.people.search import out_of_contact, overdue

# The most people a visits list shows: a grid holds a few dozen people in the programme; a street
# worker's several grids a few hundred.
MOST_SHOWN = 300


@dataclass(frozen=True)
class Visit:
    person: PersonCard
    metres: int | None  # from where the worker is, when the phone said so


def visits(
    session: Session,
    user: User,
    today: date,
    allowed_gap: Mapping[str, int],
    everyone: bool = False,
    near: tuple[float, float] | None = None,
) -> list[Visit]:
    """The people this grid worker works with whose contact is due today, overdue or lost (or
    everyone, on request), as cards of the grid duty: nearest first from `near`, else the longest due first."""
    due = sa.or_(col(Person.next_contact_due) <= today, overdue(today), out_of_contact(today, allowed_gap))
    query = select(Person).where(duty_visibility(user), col(Person.anonymised_at).is_(None))
    if not everyone:
        query = query.where(due)
    people = session.exec(
        query.order_by(sa.nulls_first(col(Person.next_contact_due)), col(Person.code)).limit(MOST_SHOWN)
    ).all()
    found = [Visit(card(person, Duty.GRID, today, allowed_gap), _metres(person, near)) for person in people]
    if near is not None:
        found.sort(key=lambda visit: (visit.metres is None, visit.metres or 0))
    return found


def _metres(person: Person, near: tuple[float, float] | None) -> int | None:
    if near is None or person.latitude is None or person.longitude is None:
        return None
    return metres_between(near, (person.latitude, person.longitude))
