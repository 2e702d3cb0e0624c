"""People pages: the caseload, a person's page, their profile form, needs and contact log."""

import hmac
import json
import uuid
from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session, SQLModel, col, select
from werkzeug.wrappers import Response

from portal import idempotency
from portal.areas import centre_of, metres_between
from portal.audit.services import record_view, trail_of
from portal.auth.access import fresh_sign_in_required, role_required
from portal.clock import local_today
from portal.consents import ledger
from portal.db import get_engine, get_session, reads_only
from portal.duties import DUTY_OF
from portal.exceptions import NotAllowed, OutsideYourAreas, RecordClosed, StaleEdit, TooManyChecks
from portal.forms import parse_id, validate
from portal.htmx import render, wants_partial
from portal.i18n import language_code
from portal.labels import label
from portal.models import (
    Area,
    ContactLog,
    IdempotencyKey,
    Need,
    NeedStatus,
    Person,
    Programme,
    Role,
    User,
    id_number_key,
    phone_key,
    utcnow,
)
from portal.people import export, search, services
from portal.people.forms import (
    PERSON_LIST_FIELDS,
    ContactForm,
    LegalHoldForm,
    NeedForm,
    NeedStatusForm,
    PersonForm,
)
from portal.people.services import age_on
from portal.programme import services as programme
from portal.referrals.services import timeline
from portal.referrals.states import WITHDRAW_REASONS, actions_from
from portal.spreadsheets import csv_bytes
from portal.versions import form_version

bp = Blueprint("people", __name__, url_prefix="/people")

VIEWERS = (Role.CASEWORKER, Role.SUPERVISOR)


@bp.route("/", methods=["GET", "POST"])
@role_required(*VIEWERS)
@reads_only
def index() -> Response:
    """A caseworker's caseload; a supervisor's people across their areas, filtered by caseworker.
    Both search by name, code, phone or ID number and filter; a filter value not understood is
    ignored, and said so. The search is POSTed (a name or phone in a URL would stay in access logs
    and history); the harmless filters also work as links (GET), as the home page's figures use
    them. A page shows 50 people; the next page continues after the last one shown."""
    session = get_session()
    posted = request.method == "POST"
    fields = request.form if posted else request.args
    supervising = current_user.role == Role.SUPERVISOR
    wanted, ignored = search.parse_filter(fields, request.form.get("q", "") if posted else "", supervising)
    if "q" in request.args:
        ignored.append("q")  # an old link or bookmark: searched text is never read from a URL
    today, after = local_today(), fields.get("after") or None
    page = services.caseload(session, current_user, wanted, today, current_app.config["CONTACT_GAP_DAYS"], after)
    record_view(current_user, "list", "person", [row.person.id for row in page.rows])
    return render(
        "people/index.html",
        "people/_caseload.html",
        found=page,
        after=after,
        caseworkers=services.caseworkers_seen_by(session, current_user) if supervising else [],
        wanted=wanted,
        ignored=ignored,
        searching=wanted != search.CaseloadFilter(),
        filter_areas=services.caseload_areas(session, current_user, wanted.caseworker_id),
        programme_labels={programme: label(programme) for programme in Programme},
        contact_statuses=search.CONTACT_STATUSES,
        today=today,
    )


# --- A person's page ---------------------------------------------------------------------------


