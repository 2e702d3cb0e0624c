"""Keyset pagination: a page is the rows after the last one shown, in a total order.

OFFSET pages cost what they skip and shift when rows are added between two clicks; a keyset page
costs what it shows (an index on the sort columns finds where to start) and never repeats or skips
a row. The cursor carries the last row's sort values, so it is opaque to users but not secret:
the query it feeds still filters by who is asking.
"""

import base64
import binascii
import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session
from sqlmodel.sql.expression import SelectOfScalar

from portal.exceptions import BadCursor

T = TypeVar("T")
DEFAULT_PER_PAGE = 50


@dataclass(frozen=True)
class SortKey:
    """One column of the order; the last one must make the order total (an id)."""

    column: Any
    descending: bool = False


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    # The cursor of the next page; None on the last one.
    next_cursor: str | None


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime | date | uuid.UUID):
        return str(value) if isinstance(value, uuid.UUID) else value.isoformat()
    if value is None or isinstance(value, int | float | str | bool):
        return value
    return str(value)  # an enum member: its value


def _decode_value(value: Any, column: Any) -> Any:
    if value is None:
        return None
    kind = column.type
    python_type = (kind.impl if isinstance(kind, sa.types.TypeDecorator) else kind).python_type
    if python_type is datetime:
        moment = datetime.fromisoformat(value)
        if moment.tzinfo is None:  # every timestamp the portal writes is in UTC, with its zone
            raise ValueError(value)
        return moment
    if python_type is date:
        return date.fromisoformat(value)
    if python_type is uuid.UUID:
        return uuid.UUID(value)
    return value


def encode_cursor(values: Sequence[Any]) -> str:
    text = json.dumps([_encode_value(v) for v in values], separators=(",", ":"))
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, keys: Sequence[SortKey]) -> list[Any]:
    """The sort values a cursor carries. :raise BadCursor: it was not written by `encode_cursor` for these keys."""
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) != len(keys):
            raise BadCursor(cursor)
        return [_decode_value(value, key.column) for value, key in zip(values, keys, strict=True)]
    except (ValueError, TypeError, AttributeError, binascii.Error, UnicodeDecodeError, NotImplementedError) as error:
        raise BadCursor(cursor) from error


def _after(keys: Sequence[SortKey], values: Sequence[Any]) -> ColumnElement[bool]:
    """Rows strictly after `values` in the order: (a > x) or (a = x and b > y) or ...; each column
    may run its own direction, which a row-value comparison cannot express."""
    clauses = []
    for n, key in enumerate(keys):
        equal = [keys[i].column == values[i] for i in range(n)]
        beyond = key.column < values[n] if key.descending else key.column > values[n]
        clauses.append(sa.and_(*equal, beyond))
    return sa.or_(*clauses)


def one_page(statement: Any, keys: Sequence[SortKey], cursor: str | None, per_page: int) -> Any:
    """`statement` ordered by `keys`, from after `cursor`, limited to one page and one row more
    (which tells whether there is a next page): for a query that pages inside a larger one.

    :raise BadCursor: the cursor was tampered with or belongs to another list.
    """
    if cursor:
        statement = statement.where(_after(keys, decode_cursor(cursor, keys)))
    ordered = statement.order_by(*(key.column.desc() if key.descending else key.column.asc() for key in keys))
    return ordered.limit(per_page + 1)


def page_from(rows: Sequence[T], sort_values: Callable[[T], Sequence[Any]], per_page: int) -> Page[T]:
    """The page of the rows `one_page` read, in its order; its next cursor if it read one row more."""
    shown = list(rows[:per_page])
    more = len(rows) > per_page
    return Page(items=shown, next_cursor=encode_cursor(sort_values(shown[-1])) if more and shown else None)


def page_and_counts(
    session: Session,
    keyed: Any,
    keys: Sequence[SortKey],
    cursor: str | None,
    per_page: int,
    where: Any = None,
    count_by: Any = None,
) -> tuple[Page[Any], dict[Any, int]]:
    """One page of a materialised CTE's rows (those `where` holds for, by `keys`, after `cursor`)
    and how many rows the CTE holds by `count_by` (one of its columns), or in all (under the key
    None), from one statement: a list that shows a page and counts what it could show reads its
    rows once. `keys` are ascending columns of `keyed`; the rows carry its columns.

    :raise BadCursor: the cursor was tampered with or belongs to another list.
    """
    if any(key.descending for key in keys):
        raise ValueError("page_and_counts orders by ascending keys only")
    shown = sa.select(keyed) if where is None else sa.select(keyed).where(where)
    page = one_page(shown, keys, cursor, per_page).subquery("page")
    grouped = [] if count_by is None else [count_by]
    counted = [
        column if count_by is not None and column.name == count_by.name else sa.cast(sa.null(), column.type)
        for column in keyed.c
    ]
    rows = session.execute(
        sa.union_all(
            sa.select(sa.literal(0).label("part"), *page.c, sa.literal(0).label("number")),
            sa.select(sa.literal(1), *counted, sa.func.count()).select_from(keyed).group_by(*grouped),
        )
    ).all()

    def sort_values(row: Any) -> tuple[Any, ...]:
        return tuple(row._mapping[key.column.name] for key in keys)

    listed = sorted((row for row in rows if row.part == 0), key=sort_values)
    counts = {None if count_by is None else row._mapping[count_by.name]: row.number for row in rows if row.part == 1}
    return page_from(listed, sort_values, per_page), counts


def page_of(
    session: Session,
    statement: SelectOfScalar[T],
    keys: Sequence[SortKey],
    sort_values: Callable[[T], Sequence[Any]],
    cursor: str | None = None,
    per_page: int = DEFAULT_PER_PAGE,
) -> Page[T]:
    """One page of `statement`, ordered by `keys`, starting after `cursor` (None: the first page).
    `sort_values` reads a row's values of the keys, to write the next cursor. The sort columns must
    not be NULL (wrap them in `coalesce`), or rows with NULLs would be skipped.

    :raise BadCursor: the cursor was tampered with or belongs to another list.
    """
    return page_from(list(session.exec(one_page(statement, keys, cursor, per_page))), sort_values, per_page)
