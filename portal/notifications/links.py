"""Which page each notification opens. Services store what a notice is about (a NoticeTarget and an
id); the address is built here, from the routes, when the notice is shown or its e-mail written."""

import uuid
from typing import Any

from flask import current_app, url_for

from portal.models import NoticeTarget, Notification

# Each target's endpoint, and the argument its id fills (None: the page needs no id).
ENDPOINTS: dict[NoticeTarget, tuple[str, str | None]] = {
    NoticeTarget.PERSON: ("people.detail", "person_id"),
    NoticeTarget.REFERRAL_INBOX: ("referrals.inbox", None),
    NoticeTarget.HOME: ("home.index", None),
    NoticeTarget.OUTBOX: ("notifications.outbox", None),
}


def _endpoint(target: str, target_id: uuid.UUID | None) -> tuple[str, dict[str, Any]] | None:
    if target not in ENDPOINTS:
        return None
    endpoint, argument = ENDPOINTS[NoticeTarget(target)]
    if argument is None:
        return endpoint, {}
    return (endpoint, {argument: target_id}) if target_id is not None else None


def notice_url(notification: Notification) -> str | None:
    """The link of a notice in the portal's pages, or None when it opens no page."""
    found = _endpoint(notification.target, notification.target_id)
    return url_for(found[0], **found[1]) if found else None


def notice_path(target: str, target_id: uuid.UUID | None) -> str:
    """The path of a notice's page for its e-mail, or "" when it opens none. Built from the route
    map rather than a request: run-due-jobs writes mails too, with no request to build from."""
    found = _endpoint(target, target_id)
    return current_app.url_map.bind("").build(found[0], found[1]) if found else ""