def _page_context(session: Session, person: Person, **forms: object) -> dict[str, object]:
    """What a person's page shows; `forms` carries a needs or contact form typed so far."""
    today = local_today()  # once: a page loaded at midnight shows one date throughout
    contacts = services.contacts_of(session, person)
    needs = services.needs_of(session, person)
    referrals = timeline(session, [need.id for need in needs])
    context: dict[str, object] = {
        "person": person,
        "area": session.get(Area, person.area_id) if person.area_id else None,
        "at_centre": (person.latitude, person.longitude) == centre_of(session, person.area_id),
        "caseworker": session.get(User, person.caseworker_id) if person.caseworker_id else None,
        "needs": needs,
        "contacts": contacts,
        "contact_authors": _names(session, {c.caseworker_id for c in contacts if c.caseworker_id}),
        "contact_distances": _distances(person, contacts) if current_user.role == Role.SUPERVISOR else {},
        "can_edit": services.is_caseworker_of(current_user, person) and not person.is_anonymised,
        "masked_id_number": mask_id_number(person.id_number),
        "age": age_on(person.birth_date, today) if person.birth_date else None,
        "today": today,
        "referrals": referrals,
        "step_actors": _names(session, {e.actor_id for _r, _t, steps in referrals for e in steps if e.actor_id}),
        "handovers": services.handovers_of(session, person),
        # The programme side is the specialist's duty; of the rest only the supervisor reads it.
        "programme_agreements": (
            programme.agreements_of(session, person) if current_user.role == Role.SUPERVISOR else []
        ),
        "programme_checks": programme.checks_of(session, person) if current_user.role == Role.SUPERVISOR else None,
        "workers": _names(
            session, {w for w in (person.caseworker_id, person.grid_worker_id, person.specialist_id) if w}
        ),
        "move_to": (
            services.areas_open_to(session, current_user)
            if current_user.role == Role.SUPERVISOR and not person.is_anonymised
            else []
        ),
        "handover_to": (
            services.workers_for_handover(session, current_user)
            if current_user.role == Role.SUPERVISOR and not person.is_anonymised
            else []
        ),
        "actions_from": actions_from,
        "withdraw_reasons": WITHDRAW_REASONS,
        "need_form": {"urgency": "2"},
        "need_errors": {},
        "contact_form": {"occurred_on": today.isoformat()},
        "contact_errors": {},
        "hold_errors": {},
    }
    context["trail"] = (
        trail_of(session, _record_ids(person, needs, contacts, context["referrals"]))
        if current_user.role == Role.SUPERVISOR
        else None
    )
    context.update(ledger.context(session, current_user, person))
    context.update(forms)
    return context


def _distances(person: Person, contacts: list[ContactLog]) -> dict[uuid.UUID, int]:
    """How far from the person's address each visit was recorded, in metres: what a supervisor
    checks of a visit, without the place itself."""
    if person.latitude is None or person.longitude is None:
        return {}
    home = (person.latitude, person.longitude)
    return {
        contact.id: metres_between(home, (contact.latitude, contact.longitude))
        for contact in contacts
        if contact.latitude is not None and contact.longitude is not None
    }


def _record_ids(person: Person, needs: list[Need], contacts: list[ContactLog], referrals: Any) -> list[uuid.UUID]:
    """The person's record is the person and their needs, contacts and referrals."""
    return [person.id, *(n.id for n in needs), *(c.id for c in contacts), *(r.id for r, _title, _steps in referrals)]


@bp.app_errorhandler(RecordClosed)
def _record_closed(_error: RecordClosed) -> tuple[str, int]:
    """Anonymised records are read-only: say so, rather than a bare refusal."""
    message = _("This record was anonymised after the end of the programme and can no longer be changed.")
    return render_template("errors/error.html", status=409, message=message), 409


def mask_id_number(number: str) -> str:
    """Enough of an ID number to recognise it; the whole number is on the caseworker's edit form."""
    if len(number) <= 8:
        return "*" * len(number)
    return number[:4] + "*" * (len(number) - 8) + number[-4:]


