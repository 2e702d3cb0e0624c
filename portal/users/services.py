"""Admins create staff accounts, verify volunteers and deactivate accounts."""

import uuid
from collections.abc import Iterable
from typing import NamedTuple

from sqlmodel import Session, col, delete, select

from portal.audit.services import record
from portal.auth import sessions
from portal.auth.services import commit_new_account, new_user
from portal.exceptions import EmailTaken
from portal.keyset import DEFAULT_PER_PAGE, Page, SortKey, one_page, page_from
from portal.models import Organization, RecoveryCode, Role, User, utcnow
from portal.offers.services import touch_offers_of
from portal.users.forms import StaffAccountForm

__all__ = [
    "Account",
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


ORDER = (SortKey(col(User.role)), SortKey(col(User.name)), SortKey(col(User.id)))


class Account(NamedTuple):
    user: User
    # The name of the user's organization; None for staff and volunteers.
    organization: str | None


def list_users(session: Session, cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE) -> Page[Account]:
    """A page of accounts by role, then name, with their organizations' names read in the same query
    (not every organization of the city for a page of fifty users).

    :raise BadCursor: the cursor was not written for this list.
    """
    with_organization = select(User, Organization.name).outerjoin(
        Organization, col(User.organization_id) == Organization.id
    )
    rows = [Account(user, name) for user, name in session.exec(one_page(with_organization, ORDER, cursor, per_page))]
    return page_from(rows, lambda account: (account.user.role, account.user.name, account.user.id), per_page)


def find_user(session: Session, user_id: uuid.UUID) -> User | None:
    return session.get(User, user_id)


def create_staff_account(session: Session, admin: User, form: StaffAccountForm) -> User:
    """A staff account (caseworker, grid worker, anti-drug specialist or supervisor), ready to use."""
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


def names_of(
    session: Session, users: Iterable[uuid.UUID] = (), organizations: Iterable[uuid.UUID] = ()
) -> dict[uuid.UUID, str]:
    """The names of these accounts and organizations by id, in two queries at most, for lists that
    name who did something (a provider, a volunteer, who confirmed)."""
    names: dict[uuid.UUID, str] = {}
    user_ids, organization_ids = set(users), set(organizations)
    if user_ids:
        names.update(session.exec(select(User.id, User.name).where(col(User.id).in_(user_ids))).all())
    if organization_ids:
        names.update(
            session.exec(
                select(Organization.id, Organization.name).where(col(Organization.id).in_(organization_ids))
            ).all()
        )
    return names
