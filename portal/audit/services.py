"""Writing and reading the audit trail. Events name records, never their values.

Each event carries an HMAC-SHA-256, under a key kept in configuration (PORTAL_AUDIT_KEY) and never
in the database, of the previous event's MAC and its own fields: editing, removing or inserting a
row breaks the chain there, and whoever can write the table but lacks the key cannot compute a new
chain. Removing the newest events leaves a shorter chain that still holds; the periodic job
therefore writes the head (sequence and MAC) outside the database, and `audit verify --anchor`
checks the trail still reaches it unchanged.

Appending takes no lock that every server shares: an event is inserted pending (no sequence, no
MAC) in the transaction of the change it logs, so it is committed with that change or not at all.
Right after the commit, a linker gives every pending event, oldest first, its sequence and MAC in a
short transaction of its own; only one linker runs at a time (a try-lock on PostgreSQL: a server
that finds it taken moves on, and the holder links its events too), and the periodic job links
whatever is left. A list shown is one event naming every record in it (`AuditEventRecord`); its MAC
covers a digest of those records, so changing who was in the list breaks the chain too.

The trail was chained with plain SHA-256 before; migration 0017 checked that chain and re-chained
every event with the key."""

import hashlib
import hmac
import json
import logging
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import SessionTransaction
from sqlmodel import Session, col, func, select

from portal.db import AUDIT_KEY_OPTION, get_engine
from portal.exceptions import BadAnchorFile, BadCursor
from portal.keyset import SortKey, decode_cursor, page_of
from portal.models import AuditEvent, AuditEventRecord, User, utcnow

# Any constant works: it names the one lock linkers take on PostgreSQL.
_CHAIN_LOCK = 727_001
# How many rows `verify_chain` reads at a time: memory stays flat however long the trail grows.
_VERIFY_BATCH = 5_000
# How many pending events one linking transaction takes, and how many such rounds one call makes
# before leaving the rest to the next commit or the periodic job (a request never links for long).
_LINK_BATCH = 1_000
_LINK_ROUNDS = 5
# A pending event older than this means no linker ran: `verify_chain` reports it.
PENDING_GRACE = timedelta(minutes=5)
# Set on a session that wrote pending events, so its commit links them.
_UNLINKED = "portal_audit_unlinked"
_COMMITTED_UNLINKED = "portal_audit_committed_unlinked"
logger = logging.getLogger(__name__)

EVENTS = AuditEvent.__table__  # type: ignore[attr-defined]
_HASHED = ("sequence", "at", "actor_id", "action", "record_type", "record_id")


def digest_of(record_ids: Iterable[uuid.UUID]) -> str:
    """SHA-256 of a list event's records, in a fixed order, for its MAC."""
    return hashlib.sha256(",".join(sorted(str(record_id) for record_id in record_ids)).encode()).hexdigest()


def canonical(fields: Mapping[Any, Any]) -> str:
    """The event's fields as canonical JSON: the same text on every database. A list event's
    records enter as their digest; events naming one record read as they always did, so every MAC
    written before lists had records still verifies."""
    document = {
        "sequence": fields["sequence"],
        "at": fields["at"].isoformat(),
        "actor_id": str(fields["actor_id"]) if fields["actor_id"] else None,
        "action": fields["action"],
        "record_type": fields["record_type"],
        "record_id": str(fields["record_id"]) if fields["record_id"] else None,
    }
    if fields.get("records_digest"):
        document["records"] = fields["records_digest"]
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def chain_mac(key: bytes, previous_hash: str, fields: Mapping[Any, Any]) -> str:
    """HMAC-SHA-256 over the previous event's MAC and this event's canonical JSON."""
    return hmac.new(key, (previous_hash + canonical(fields)).encode(), hashlib.sha256).hexdigest()


def chain_key(session: Session) -> bytes:
    """The audit key of the session's engine (portal.db.make_engine)."""
    key = session.get_bind().get_execution_options().get(AUDIT_KEY_OPTION)
    if not isinstance(key, bytes):
        raise RuntimeError("this engine has no audit key: create it with portal.db.make_engine(..., audit_key=...)")
    return key


