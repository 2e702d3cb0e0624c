"""Sign-in and sign-up throttling and lock-out, counted in the database.

Each password check leaves a `login_attempt` row. Before the next check we count rows: at most
5 a minute per account and 20 a minute per client address (429), and after 5 failures in a row
within 15 minutes the account is locked for 15 minutes, the right password included. Other
limits per hour (sign-ups per client address, a user's duplicate checks) go through `take`, which
leaves a `rate_event` row for each use.

Why rows in the database rather than Flask-Limiter: the lock-out needs state that outlives a
minute window and must be the same for every worker, so it would need a shared store anyway; the
database is already shared and transactional, so counting and recording happen in one write
transaction (SQLite's BEGIN IMMEDIATE; on PostgreSQL advisory locks per account and per address),
with no Redis to run. Accounts are named by a keyed hash of the e-mail typed, so an unknown e-mail
address is throttled and locked exactly like a real one and the table holds no e-mail addresses
anyone could read back.
"""

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

import sqlalchemy as sa
from sqlmodel import Session, col, delete, func, select

from portal.models import LoginAttempt, RateEvent

WINDOW = timedelta(minutes=1)
HOUR = timedelta(hours=1)
# Rows older than this decide nothing any more.
KEEP = timedelta(days=1)


class Verdict(Enum):
    ALLOWED = "allowed"
    TOO_MANY = "too_many"
    LOCKED = "locked"


@dataclass(frozen=True)
class Policy:
    per_account: int
    per_address: int
    lockout_failures: int
    lockout: timedelta


def account_key(email: str, secret: str) -> str:
    """A keyed hash of the normalised address typed, so the table cannot be read back into e-mails."""
    return hmac.new(secret.encode(), email.strip().lower().encode(), hashlib.sha256).hexdigest()


def _lock_id(kind: str, name: str) -> int:
    """A 60-bit advisory-lock number for one account or one address."""
    return int(hashlib.sha256(f"{kind}|{name}".encode()).hexdigest()[:15], 16)


def _serialise(session: Session, *names: tuple[str, str]) -> None:
    """On PostgreSQL, one check at a time per account and per address (held to commit), so parallel
    guesses can slip past neither count: many accounts tried from one address would otherwise each
    read the address's count before any of them is written. The locks are taken in ascending order,
    so two checks waiting for each other's locks cannot deadlock."""
    if session.get_bind().dialect.name == "postgresql":
        for lock in sorted({_lock_id(kind, name) for kind, name in names}):
            session.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock})


def check(session: Session, key: str, address: str, policy: Policy, now: datetime) -> Verdict:
    """May this attempt go on to the password check?"""
    address = address[:64]  # as `note` stores it
    _serialise(session, ("account", key), ("address", address))
    since = now - WINDOW
    recent_for_account = session.exec(
        select(func.count()).where(LoginAttempt.account_key == key, LoginAttempt.at > since)
    ).one()
    recent_from_address = session.exec(
        select(func.count()).where(LoginAttempt.address == address, LoginAttempt.at > since)
    ).one()
    last = session.exec(
        select(LoginAttempt)
        .where(LoginAttempt.account_key == key, LoginAttempt.at > now - 2 * policy.lockout)
        .order_by(col(LoginAttempt.at).desc())
        .limit(policy.lockout_failures)
    ).all()
    locked = (
        len(last) == policy.lockout_failures
        and not any(attempt.succeeded for attempt in last)
        and last[0].at - last[-1].at <= policy.lockout
        and now - last[0].at < policy.lockout
    )
    if locked:
        return Verdict.LOCKED
    if recent_for_account >= policy.per_account or recent_from_address >= policy.per_address:
        return Verdict.TOO_MANY
    return Verdict.ALLOWED


def note(session: Session, key: str, address: str, succeeded: bool, now: datetime) -> None:
    """Record a password check and forget old ones (the caller commits)."""
    session.add(LoginAttempt(account_key=key, address=address[:64], succeeded=succeeded, at=now))
    session.exec(delete(LoginAttempt).where(col(LoginAttempt.at) < now - KEEP))


def take(session: Session, kind: str, subject: str, limit: int, now: datetime, window: timedelta = HOUR) -> bool:
    """May `subject` use `kind` once more within the window? If so the use is counted at once (the
    caller commits), serialised per subject so that parallel requests cannot all read the count
    before any of them is written."""
    subject = subject[:64]
    _serialise(session, (kind, subject))
    recent = session.exec(
        select(func.count()).where(RateEvent.kind == kind, RateEvent.subject == subject, RateEvent.at > now - window)
    ).one()
    if recent >= limit:
        return False
    session.add(RateEvent(kind=kind, subject=subject, at=now))
    session.exec(delete(RateEvent).where(col(RateEvent.kind) == kind, col(RateEvent.at) < now - window))
    return True


def signup_allowed(session: Session, address: str, limit: int, now: datetime) -> bool:
    """May one more sign-up come from this address this hour? New or known e-mail alike, so the
    limit cannot tell them apart either."""
    return take(session, "signup", address, limit, now)
