"""The erasure queue: record a person's request to be erased, see what is due, carry it out."""

import uuid

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.auth.access import fresh_sign_in_required, role_required
from portal.clock import local_today
from portal.db import get_session
from portal.erasure import services
from portal.erasure.forms import ErasureRequestForm
from portal.exceptions import AlreadyDecided, AlreadyRequested, OnLegalHold
from portal.forms import validate
from portal.models import Role, utcnow

bp = Blueprint("erasure", __name__, url_prefix="/erasure-requests")

HANDLERS = (Role.ADMIN, Role.SUPERVISOR)


def _page(
    status: int = 200, form: dict[str, str] | None = None, errors: dict[str, str] | None = None
) -> tuple[str, int]:
    today = local_today()
    waiting, decided = services.queue(get_session(), current_user, today)
    return (
        render_template(
            "erasure/index.html", waiting=waiting, decided=decided, today=today, form=form or {}, errors=errors or {}
        ),
        status,
    )


@bp.route("/")
@role_required(*HANDLERS)
def index() -> tuple[str, int]:
    """The open requests with their due date, overdue ones marked, and the latest decided."""
    return _page()


@bp.route("/", methods=["POST"])
@role_required(*HANDLERS)
def create() -> Response | tuple[str, int]:
    """Record a person's request to be erased; it is due 30 days from today."""
    session = get_session()
    data, errors = validate(ErasureRequestForm, request.form)
    typed = request.form.to_dict(flat=True)
    if data is None:
        return _page(422, typed, errors)
    person = services.find_person_by_code(session, current_user, data.person_code)
    if person is None:
        return _page(422, typed, {"person_code": _("No person with this code in the records you handle.")})
    try:
        services.record_request(
            session, current_user, person, data.basis, local_today(), int(current_app.config["ERASURE_DUE_DAYS"])
        )
    except AlreadyRequested:
        return _page(409, typed, {"person_code": _("This person already has an open erasure request.")})
    flash(_("Erasure request recorded."), "success")
    return redirect(url_for("erasure.index"), code=303)


@bp.route("/<uuid:request_id>/erase", methods=["POST"])
@role_required(*HANDLERS)
@fresh_sign_in_required
def erase(request_id: uuid.UUID) -> Response | tuple[str, int]:
    """Carry the request out: erase the person's record for good, unless a legal hold keeps it."""
    session = get_session()
    erasure = services.find_request(session, current_user, request_id) or abort(404)
    if request.form.get("confirm") != "1":
        # Irreversible: one stray click must not do it.
        message = _("Tick the box to confirm that no legal duty requires keeping this record.")
        return _page(422, errors={"__all__": message, f"confirm-{erasure.id}": message})
    try:
        services.carry_out(session, current_user, erasure, utcnow())
    except OnLegalHold as refused:
        message = _("The record is on legal hold and was not erased: %(reason)s", reason=refused.reason)
        return _page(409, errors={"__all__": message})
    except AlreadyDecided:
        return _page(409, errors={"__all__": _("This request was already decided.")})
    flash(_("The record was erased. Only its code remains."), "success")
    return redirect(url_for("erasure.index"), code=303)
