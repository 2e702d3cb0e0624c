"""Leaving a message in a user's in-app list, reading it, and marking it read. The kind and its
parameters are stored, not a sentence, so each reader sees it in their own language."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from sqlmodel import Session, col, func, select, update

from portal.keyset import DEFAULT_PER_PAGE, Page, SortKey, page_of
from portal.models import NoticeTarget, Notification, Offer, OutboxMail, User, utcnow
from portal.notifications.mail import queue_mail
from portal.notifications.texts import sentence

# Both lists run newest first; the id makes the order total.
NOTIFICATION_ORDER = (
    SortKey(col(Notification.created_at), descending=True),
    SortKey(col(Notification.id), descending=True),
)
OUTBOX_ORDER = (SortKey(col(OutboxMail.created_at), descending=True), SortKey(col(OutboxMail.id), descending=True))


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
    _add(session, user_id, session.get(User, user_id), Notice(user_id, kind, target, target_id, params))


@dataclass(frozen=True)
class Notice:
    """One notification to add, as `notify` takes it."""

    user_id: uuid.UUID | None
    kind: str
    target: NoticeTarget = NoticeTarget.NONE
    target_id: uuid.UUID | None = None
    params: dict[str, str] = field(default_factory=dict)


def notify_all(session: Session, notices: Sequence[Notice]) -> None:
    """`notify` for many at once, as the periodic job tells of a batch: the recipients are read in one
    query, and the notifications and e-mails written with the caller's commit."""
    recipients = {notice.user_id for notice in notices if notice.user_id is not None}
    if not recipients:
        return
    users = {user.id: user for user in session.exec(select(User).where(col(User.id).in_(recipients)))}
    for notice in notices:
        if notice.user_id is not None:
            _add(session, notice.user_id, users.get(notice.user_id), notice)


def _add(session: Session, user_id: uuid.UUID, user: User | None, notice: Notice) -> None:
    session.add(
        Notification(
            user_id=user_id, kind=notice.kind, params=notice.params, target=notice.target, target_id=notice.target_id
        )
    )
    if user is not None:
        queue_mail(session, user, notice.kind, notice.target, notice.target_id, notice.params)


def providers_of(session: Session, offers: Iterable[Offer]) -> dict[uuid.UUID, list[uuid.UUID]]:
    """Who answers for each offer: its organization's staff, or its volunteer; staff in one query."""
    offers = list(offers)
    organizations = {offer.organization_id for offer in offers if offer.organization_id is not None}
    staff: dict[uuid.UUID, list[uuid.UUID]] = {}
    if organizations:
        for user_id, organization_id in session.exec(
            select(User.id, User.organization_id).where(col(User.organization_id).in_(organizations))
        ):
            if organization_id is not None:
                staff.setdefault(organization_id, []).append(user_id)

    def answering(offer: Offer) -> list[uuid.UUID]:
        if offer.organization_id is not None:
            return staff.get(offer.organization_id, [])
        return [offer.volunteer_id] if offer.volunteer_id else []

    return {offer.id: answering(offer) for offer in offers}


def provider_notices(session: Session, offers: Iterable[Offer], kind: str, **params: str) -> list[Notice]:
    """The notices that tell the people who answer for these offers (`offer` names each one's)."""
    offers = list(offers)
    recipients = providers_of(session, offers)
    return [
        Notice(user_id, kind, NoticeTarget.REFERRAL_INBOX, params={"offer": offer.title, **params})
        for offer in offers
        for user_id in recipients[offer.id]
    ]


def notify_providers(session: Session, offer: Offer, kind: str, **params: str) -> None:
    """Tell the people who answer for an offer: its organization's staff, or its volunteer."""
    notify_all(session, provider_notices(session, [offer], kind, **params))


@dataclass(frozen=True)
class Shown:
    """A notification as its reader sees it: a sentence in their language."""

    notification: Notification
    text: str

    @property
    def unread(self) -> bool:
        return self.notification.read_at is None


def notifications_of(
    session: Session, user: User, cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE
) -> Page[Shown]:
    """A page of the user's own notifications, newest first, as sentences in the current language.

    :raise BadCursor: the cursor was not written for this list.
    """
    own = select(Notification).where(Notification.user_id == user.id)
    page = page_of(session, own, NOTIFICATION_ORDER, lambda row: (row.created_at, row.id), cursor, per_page)
    return Page([Shown(row, sentence(row.kind, row.params or {})) for row in page.items], page.next_cursor)


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


def outbox(session: Session, cursor: str | None = None, per_page: int = DEFAULT_PER_PAGE) -> Page[OutboxMail]:
    """A page of the e-mails, newest first, sent, waiting or failed (for admins).

    :raise BadCursor: the cursor was not written for this list.
    """
    return page_of(session, select(OutboxMail), OUTBOX_ORDER, lambda mail: (mail.created_at, mail.id), cursor, per_page)
