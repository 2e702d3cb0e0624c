"""Delivering the outbox by SMTP, one mail at a time under its row lock: the same attempt serves the
queue's job (a mail handed on the moment it was committed), the in-process delivery of the embedded
setup, and the periodic sweep that picks up whatever the queue never got. The outbox row stays the
truth: it says whether a mail was sent, how often it was tried, when it may be tried next, and
whether it failed for good."""

import smtplib
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from flask import Flask, current_app
from sqlmodel import Session, col, or_, select

from portal.db import session_scope
from portal.models import NoticeTarget, OutboxMail, Role, User, utcnow
from portal.notifications.mail import ERROR_MAX, Mailer, message_of, sender_of
from portal.notifications.services import Notice, notify_all

BATCH = 500
# The waits after each temporary failure (the queue's retries follow the same list): a server down
# overnight still gets its mail. After the last wait's try, a temporary failure is final too.
BACKOFF = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=6),
)
ATTEMPTS = len(BACKOFF) + 1

# The message is refused, the server is fine: the next mail may still go.
MESSAGE_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)


class Outcome(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # sent, failed, not due, gone, or in another worker's hands
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class Attempt:
    outcome: Outcome
    server_down: bool = False  # the server, not this message, failed: later mails would fail too


class MailNotSent(RuntimeError):
    """A temporary failure: raised by the queue's job so the queue tries again after the next wait.
    Names the mail and the error's kind only: the worker's log never holds an address."""


def is_permanent(error: Exception) -> bool:
    """A refusal the server means for good (SMTP 5xx on the recipient, the sender or the data);
    4xx replies, timeouts and connections refused pass."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _reply in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return error.smtp_code >= 500
    return False


def attempt(
    session: Session, mailer: Mailer, sender: str, mail_id: uuid.UUID, now: datetime, *, due_only: bool
) -> Attempt:
    """Send one mail unless it was sent or failed meanwhile, or (`due_only`) waits out a backoff.

    The row is locked while it is sent: a second worker at the same time skips it (PostgreSQL) or
    waits and then finds it sent (SQLite takes the write lock at BEGIN IMMEDIATE). It is marked sent
    in the same transaction, right after the server took it, so a mail sent once is never sent again.
    """
    waiting = select(OutboxMail).where(
        OutboxMail.id == mail_id, col(OutboxMail.sent_at).is_(None), col(OutboxMail.failed_at).is_(None)
    )
    if due_only:
        waiting = waiting.where(or_(col(OutboxMail.next_attempt_at).is_(None), col(OutboxMail.next_attempt_at) <= now))
    mail = session.exec(waiting.with_for_update(skip_locked=True)).first()
    if mail is None:
        session.rollback()
        return Attempt(Outcome.SKIPPED)
    mail.attempts += 1
    try:
        mailer.send(message_of(mail, sender))
    except (OSError, smtplib.SMTPException) as error:
        outcome = _record_failure(session, mail, error, now)
        return Attempt(outcome, server_down=not isinstance(error, MESSAGE_ERRORS))
    mail.sent_at = utcnow()
    mail.error = ""
    mail.next_attempt_at = None
    session.commit()
    return Attempt(Outcome.SENT)


def _record_failure(session: Session, mail: OutboxMail, error: Exception, now: datetime) -> Outcome:
    mail.error = f"{type(error).__name__}: {error}"[:ERROR_MAX]
    if is_permanent(error) or mail.attempts >= ATTEMPTS:
        mail.failed_at = now
        mail.next_attempt_at = None
        _tell_admins(session, mail)
        session.commit()
        return Outcome.FAILED
    mail.next_attempt_at = now + BACKOFF[mail.attempts - 1]
    session.commit()
    return Outcome.RETRY


def _tell_admins(session: Session, mail: OutboxMail) -> None:
    """Every active admin learns which address gets no mail (never what the mail said), in the portal."""
    admins = session.exec(select(User.id).where(User.role == Role.ADMIN, col(User.active).is_(True))).all()
    notify_all(
        session,
        [Notice(admin, "mail_failed", NoticeTarget.OUTBOX, params={"account": mail.to_address}) for admin in admins],
    )


def deliver(
    session: Session, config: Mapping[str, object], mail_ids: Iterable[uuid.UUID], now: datetime, *, due_only: bool
) -> list[Outcome]:
    """Try these mails in turn on one connection; a server that fails ends the run (the rest wait).
    Nothing is tried without PORTAL_SMTP_HOST: the mails wait in the outbox for admins to read."""
    mailer = Mailer(config)
    if not mailer.host:
        return []
    sender = sender_of(config, mailer)
    outcomes = []
    try:
        for mail_id in mail_ids:
            result = attempt(session, mailer, sender, mail_id, now, due_only=due_only)
            outcomes.append(result.outcome)
            if result.server_down:
                break
    finally:
        mailer.close()
    return outcomes


def deliver_outbox(
    session: Session, config: Mapping[str, object], now: datetime | None = None, *, limit: int = BATCH
) -> int:
    """The periodic sweep: send the waiting mails that are due, oldest first, and return how many
    went out. It finds what the queue never got (it was down, or there is none) and what waits out
    a backoff; it skips failed mails."""
    now = now or utcnow()
    pending = list(
        session.exec(
            select(OutboxMail.id)
            .where(
                col(OutboxMail.sent_at).is_(None),
                col(OutboxMail.failed_at).is_(None),
                or_(col(OutboxMail.next_attempt_at).is_(None), col(OutboxMail.next_attempt_at) <= now),
            )
            .order_by(col(OutboxMail.created_at), col(OutboxMail.id))
            .limit(limit)
        )
    )
    session.commit()
    return deliver(session, config, pending, now, due_only=True).count(Outcome.SENT)


def deliver_now(app: Flask, mail_ids: list[uuid.UUID]) -> None:
    """The embedded setup's delivery, in this process, of mails just committed."""
    with app.app_context(), session_scope(app) as session:
        deliver(session, app.config, mail_ids, utcnow(), due_only=False)


def deliver_mail(mail_id: str) -> None:
    """The queue's job, run by `flask --app wsgi mail-worker` in the app's context.

    :raise MailNotSent: a temporary failure; the queue tries again after the next wait.
    """
    with session_scope() as session:
        outcomes = deliver(session, current_app.config, [uuid.UUID(mail_id)], utcnow(), due_only=False)
    if outcomes == [Outcome.RETRY]:
        raise MailNotSent(f"mail {mail_id} not sent; tried again later")
