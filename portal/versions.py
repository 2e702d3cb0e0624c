"""Lost-update protection on case records (security.md item 46).

An edit form carries the version of the record it was loaded at. The service compares it with the
row it locked; a save made on an older version is refused with who changed the record and when,
rather than silently overwriting their change. SQLAlchemy's version counter (`version_id_col` on
the models) backs this up for writes that carry no form: their UPDATE matches no row once another
transaction has moved the version on, and the error page answers 409 (errors.py).
"""

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from portal.exceptions import StaleEdit
from portal.forms import whole_number
from portal.models import AuditEvent, User

# Audit actions that read a record; the rest changed it.
READ_ACTIONS = frozenset({"view", "list", "export"})


def form_version(values: Mapping[str, str]) -> int | None:
    """The version a form was loaded at; None when the form carries none.

    :raise ValueError: for a value that is not a version number.
    """
    raw = values.get("version", "").strip()
    if not raw:
        return None
    version = whole_number(raw)
    if version is None:
        raise ValueError("not a version")
    return version


def last_change(session: Session, record_id: uuid.UUID) -> tuple[str | None, datetime | None]:
    """Who last changed a record and when, from the audit trail (None as the name: the portal itself)."""
    row = session.exec(
        select(AuditEvent.at, User.name)
        .join(User, col(User.id) == AuditEvent.actor_id, isouter=True)
        .where(AuditEvent.record_id == record_id, col(AuditEvent.action).not_in(READ_ACTIONS))
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())  # pending events have no sequence yet
        .limit(1)
    ).first()
    if row is None:
        return None, None
    return row[1], row[0]


def check_version(session: Session, record_id: uuid.UUID, current: int, expected: int | None) -> None:
    """Refuse the edit if the form was loaded at another version; the transaction is rolled back.

    Call it on the row as locked for the write, so nothing can change between the check and the save.

    :raise StaleEdit: when the versions differ.
    """
    if expected is None or expected == current:
        return
    changed_by, changed_at = last_change(session, record_id)
    session.rollback()
    raise StaleEdit(record_id, changed_by, changed_at)


def bulk_update(model: Any, *where: sa.ColumnElement[bool], **values: Any) -> sa.Update:
    """An UPDATE of many rows of a versioned table that moves each row's version counter, as an ORM
    update of each would: a form or a session holding a row at its older version is refused after
    it. For a batch the ORM would write one statement a row for (it never batches versioned rows)."""
    return sa.update(model).where(*where).values(**values, version=model.version + 1)
