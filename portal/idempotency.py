"""Idempotent create forms (security.md item 48).

Every create form carries a random key made when it was rendered. The first submission records
the key in the same transaction as the row it creates; a second submission with that key (a
double click, a resent request after a dropped connection) finds it and answers with the first
result instead of creating the row again. Keys are scoped to the signed-in user (UNIQUE(actor_id,
key)) and purged by the periodic jobs after a day.
"""

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from flask import Flask
from flask_babel import gettext as _
from sqlalchemy import delete, event
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, SQLModel, col, select

from portal.models import IdempotencyKey, User

FIELD = "idempotency_key"
# Long enough for any resend a browser or a person would make; short enough to keep the table small.
KEEP = timedelta(hours=24)


class BadKey(ValueError):
    """The form carries no key, or one this portal did not make (not a random UUID)."""


def bad_key_message() -> str:
    """Shown when a form arrives without its key: it was not made by this portal's page, or is
    very old. Nothing was saved; the form comes back with a fresh key."""
    return _("This form could not be sent as it was. Check what you entered and send it again.")


def replayed_id(found: IdempotencyKey, creates: type[SQLModel]) -> uuid.UUID:
    """The row the earlier submission created.

    :raise BadKey: when the key belongs to another kind of form, or created nothing.
    """
    if found.record_type != str(creates.__tablename__) or found.record_id is None:
        raise BadKey(FIELD)
    return found.record_id


def new_key() -> str:
    return str(uuid.uuid4())


def parse_key(raw: object) -> uuid.UUID | None:
    """The key if it is a UUIDv4 in its usual text form, else None."""
    if not isinstance(raw, str) or len(raw) != 36:
        return None
    try:
        key = uuid.UUID(raw)
    except ValueError:
        return None
    return key if key.version == 4 and str(key) == raw.lower() else None


def form_key(values: Mapping[str, str]) -> uuid.UUID:
    """The key a submitted form carries.

    :raise BadKey: when it is missing or malformed.
    """
    key = parse_key(values.get(FIELD, "").strip())
    if key is None:
        raise BadKey(FIELD)
    return key


def key_for_form(typed: Mapping[str, Any] | None = None) -> str:
    """The key to render into a form: the one typed so far when it is valid, so a form shown again
    after an error still names the same submission, otherwise a fresh one."""
    raw = (typed or {}).get(FIELD)
    return str(raw) if parse_key(raw) is not None else new_key()


def _actor_id(actor: User | None) -> uuid.UUID | None:
    return actor.id if actor is not None and actor.is_authenticated else None


def earlier(session: Session, actor: User | None, key: uuid.UUID) -> IdempotencyKey | None:
    """The record of an earlier submission with this key by this user, if there was one."""
    actor_id = _actor_id(actor)
    owner = col(IdempotencyKey.actor_id).is_(None) if actor_id is None else IdempotencyKey.actor_id == actor_id
    return session.exec(select(IdempotencyKey).where(owner, IdempotencyKey.key == key)).first()


def claim(session: Session, actor: User | None, key: uuid.UUID, creates: type[SQLModel]) -> IdempotencyKey | None:
    """Reserve the key in the session's open transaction, before the service creates the row.

    Returns None when this submission is the first: the key row then commits with the created
    row (its id is filled in at the flush that inserts the first new `creates`). Returns the
    earlier submission's record when the key was used already; the transaction is then rolled back.
    On PostgreSQL a concurrent first submission holds the unique index entry until it commits, so
    the insert here waits for it and then fails, and the earlier record is found.
    """
    found = earlier(session, actor, key)
    if found is not None:
        session.rollback()
        return found
    row = IdempotencyKey(actor_id=_actor_id(actor), key=key, record_type=str(creates.__tablename__))
    session.add(row)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return earlier(session, actor, key)

    def _note_created(flushing: Session, _context: Any, _instances: Any) -> None:
        if row.record_id is not None:
            return
        created = next((obj for obj in flushing.new if isinstance(obj, creates)), None)
        if created is None:
            return
        row.record_id = getattr(created, "id")  # noqa: B009 (every table's primary key is `id`)
        if row not in flushing:  # a retry inside the service rolled the first attempt back
            flushing.add(row)

    event.listen(session, "before_flush", _note_created)
    return None


def purge(session: Session, now: datetime) -> int:
    """Forget keys older than a day: a resend that late is a new submission. Returns how many."""
    result = session.exec(delete(IdempotencyKey).where(col(IdempotencyKey.created_at) < now - KEEP))
    session.commit()
    return int(result.rowcount or 0)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["idempotency_key"] = key_for_form
