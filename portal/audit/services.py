"""Writing and reading the audit trail. Events name records, never their values.

Each event carries an HMAC-SHA-256, under a key kept in configuration (PORTAL_AUDIT_KEY) and never
in the database, of the previous event's MAC and its own fields: editing, removing or inserting a
row breaks the chain there, and whoever can write the table but lacks the key cannot compute a new
chain. Removing the newest events leaves a shorter chain that still holds; the periodic job
therefore writes the head (sequence and MAC) outside the database, and `audit verify --anchor`
checks the trail still reaches it unchanged.

The trail was chained with plain SHA-256 before; migration 0017 checked that chain and re-chained
every event with the key."""

import hashlib
import hmac
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, func, select

from portal.db import AUDIT_KEY_OPTION, get_engine
from portal.exceptions import BadAnchorFile
from portal.models import AuditEvent, User, utcnow

# Any constant works: it names the one lock that serialises appends on PostgreSQL.
_CHAIN_LOCK = 727_001
# How many rows `verify_chain` reads at a time: memory stays flat however long the trail grows.
_VERIFY_BATCH = 5_000
logger = logging.getLogger(__name__)


_HASHED = ("sequence", "at", "actor_id", "action", "record_type", "record_id")


def canonical(fields: Mapping[Any, Any]) -> str:
    """The event's fields as canonical JSON: the same text on every database."""
    return json.dumps(
        {
            "sequence": fields["sequence"],
            "at": fields["at"].isoformat(),
            "actor_id": str(fields["actor_id"]) if fields["actor_id"] else None,
            "action": fields["action"],
            "record_type": fields["record_type"],
            "record_id": str(fields["record_id"]) if fields["record_id"] else None,
        },
        sort_keys=True,
        separators=(",", ":"),
    )


def chain_mac(key: bytes, previous_hash: str, fields: Mapping[Any, Any]) -> str:
    """HMAC-SHA-256 over the previous event's MAC and this event's canonical JSON."""
    return hmac.new(key, (previous_hash + canonical(fields)).encode(), hashlib.sha256).hexdigest()


def chain_key(session: Session) -> bytes:
    """The audit key of the session's engine (portal.db.make_engine)."""
    key = session.get_bind().get_execution_options().get(AUDIT_KEY_OPTION)
    if not isinstance(key, bytes):
        raise RuntimeError("this engine has no audit key: create it with portal.db.make_engine(..., audit_key=...)")
    return key


def event_hash(session: Session, event: AuditEvent) -> str:
    """The MAC an event must carry, given the MAC of the one before it."""
    return chain_mac(chain_key(session), event.previous_hash, {name: getattr(event, name) for name in _HASHED})


def _last_link(session: Session) -> tuple[int, str]:
    """The sequence and hash to chain onto, taken under the chain's lock (held to commit).

    On SQLite write transactions already hold the database's write lock (BEGIN IMMEDIATE); on
    PostgreSQL an advisory lock held to the end of the transaction keeps appends in sequence."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK})
    last = session.exec(
        select(AuditEvent.sequence, AuditEvent.hash).order_by(col(AuditEvent.sequence).desc()).limit(1)
    ).first()
    return (last[0], last[1]) if last else (0, "")


def record(
    session: Session,
    actor: User | None,
    action: str,
    record_type: str,
    record_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append an event to the session's transaction; the caller's commit writes it with the change."""
    sequence, previous_hash = _last_link(session)
    event = AuditEvent(
        sequence=sequence + 1,
        at=utcnow(),
        actor_id=actor.id if actor else None,
        action=action,
        record_type=record_type,
        record_id=record_id,
        previous_hash=previous_hash,
        hash="",
    )
    event.hash = event_hash(session, event)
    session.add(event)
    return event


def record_view(actor: User | None, action: str, record_type: str, record_ids: Iterable[uuid.UUID]) -> None:
    """Log that records were shown (or refused) to someone, committed at once in a session of its own.

    For GET requests: their own session is read-only, and a page shown is logged even though
    nothing else is written. Not for requests that write: their open transaction may hold the
    chain's lock until it commits, so they call `record` in their own transaction instead.
    A list of a hundred people is one INSERT of plain rows (model objects cost ~0.5 ms each)."""
    ids = list(dict.fromkeys(record_ids))  # each record once, in the order shown
    if not ids:
        return
    with Session(get_engine()) as session:
        key = chain_key(session)
        sequence, previous_hash = _last_link(session)
        now, actor_id = utcnow(), actor.id if actor else None
        rows = []
        for offset, record_id in enumerate(ids, start=1):
            row: dict[str, Any] = {
                "id": uuid.uuid4(),
                "sequence": sequence + offset,
                "at": now,
                "actor_id": actor_id,
                "action": action,
                "record_type": record_type,
                "record_id": record_id,
                "previous_hash": previous_hash,
            }
            row["hash"] = previous_hash = chain_mac(key, previous_hash, row)
            rows.append(row)
        session.execute(sa.insert(AuditEvent), rows)
        session.commit()


@dataclass(frozen=True)
class TrailEntry:
    """One line of a record's trail: who (None: the portal itself), in which role, did what, when."""

    at: datetime
    action: str
    record_type: str
    actor_name: str | None
    actor_role: str | None


def trail_of(session: Session, record_ids: Iterable[uuid.UUID], limit: int = 50) -> list[TrailEntry]:
    """Who viewed or changed these records, most recent first: one query on (record_id, at)."""
    ids = list(record_ids)
    if not ids:
        return []
    rows = session.exec(
        select(AuditEvent, User)
        .outerjoin(User, col(User.id) == AuditEvent.actor_id)
        .where(col(AuditEvent.record_id).in_(ids))
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.sequence).desc())
        .limit(limit)
    ).all()
    return [
        TrailEntry(event.at, event.action, event.record_type, user.name if user else None, user.role if user else None)
        for event, user in rows
    ]


