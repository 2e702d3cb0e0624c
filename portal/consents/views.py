"""The consent ledger on a person's page: give, see and revoke consents; a supervisor's override."""

import uuid
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session
from werkzeug.wrappers import Response

from portal import idempotency
from portal.auth.access import fresh_sign_in_required, role_required
from portal.consents import services
from portal.consents.forms import ConsentForm, OverrideForm
from portal.consents.pages import ledger
from portal.db import get_session
from portal.exceptions import IncompleteConsent, NotAllowed, StaleEdit, UnknownRecipient
from portal.forms import validate
from portal.htmx import render, wants_partial
from portal.models import Consent, ConsentOverride, Need, Person, Role
from portal.referrals.services import find_for_case
from portal.versions import form_version

bp = Blueprint("consents", __name__)

MANAGERS = (Role.CASEWORKER, Role.SUPERVISOR)
LIST_FIELDS = ("data_categories",)


def _answer(session: Session, person: Person, status: int = 200, notice: str = "", **typed: Any) -> Response:
    """htmx gets the ledger in place; without JavaScript, the person's page after a redirect."""
    if status < 400 and not wants_partial():
        flash(notice, "success")
        return redirect(url_for("people.detail", person_id=person.id, _anchor="consents"), code=303)
    context = ledger(session, current_user, person, consents_notice=notice, **typed)
    return render("consents/index.html", "consents/_ledger.html", status=status, **context)


@bp.route("/people/<uuid:person_id>/consents")
@role_required(*MANAGERS)
def index(person_id: uuid.UUID) -> Response:
    """A person's consents, with the form to record one."""
    session = get_session()
    person = services.find_managed_person(session, current_user, person_id) or abort(404)
    return render("consents/index.html", "consents/_ledger.html", **ledger(session, current_user, person))


@bp.route("/people/<uuid:person_id>/consents", methods=["POST"])
@role_required(*MANAGERS)
def create(person_id: uuid.UUID) -> Response:
    """Record a consent as the person gave it."""
    session = get_session()
    person = services.find_managed_person(session, current_user, person_id) or abort(404)
    typed: dict[str, object] = dict(request.form.to_dict(flat=True))
    typed["data_categories"] = request.form.getlist("data_categories")
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        errors = {"__all__": idempotency.bad_key_message()}
        return _answer(session, person, 400, consent_form=typed, consent_errors=errors)
    data, errors = validate(ConsentForm, request.form, LIST_FIELDS)
    # Sent twice: the consent was recorded the first time; the answer is the same as then.
    if data is not None and idempotency.claim(session, current_user, key, Consent) is None:
        try:
            services.record_consent(session, current_user, person, data)
        except UnknownRecipient:
            session.rollback()  # the key too: the corrected form is sent with it again
            errors = {"recipient": _("Choose one of the options.")}
        except IncompleteConsent as incomplete:
            errors = incomplete.errors
    if data is None or errors:
        return _answer(session, person, 422, consent_form=typed, consent_errors=errors)
    return _answer(session, person, notice=_("Consent recorded."))


@bp.route("/people/<uuid:person_id>/consents/<uuid:consent_id>/revoke", methods=["POST"])
@role_required(*MANAGERS)
def revoke(person_id: uuid.UUID, consent_id: uuid.UUID) -> Response:
    """Revoke a consent in one click: from the next request on, nothing more is disclosed under it."""
    session = get_session()
    person = services.find_managed_person(session, current_user, person_id) or abort(404)
    consent = services.find_consent(session, person, consent_id) or abort(404)
    try:
        version = form_version(request.form)
    except ValueError:
        abort(400)
    try:
        services.revoke_consent(session, current_user, person, consent, version)
    except StaleEdit as stale:
        return _answer(session, person, 409, consents_error=stale.message())
    return _answer(session, person, notice=_("Consent revoked."))


@bp.route("/referrals/<uuid:referral_id>/override", methods=["POST"])
@role_required(Role.SUPERVISOR)
@fresh_sign_in_required
def override(referral_id: uuid.UUID) -> Response | tuple[str, int]:
    """A supervisor records the legal basis for sending this referral without the person's consent."""
    session = get_session()
    referral = find_for_case(session, current_user, referral_id) or abort(404)
    need = session.get(Need, referral.need_id) or abort(404)
    target = url_for("people.detail", person_id=need.person_id, _anchor="referrals")
    typed = request.form.to_dict(flat=True)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        errors = {"__all__": idempotency.bad_key_message()}
        return render_template("consents/override.html", referral=referral, form=typed, errors=errors, back=target), 400
    data, errors = validate(OverrideForm, request.form)
    if data is None:
        return render_template("consents/override.html", referral=referral, form=typed, errors=errors, back=target), 422
    if idempotency.claim(session, current_user, key, ConsentOverride) is not None:
        return redirect(target, code=303)  # sent twice: the basis was recorded the first time
    try:
        services.record_override(session, current_user, referral, data)
    except NotAllowed:
        abort(404)
    flash(_("Legal basis recorded. You can now approve the referral."), "success")
    return redirect(target, code=303)
