"""The caseworker's matches for a need: ranked offers with reasons, near misses, approve or dismiss."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session
from werkzeug.wrappers import Response

from portal import idempotency
from portal.audit.services import record_view
from portal.auth.access import role_required
from portal.consents.services import may_disclose, valid_consents
from portal.db import get_engine, get_session, is_read_only_request
from portal.exceptions import AlreadyReferred, NoConsent
from portal.forms import validate, whole_number
from portal.htmx import render, wants_partial
from portal.labels import label
from portal.matches import learning, services
from portal.models import Person, Referral, ReferralStatus, Role
from portal.offers.services import owner_names
from portal.people.services import find_own_need
from portal.referrals import services as referrals
from portal.referrals.pages import ApproveForm, no_consent_message, policy_for
from portal.referrals.states import CONTACT_METHODS, DISMISS_REASONS

bp = Blueprint("matches", __name__, url_prefix="/matches")

PAGE_STEP, MOST_SHOWN, FARTHEST_KM = 10, 50, 500


@dataclass(frozen=True)
class Shown:
    """What the caseworker asked the list to show: how many offers, and how it is narrowed."""

    top: int = PAGE_STEP
    within_km: int | None = None
    remote_only: bool = False

    @property
    def narrowing(self) -> services.Narrowing:
        return services.Narrowing(None if self.within_km is None else float(self.within_km), self.remote_only)

    @property
    def more(self) -> dict[str, str]:
        """The query of the same list with ten more offers."""
        return {"show": str(min(self.top + PAGE_STEP, MOST_SHOWN)), **self.query}

    @property
    def query(self) -> dict[str, str]:
        within = {"within_km": str(self.within_km)} if self.within_km is not None else {}
        return within | ({"remote": "1"} if self.remote_only else {})

    @classmethod
    def read(cls, args: Mapping[str, str]) -> "tuple[Shown, str]":
        """The choice from the query string; a distance that cannot be used is left out, with a
        message saying so."""
        top = min(max(whole_number(args.get("show", ""), 3) or PAGE_STEP, PAGE_STEP), MOST_SHOWN)
        typed = args.get("within_km", "").strip()
        within = whole_number(typed, 3) if typed else None
        problem = ""
        if typed and (within is None or not 1 <= within <= FARTHEST_KM):
            within, problem = None, _("Enter a distance from 1 to %(most)s km.", most=FARTHEST_KM)
        return cls(top, within, args.get("remote") == "1"), problem


def _page(
    need_id: uuid.UUID,
    status: int = 200,
    message: str = "",
    typed: dict[str, str] | None = None,
    shown: Shown | None = None,
) -> Response:
    """The ranked list; `typed` is an approve form sent back with its error (`offer_id`, `summary`,
    `error`); `shown` what the caseworker asked to see (how many, how near, remote only)."""
    session = get_session()
    need, person = find_own_need(session, current_user, need_id) or abort(404)
    if request.method == "GET":
        record_view(current_user, "view", "person", [person.id])
    shown = shown or Shown()
    live = services.live_index(current_app)
    result = services.rank_need(session, live, need, top=shown.top, narrowing=shown.narrowing)
    recording = _learning(person)
    if recording:
        _record_shown(session, result)
    decided = referrals.decided_offers(session, need.id)
    # Warned early: approving these would be refused until the person consents.
    consents = valid_consents(session, [(person, m.offer) for m in result.ranked])
    unconsented = {m.offer.id for m in result.ranked if consents[(person.id, m.offer.id)] is None}
    return render(
        "matches/index.html",
        "matches/_list.html",
        status=status,
        need=need,
        person=person,
        result=result,
        decided=decided,
        unconsented_offers=unconsented,
        dismiss_reasons=DISMISS_REASONS,
        contact_methods=CONTACT_METHODS,
        typed=typed or {},
        message=message,
        learning_recorded=recording and result.scored,
        providers=owner_names(session, [match.offer for match in result.ranked]),
        shown=shown,
    )


def _record_shown(session: Session, result: services.NeedMatches) -> None:
    """Record the ranking shown: a GET's own session only reads, so (as the audit trail's record of
    a page shown) the row is written in a session of its own; a POST's session writes already."""
    if not is_read_only_request():
        learning.record_shown(session, result)
        return
    with Session(get_engine()) as own:
        learning.record_shown(own, result)


