"""Leaving a message in a user's in-app list, reading it, and marking it read. The kind and its
parameters are stored, not a sentence, so each reader sees it in their own language."""

import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, func, select, update

from portal.models import NoticeTarget, Notification, Offer, OutboxMail, User, utcnow
from portal.notifications.mail import queue_mail
from portal.notifications.texts import sentence

LIST_LIMIT = 200


def notify(
    session: Session,
    user_id: uuid.UUID | None,
    kind: str,
    target: NoticeTarget = NoticeTarget.NONE,
    target_id: uuid.UUID | None = None,
    /,
    **params: str,
) -> None:
    """Add a notification and its e-mail (the caller commits, with the change it tells about).
    `target` and `target_id` say what it is about; the web layer makes that a link."""
    if user_id is None:
        return
    session.add(Notification(user_id=user_id, kind=kind, params=params, target=target, target_id=target_id))
    user = session.get(User, user_id)
    if user is not None:
        queue_mail(session, user, kind, target, target_id, params)


def notify_providers(session: Session, offer: Offer, kind: str, **params: str) -> None:
    """Tell the people who answer for an offer: its organization's staff, or its volunteer."""
    if offer.organization_id is not None:
        recipients = list(session.exec(select(User.id).where(User.organization_id == offer.organization_id)))
    else:
        recipients = [offer.volunteer_id] if offer.volunteer_id else []
    for user_id in recipients:
        notify(session, user_id, kind, NoticeTarget.REFERRAL_INBOX, offer=offer.title, **params)


@dataclass(frozen=True)
class Shown:
    """A notification as its reader sees it: a sentence in their language."""

    notification: Notification
    text: str

    @property
    def unread(self) -> bool:
        return self.notification.read_at is None


def notifications_of(session: Session, user: User, *, limit: int = LIST_LIMIT) -> list[Shown]:
    """The user's own notifications, newest first, as sentences in the current language."""
    rows = session.exec(
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(col(Notification.created_at).desc(), col(Notification.id))
        .limit(limit)
    )
    return [Shown(row, sentence(row.kind, row.params or {})) for row in rows]


def count_unread(session: Session, user_id: uuid.UUID) -> int:
    """How many of the user's notifications are unread (one query, for the navigation)."""
    unread = select(func.count()).where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
    return int(session.exec(unread).one())


def mark_all_read(session: Session, user: User) -> int:
    """Mark every unread notification of this user read; returns how many changed."""
    result = session.exec(
        update(Notification)
        .where(col(Notification.user_id) == user.id, col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
    )
    session.commit()
    return int(result.rowcount)


def outbox(session: Session, *, limit: int = LIST_LIMIT) -> list[OutboxMail]:
    """The latest e-mails, newest first, sent or waiting (for admins)."""
    return list(
        session.exec(select(OutboxMail).order_by(col(OutboxMail.created_at).desc(), col(OutboxMail.id)).limit(limit))
    )
