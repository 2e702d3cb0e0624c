"""The anti-drug specialist's pages: their people with the next checks due, and one person's
agreement and checks, each recorded in a form of its own."""

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import idempotency
from portal.audit.services import record_view
from portal.auth.access import role_required
from portal.clock import local_today
from portal.db import get_session
from portal.duties import card, find_for_duty
from portal.exceptions import AlreadyDecided, NotAllowed
from portal.forms import parse_id, validate
from portal.models import Duty, Person, Programme, ProgrammeAgreement, Role
from portal.programme import services
from portal.programme.forms import AgreementForm, CheckForm

bp = Blueprint("programme", __name__, url_prefix="/programme")


@bp.route("/")
@role_required(Role.SPECIALIST)
def index() -> str:
    """The specialist's people, the soonest report-in or test due first."""
    today = local_today()
    rows = services.caseload(get_session(), current_user, today, current_app.config["CONTACT_GAP_DAYS"])
    record_view(current_user, "list", "person", [row.person.id for row in rows])
    return render_template("programme/index.html", rows=rows, today=today)


def _person(raw: str | None) -> Person:
    """The person a request names: a malformed name is a bad request; one the specialist does not
    work with looks like one that does not exist."""
    person_id = parse_id(raw) or abort(400)
    return find_for_duty(get_session(), current_user, Duty.PROGRAMME, person_id) or abort(404)


@bp.route("/person")
@role_required(Role.SPECIALIST)
def person() -> tuple[str, int]:
    """One person's programme: the agreement, the checks due and done, and the forms to record them."""
    return _page(_person(request.args.get("person")))


def _page(
    someone: Person,
    status: int = 200,
    agreement_form: dict[str, str] | None = None,
    agreement_errors: dict[str, str] | None = None,
    check_errors: dict[str, str] | None = None,
) -> tuple[str, int]:
    session = get_session()
    if request.method == "GET":  # a form sent back with its errors shows what the GET logged
        record_view(current_user, "view", "person", [someone.id])
    today = local_today()
    return render_template(
        "programme/person.html",
        person=card(someone, Duty.PROGRAMME, today, current_app.config["CONTACT_GAP_DAYS"]),
        agreements=services.agreements_of(session, someone),
        checks=services.checks_of(session, someone),
        results=services.RESULTS,
        programmes=list(Programme),
        today=today,
        agreement_form=agreement_form or {"signed_on": today.isoformat(), "starts_on": today.isoformat()},
        agreement_errors=agreement_errors or {},
        check_errors=check_errors or {},
    ), status


@bp.route("/agreement", methods=["POST"])
@role_required(Role.SPECIALIST)
def agreement() -> Response | tuple[str, int]:
    """Record the person's signed agreement; it schedules their first report-in and test."""
    someone = _person(request.form.get("person"))
    typed = request.form.to_dict(flat=True)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        return _page(someone, 400, typed, {"__all__": idempotency.bad_key_message()})
    data, errors = validate(AgreementForm, request.form)
    if data is None:
        return _page(someone, 422, typed, errors)
    session = get_session()
    if idempotency.claim(session, current_user, key, ProgrammeAgreement) is None:
        terms = ProgrammeAgreement(person_id=someone.id, **data.model_dump())
        services.record_agreement(session, current_user, someone, terms)
    flash(_("Agreement recorded: the first report-in and test are due %(day)s.", day=data.starts_on), "success")
    return redirect(url_for("programme.person", person=someone.id), code=303)


@bp.route("/check", methods=["POST"])
@role_required(Role.SPECIALIST)
def check() -> Response | tuple[str, int]:
    """Record how a report-in or test went; the next one of its kind is scheduled."""
    someone = _person(request.form.get("person"))
    data, errors = validate(CheckForm, request.form)
    if data is None:
        if "check" in errors:
            abort(400)
        return _page(someone, 422, check_errors={"__all__": " ".join(errors.values())})
    try:
        services.record_check(get_session(), current_user, someone, data.check, data.done_on, data.result, data.note)
    except NotAllowed:
        abort(404)
    except ValueError:
        get_session().rollback()  # the check's row lock
        return _page(someone, 422, check_errors={"__all__": _("Choose a result this kind of check can have.")})
    except AlreadyDecided:
        flash(_("Someone recorded this check a moment ago: nothing was changed."), "error")
        return redirect(url_for("programme.person", person=someone.id), code=303)
    flash(_("Check recorded."), "success")
    return redirect(url_for("programme.person", person=someone.id), code=303)