def _names(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Who logged each contact or took each referral step: a person may have been handed over since."""
    if not ids:
        return {}
    return {user.id: user.name for user in session.exec(select(User).where(col(User.id).in_(ids)))}


@bp.route("/<uuid:person_id>")
@role_required(*VIEWERS)
def detail(person_id: uuid.UUID) -> str:
    """A person's profile, needs, contact log and referrals."""
    session = get_session()
    person = services.find_person(session, current_user, person_id) or abort(404)
    page = render_template("people/detail.html", **_page_context(session, person))
    record_view(current_user, "view", "person", [person.id])  # after the trail on the page was read
    return page


# --- The profile form ----------------------------------------------------------------------------


def _form_errors(
    session: Session, data: PersonForm | None, errors: dict[str, str], person: Person | None
) -> dict[str, str]:
    """Rules the schema cannot check alone: the area is one of the caseworker's own (or the person's
    current one), and a new next-contact date is not past."""
    if data is None:
        return errors
    if not services.may_place(session, current_user, data.area_id, person):
        errors = {**errors, "area_id": _("Choose one of the options.")}
    due = data.next_contact_due
    # An overdue date already on the record may stay while other fields are edited.
    if due is not None and due < local_today() and (person is None or due != person.next_contact_due):
        errors = {**errors, "next_contact_due": _("The next contact cannot be in the past.")}
    return errors


def _typed_values() -> dict[str, object]:
    form: dict[str, object] = dict(request.form.to_dict(flat=True))
    for name in PERSON_LIST_FIELDS:
        form[name] = request.form.getlist(name)
    return form


def _form_page(session: Session, person: Person | None, form: dict[str, object], **context: object) -> str:
    areas = services.areas_open_to(session, current_user)
    current = session.get(Area, person.area_id) if person and person.area_id else None
    if current is not None and current not in areas:  # where the person is now, to stay there
        areas = [current, *areas]
    return render_template(
        "people/form.html",
        person=person,
        form=form,
        areas=areas,
        errors=context.pop("errors", {}),
        duplicates=context.pop("duplicates", None),
        **context,
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.CASEWORKER)
def create() -> Response | str | tuple[str, int]:
    """Record a new person on one's caseload, after a look for people already recorded."""
    session = get_session()
    if request.method == "GET":
        return _form_page(session, None, {})
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        return _form_page(session, None, _typed_values(), errors={"__all__": idempotency.bad_key_message()}), 400
    data, errors = validate(PersonForm, request.form, PERSON_LIST_FIELDS)
    errors = _form_errors(session, data, errors, None)
    if data is None or errors:
        return _form_page(session, None, _typed_values(), errors=errors), 422
    typed = (data.full_name, data.phone, data.id_number, data.birth_date_or_estimate(local_today()))
    try:
        duplicates = services.check_duplicates(session, current_user, typed, *_check_limits())
    except TooManyChecks as refused:
        return _form_page(session, None, _typed_values(), errors={"__all__": refused.message()}), 429
    # The box carries the check it was ticked for: if the typing changed, or finds someone new, the
    # caseworker is asked again.
    if duplicates.found and not hmac.compare_digest(request.form.get("different_from", ""), duplicates.token):
        return _form_page(session, None, _typed_values(), duplicates=duplicates), 409
    earlier = idempotency.claim(session, current_user, key, Person)
    if earlier is not None:  # sent twice: the person recorded the first time
        return redirect(url_for("people.detail", person_id=_replayed(earlier, Person)), code=303)
    try:
        person = services.create_person(session, current_user, data)
    except OutsideYourAreas:  # the form's check above said no already; this is the service's own
        session.rollback()
        return _form_page(session, None, _typed_values(), errors={"area_id": _("Choose one of the options.")}), 422
    flash(_("%(code)s is recorded on your caseload.", code=person.code), "success")
    return redirect(url_for("people.detail", person_id=person.id), code=303)


def _check_limits() -> tuple[int, str]:
    """How many duplicate checks an hour a user may ask, and the key their confirmations are made with."""
    return int(current_app.config["DUPLICATE_CHECKS_PER_HOUR"]), str(current_app.config["SECRET_KEY"])


def _replayed(earlier: IdempotencyKey, creates: type[SQLModel]) -> uuid.UUID:
    """The row a form sent twice created the first time; a key from another form is refused."""
    try:
        return idempotency.replayed_id(earlier, creates)
    except idempotency.BadKey:
        abort(400)


def _form_values(person: Person) -> dict[str, object]:
    values = {name: getattr(person, name) for name in PersonForm.model_fields if hasattr(person, name)}
    values["skills"] = ", ".join(person.skills)
    return {k: ("" if v is None else v) for k, v in values.items()}


@bp.route("/<uuid:person_id>/edit", methods=["GET", "POST"])
@role_required(Role.CASEWORKER)
def update(person_id: uuid.UUID) -> Response | str | tuple[str, int]:
    """Edit the profile of a person on one's caseload."""
    session = get_session()
    person = services.find_own_person(session, current_user, person_id) or abort(404)
    services.ensure_open(person)
    if request.method == "GET":
        record_view(current_user, "view", "person", [person.id])
        return _form_page(session, person, _form_values(person))
    data, errors = validate(PersonForm, request.form, PERSON_LIST_FIELDS)
    errors = _form_errors(session, data, errors, person)
    if data is None or errors:
        return _form_page(session, person, _typed_values(), errors=errors), 422
    shared = None
    # Editing does not stop for duplicates, but a new phone or ID number shared with someone else is
    # worth a look; asked like the new-person form's check (limited, logged, nobody else named).
    if (phone_key(data.phone), id_number_key(data.id_number)) != (
        phone_key(person.phone),
        id_number_key(person.id_number),
    ):
        try:
            numbers = ("", data.phone, data.id_number, None)
            shared = services.check_duplicates(session, current_user, numbers, *_check_limits(), exclude=person.id)
        except TooManyChecks as refused:
            return _form_page(session, person, _typed_values(), errors={"__all__": refused.message()}), 429
    try:
        person = services.update_person(session, current_user, person, data)
    except OutsideYourAreas:
        session.rollback()
        return _form_page(session, person, _typed_values(), errors={"area_id": _("Choose one of the options.")}), 422
    except StaleEdit as stale:
        # The first save stands; what this user typed comes back, on the version now stored.
        session.refresh(person)
        typed = {**_typed_values(), "version": str(person.version)}
        return _form_page(session, person, typed, errors={"__all__": stale.message()}), 409
    flash(_("Profile saved."), "success")
    if shared is not None:
        mine = [found.person.code for found in shared.found if found.person is not None]
        if mine:
            flash(
                _(
                    "The same phone or ID number is recorded for %(codes)s. Check that this is right.",
                    codes=", ".join(mine),
                ),
                "warning",
            )
        if shared.elsewhere:
            flash(
                _(
                    "The same phone or ID number is recorded on another caseload. If this may be the same person, "
                    "ask your supervisor."
                ),
                "warning",
            )
    return redirect(url_for("people.detail", person_id=person.id), code=303)


# --- Needs assessment and contact log: htmx swaps the section, plain forms reload the page --------


def _section(session: Session, person: Person, partial: str, anchor: str, status: int, **forms: object) -> Response:
    """After a change: the section alone for htmx, the whole page for an invalid plain form."""
    if status < 400 and not wants_partial():
        return redirect(url_for("people.detail", person_id=person.id, _anchor=anchor), code=303)
    return render("people/detail.html", partial, status=status, **_page_context(session, person, **forms))


@bp.route("/<uuid:person_id>/needs", methods=["POST"])
@role_required(Role.CASEWORKER)
def add_need(person_id: uuid.UUID) -> Response:
    """Add a need from the needs assessment."""
    session = get_session()
    person = services.find_own_person(session, current_user, person_id) or abort(404)
    services.ensure_open(person)
    typed = request.form.to_dict(flat=True)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        errors = {"__all__": idempotency.bad_key_message()}
        return _section(session, person, "people/_needs.html", "needs", 400, need_form=typed, need_errors=errors)
    data, errors = validate(NeedForm, request.form)
    if data is None:
        return _section(session, person, "people/_needs.html", "needs", 422, need_form=typed, need_errors=errors)
    # Sent twice: the need was added the first time; the answer is the same as then.
    if idempotency.claim(session, current_user, key, Need) is None:
        services.add_need(session, current_user, person, data)
    if not wants_partial():
        flash(_("Need added."), "success")
    return _section(session, person, "people/_needs.html", "needs", 200, needs_notice=_("Need added."))


@bp.route("/needs/<uuid:need_id>/status", methods=["POST"])
@role_required(Role.CASEWORKER)
def need_status(need_id: uuid.UUID) -> Response:
    """Mark a need met or closed, or open it again."""
    session = get_session()
    need, person = services.find_own_need(session, current_user, need_id) or abort(404)
    data, errors = validate(NeedStatusForm, request.form)
    if data is None:
        message = errors.get("status", _("Choose one of the options."))
        return _section(session, person, "people/_needs.html", "needs", 422, need_status_error=message)
    try:
        version = form_version(request.form)
    except ValueError:
        abort(400)
    try:
        services.set_need_status(session, current_user, need, data.status, version)
    except StaleEdit as stale:
        session.refresh(need)
        return _section(session, person, "people/_needs.html", "needs", 409, need_status_error=stale.message())
    notice = {
        NeedStatus.OPEN: _("The need is open again."),
        NeedStatus.MET: _("The need is marked as met."),
        NeedStatus.CLOSED: _("The need is closed."),
    }[data.status]
    if not wants_partial():
        flash(notice, "success")
    return _section(session, person, "people/_needs.html", "needs", 200, needs_notice=notice)


@bp.route("/<uuid:person_id>/contacts", methods=["POST"])
@role_required(Role.CASEWORKER)
def add_contact(person_id: uuid.UUID) -> Response:
    """Log a contact, and when the next one is due."""
    session = get_session()
    person = services.find_own_person(session, current_user, person_id) or abort(404)
    services.ensure_open(person)
    typed = request.form.to_dict(flat=True)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        errors = {"__all__": idempotency.bad_key_message()}
        return _section(
            session, person, "people/_contacts.html", "contacts", 400, contact_form=typed, contact_errors=errors
        )
    data, errors = validate(ContactForm, request.form)
    if data is None:
        return _section(
            session, person, "people/_contacts.html", "contacts", 422, contact_form=typed, contact_errors=errors
        )
    # Sent twice: the contact was logged the first time; the answer is the same as then.
    if idempotency.claim(session, current_user, key, ContactLog) is None:
        services.log_contact(session, current_user, person, data)
    if not wants_partial():
        flash(_("Contact logged."), "success")
    return _section(session, person, "people/_contacts.html", "contacts", 200, contacts_notice=_("Contact logged."))


@bp.route("/<uuid:person_id>/handover", methods=["POST"])
@role_required(Role.SUPERVISOR)
def handover(person_id: uuid.UUID) -> Response:
    """A supervisor hands a person's duty to another worker (a caseworker, a grid worker or a
    specialist: the worker's role names the duty), with the note that goes with them."""
    session = get_session()
    person = services.find_person(session, current_user, person_id) or abort(404)
    services.ensure_open(person)
    target_id = parse_id(request.form.get("to_user_id"))
    target = session.get(User, target_id) if target_id else None
    note = request.form.get("note", "")[:2000]
    if target is None or not note.strip():
        flash(_("Choose the worker and write a hand-over note."), "error")
        return redirect(url_for("people.detail", person_id=person_id), code=303)
    try:
        version = form_version(request.form)
    except ValueError:
        abort(400)
    try:
        services.hand_over(session, current_user, person, target, note, version)
    except StaleEdit as stale:
        flash(stale.message(), "error")
        return redirect(url_for("people.detail", person_id=person_id), code=303)
    except ValueError:
        flash(_("Choose an active caseworker, grid worker or specialist of your areas."), "error")
        return redirect(url_for("people.detail", person_id=person_id), code=303)
    if target.role == Role.CASEWORKER:
        flash(_("%(code)s is now on %(name)s's caseload.", code=person.code, name=target.name), "success")
    else:
        duty = label(DUTY_OF[target.role])
        flash(_("%(code)s: %(duty)s handed to %(name)s.", code=person.code, duty=duty, name=target.name), "success")
    return redirect(url_for("people.detail", person_id=person_id), code=303)


@bp.route("/<uuid:person_id>/area", methods=["POST"])
@role_required(Role.SUPERVISOR)
def move(person_id: uuid.UUID) -> Response:
    """A supervisor moves a person to another of the areas they supervise."""
    session = get_session()
    person = services.find_person(session, current_user, person_id) or abort(404)
    services.ensure_open(person)
    area_id = parse_id(request.form.get("area_id"))
    try:
        version = form_version(request.form)
    except ValueError:
        abort(400)
    if area_id is None:
        flash(_("Choose one of the areas you supervise."), "error")
        return redirect(url_for("people.detail", person_id=person_id, _anchor="handover"), code=303)
    try:
        services.move_person(session, current_user, person, area_id, version)
    except StaleEdit as stale:
        flash(stale.message(), "error")
        return redirect(url_for("people.detail", person_id=person_id, _anchor="handover"), code=303)
    except (OutsideYourAreas, NotAllowed):
        session.rollback()
        flash(_("Choose one of the areas you supervise."), "error")
        return redirect(url_for("people.detail", person_id=person_id, _anchor="handover"), code=303)
    flash(_("%(code)s is now in another area.", code=person.code), "success")
    return redirect(url_for("people.detail", person_id=person_id, _anchor="handover"), code=303)


# --- Retention: a supervisor's legal hold ---------------------------------------------------------


@bp.route("/<uuid:person_id>/legal-hold", methods=["POST"])
@role_required(Role.SUPERVISOR)
def legal_hold(person_id: uuid.UUID) -> Response | str | tuple[str, int]:
    """Set or lift the hold that keeps a record whole past its retention period."""
    session = get_session()
    person = services.find_person(session, current_user, person_id) or abort(404)
    services.ensure_open(person)
    data, errors = validate(LegalHoldForm, request.form)
    typed = {**request.form.to_dict(flat=True), "legal_hold": "legal_hold" in request.form}
    if data is None:
        context = _page_context(session, person, hold_form=typed, hold_errors=errors)
        return render_template("people/detail.html", **context), 422
    try:
        services.set_legal_hold(session, current_user, person, data.legal_hold, data.legal_hold_reason, data.version)
    except StaleEdit as stale:
        session.refresh(person)
        typed["version"] = str(person.version)
        context = _page_context(session, person, hold_form=typed, hold_errors={"__all__": stale.message()})
        return render_template("people/detail.html", **context), 409
    flash(_("The legal hold is set.") if data.legal_hold else _("The legal hold is lifted."), "success")
    return redirect(url_for("people.detail", person_id=person.id, _anchor="retention"), code=303)


# --- The caseload as a file ------------------------------------------------------------------------


@bp.route("/export.csv")
@role_required(Role.CASEWORKER)
@fresh_sign_in_required
def export_caseload() -> Response:
    """The caseworker's whole caseload as CSV for Excel: what planning calls and visits needs (no
    ID number, address, need or note); one audit event names everyone in it."""
    rows = services.whole_caseload(get_session(), current_user)
    record_view(current_user, "export", "person", [row.person.id for row in rows])
    today = local_today()
    body = csv_bytes(
        [
            _("Code"),
            _("Name"),
            _("Phone"),
            _("Area"),
            _("Programme"),
            _("Next contact"),
            _("Overdue"),
            _("Last contact"),
            _("Open needs"),
        ],
        (
            [
                row.person.code,
                row.person.full_name,
                row.person.phone,
                row.area.name(language_code()) if row.area else "",
                label(row.person.programme) if row.person.programme else "",
                row.person.next_contact_due or "",
                _("yes") if row.overdue(today) else "",
                row.person.last_contact_on or "",
                row.open_needs,
            ]
            for row in rows
        ),
    )
    filename = f"caseload_{today.isoformat()}.csv"
    return Response(body, mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


# --- Right of access: the whole record, as a file and as a printable page ---------------------------


def _exported(person_id: uuid.UUID) -> export.PersonRecord:
    """The record of a person the user may see, after the export is on the audit trail."""
    session = get_session()
    person = services.find_person(session, current_user, person_id) or abort(404)
    # GET requests read only; the audit event goes through its own short write transaction.
    with Session(get_engine(), expire_on_commit=False) as audit_session:
        export.log_export(audit_session, current_user, person)
    return export.collect(session, person)


@bp.route("/<uuid:person_id>/export.json")
@role_required(*VIEWERS)
@fresh_sign_in_required
def export_json(person_id: uuid.UUID) -> Response:
    """The person's whole record as a JSON file to hand to them (portability)."""
    person_record = _exported(person_id)
    body = json.dumps(export.as_json(person_record, utcnow()), ensure_ascii=False, indent=2)
    filename = f"{person_record.person.code}.json"
    return Response(
        body, mimetype="application/json", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


@bp.route("/<uuid:person_id>/export")
@role_required(*VIEWERS)
@fresh_sign_in_required
def export_page(person_id: uuid.UUID) -> str:
    """The person's whole record as a page to print and hand over."""
    person_record = _exported(person_id)
    return render_template(
        "people/export.html",
        record=person_record,
        notice=export.REDISCLOSURE_NOTICE,
        exported_at=utcnow(),
    )
