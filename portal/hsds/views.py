"""The directory as the HSDS 3.0 API (Open Referral's Human Services Data Specification), for
partner systems; the admins' page of their tokens, and their page importing another directory's
HSDS data (portal/hsds/imports.py).

Every answer is JSON. A request's token (`Authorization: Bearer …`) lets it read what organizations
publish to partners; without one, only what they publish to everyone. Bad parameters are a 400
that names them; an unknown id is a 404, as is an offer its organization does not publish.
"""

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from portal.auth.access import fresh_sign_in_required, public, role_required
from portal.clock import time_zone
from portal.db import get_engine, get_session
from portal.forms import parse_id
from portal.hsds import documents, imports, openapi, reading, services, taxonomy
from portal.hsds.services import Filters, Reader
from portal.i18n import language_code
from portal.models import ImportState, Role

bp = Blueprint("hsds", __name__, url_prefix="/api/hsds")

MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50


class BadParameter(ValueError):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name
        self.problem = problem


@bp.errorhandler(BadParameter)
def _bad_parameter(error: BadParameter) -> tuple[Response, int]:
    return jsonify({"error": "bad_parameter", "parameter": error.name, "message": error.problem}), 400


@bp.errorhandler(services.TokenRefused)
def _token_refused(_error: services.TokenRefused) -> tuple[Response, int, dict[str, str]]:
    body = {"error": "invalid_token", "message": "The token is unknown or was revoked."}
    return jsonify(body), 401, {"WWW-Authenticate": 'Bearer error="invalid_token"'}


@bp.errorhandler(services.TooManyReads)
def _too_many(_error: services.TooManyReads) -> tuple[Response, int, dict[str, str]]:
    body = {"error": "rate_limited", "message": "Too many reads this hour: try again later."}
    return jsonify(body), 429, {"Retry-After": "3600"}


def _not_found() -> Response:
    response = jsonify({"error": "not_found", "message": "No such record is published here."})
    response.status_code = 404
    return response


def _reader() -> Reader:
    header = request.headers.get("Authorization", "")
    secret = header[len("Bearer ") :].strip() if header.startswith("Bearer ") else None
    if header and secret is None:
        raise services.TokenRefused
    with Session(get_engine()) as session:
        return services.admit(
            session, secret or None, request.remote_addr or "", current_app.config["API_READS_PER_HOUR"]
        )


def _integer(name: str, default: int, most: int | None = None) -> int:
    text = request.args.get(name, "")
    if not text:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text) or int(text) < 1:
        raise BadParameter(name, "a whole number from 1 to 999999999")
    return min(int(text), most) if most else int(text)


def _boolean(name: str) -> bool:
    text = request.args.get(name, "").lower()
    if text in ("", "false", "0"):
        return False
    if text in ("true", "1"):
        return True
    raise BadParameter(name, "true or false")


def _uuid(name: str) -> uuid.UUID | None:
    text = request.args.get(name, "")
    if not text:
        return None
    found = parse_id(text)
    if found is None:
        raise BadParameter(name, "a UUID")
    return found


def _moment(name: str) -> datetime | None:
    """A date and time; one without a zone, or a date alone (from its first moment), is the city's."""
    text = request.args.get(name, "")
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, "an ISO 8601 date or date and time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=time_zone())).astimezone(UTC)


