"""The provider's inbox and every step taken on a referral, from either side."""

import uuid

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.audit.services import record_view
from portal.auth.access import role_required
from portal.consents.ledger import refused_for_consent
from portal.db import get_session
from portal.exceptions import IllegalTransition, MissingReason, NoConsent, NoPlaceLeft, NotAllowed, StaleEdit
from portal.forms import validate
from portal.htmx import render, wants_partial
from portal.matches.services import live_index
from portal.models import Need, Person, Role
from portal.referrals import services
from portal.referrals.pages import ApproveForm, no_consent_message, policy_for
from portal.referrals.states import DECLINE_REASONS, MOVES, OUTCOMES, WITHDRAW_REASONS, actions_from
from portal.versions import form_version

bp = Blueprint("referrals", __name__, url_prefix="/referrals")

PROVIDERS = (Role.PROVIDER, Role.VOLUNTEER)
CASE = (Role.CASEWORKER, Role.SUPERVISOR)
REASONS = {"decline": DECLINE_REASONS, "complete": OUTCOMES, "withdraw": WITHDRAW_REASONS}


@bp.route("/inbox")
@role_required(*PROVIDERS)
def inbox() -> Response:
    """Referrals to the organization's offers (or the volunteer's own), with what to do next."""
    items = services.inbox(get_session(), current_user)
    record_view(current_user, "list", "referral", [item.referral.id for item in items])  # the person via the referral
    return render(
        "referrals/inbox.html", "referrals/_inbox.html", items=items, reasons=REASONS, actions_from=actions_from
    )


@bp.route("/<uuid:referral_id>/act", methods=["POST"])
@role_required(*PROVIDERS, *CASE)
def act(referral_id: uuid.UUID) -> Response:
    """Take one step on a referral: accept, decline, waitlist, start, complete, or withdraw."""
    session = get_session()
    side = "provider" if current_user.role in PROVIDERS else "case"
    if side == "provider":
        item = services.find_for_provider(session, current_user, referral_id) or abort(404)
        referral = item.referral
    else:
        referral = services.find_for_case(session, current_user, referral_id) or abort(404)
    action = request.form.get("action", "")
    move = MOVES.get(action)
    if move is None or move.side != side:
        abort(400)
    need = session.get(Need, referral.need_id)
    person = session.get(Person, need.person_id) if need else None
    policy = policy_for(person.programme if person else None)
    try:
        version = form_version(request.form)
    except ValueError:
        abort(400)
    try:
        if action == "approve":  # an approved referral goes to the provider at once, with its summary
            data, errors = validate(ApproveForm, request.form)
            if data is None:
                return _after(side, person, _("Summary for the provider: %(error)s", error=errors["summary"]), 422)
            services.approve_and_send(session, referral, current_user, policy, version, data.summary)
        else:
            services.transition(
                session,
                referral,
                action,
                current_user,
                reason=request.form.get("reason", ""),
                note=request.form.get("note", "").strip()[:2000],
                policy=policy,
                live=live_index(current_app),
                version=version,
            )
    except StaleEdit as stale:
        return _after(side, person, stale.message(), 409)
    except MissingReason:
        return _after(side, person, _("Choose a reason from the list."), 422)
    except NoPlaceLeft:
        return _after(side, person, _("No place is left on this offer."), 409)
    except IllegalTransition:
        return _after(side, person, _("This referral has moved on; reload to see where it stands."), 409)
    except NotAllowed:
        abort(403)
    except NoConsent:
        return refused_for_consent(session, person, no_consent_message()) if person else abort(404)
    return _after(side, person, _("Referral updated."))


def _after(side: str, person: Person | None, message: str, status: int = 200) -> Response:
    """htmx gets the refreshed list in place; without JavaScript, a redirect back with the message."""
    if side == "provider":
        if wants_partial() or status != 200:
            items = services.inbox(get_session(), current_user)
            return render(
                "referrals/inbox.html",
                "referrals/_inbox.html",
                status=status,
                items=items,
                reasons=REASONS,
                actions_from=actions_from,
                message=message,
            )
        flash(message, "success")
        return redirect(url_for("referrals.inbox"), code=303)
    if status != 200:
        flash(message, "error")
    else:
        flash(message, "success")
    target = url_for("people.detail", person_id=person.id) if person else url_for("home.index")
    return redirect(target, code=303)