@dataclass(frozen=True)
class Filters:
    """An administrator's search of the trail; None leaves a field out."""

    actor_email: str | None = None
    record_id: uuid.UUID | None = None
    action: str | None = None
    since: datetime | None = None
    before: datetime | None = None


@dataclass(frozen=True)
class Found:
    """One page of a search, newest first, with each event's actor."""

    events: list[tuple[AuditEvent, User | None]]
    total: int


def search(session: Session, filters: Filters, page: int = 1, per_page: int = 50) -> Found:
    """Events matching every filter given, one page at a time, newest first."""
    query = select(AuditEvent, User).outerjoin(User, col(User.id) == AuditEvent.actor_id)
    if filters.actor_email is not None:
        query = query.where(func.lower(User.email) == filters.actor_email.lower())
    if filters.record_id is not None:
        query = query.where(AuditEvent.record_id == filters.record_id)
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(col(AuditEvent.at) >= filters.since)
    if filters.before is not None:
        query = query.where(col(AuditEvent.at) < filters.before)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    rows = session.exec(
        query.order_by(col(AuditEvent.sequence).desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return Found(events=[(event, user) for event, user in rows], total=total)


@dataclass(frozen=True)
class Anchor:
    """The head of the chain at a moment, as kept outside the database."""

    at: datetime
    sequence: int
    mac: str

    def line(self) -> str:
        return f"audit anchor at={self.at.isoformat()} sequence={self.sequence} mac={self.mac}"


_ANCHOR_LINE = re.compile(r"audit anchor at=(?P<at>\S+) sequence=(?P<sequence>\d+) mac=(?P<mac>[0-9a-f]{64})\s*$")


def head(session: Session, now: datetime) -> Anchor | None:
    """The newest event's sequence and MAC (None for an empty trail)."""
    last = session.exec(
        select(AuditEvent.sequence, AuditEvent.hash).order_by(col(AuditEvent.sequence).desc()).limit(1)
    ).first()
    return Anchor(at=now, sequence=last[0], mac=last[1]) if last else None


def newest_anchor(path: Path) -> Anchor | None:
    """The last anchor in a file of anchors or of log lines (other lines are skipped).

    :raise BadAnchorFile: a line names an anchor but does not read as one.
    """
    newest = None
    with path.open(encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if "audit anchor" not in text:
                continue
            found = _ANCHOR_LINE.search(text)
            try:
                if found is None:
                    raise ValueError(text)
                newest = Anchor(datetime.fromisoformat(found["at"]), int(found["sequence"]), found["mac"])
            except ValueError as exc:
                raise BadAnchorFile(f"{path}, line {number}: not an audit anchor") from exc
    return newest


def anchor_head(session: Session, path: Path | None, now: datetime) -> Anchor | None:
    """Log the head of the chain and, when a file is configured and the head moved since its last
    anchor, append it there (flushed to disk). Returns the head, None for an empty trail."""
    anchor = head(session, now)
    session.rollback()  # end the read
    if anchor is None:
        return None
    logger.info(anchor.line())
    if path is not None:
        last = newest_anchor(path) if path.exists() else None
        if last is None or (last.sequence, last.mac) != (anchor.sequence, anchor.mac):
            with path.open("a", encoding="utf-8") as file:
                file.write(anchor.line() + "\n")
                file.flush()
                os.fsync(file.fileno())
    return anchor


@dataclass(frozen=True)
class Verdict:
    """The result of checking the chain: how many events, the first that does not fit, and what
    does not match the anchor given."""

    events: int
    broken_at: int | None
    anchor_problem: str | None = None

    @property
    def intact(self) -> bool:
        return self.broken_at is None and self.anchor_problem is None


def _in_order(session: Session) -> Iterator[sa.RowMapping]:
    """Every event as plain column values, in batches (model objects would cost ten times more)."""
    columns = [col(getattr(AuditEvent, name)) for name in (*_HASHED, "previous_hash", "hash")]
    after = 0
    while True:
        batch = (
            session.execute(
                sa.select(*columns)
                .where(col(AuditEvent.sequence) > after)
                .order_by(col(AuditEvent.sequence))
                .limit(_VERIFY_BATCH)
            )
            .mappings()
            .all()
        )
        if not batch:
            return
        yield from batch
        after = batch[-1]["sequence"]


def verify_chain(session: Session, anchor: Anchor | None = None) -> Verdict:
    """Recompute every MAC in sequence: an edited, removed or inserted row breaks the chain there.
    With an anchor, the event it names must still be there and carry the MAC it had."""
    key = chain_key(session)
    count = 0
    previous_hash = ""
    anchored_mac = None
    for expected, event in enumerate(_in_order(session), start=1):
        if event["sequence"] != expected:  # a row removed (or a sequence edited) before this one
            return Verdict(events=count, broken_at=expected)
        if event["previous_hash"] != previous_hash or chain_mac(key, previous_hash, event) != event["hash"]:
            return Verdict(events=count, broken_at=expected)
        previous_hash = event["hash"]
        count += 1
        if anchor is not None and expected == anchor.sequence:
            anchored_mac = event["hash"]
    if anchor is None:
        return Verdict(events=count, broken_at=None)
    when = anchor.at.isoformat()
    if anchored_mac is None:
        problem = (
            f"the anchor of {when} names sequence {anchor.sequence}, but the trail ends at sequence {count}: "
            "events were removed from its end"
        )
    elif anchored_mac != anchor.mac:
        problem = f"event {anchor.sequence} does not carry the MAC anchored at {when}: the trail was rewritten"
    else:
        problem = None
    return Verdict(events=count, broken_at=None, anchor_problem=problem)
