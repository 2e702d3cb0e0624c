"""E-mail: each notification written into the outbox in the recipient's language, and the SMTP
connection and message that deliver it (portal/notifications/delivery.py decides when)."""

import smtplib
import ssl
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app, has_app_context
from flask_babel import force_locale, gettext
from sqlmodel import Session

from portal import queue
from portal.i18n import LOCALES
from portal.models import OutboxMail, User
from portal.notifications.links import notice_path
from portal.notifications.texts import IN_APP_ONLY, PROVIDER_KINDS, sentence
from portal.redisclosure import notice_line

SUBJECT_MAX = 300
BODY_MAX = 10000
ERROR_MAX = 500
SMTP_TIMEOUT_SECONDS = 30


def _one_line(text: str) -> str:
    """Header-safe: offer titles are typed by providers and must not add header lines."""
    return " ".join(text.split())


def compose(user: User, kind: str, link: str, params: dict[str, str], base_url: str = "") -> tuple[str, str]:
    """Subject and body of the e-mail for one notification, in the current language."""
    text = sentence(kind, params)
    lines = [gettext("Hello %(name)s,", name=user.name), "", text, ""]
    if link:
        lines += [gettext("Open it in Bridge: %(url)s", url=base_url.rstrip("/") + link), ""]
    lines.append(
        gettext(
            "This e-mail leaves personal details out on purpose. Sign in to Bridge to see them, "
            "and do not forward this message."
        )
    )
    if kind in PROVIDER_KINDS:
        lines += ["", notice_line()]
    subject = gettext("Bridge: %(text)s", text=_one_line(text))
    return subject[:SUBJECT_MAX], "\n".join(lines)[:BODY_MAX]


def queue_mail(
    session: Session, user: User, kind: str, target: str, target_id: uuid.UUID | None, params: dict[str, str]
) -> OutboxMail | None:
    """Put the e-mail for a notification in the outbox, in the user's saved language (the caller
    commits; once it has, the mail is handed on for delivery). Nobody without an address, and no
    deactivated account, gets mail."""
    if not user.email or not user.active or kind in IN_APP_ONLY:
        return None
    link = ""
    if has_app_context():
        base_url = str(current_app.config.get("PUBLIC_URL") or "")
        link = notice_path(target, target_id)
        with force_locale(LOCALES.get(user.locale or "en", LOCALES["en"])):
            subject, body = compose(user, kind, link, params, base_url)
    else:  # no app, no catalogue and no routes: English, the source language, without a link
        subject, body = compose(user, kind, link, params)
    mail = OutboxMail(to_address=user.email, subject=subject, body=body)
    session.add(mail)
    queue.hand_on(session, mail.id)
    return mail


def _flag(value: object) -> bool:
    """A setting that may arrive as a JSON boolean or as text ("true", "no", ...)."""
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def message_of(mail: OutboxMail, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_address
    message["Subject"] = _one_line(mail.subject)
    message["Date"] = format_datetime(mail.created_at)
    # A stable id: if a mail is ever sent twice, mail clients show it once.
    message["Message-ID"] = f"<{mail.id}@{sender.rpartition('@')[2] or 'bridge.invalid'}>"
    message.set_content(mail.body)
    return message


class Mailer:
    """One SMTP connection for a run, opened at the first mail that needs it."""

    def __init__(self, config: Mapping[str, object]) -> None:
        self.host = str(config.get("SMTP_HOST") or "")
        self.port = int(str(config.get("SMTP_PORT") or 587))
        self.user = str(config.get("SMTP_USER") or "")
        self.password = str(config.get("SMTP_PASSWORD") or "")
        self.starttls = _flag(config.get("SMTP_STARTTLS", True))
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        if self.smtp is None:
            smtp = smtplib.SMTP(self.host, self.port, timeout=SMTP_TIMEOUT_SECONDS)
            try:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
            except BaseException:
                smtp.close()
                raise
            self.smtp = smtp
        self.smtp.send_message(message)

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (OSError, smtplib.SMTPException):
                self.smtp.close()
            self.smtp = None


def sender_of(config: Mapping[str, object], mailer: Mailer) -> str:
    return str(config.get("MAIL_FROM") or mailer.user)


def send_now(mail: OutboxMail, config: Mapping[str, object]) -> str | None:
    """Send one mail at once, before it is stored: for a text that must never wait in the outbox
    (a reset link). None when the server took it, otherwise why not (no server configured, or
    the error), for the caller to store the mail without its secret."""
    mailer = Mailer(config)
    if not mailer.host:
        return "no SMTP server configured"
    try:
        mailer.send(message_of(mail, sender_of(config, mailer)))
    except (OSError, smtplib.SMTPException) as error:
        return f"{type(error).__name__}: {error}"[:ERROR_MAX]
    finally:
        mailer.close()
    return None
