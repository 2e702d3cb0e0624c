"""Keyset pages: every row once, in order, whatever is added between two clicks; a bad cursor is refused."""

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from sqlmodel import Session, col, select

from portal.exceptions import BadCursor
from portal.keyset import SortKey, encode_cursor, page_and_counts, page_of
from portal.models import Person, Role, User

KEYS = (SortKey(col(Person.next_contact_due), descending=True), SortKey(col(Person.id)))


def _values(person: Person) -> tuple[object, ...]:
    return (person.next_contact_due, person.id)


def _people(session: Session, caseworker: User, count: int, start: int = 0) -> None:
    for n in range(start, start + count):
        session.add(
            Person(
                code=f"XA-K-{n:04d}",
                full_name=f"测试 {n}",
                caseworker_id=caseworker.id,
                next_contact_due=date(2026, 12, 1) + timedelta(days=n % 3),  # ties: the id breaks them
            )
        )
    session.commit()


def _walk(session: Session, caseworker: User, per_page: int) -> list[Person]:
    statement = select(Person).where(Person.caseworker_id == caseworker.id)
    shown, cursor = [], None
    while True:
        page = page_of(session, statement, KEYS, _values, cursor, per_page)
        shown += page.items
        if page.next_cursor is None:
            return shown
        cursor = page.next_cursor


def test_pages_show_every_row_once_in_order_across_ties(session: Session, make_user: Callable[..., User]) -> None:
    caseworker = make_user(Role.CASEWORKER)
    _people(session, caseworker, 23)
    shown = _walk(session, caseworker, per_page=5)
    assert len(shown) == 23 == len({p.id for p in shown})
    assert [_values(p) for p in shown] == sorted(
        (_values(p) for p in shown),
        key=lambda v: (-v[0].toordinal(), str(v[1])),  # type: ignore[attr-defined]
    )


def test_rows_added_between_two_clicks_do_not_shift_the_next_page(
    session: Session, make_user: Callable[..., User]
) -> None:
    caseworker = make_user(Role.CASEWORKER)
    _people(session, caseworker, 10)
    statement = select(Person).where(Person.caseworker_id == caseworker.id)
    first = page_of(session, statement, KEYS, _values, None, 4)
    later = sorted(_walk(session, caseworker, 100), key=lambda p: (-p.next_contact_due.toordinal(), str(p.id)))[4:]  # type: ignore[union-attr]
    _people(session, caseworker, 3, start=100)  # due before everyone on the first page: they sort first
    rest = page_of(session, statement, KEYS, _values, first.next_cursor, 100)
    assert [p.id for p in rest.items if p.code < "XA-K-0100"] == [p.id for p in later]


BAD_CURSORS = [
    "not-base64!",
    encode_cursor(["2026-12-01"]),
    encode_cursor(["x", "y"]),
    encode_cursor(["2026-12-01", 7]),  # a number where an id belongs
    "e30",
]


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_cursor_not_written_for_this_list_is_refused(
    session: Session, make_user: Callable[..., User], cursor: str
) -> None:
    statement = select(Person)
    with pytest.raises(BadCursor):
        page_of(session, statement, KEYS, _values, cursor)


def test_a_time_without_its_zone_is_refused(session: Session) -> None:
    """Every time the portal writes carries its zone: one without it was typed, not written."""
    keys = (SortKey(col(Person.created_at)), SortKey(col(Person.id)))
    naive = encode_cursor(["2026-12-01T10:00:00", "6f1c1f5e-8f6b-4f9e-9a43-7f3f5b0e2a11"])
    with pytest.raises(BadCursor):
        page_of(session, select(Person), keys, lambda p: (p.created_at, p.id), naive)


def test_a_page_and_its_counts_from_one_read_match_a_page_and_a_count(
    session: Session, make_user: Callable[..., User]
) -> None:
    """`page_and_counts` pages as `page_of` does (same rows, same cursors) and counts every row of
    the list, by a column or in all, whatever the page shows."""
    caseworker = make_user(Role.CASEWORKER)
    _people(session, caseworker, 13)
    keys_of = select(col(Person.id), col(Person.next_contact_due)).where(Person.caseworker_id == caseworker.id)
    keyed = keys_of.cte("people_keys").prefix_with("MATERIALIZED")
    order = (SortKey(keyed.c.next_contact_due), SortKey(keyed.c.id))
    statement = select(Person).where(Person.caseworker_id == caseworker.id)
    ascending = (SortKey(col(Person.next_contact_due)), SortKey(col(Person.id)))
    latest = date(2026, 12, 3)
    cursor: str | None = None
    while True:
        found, by_day = page_and_counts(
            session, keyed, order, cursor, 4, keyed.c.next_contact_due < latest, keyed.c.next_contact_due
        )
        in_sql = page_of(session, statement.where(col(Person.next_contact_due) < latest), ascending, _values, cursor, 4)
        assert [row.id for row in found.items] == [p.id for p in in_sql.items]
        assert found.next_cursor == in_sql.next_cursor
        assert by_day == {date(2026, 12, 1): 5, date(2026, 12, 2): 4, latest: 4}  # every row, not the page's
        if found.next_cursor is None:
            break
        cursor = found.next_cursor
    _, in_all = page_and_counts(session, keyed, order, None, 4)
    assert in_all == {None: 13}