def record(
    session: Session,
    actor: User | None,
    action: str,
    record_type: str,
    record_id: uuid.UUID | None = None,
) -> AuditEvent:
    """Append a pending event to the session's transaction; the caller's commit writes it with the
    change, and links it right after."""
    event = AuditEvent(
        at=utcnow(),
        actor_id=actor.id if actor else None,
        action=action,
        record_type=record_type,
        record_id=record_id,
    )
    session.add(event)
    session.info[_UNLINKED] = True
    return event


def record_list(
    session: Session, actor: User | None, action: str, record_type: str, record_ids: Iterable[uuid.UUID]
) -> None:
    """Append one pending event naming every record (a single record is named as `record` names it),
    to the session's transaction: the caller's commit writes it with the change, and links it right
    after. The records of a list are plain rows in one INSERT."""
    ids = list(dict.fromkeys(record_ids))  # each record once
    if not ids:
        return
    event_id = uuid.uuid4()
    session.execute(
        sa.insert(EVENTS).values(
            id=event_id,
            at=utcnow(),
            actor_id=actor.id if actor else None,
            action=action,
            record_type=record_type,
            record_id=ids[0] if len(ids) == 1 else None,
            records_digest=digest_of(ids) if len(ids) > 1 else "",
        )
    )
    if len(ids) > 1:
        session.execute(
            sa.insert(AuditEventRecord.__table__),  # type: ignore[attr-defined]
            [{"event_id": event_id, "record_id": record_id} for record_id in ids],
        )
    session.info[_UNLINKED] = True


def record_view(actor: User | None, action: str, record_type: str, record_ids: Iterable[uuid.UUID]) -> None:
    """Log that records were shown (or refused) to someone: one event however many records, committed
    at once in a session of its own (GET requests' own session is read-only, and a page shown is
    logged even though nothing else is written)."""
    ids = list(record_ids)
    if not ids:
        return
    with Session(get_engine()) as session:
        record_list(session, actor, action, record_type, ids)
        session.commit()


