"""The administrators' search of the audit trail, and the words the trail is shown in."""

from datetime import timedelta

from flask import Blueprint, request
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.wrappers import Response

from portal.audit import services
from portal.audit.forms import AuditSearchForm
from portal.auth.access import fresh_sign_in_required, role_required
from portal.clock import local_midnight
from portal.db import get_session
from portal.exceptions import BadCursor
from portal.forms import query_values, validate
from portal.htmx import render
from portal.labels import label
from portal.models import ReferralStatus, Role

bp = Blueprint("audit", __name__, url_prefix="/audit")

PER_PAGE = 50

ACTION_LABELS: dict[str, LazyString] = {
    "view": _l("Viewed"),
    "list": _l("Seen in a list"),
    "denied": _l("Refused access"),
    "create": _l("Recorded"),
    "update": _l("Changed"),
    "status": _l("Status changed"),
    "handover": _l("Handed over"),
    "moved": _l("Moved to another area"),
    "duplicate_found": _l("Found by a duplicate check"),
    "reminded": _l("Provider reminded to answer"),
}
RECORD_TYPE_LABELS: dict[str, LazyString] = {
    "person": _l("Person"),
    "need": _l("Need"),
    "contact": _l("Contact log"),
    "referral": _l("Referral"),
    "follow_up": _l("Follow-up"),
    "consent": _l("Consent given"),
    "erasure_request": _l("Erasure request"),
}


@bp.app_template_global()
def audit_action_label(action: str) -> str:
    """An audit action in the reader's language; referral steps use their status words."""
    text = ACTION_LABELS.get(action)
    return str(text) if text is not None else label(action)


@bp.app_template_global()
def audit_record_type_label(record_type: str) -> str:
    text = RECORD_TYPE_LABELS.get(record_type)
    return str(text) if text is not None else record_type


@bp.route("/")
@role_required(Role.ADMIN)
@fresh_sign_in_required
def index() -> Response:
    """Search the trail by who, which record, what and when; newest first, a page at a time."""
    data, errors = validate(AuditSearchForm, request.args)
    if data is not None and data.date_from and data.date_to and data.date_to < data.date_from:
        data, errors = None, {"date_to": _("The end date cannot be before the start date.")}
    found, status, refused = None, 422 if errors else 200, None
    if data is not None:
        filters = services.Filters(
            actor_email=data.actor.strip() or None if data.actor else None,
            record_id=data.record_id,
            action=data.action,
            since=local_midnight(data.date_from) if data.date_from else None,
            before=local_midnight(data.date_to + timedelta(days=1)) if data.date_to else None,
        )
        try:
            found = services.search(get_session(), filters, data.after, PER_PAGE)
        except BadCursor:
            refused = _("This page link was not made for this search. Start again from the newest events.")
            status = 400
    form = query_values(AuditSearchForm.model_fields, request.args)
    return render(
        "audit/index.html",
        "audit/_results.html",
        status=status,
        form={name: value for name, value in form.items() if name != "after"},
        errors=errors,
        found=found,
        refused=refused,
        first_page=not (data and data.after),
        actions=[*ACTION_LABELS, *ReferralStatus],
    )
