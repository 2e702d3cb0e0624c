"""The provider's inbox and every step taken on a referral, from either side."""

import uuid
from typing import Any

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.audit.services import record_view
from portal.auth.access import role_required
from portal.consents.ledger import refused_for_consent
from portal.db import get_session
from portal.exceptions import (
    BadCursor,
    IllegalTransition,
    MissingReason,
    NoConsent,
    NoPlaceLeft,
    NotAllowed,
    StaleEdit,
)
from portal.forms import query_values, validate
from portal.htmx import render, wants_partial
from portal.matches.services import live_index
from portal.models import Need, Offer, Person, Referral, Role
from portal.referrals import history as history_of
from portal.referrals import services
from portal.referrals.pages import (
    ApproveForm,
    HistoryForm,
    history_filter_names,
    labels_for_one_response,
    no_consent_message,
    policy_for,
    step_taken,
)
from portal.referrals.states import DECLINE_REASONS, MOVES, OUTCOMES, WITHDRAW_REASONS, actions_from
from portal.versions import form_version

bp = Blueprint("referrals", __name__, url_prefix="/referrals")

PROVIDERS = (Role.PROVIDER, Role.VOLUNTEER)
CASE = (Role.CASEWORKER, Role.SUPERVISOR)
REASONS = {"decline": DECLINE_REASONS, "complete": OUTCOMES, "withdraw": WITHDRAW_REASONS}
# Referrals on one page of the inbox: enough to work through, few enough to read and decrypt quickly.
INBOX_PAGE = 25


@bp.route("/inbox")
@role_required(*PROVIDERS)
def inbox() -> Response:
    """Referrals to the organization's offers (or the volunteer's own), a page at a time, the
    ones waiting for an answer first; `state` filters, `after` is the page's cursor."""
    return _inbox(request.args.get("state", "all"), request.args.get("after") or None)


def _inbox(state: str, cursor: str | None, message: str = "", status: int = 200) -> Response:
    """The inbox page (or its section, for htmx) of this filter from this cursor, with the count
    of each filter; only the referrals shown are read, decrypted and put on the audit trail."""
    session = get_session()
    states = services.INBOX_FILTERS.get(state)
    try:
        if states is None:
            raise BadCursor(state)
        found = services.inbox(session, current_user, states, cursor, INBOX_PAGE)
    except BadCursor:
        refused = _("This link to the referral inbox is not one the portal wrote. Open the inbox again from the menu.")
        return make_response(render_template("errors/error.html", status=400, message=refused), 400)
    # The person is seen through the referral: the trail names the referrals shown, and only those.
    record_view(current_user, "list", "referral", [item.referral.id for item in found.page.items])
    return render(
        "referrals/inbox.html",
        "referrals/_inbox.html",
        status=status,
        inbox=found.page,
        counts=found.counts,
        state=state,
        cursor=cursor,
        message=message,
        **_item_context(),
    )


@bp.route("/history")
@role_required(*PROVIDERS)
def history() -> Response:
    """Every referral sent to the provider's offers, in any state, newest first, by offer, state,
    person's code and dates; with the provider's own figures over the same offer and dates."""
    session = get_session()
    data, errors = validate(HistoryForm, request.args)
    offers = history_of.offers_of(session, current_user)
    if data is not None and data.offer is not None and data.offer not in {offer.id for offer in offers}:
        data, errors = None, {"offer": _("Choose one of your offers.")}
    found, figures, refused = None, None, ""
    if data is not None:
        query = history_of.HistoryQuery(data.state, data.offer, data.code.strip().upper(), data.sent_from, data.sent_to)
        try:
            found = history_of.history(session, current_user, query, data.after, INBOX_PAGE)
        except BadCursor:
            refused = _("This page link was not made for this search. Start again from the newest referrals.")
        else:
            figures = history_of.figures(session, current_user, query)
            record_view(current_user, "list", "referral", [item.referral_id for item in found.page.items])
    form = query_values(HistoryForm.model_fields, request.args)
    names = history_filter_names()
    return render(
        "referrals/history.html",
        "referrals/_history.html",
        status=400 if refused else 422 if errors else 200,
        found=found,
        figures=figures,
        offers=offers,
        form={name: value for name, value in form.items() if name != "after"},
        first_page=not (data and data.after),
        errors=errors,
        refused=refused,
        filters=list(history_of.HISTORY_FILTERS),
        state_names=names,
        state_options=list(names.items()),
        offer_options=[(offer.id, offer.title) for offer in offers],
        label=labels_for_one_response(),
    )


def _item_context() -> dict[str, object]:
    """What rendering a referral in the inbox needs; the words are looked up once per response."""
    return {"reasons": REASONS, "actions_from": actions_from, "label": labels_for_one_response()}


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
                refused = _("Summary for the provider: %(error)s", error=errors["summary"])
                return _after(side, referral_id, person, refused, 422)
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
        return _after(side, referral_id, person, stale.message(), 409)
    except MissingReason:
        return _after(side, referral_id, person, _("Choose a reason from the list."), 422)
    except NoPlaceLeft:
        return _after(side, referral_id, person, _("No place is left on this offer."), 409)
    except IllegalTransition:
        return _after(side, referral_id, person, _("This referral has moved on; reload to see where it stands."), 409)
    except NotAllowed:
        abort(403)
    except NoConsent:
        return refused_for_consent(session, person, no_consent_message()) if person else abort(404)
    offer = session.get(Offer, referral.offer_id)
    done = step_taken(action, offer.title if offer else "", request.form.get("reason", ""))
    return _after(side, referral_id, person, done)


def _after(side: str, referral_id: uuid.UUID, person: Person | None, message: str, status: int = 200) -> Response:
    """htmx gets the referral in place; without JavaScript, a redirect back to the page of the inbox
    the form was on (or to the person's page) with the message."""
    if side == "provider":
        state, cursor = request.form.get("state", "all"), request.form.get("after") or None
        if wants_partial():
            return _inbox_item(referral_id, message, status)
        if status != 200:
            return _inbox(state, cursor, message, status)
        flash(message, "success")
        return redirect(url_for("referrals.inbox", **_inbox_args(state, cursor)), code=303)
    if status != 200:
        flash(message, "error")
    else:
        flash(message, "success")
    target = url_for("people.detail", person_id=person.id) if person else url_for("home.index")
    return redirect(target, code=303)


def _inbox_args(state: str, cursor: str | None) -> dict[str, Any]:
    """The inbox's query string for this filter and page, empty for the first page of all."""
    args = {"state": state} if state != "all" else {}
    return args | ({"after": cursor} if cursor else {})


def _inbox_item(referral_id: uuid.UUID, message: str, status: int) -> Response:
    """The acted-on referral as it stands now, to replace its place on the page; the message goes to
    the inbox's status line. A referral that left the inbox (declined, completed) says so in its place."""
    session = get_session()
    item = services.find_for_provider(session, current_user, referral_id)
    state, cursor = request.form.get("state", "all"), request.form.get("after") or None
    gone = None if item is not None else session.get(Referral, referral_id)
    response = make_response(
        render_template(
            "referrals/_inbox_item.html",
            item=item,
            gone=gone,
            state=state,
            cursor=cursor,
            message=message,
            oob=True,
            **_item_context(),
        ),
        status,
    )
    response.vary.add("HX-Request")
    return response
