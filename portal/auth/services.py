"""Sign-up and sign-in: accounts are created here and nowhere else."""

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from flask_babel import force_locale, gettext
from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from portal.audit.services import record
from portal.auth import mfa, sessions, throttle
from portal.auth.forms import AccountFields, OrganizationSignupForm, VolunteerSignupForm
from portal.auth.passwords import check_password, hash_password, needs_rehash
from portal.exceptions import AdminExists, EmailTaken, Throttled, WrongPassword
from portal.i18n import LOCALES
from portal.models import Organization, OutboxMail, Role, User, utcnow


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
        name=form.organization_name,
        kind=form.kind,
        description=form.description,
        email=form.email,
        credit_code=form.credit_code,
        registered_address=form.registered_address,
        contact_person=form.contact_person,
        contact_phone=form.contact_phone,
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


def _signup_notice(owner: User, sign_in_link: str, reset_link: str) -> OutboxMail:
    """The mail that tells an account's owner someone tried to sign up with their address."""
    with force_locale(LOCALES.get(owner.locale or "en", LOCALES["en"])):
        subject = gettext("Bridge: someone tried to sign up with your address")
        body = "\n".join(
            [
                gettext("Hello %(name)s,", name=owner.name),
                "",
                gettext("Someone tried to create a Bridge account with this e-mail address, which has one already."),
                gettext("If it was you, sign in: %(url)s", url=sign_in_link),
                gettext("If you forgot your password, ask for a new one: %(url)s", url=reset_link),
                "",
                gettext("If it was not you, you need do nothing: no account was created or changed."),
            ]
        )
    return OutboxMail(to_address=owner.email, subject=subject, body=body)


def sign_up(
    session: Session,
    form: AccountFields,
    register: Callable[[Session, Any], User],
    address: str,
    limit: int,
    links: tuple[str, str],
) -> None:
    """Create the account, or, when the address has one already, tell its owner by e-mail (links:
    sign in, forgot password). Both cost the same and answer the same, so sign-up cannot find out
    which addresses have accounts; at most `limit` an hour from one client address (committed here).

    :raise Throttled: this address has signed up `limit` times this hour.
    """
    now = utcnow()
    if not throttle.signup_allowed(session, address, limit, now):
        session.rollback()
        raise Throttled(throttle.Verdict.TOO_MANY)
    owner = find_user_by_email(session, form.email)
    if owner is None:
        try:
            register(session, form)
            return
        except EmailTaken:  # the same address signed up a moment ago, and won
            throttle.signup_allowed(session, address, limit, now)  # counted again: the rollback lost it
            owner = find_user_by_email(session, form.email)
    # The work of making an account, so the time taken does not tell a known address either.
    hash_password(form.password)
    if owner is not None and owner.active:
        session.add(_signup_notice(owner, *links))
        record(session, None, "signup_with_existing_address", "user", owner.id)
    session.commit()


def authenticate(
    session: Session, email: str, password: str, address: str, secret: str, policy: throttle.Policy
) -> User | None:
    """The active user with these credentials, or None. Unknown accounts cost the same time and are
    throttled and locked the same way, so the answer never tells whether an account exists."""
    now = utcnow()
    key = throttle.account_key(email, secret)
    verdict = throttle.check(session, key, address, policy, now)
    if verdict is not throttle.Verdict.ALLOWED:
        session.rollback()
        raise Throttled(verdict)
    user = find_user_by_email(session, email)
    matches = check_password(user.password_hash if user else None, password)
    succeeded = matches and user is not None and user.active and not one_time_password_expired(user, now)
    if not succeeded or user is None or user.mfa_enrolled_at is None:
        # A right password with a code still owed ends no run of failures: otherwise a thief who
        # has the password could guess codes four at a time forever.
        throttle.note(session, key, address, succeeded, now)
    if not succeeded or user is None:
        # The actor is whoever typed the address, not the account's owner.
        record(session, None, "login_failed", "user", user.id if user else None)
        session.commit()
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    session.commit()
    return user


def check_second_factor(
    session: Session, user: User, code: str, address: str, secret: str, policy: throttle.Policy
) -> bool:
    """True when the TOTP code (or an unused recovery code) is right. Wrong codes count towards the
    account's lock-out like wrong passwords, so the second factor cannot be guessed either."""
    now = utcnow()
    account = throttle.account_key(user.email, secret)
    verdict = throttle.check(session, account, address, policy, now)
    if verdict is not throttle.Verdict.ALLOWED:
        session.rollback()
        raise Throttled(verdict)
    passed = mfa.verify_code(session, user, code, now) or mfa.use_recovery_code(session, user, code)
    throttle.note(session, account, address, passed, now)
    if not passed:
        record(session, None, "mfa_failed", "user", user.id)
    session.commit()
    return passed


