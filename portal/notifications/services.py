"""Leaving a message in a user's in-app list. The kind and its parameters are stored, not a
sentence, so each reader sees it in their own language."""

import uuid

from sqlmodel import Session

from portal.models import Notification


def notify(session: Session, user_id: uuid.UUID | None, kind: str, link: str = "", **params: str) -> None:
    """Add a notification (the caller commits, with the change it tells about)."""
    if user_id is not None:
        session.add(Notification(user_id=user_id, kind=kind, params=params, link=link))
