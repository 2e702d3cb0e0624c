"""Forgotten passwords: a single-use link, e-mailed at once, that works for 10 minutes.

The token has 128 random bits and only its SHA-256 is stored. The link itself is never stored:
the mail goes to the SMTP server during the request, and the outbox keeps a copy with the link
taken out; when there is no server or it fails, the copy says the link was not delivered and a new
one must be asked for. So whoever can read the database cannot take over an account with it.
A link also carries a fingerprint of the password it was asked under: once the password changes
(by this or another link, by the user, by an admin's bootstrap), every earlier link is dead.

The answer to "send me a link" is the same whether or not the address has an account, and an
account gets at most 5 links an hour, so the form can neither find accounts nor flood an inbox.
Setting a new password ends every session of the account; it does not sign anyone in, so the
second factor is still asked for."""

import hashlib
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from flask_babel import force_locale, gettext
from sqlmodel import Session, col, func, select, update

from portal.audit.services import record
from portal.auth import sessions
from portal.auth.passwords import hash_password
from portal.auth.services import find_user_by_email
from portal.i18n import LOCALES
from portal.models import OutboxMail, PasswordReset, User, utcnow
from portal.notifications.mail import send_now

LIFETIME = timedelta(minutes=10)
PER_HOUR = 5


def password_fingerprint(user: User) -> str:
    """Changes whenever the password does (a new hash has a new salt): links remember it."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()


def _body(user: User, link_line: str) -> str:
    """The reset e-mail's text in the current language, with the link or what stands in its place."""
    return "\n".join(
        [
            gettext("Hello %(name)s,", name=user.name),
            "",
            gettext("Someone asked to reset the password of your Bridge account. To choose a new one, open:"),
            link_line,
            "",
            gettext("The link works once, for 10 minutes. If you did not ask, ignore this e-mail."),
        ]
    )


def _send(user: User, link: str, config: Mapping[str, object], now: datetime) -> OutboxMail:
    """Send the reset mail now and return the outbox copy to keep, with the link taken out."""
    with force_locale(LOCALES.get(user.locale or "en", LOCALES["en"])):
        mail = OutboxMail(
            to_address=user.email,
            subject=gettext("Bridge: reset your password"),
            body=_body(user, link),
            created_at=now,
        )
        error = send_now(mail, config)
        if error is None:
            mail.sent_at = utcnow()
            mail.body = _body(user, gettext("(The link was sent in this e-mail; it is not kept.)"))
        else:
            # Kept to be delivered when a server is there, but without a link anyone could use.
            mail.error = error
            mail.body = _body(
                user,
                gettext(
                    "(The link could not be sent. Ask for a new one on the sign-in page: “Forgot your password?”.)"
                ),
            )
    return mail


def request_reset(
    session: Session, email: str, link_for: Callable[[str], str], now: datetime, config: Mapping[str, object]
) -> None:
    """E-mail a reset link to the active account with this address, if any and if it has not had
    five this hour. Says nothing either way (committed here)."""
    user = find_user_by_email(session, email)
    if user is None or not user.active:
        return
    sent_this_hour = session.exec(
        select(func.count()).where(
            PasswordReset.user_id == user.id, PasswordReset.created_at > now - timedelta(hours=1)
        )
    ).one()
    if sent_this_hour >= PER_HOUR:
        return
    token = secrets.token_urlsafe(16)
    session.add(
        PasswordReset(
            user_id=user.id,
            token_hash=sessions.digest(token),
            password_fingerprint=password_fingerprint(user),
            created_at=now,
        )
    )
    base_url = str(config.get("PUBLIC_URL") or "")
    session.add(_send(user, base_url.rstrip("/") + link_for(token), config, now))
    record(session, None, "password_reset_requested", "user", user.id)
    session.commit()


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    """The active user a live, unused link belongs to, or None. A link asked for before the
    password last changed is dead, used or not."""
    found = session.exec(
        select(PasswordReset, User)
        .join(User, col(User.id) == col(PasswordReset.user_id))
        .where(PasswordReset.token_hash == sessions.digest(token))
    ).first()
    if found is None:
        return None
    reset, user = found
    if reset.used_at is not None or now - reset.created_at > LIFETIME or not user.active:
        return None
    if reset.password_fingerprint != password_fingerprint(user):
        return None
    return user


def reset_password(session: Session, token: str, new_password: str, now: datetime) -> User | None:
    """Spend the link and set the password (already checked against the policy); every session of
    the account ends. None when the link is not valid any more (committed here)."""
    user = user_for_token(session, token, now)
    if user is None:
        return None
    spent = session.exec(
        update(PasswordReset)
        .where(col(PasswordReset.token_hash) == sessions.digest(token), col(PasswordReset.used_at).is_(None))
        .values(used_at=now)
    )
    if spent.rowcount != 1:  # the same link used twice at once: one wins
        session.rollback()
        return None
    user.password_hash = hash_password(new_password)
    user.password_expires_at = None
    session.add(user)
    sessions.revoke_all(session, user.id)
    record(session, user, "password_reset", "user", user.id)
    session.commit()
    return user
