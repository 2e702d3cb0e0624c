"""Server-side sessions: the cookie holds a random token, the `user_session` table decides whether it
still signs anyone in. Flask's signed cookie alone cannot be taken back: a copy made before sign-out
would work until it expires. With a row per sign-in, sign-out, a password change or a deactivation
revokes the row and every copy of the cookie stops working at once."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select, update

from portal.models import User, UserSession, utcnow

# Last-seen is written at most this often: a page view must not cost a write.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class Limits:
    """How long a session lives: idle time-outs per kind of user, and an absolute cap."""

    staff_idle: timedelta
    others_idle: timedelta
    absolute: timedelta

    def idle_for(self, user: User) -> timedelta:
        return self.staff_idle if user.is_staff else self.others_idle


def digest(token: str) -> str:
    """SHA-256 of a random token: enough for 128-bit secrets, which cannot be guessed by brute force."""
    return hashlib.sha256(token.encode()).hexdigest()


def start(session: Session, user: User) -> str:
    """Open a new session for the user and return the token for the cookie (the caller commits)."""
    token = secrets.token_urlsafe(16)  # 128 bits
    session.add(UserSession(token_hash=digest(token), user_id=user.id))
    return token


def find_live(
    session: Session, token: str, user_id: uuid.UUID, limits: Limits, now: datetime
) -> tuple[UserSession, User] | None:
    """The session and its active user, unless revoked, idle too long or older than the cap."""
    found = session.exec(
        select(UserSession, User)
        .join(User, col(User.id) == col(UserSession.user_id))
        .where(UserSession.token_hash == digest(token), UserSession.user_id == user_id)
    ).first()
    if found is None:
        return None
    row, user = found
    if row.revoked_at is not None or not user.active:
        return None
    if now - row.created_at > limits.absolute or now - row.last_seen_at > limits.idle_for(user):
        return None
    return row, user


def needs_touch(row: UserSession, now: datetime) -> bool:
    return now - row.last_seen_at >= TOUCH_EVERY


def touch(session: Session, row_id: uuid.UUID, now: datetime) -> None:
    """Record activity, in its own short transaction (committed here)."""
    session.exec(update(UserSession).where(col(UserSession.id) == row_id).values(last_seen_at=now))
    session.commit()


def signed_in_within(row: UserSession, window: timedelta, now: datetime) -> bool:
    """Did the user prove who they are (password, and code if enrolled) within this window?"""
    return now - row.authenticated_at <= window


def reauthenticated(session: Session, token: str, now: datetime) -> None:
    """The user proved who they are again in this browser (the caller commits)."""
    session.exec(
        update(UserSession)
        .where(col(UserSession.token_hash) == digest(token), col(UserSession.revoked_at).is_(None))
        .values(authenticated_at=now, last_seen_at=now)
    )


def revoke(session: Session, token: str) -> None:
    """End one session (the caller commits)."""
    session.exec(
        update(UserSession)
        .where(col(UserSession.token_hash) == digest(token), col(UserSession.revoked_at).is_(None))
        .values(revoked_at=utcnow())
    )


def revoke_all(session: Session, user_id: uuid.UUID, keep_token: str | None = None) -> None:
    """End every session of a user, but the one with `keep_token` if given (the caller commits)."""
    statement = update(UserSession).where(col(UserSession.user_id) == user_id, col(UserSession.revoked_at).is_(None))
    if keep_token is not None:
        statement = statement.where(col(UserSession.token_hash) != digest(keep_token))
    session.exec(statement.values(revoked_at=utcnow()))


def live_sessions(session: Session, user: User, limits: Limits, now: datetime) -> list[UserSession]:
    """The user's sessions that still sign someone in, newest first."""
    rows = session.exec(
        select(UserSession)
        .where(UserSession.user_id == user.id, col(UserSession.revoked_at).is_(None))
        .order_by(col(UserSession.created_at).desc())
    )
    return [
        row
        for row in rows
        if now - row.created_at <= limits.absolute and now - row.last_seen_at <= limits.idle_for(user)
    ]