def one_time_password_expired(user: User, now: datetime) -> bool:
    return user.password_expires_at is not None and now >= user.password_expires_at


def reauthenticate(
    session: Session,
    user: User,
    token: str,
    password: str,
    code: str,
    address: str,
    secret: str,
    policy: throttle.Policy,
) -> bool:
    """Confirm it is still the user at this browser: the password, and a code for users with two-step
    sign-in. Throttled and locked like signing in, so a session left open is no way to guess the
    password; a success makes the session fresh again. Committed here."""
    now = utcnow()
    account = throttle.account_key(user.email, secret)
    verdict = throttle.check(session, account, address, policy, now)
    if verdict is not throttle.Verdict.ALLOWED:
        session.rollback()
        raise Throttled(verdict)
    passed = check_password(user.password_hash, password) and not one_time_password_expired(user, now)
    if passed and user.mfa_enrolled_at is not None:
        passed = mfa.verify_code(session, user, code, now) or mfa.use_recovery_code(session, user, code)
    throttle.note(session, account, address, passed, now)
    if passed:
        sessions.reauthenticated(session, token, now)
        record(session, user, "reauthenticated", "user", user.id)
    else:
        record(session, user, "reauthentication_failed", "user", user.id)
    session.commit()
    return passed


def sign_in(session: Session, user: User) -> str:
    """Open a server-side session for a user who passed every check; returns the cookie's token."""
    token = sessions.start(session, user)
    user.last_login_at = utcnow()
    session.add(user)
    record(session, user, "login", "user", user.id)
    session.commit()
    return token


def sign_out(session: Session, user: User, token: str | None) -> None:
    """Revoke this browser's session."""
    if token is not None:
        sessions.revoke(session, token)
    record(session, user, "logout", "user", user.id)
    session.commit()


def remember_locale(session: Session, user: User, locale: str) -> None:
    user.locale = locale
    session.commit()


def change_password(session: Session, user: User, current: str, new: str, keep_token: str | None) -> None:
    """Set a new password (already checked against the policy) after the current one is confirmed;
    every other session of the user ends, so a thief signed in elsewhere is out."""
    if not check_password(user.password_hash, current) or one_time_password_expired(user, utcnow()):
        raise WrongPassword()
    user.password_hash = hash_password(new)
    user.password_expires_at = None
    session.add(user)
    sessions.revoke_all(session, user.id, keep_token=keep_token)
    record(session, user, "password_changed", "user", user.id)
    session.commit()


def sign_out_elsewhere(session: Session, user: User, keep_token: str | None) -> None:
    """End every session of the user but this browser's."""
    sessions.revoke_all(session, user.id, keep_token=keep_token)
    record(session, user, "sessions_ended", "user", user.id)
    session.commit()


ONE_TIME_PASSWORD_LIFETIME = timedelta(hours=24)


def create_first_admin(session: Session, email: str, name: str, force: bool = False) -> tuple[User, str]:
    """The first administrator, with a random one-time password returned to print once: it works for
    24 hours and must be replaced at the first sign-in. Asked again for an admin who never replaced
    theirs, it issues a new one (the way back from an expired password). Committed here.

    :raise AdminExists: an active admin exists and `force` is not set.
    :raise EmailTaken: another account uses the address.
    """
    now = utcnow()
    password = secrets.token_urlsafe(18)  # 144 bits, 24 characters
    existing = find_user_by_email(session, email)
    action = "admin_created"
    if existing is not None:
        if existing.role != Role.ADMIN or existing.password_expires_at is None:
            raise EmailTaken(email)
        user = existing
        user.password_hash = hash_password(password)
        user.active = True
        sessions.revoke_all(session, user.id)
        action = "one_time_password_issued"
    else:
        others = session.exec(select(User).where(User.role == Role.ADMIN, col(User.active).is_(True))).first()
        if others is not None and not force:
            raise AdminExists(others.email)
        user = User(email=email.strip().lower(), name=name, password_hash=hash_password(password), role=Role.ADMIN)
        user.verified_at = now
    user.password_expires_at = now + ONE_TIME_PASSWORD_LIFETIME
    session.add(user)
    session.flush()
    record(session, None, action, "user", user.id)
    commit_new_account(session)
    return user, password
