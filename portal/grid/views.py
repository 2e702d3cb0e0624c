"""The grid worker's day on a phone: whose visit is due, and a contact recorded in one tap."""

from pathlib import Path

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from portal import idempotency
from portal.audit.services import record_view
from portal.auth.access import role_required
from portal.clock import local_today
from portal.db import get_session
from portal.duties import card, find_for_duty
from portal.forms import parse_id, validate
from portal.grid import services
from portal.models import ContactLog, Duty, Person, Role
from portal.people.forms import ContactForm
from portal.people.services import log_contact

bp = Blueprint("grid", __name__, url_prefix="/grid")


@bp.route("/")
@role_required(Role.GRID_WORKER)
def index() -> str:
    """Today's visits: due, overdue and out of contact (`show=all`: everyone of the grids); nearest
    first when `near` carries where the phone is ("latitude,longitude")."""
    everyone = request.args.get("show") == "all"
    near = _point(request.args.get("near", ""))
    found = services.visits(
        get_session(), current_user, local_today(), current_app.config["CONTACT_GAP_DAYS"], everyone, near
    )
    record_view(current_user, "list", "person", [visit.person.id for visit in found])
    return render_template("grid/index.html", visits=found, everyone=everyone, near=near)


def _point(raw: str) -> tuple[float, float] | None:
    """A "latitude,longitude" pair on Earth, or None (ignored, as the list is right without it)."""
    try:
        latitude, longitude = (float(part) for part in raw.split(","))
    except ValueError:
        return None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        return None
    return latitude, longitude


def _person(raw: str | None) -> Person:
    """The person a request names: a malformed name is a bad request; one the worker does not work
    with looks like one that does not exist."""
    person_id = parse_id(raw) or abort(400)
    return find_for_duty(get_session(), current_user, Duty.GRID, person_id) or abort(404)


@bp.route("/sw.js")
@role_required(Role.GRID_WORKER)
def service_worker() -> Response:
    """The service worker of the grid's pages, served from here so that its scope is /grid/ (the
    portal's headers keep browsers from caching it, so a new version is picked up at once)."""
    script = Path(current_app.static_folder or "static", "grid-sw.js").read_text(encoding="utf-8")
    return Response(script, mimetype="text/javascript")


@bp.route("/offline")
@role_required(Role.GRID_WORKER)
def offline() -> str:
    """What the service worker shows for a page of /grid/ that needs the network it does not have."""
    return render_template("grid/offline.html")


@bp.route("/contact", methods=["GET", "POST"])
@role_required(Role.GRID_WORKER)
def contact() -> Response | tuple[str, int]:
    """Record a contact with one person of the grid (`person` names them). Sent again with its
    one-time key (a retry, or the phone sending what it kept while offline), it is recorded once."""
    if request.method == "GET":
        person = _person(request.args.get("person"))
        typed = {"kind": "visit", "occurred_on": local_today().isoformat()}
        return _form(person, typed, {})
    person = _person(request.form.get("person"))
    typed = request.form.to_dict(flat=True)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        return _form(person, typed, {"__all__": idempotency.bad_key_message()}, 400)
    data, errors = validate(ContactForm, MultiDict(typed))
    if data is None:
        return _form(person, typed, errors, 422)
    session = get_session()
    if idempotency.claim(session, current_user, key, ContactLog) is None:
        log_contact(session, current_user, person, data)
    flash(_("Contact with %(code)s recorded.", code=person.code), "success")
    return redirect(url_for("grid.index"), code=303)


def _form(person: Person, typed: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    if request.method == "GET":  # a form sent back with its errors shows what the GET logged
        record_view(current_user, "view", "person", [person.id])
    shown = card(person, Duty.GRID, local_today(), current_app.config["CONTACT_GAP_DAYS"])
    return render_template("grid/contact.html", person=shown, form=typed, errors=errors), status