def _link_round(session: Session, key: bytes) -> int | None:
    """Give the oldest pending events their sequence and MAC, in one short transaction; None when
    another linker holds the lock (it links these too)."""
    if session.get_bind().dialect.name == "postgresql":
        taken = session.execute(sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": _CHAIN_LOCK}).scalar()
        if not taken:
            session.rollback()
            return None
    last = session.execute(
        sa.select(EVENTS.c.sequence, EVENTS.c.hash)
        .where(EVENTS.c.sequence.is_not(None))
        .order_by(EVENTS.c.sequence.desc())
        .limit(1)
    ).first()
    sequence, previous_hash = (last[0], last[1]) if last else (0, "")
    pending = (
        session.execute(
            sa.select(*(EVENTS.c[name] for name in ("id", *_HASHED, "records_digest")))
            .where(EVENTS.c.sequence.is_(None))
            .order_by(EVENTS.c.at, EVENTS.c.id)
            .limit(_LINK_BATCH)
        )
        .mappings()
        .all()
    )
    links = []
    for row in pending:
        sequence += 1
        fields = {**row, "sequence": sequence}
        mac = chain_mac(key, previous_hash, fields)
        links.append({"event_id": row["id"], "new_sequence": sequence, "previous": previous_hash, "mac": mac})
        previous_hash = mac
    if links:
        session.execute(
            sa.update(EVENTS)
            .where(EVENTS.c.id == sa.bindparam("event_id"), EVENTS.c.sequence.is_(None))
            .values(
                sequence=sa.bindparam("new_sequence"), previous_hash=sa.bindparam("previous"), hash=sa.bindparam("mac")
            ),
            links,
        )
    session.commit()
    return len(links)


def link_pending(session: Session) -> int:
    """Link the committed pending events, oldest first (by when each was written: an event whose
    transaction committed late follows those linked before it); returns how many this call linked.

    The lock is held for one round of linking only. After each round it looks again: an event
    committed while this linker held the lock (its own linker found the lock taken and moved on)
    is linked by the next round, so none is left behind while linkers run."""
    key = chain_key(session)
    linked = 0
    for _ in range(_LINK_ROUNDS):
        done = _link_round(session, key)
        if done is None:
            break
        linked += done
        waiting = session.execute(sa.select(EVENTS.c.id).where(EVENTS.c.sequence.is_(None)).limit(1)).first()
        session.rollback()  # end the read
        if waiting is None:
            break
    return linked


@sa.event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    if session.info.pop(_UNLINKED, False):
        session.info[_COMMITTED_UNLINKED] = True


@sa.event.listens_for(Session, "after_transaction_end")
def _link_after_commit(session: Session, transaction: SessionTransaction) -> None:
    """Link the events a transaction wrote as soon as it committed them, once its connection is
    back in the pool (a request never holds two for it); a failure leaves them pending (committed
    all the same) for the next commit or the periodic job."""
    if transaction.parent is not None:
        return
    session.info.pop(_UNLINKED, None)  # rolled back: nothing was written
    if not session.info.pop(_COMMITTED_UNLINKED, False):
        return
    try:
        with Session(session.get_bind().execution_options(read_only=False)) as linker:
            link_pending(linker)
    except sa.exc.DBAPIError:
        logger.exception("audit events left pending: the next commit or run-due-jobs links them")


@dataclass(frozen=True)
class TrailEntry:
    """One line of a record's trail: who (None: the portal itself), in which role, did what, when."""

    at: datetime
    action: str
    record_type: str
    actor_name: str | None
    actor_role: str | None


def naming(record_ids: Sequence[uuid.UUID]) -> sa.CompoundSelect:
    """The ids of the events that name any of these records, alone or in a list: two index lookups."""
    return sa.union(
        sa.select(EVENTS.c.id).where(EVENTS.c.record_id.in_(record_ids)),
        sa.select(col(AuditEventRecord.event_id)).where(col(AuditEventRecord.record_id).in_(record_ids)),
    )


def trail_of(session: Session, record_ids: Iterable[uuid.UUID], limit: int = 50) -> list[TrailEntry]:
    """Who viewed or changed these records, most recent first, whether shown alone or in a list."""
    ids = list(record_ids)
    if not ids:
        return []
    rows = session.exec(
        select(AuditEvent, User)
        .outerjoin(User, col(User.id) == AuditEvent.actor_id)
        .where(col(AuditEvent.id).in_(naming(ids)))
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
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
    """One page of a search, newest first: each event with its actor and, for a list, how many
    records it names; the cursor of the next (older) page, None on the last."""

    events: list[tuple[AuditEvent, User | None]]
    listed: dict[uuid.UUID, int]
    next_cursor: str | None


# Newest first; the id makes the order total (events of the same microsecond).
SEARCH_ORDER = (SortKey(col(AuditEvent.at), descending=True), SortKey(col(AuditEvent.id), descending=True))


def search(session: Session, filters: Filters, cursor: str | None = None, per_page: int = 50) -> Found:
    """Events matching every filter given, a page at a time after `cursor`, newest first; no count
    of the whole trail (at city size that alone would read every event).

    :raise BadCursor: the cursor was not written for this search.
    """
    query = select(AuditEvent)
    if filters.actor_email is not None:
        query = query.join(User, col(User.id) == AuditEvent.actor_id).where(
            func.lower(User.email) == filters.actor_email.lower()
        )
    if filters.record_id is not None:
        query = query.where(col(AuditEvent.id).in_(naming([filters.record_id])))
    if filters.action is not None:
        query = query.where(AuditEvent.action == filters.action)
    if filters.since is not None:
        query = query.where(col(AuditEvent.at) >= filters.since)
    if filters.before is not None:
        query = query.where(col(AuditEvent.at) < filters.before)
    if cursor and decode_cursor(cursor, SEARCH_ORDER)[0].tzinfo is None:
        raise BadCursor(cursor)  # the portal writes times in UTC: a naive one was not written by it
    page = page_of(session, query, SEARCH_ORDER, lambda event: (event.at, event.id), cursor, per_page)
    actor_ids = {event.actor_id for event in page.items if event.actor_id is not None}
    actors = {user.id: user for user in session.exec(select(User).where(col(User.id).in_(actor_ids)))}
    lists = [event.id for event in page.items if event.record_id is None]
    listed = dict(
        session.exec(
            select(AuditEventRecord.event_id, func.count())
            .where(col(AuditEventRecord.event_id).in_(lists))
            .group_by(col(AuditEventRecord.event_id))
        ).all()
    )
    return Found(
        events=[(event, actors.get(event.actor_id) if event.actor_id else None) for event in page.items],
        listed=listed,
        next_cursor=page.next_cursor,
    )


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
    """The newest linked event's sequence and MAC (None for a trail with none)."""
    last = session.execute(
        sa.select(EVENTS.c.sequence, EVENTS.c.hash)
        .where(EVENTS.c.sequence.is_not(None))
        .order_by(EVENTS.c.sequence.desc())
        .limit(1)
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
    """The result of checking the chain: how many events, the first that does not fit, what does
    not match the anchor given, and how many events have waited too long to be linked."""

    events: int
    broken_at: int | None
    anchor_problem: str | None = None
    stale_pending: int = 0

    @property
    def intact(self) -> bool:
        return self.broken_at is None and self.anchor_problem is None and not self.stale_pending


def _in_order(session: Session) -> Iterator[dict[str, Any]]:
    """Every linked event as plain column values with the records it names (`records`), in batches (model objects would
    cost ten times more)."""
    columns = [EVENTS.c[name] for name in ("id", *_HASHED, "records_digest", "previous_hash", "hash")]
    after = 0
    while True:
        batch = (
            session.execute(
                sa.select(*columns).where(EVENTS.c.sequence > after).order_by(EVENTS.c.sequence).limit(_VERIFY_BATCH)
            )
            .mappings()
            .all()
        )
        if not batch:
            return
        members: dict[uuid.UUID, list[uuid.UUID]] = {}
        for event_id, record_id in session.execute(
            sa.select(col(AuditEventRecord.event_id), col(AuditEventRecord.record_id))
            .join(EVENTS, EVENTS.c.id == AuditEventRecord.event_id)
            .where(EVENTS.c.sequence > after, EVENTS.c.sequence <= batch[-1]["sequence"])
        ):
            members.setdefault(event_id, []).append(record_id)
        for event in batch:
            yield {**event, "records": members.get(event["id"], [])}
        after = batch[-1]["sequence"]


def verify_chain(session: Session, anchor: Anchor | None = None, now: datetime | None = None) -> Verdict:
    """Recompute every linked event's MAC in sequence: an edited, removed or inserted row, or a
    record added to or taken from a list, breaks the chain there. With an anchor, the event it names
    must still be there and carry the MAC it had. Events still pending after PENDING_GRACE count as
    a problem: the linker is not running."""
    key = chain_key(session)
    count = 0
    previous_hash = ""
    anchored_mac = None
    for expected, event in enumerate(_in_order(session), start=1):
        if event["sequence"] != expected:  # a row removed (or a sequence edited) before this one
            return Verdict(events=count, broken_at=expected)
        if event["previous_hash"] != previous_hash or chain_mac(key, previous_hash, event) != event["hash"]:
            return Verdict(events=count, broken_at=expected)
        if event["records_digest"] != (digest_of(event["records"]) if event["records"] else ""):
            return Verdict(events=count, broken_at=expected)  # a record added to or taken from a list
        previous_hash = event["hash"]
        count += 1
        if anchor is not None and expected == anchor.sequence:
            anchored_mac = event["hash"]
    stale = session.execute(
        sa.select(func.count())
        .select_from(EVENTS)
        .where(EVENTS.c.sequence.is_(None), EVENTS.c.at < (now or utcnow()) - PENDING_GRACE)
    ).scalar_one()
    if anchor is None:
        return Verdict(events=count, broken_at=None, stale_pending=stale)
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
    return Verdict(events=count, broken_at=None, anchor_problem=problem, stale_pending=stale)