def _paging() -> tuple[int, int]:
    return _integer("page", 1), _integer("per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)


def _filters() -> Filters:
    return Filters(
        search=request.args.get("search", ""),
        taxonomy_term_id=_uuid("taxonomy_term_id"),
        taxonomy_id=_uuid("taxonomy_id"),
        organization_id=_uuid("organization_id"),
        modified_after=_moment("modified_after"),
    )


def _page(contents: list[dict[str, Any]], total: int, page: int, per_page: int) -> Response:
    return jsonify(documents.page_document(contents, total, page, per_page))


@bp.route("/")
@public
def index() -> Response:
    """What this API is: HSDS 3.0, with no profile of its own."""
    _reader()
    return jsonify(
        {
            "version": documents.VERSION,
            "profile": documents.PROFILE,
            "openapi_url": url_for("hsds.openapi_document", _external=True),
        }
    )


@bp.route("/openapi.json")
@public
def openapi_document() -> Response:
    return jsonify(openapi.document(url_for("hsds.index", _external=True).rstrip("/")))


@bp.route("/services")
@public
def services_list() -> Response:
    reader = _reader()
    page, per_page = _paging()
    filters, full = _filters(), _boolean("full")
    found = services.services(get_session(), reader, filters, page, per_page)
    contents = [documents.service_document(offer, found.directory, full) for offer in found.offers]
    return _page(contents, found.total, page, per_page)


@bp.route("/services/<service_id>")
@public
def service(service_id: str) -> Response:
    reader = _reader()
    offer_id = parse_id(service_id)
    found = services.service(get_session(), reader, offer_id) if offer_id else None
    if found is None:
        return _not_found()
    return jsonify(documents.service_document(found.offers[0], found.directory, full=True))


@bp.route("/service_at_locations")
@public
def service_at_locations_list() -> Response:
    reader = _reader()
    page, per_page = _paging()
    filters, full = _filters(), _boolean("full")
    found = services.services_at_locations(get_session(), reader, filters, page, per_page)
    contents = [documents.service_at_location_document(offer, found.directory, full) for offer in found.offers]
    return _page(contents, found.total, page, per_page)


@bp.route("/service_at_locations/<service_at_location_id>")
@public
def service_at_location(service_at_location_id: str) -> Response:
    reader = _reader()
    linked = parse_id(service_at_location_id)
    found = services.service_at_location(get_session(), reader, linked) if linked else None
    if found is None:
        return _not_found()
    return jsonify(documents.service_at_location_document(found.offers[0], found.directory, full=True))


@bp.route("/organizations")
@public
def organizations_list() -> Response:
    reader = _reader()
    page, per_page = _paging()
    full, full_service = _boolean("full"), _boolean("full_service")
    session = get_session()
    found, total = services.organizations(session, reader, request.args.get("search", ""), page, per_page)
    contents = [
        _organization(session, reader, organization, full_service)
        if full
        else documents.organization_document(organization)
        for organization in found
    ]
    return _page(contents, total, page, per_page)


def _organization(session: Session, reader: Reader, organization: Any, full_service: bool) -> dict[str, Any]:
    offers = services.offers_of(session, reader, organization)
    document = documents.organization_document(organization, full=True)
    document["services"] = [
        documents.service_document(offer, offers.directory, full=True)
        if full_service
        else {"id": str(offer.id), "name": offer.title, "status": documents.STATUS.get(offer.status, "inactive")}
        for offer in offers.offers
    ]
    return document


@bp.route("/organizations/<organization_id>")
@public
def organization(organization_id: str) -> Response:
    reader = _reader()
    full_service = _boolean("full_service")
    wanted = parse_id(organization_id)
    session = get_session()
    found = services.organization(session, reader, wanted) if wanted else None
    if found is None:
        return _not_found()
    return jsonify(_organization(session, reader, found, full_service))


@bp.route("/taxonomies")
@public
def taxonomies_list() -> Response:
    _reader()
    page, per_page = _paging()
    search = request.args.get("search", "").casefold()
    found = [item for item in taxonomy.TAXONOMIES if search in item.name.casefold()]
    chosen = found[(page - 1) * per_page : page * per_page]
    return _page([documents.taxonomy_document(item) for item in chosen], len(found), page, per_page)


@bp.route("/taxonomies/<taxonomy_id>")
@public
def taxonomy_detail(taxonomy_id: str) -> Response:
    _reader()
    wanted = parse_id(taxonomy_id)
    found = next((item for item in taxonomy.TAXONOMIES if item.id == wanted), None)
    return jsonify(documents.taxonomy_document(found)) if found else _not_found()


@bp.route("/taxonomy_terms")
@public
def taxonomy_terms_list() -> Response:
    _reader()
    page, per_page = _paging()
    search = request.args.get("search", "").casefold()
    in_taxonomy, parent = _uuid("taxonomy_id"), _uuid("parent_id")
    top_only = _boolean("top_only")
    found = [
        term
        for term in taxonomy.all_terms()
        if search in documents.term_document(term, full=False)["name"].casefold()
        and (in_taxonomy is None or term.taxonomy.id == in_taxonomy)
        and (parent is None or term.parent_id == parent)
        and (not top_only or term.parent_code is None)
    ]
    chosen = found[(page - 1) * per_page : page * per_page]
    return _page([documents.term_document(term) for term in chosen], len(found), page, per_page)


@bp.route("/taxonomy_terms/<term_id>")
@public
def taxonomy_term(term_id: str) -> Response:
    _reader()
    wanted = parse_id(term_id)
    found = taxonomy.terms_by_id().get(wanted) if wanted else None
    return jsonify(documents.term_document(found)) if found else _not_found()


# --- Admins: partners' tokens -------------------------------------------------------------------


@bp.route("/tokens")
@role_required(Role.ADMIN)
def tokens() -> str:
    """The partners' tokens: who has one, when it was last used; made here or with the command."""
    return render_template("hsds/tokens.html", tokens=services.list_tokens(get_session()), secret=None)


@bp.route("/tokens", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def create_token() -> str | tuple[str, int]:
    name = request.form.get("name", "").strip()
    session = get_session()
    if not name or len(name) > 120:
        flash(_("Name the partner system the token is for (up to 120 characters)."), "error")
        return render_template("hsds/tokens.html", tokens=services.list_tokens(session), secret=None), 422
    token, secret = services.create_token(session, name, current_user)
    flash(_("Token for %(name)s made. Copy it now: it is not shown again.", name=token.name), "success")
    return render_template("hsds/tokens.html", tokens=services.list_tokens(session), secret=secret, made=token)


@bp.route("/tokens/<uuid:token_id>/revoke", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def revoke_token(token_id: uuid.UUID) -> Response:
    session = get_session()
    token = services.find_token(session, token_id) or abort(404)
    services.revoke_token(session, token, current_user)
    flash(_("The token for %(name)s is revoked: its reads are refused from now on.", name=token.name), "success")
    return redirect(url_for("hsds.tokens"), code=303)


# --- Admins: importing another directory's HSDS data ----------------------------------------------

# What a multipart upload adds to its file: the boundaries, the other fields.
UPLOAD_OVERHEAD = 64 * 1024


def _upload_limit() -> None:
    """The import form takes files up to reading.MAX_FILE_BYTES, past the portal's MAX_CONTENT_LENGTH
    for every other form. Set before the CSRF check reads the body (an app hook: a blueprint's would
    run after it); a body announced larger is refused unread. Only for a signed-in admin: anyone
    else keeps the portal's small limit, so a stranger cannot make the server read 50 MB."""
    if request.endpoint != "hsds.import_list" or request.method != "POST":
        return
    if not current_user.is_authenticated or current_user.role != Role.ADMIN:
        return
    limit = reading.MAX_FILE_BYTES + UPLOAD_OVERHEAD
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise RequestEntityTooLarge


def init_app(app: Flask) -> None:
    app.before_request(_upload_limit)


def _imports_page(refused: str = "", status: int = 200) -> tuple[str, int]:
    page = render_template(
        "hsds/imports.html",
        imports=imports.recent(get_session()),
        refused=refused,
        limit_mb=reading.MAX_FILE_BYTES // 2**20,
        interrupted=imports.interrupted,
    )
    return page, status


def _too_large_message() -> str:
    return _(
        "The file is over the limit of %(limit)d MB: nothing was kept. Split the import, or give the "
        "address of the other directory's API.",
        limit=reading.MAX_FILE_BYTES // 2**20,
    )


@bp.errorhandler(RequestEntityTooLarge)
def _upload_too_large(error: RequestEntityTooLarge) -> Response | tuple[str, int]:
    if request.endpoint == "hsds.import_list" and current_user.is_authenticated and current_user.role == Role.ADMIN:
        return _imports_page(_too_large_message(), 413)
    return error.get_response()


@bp.route("/imports", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def import_list() -> Response | tuple[str, int]:
    """Another directory's HSDS 3.0 data: a .zip of its tabular form, a .json file of its services,
    or its API's base URL; checked in the background, then applied once an admin confirms."""
    if request.method == "GET":
        return _imports_page()
    upload = request.files.get("file")
    url = request.form.get("url", "").strip()
    token = request.form.get("token", "").strip()
    has_file = upload is not None and bool(upload.filename)
    if has_file == bool(url):
        return _imports_page(_("Choose a file, or give an address: one of the two."), 422)
    if token and (has_file or not re.fullmatch(r"\S{1,500}", token)):
        return _imports_page(_("A token goes with an address: one word of up to 500 characters."), 422)
    session = get_session()
    if upload is not None and has_file:
        name = imports.file_name(upload.filename or "")
        if name is None:
            return _imports_page(_("Upload a .zip of HSDS tabular data or a .json file of HSDS services."), 422)
        try:
            row = imports.create(session, current_user, upload.filename or name, name, upload.stream)
        except imports.TooLarge:
            return _imports_page(_too_large_message(), 413)
    else:
        if not re.fullmatch(r"https?://[^\s]{3,290}", url, re.IGNORECASE):
            return _imports_page(_("Give the API's base address, starting with https:// or http://."), 422)
        row = imports.create(session, current_user, url, token=token)
    imports.start(row.id, "check", language_code(), current_user.id)
    return redirect(url_for("hsds.import_detail", import_id=row.id), code=303)


def _import_context(import_id: uuid.UUID) -> dict[str, Any]:
    row = imports.find(get_session(), import_id) or abort(404)
    return {
        "item": row,
        "stalled": imports.interrupted(row),
        "problems": imports.problems_by_file(row.report),
        "warnings": imports.warnings(row.report),
        "states": ImportState,
        "expiry_days": imports.KEPT_FOR.days,
    }


@bp.route("/imports/<uuid:import_id>")
@role_required(Role.ADMIN)
def import_detail(import_id: uuid.UUID) -> str:
    """One import: its progress while it runs, then its report, and the confirmation."""
    return render_template("hsds/import.html", **_import_context(import_id))


@bp.route("/imports/<uuid:import_id>/progress")
@role_required(Role.ADMIN)
def import_progress(import_id: uuid.UUID) -> str:
    """The page's changing part, alone, for its polling: it stops asking once the run has ended."""
    return render_template("hsds/_import_progress.html", **_import_context(import_id))


@bp.route("/imports/<uuid:import_id>/apply", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def apply_import(import_id: uuid.UUID) -> Response:
    """Write a checked import without problems; once, whoever else confirms at the same moment."""
    try:
        imports.confirm(get_session(), import_id)
    except imports.NotReady:
        imports.find(get_session(), import_id) or abort(404)
        flash(_("This import cannot be applied now: it is applied already, or under way."), "error")
    else:
        imports.start(import_id, "apply", language_code(), current_user.id)
    return redirect(url_for("hsds.import_detail", import_id=import_id), code=303)


@bp.route("/imports/<uuid:import_id>/restart", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def restart_import(import_id: uuid.UUID) -> Response:
    """Start again a run whose process stopped (or that failed): an apply is applied again (what it
    wrote already is found unchanged), anything else is checked again."""
    try:
        _row, action = imports.restart(get_session(), import_id)
    except imports.NotReady:
        imports.find(get_session(), import_id) or abort(404)
        flash(_("This import is running or has ended: there is nothing to start again."), "error")
    else:
        imports.start(import_id, action, language_code(), current_user.id)
    return redirect(url_for("hsds.import_detail", import_id=import_id), code=303)
