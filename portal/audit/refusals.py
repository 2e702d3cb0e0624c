"""Refusals on the audit trail: every 403 or 404 answered to a request that names a person's record
(the person, a need, consent, contact, referral or follow-up, or an erasure request) in its path,
query or form is a "denied" event for each record named, whichever layer refused it: the role
decorator, a lookup that found nothing the user may see, or a service. One hook after every
request, so no view can forget."""

import uuid
from collections.abc import Mapping

from flask import Flask, g, request
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.audit.services import record, record_view
from portal.db import is_read_only_request

REFUSED = frozenset({403, 404})
# The URL parameters that name a record of a person, and the record type the trail calls it.
RECORD_TYPES: dict[str, str] = {
    "person_id": "person",
    "need_id": "need",
    "consent_id": "consent",
    "contact_id": "contact",
    "referral_id": "referral",
    "follow_up_id": "follow_up",
    "request_id": "erasure_request",
}
# ... and the query or form parameters that do (the grid worker's pages name the person so).
PARAMETER_TYPES: dict[str, str] = {"person": "person"}


def records_named(view_args: dict[str, object] | None) -> list[tuple[str, uuid.UUID]]:
    """The records a request's URL names, as (record type, id)."""
    return [
        (RECORD_TYPES[name], value)
        for name, value in (view_args or {}).items()
        if name in RECORD_TYPES and isinstance(value, uuid.UUID)
    ]


def records_in_parameters(values: Mapping[str, str]) -> list[tuple[str, uuid.UUID]]:
    """The records a request's query or form names, as (record type, id); a malformed id names none."""
    named = []
    for name, record_type in PARAMETER_TYPES.items():
        try:
            named.append((record_type, uuid.UUID(values.get(name, ""))))
        except ValueError:
            continue
    return named


def _log_refusal(response: Response) -> Response:
    if response.status_code not in REFUSED or not current_user.is_authenticated:
        return response
    named = records_named(request.view_args) + records_in_parameters(request.values)
    if not named:
        return response
    session = g.get("db_session")
    if session is None or is_read_only_request():
        for record_type, record_id in named:
            record_view(current_user, "denied", record_type, [record_id])
        return response
    # A refusal changes nothing: whatever the request began is dropped, and the refusal is its only
    # write (in the request's own transaction, which may already hold SQLite's write lock).
    session.rollback()
    for record_type, record_id in named:
        record(session, current_user, "denied", record_type, record_id)
    session.commit()
    return response


def init_app(app: Flask) -> None:
    app.after_request(_log_refusal)
