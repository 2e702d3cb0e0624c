"""Sign-up and sign-in: accounts are created here and nowhere else."""

from typing import Any

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from portal.auth.forms import AccountFields, OrganizationSignupForm, VolunteerSignupForm
from portal.auth.passwords import check_password, hash_password, needs_rehash
from portal.models import Organization, Role, User, utcnow


class EmailTaken(ValueError):
    """Another account already uses this e-mail address."""


def find_user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(func.lower(User.email) == email.strip().lower())).first()


def new_user(session: Session, fields: AccountFields, role: Role, **extra: Any) -> User:
    """Add a user with a hashed password; the caller commits."""
    if find_user_by_email(session, fields.email) is not None:
        raise EmailTaken(fields.email)
    user = User(
        email=fields.email.lower(),
        name=fields.name,
        phone=fields.phone,
        password_hash=hash_password(fields.password),
        role=role,
        **extra,
    )
    session.add(user)
    return user


def commit_new_account(session: Session) -> None:
    """Commit; a concurrent sign-up with the same address loses on the unique index."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise EmailTaken("") from exc


def register_organization(session: Session, form: OrganizationSignupForm) -> User:
    """Create a pending organization and its first staff account."""
    organization = Organization(
        name=form.organization_name, kind=form.kind, description=form.description, email=form.email
    )
    session.add(organization)
    user = new_user(session, form, Role.PROVIDER, organization_id=organization.id)
    commit_new_account(session)
    return user


def register_volunteer(session: Session, form: VolunteerSignupForm) -> User:
    """Create a volunteer's account, pending until an admin verifies it."""
    user = new_user(session, form, Role.VOLUNTEER)
    commit_new_account(session)
    return user


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with these credentials, or None; unknown accounts cost the same time."""
    user = find_user_by_email(session, email)
    if not check_password(user.password_hash if user else None, password):
        return None
    assert user is not None
    if not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.commit()
    return user


def remember_locale(session: Session, user: User, locale: str) -> None:
    user.locale = locale
    session.commit()
