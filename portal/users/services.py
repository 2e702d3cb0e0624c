"""Admins create staff accounts, verify volunteers and deactivate accounts."""

import uuid

from sqlmodel import Session, col, delete, select

from portal.audit.services import record
from portal.auth import sessions
from portal.auth.services import commit_new_account, new_user
from portal.exceptions import EmailTaken
from portal.models import RecoveryCode, Role, User, utcnow
from portal.offers.services import touch_offers_of
from portal.users.forms import StaffAccountForm

__all__ = [
    "EmailTaken",
    "create_staff_account",
    "end_sessions",
    "list_users",
    "reset_second_factor",
    "set_active",
    "verify_volunteer",
]


def _require_admin(actor: User) -> None:
    if actor.role != Role.ADMIN:
        raise PermissionError("only admins manage accounts")


def list_users(session: Session) -> list[User]:
    return list(session.exec(select(User).order_by(col(User.role), col(User.name))))


def find_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def create_staff_account(session: Session, admin: User, form: StaffAccountForm) -> User:
    """A caseworker or supervisor account, ready to use."""
    _require_admin(admin)
    user = new_user(session, form, form.role, area_id=form.area_id, verified_at=utcnow())
    commit_new_account(session)
    return user


def verify_volunteer(session: Session, admin: User, volunteer: User) -> User:
    """A verified volunteer's published offers become visible to staff."""
    _require_admin(admin)
    if volunteer.role != Role.VOLUNTEER:
        raise ValueError("only volunteers are verified one by one")
    if volunteer.verified_at is None:
        volunteer.verified_at = utcnow()
        touch_offers_of(session, volunteer)
        session.commit()
    return volunteer


def set_active(session: Session, admin: User, user: User, active: bool) -> User:
    """Deactivate or reactivate an account; a deactivated user is signed out at once."""
    _require_admin(admin)
    if user.id == admin.id and not active:
        raise ValueError("admins cannot deactivate themselves")
    user.active = active
    if not active:
        sessions.revoke_all(session, user.id)
    if user.role == Role.VOLUNTEER:
        touch_offers_of(session, user)
    session.commit()
    return user


def end_sessions(session: Session, admin: User, user: User) -> None:
    """Sign the user out of every browser (a lost laptop, a shared computer)."""
    _require_admin(admin)
    sessions.revoke_all(session, user.id)
    record(session, admin, "sessions_ended", "user", user.id)
    session.commit()


def reset_second_factor(session: Session, admin: User, user: User) -> None:
    """For a lost phone with no recovery code left: the user sets up two-step sign-in again at the
    next sign-in (their password still needed), and every current session ends."""
    _require_admin(admin)
    if user.id == admin.id:
        raise ValueError("admins cannot reset their own second factor")
    user.totp_secret = None
    user.totp_last_step = None
    user.mfa_enrolled_at = None
    session.add(user)
    session.exec(delete(RecoveryCode).where(col(RecoveryCode.user_id) == user.id))
    sessions.revoke_all(session, user.id)
    record(session, admin, "mfa_reset", "user", user.id)
    session.commit()