def _learning(person: Person) -> bool:
    """Whether the person's rankings and the decisions on them are recorded (PORTAL_LEARNING_PROGRAMMES)."""
    return learning.learning_on(current_app.config["LEARNING_PROGRAMMES"], person)


@bp.route("/needs/<uuid:need_id>")
@role_required(Role.CASEWORKER)
def index(need_id: uuid.UUID) -> Response:
    """The ranked eligible offers for one need, with the reasons, and the near misses below; ten at
    first, ten more at each "show more", narrowed to the near or the remote ones if asked."""
    shown, problem = Shown.read(request.args)
    return _page(need_id, 422 if problem else 200, problem, shown=shown)


@bp.route("/needs/<uuid:need_id>/approve", methods=["POST"])
@role_required(Role.CASEWORKER)
def approve(need_id: uuid.UUID) -> Response:
    """Approve one ranked offer: it becomes a referral (sent, or waiting for a supervisor), with the
    summary the provider reads. Sent twice, it is still one referral."""
    session = get_session()
    need, person = find_own_need(session, current_user, need_id) or abort(404)
    try:
        offer_id = uuid.UUID(request.form.get("offer_id", ""))
    except ValueError:
        abort(400)
    typed = {"offer_id": str(offer_id), "summary": request.form.get("summary", "")}
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        return _page(need_id, 400, idempotency.bad_key_message(), typed)
    data, errors = validate(ApproveForm, request.form)
    if data is None:
        kept = {**typed, "error": errors["summary"], idempotency.FIELD: str(key)}  # the same submission
        return _page(need_id, 422, _("Write what the provider should know."), kept)
    policy = policy_for(person.programme)
    earlier = idempotency.claim(session, current_user, key, Referral)
    if earlier is not None:  # sent twice: the first submission made the referral; say where it stands
        referral = referrals.open_referral(session, need.id, offer_id)
        return _answer(need_id, _approved(session, referral, policy) if referral else _("Referral updated."))
    try:
        referral = referrals.approve_match(
            session,
            services.live_index(current_app),
            current_user,
            need,
            offer_id,
            policy,
            request.form.get("contact_method", "via_caseworker"),
            data.summary,
            current_app.config["LEARNING_PROGRAMMES"],
        )
    except AlreadyReferred as already:
        message = _(
            "This offer was already referred for this need; the referral is %(status)s.", status=label(already.status)
        )
        return _answer(need_id, message, 409)
    except NoConsent:
        return _answer(need_id, no_consent_message(), 409)
    except ValueError:
        message = _("This offer can no longer be referred to: it is full, closed, or no longer eligible.")
        return _answer(need_id, message, 409)
    return _answer(need_id, _approved(session, referral, policy))


def _approved(session: Session, referral: Referral, policy: referrals.Policy) -> str:
    """Where an approved referral stands, for the caseworker who approved it."""
    if referral.status != ReferralStatus.PROPOSED:
        return _("Referral sent to the provider.")
    if not policy.supervisor_approval:
        return no_consent_message()  # sending was refused: it stays proposed until a consent is recorded
    if not may_disclose(session, referral):
        return _(
            "Referral proposed; it waits for a supervisor's approval. No consent covers this recipient yet: "
            "record the person's consent on their page before the supervisor approves."
        )
    return _("Referral proposed; it waits for a supervisor's approval.")


@bp.route("/needs/<uuid:need_id>/dismiss", methods=["POST"])
@role_required(Role.CASEWORKER)
def dismiss(need_id: uuid.UUID) -> Response:
    """Set a ranked offer aside for this need, with a reason from the list."""
    session = get_session()
    need, person = find_own_need(session, current_user, need_id) or abort(404)
    reason = request.form.get("reason", "")
    try:
        offer_id = uuid.UUID(request.form.get("offer_id", ""))
    except ValueError:
        abort(400)
    if reason not in DISMISS_REASONS:
        return _answer(need_id, _("Choose why this offer does not fit."), 422)
    note = request.form.get("note", "")[:2000]
    referrals.dismiss_match(
        session, current_user, need, offer_id, reason, note, current_app.config["LEARNING_PROGRAMMES"]
    )
    return _answer(need_id, _("Offer set aside for this need."))


def _answer(need_id: uuid.UUID, message: str, status: int = 200) -> Response:
    """htmx gets the refreshed list inline; without JavaScript, the page again after a redirect."""
    if wants_partial() or status != 200:
        return _page(need_id, status, message)
    flash(message, "success")
    return redirect(url_for("matches.index", need_id=need_id), code=303)
