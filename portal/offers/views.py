"""Offer pages: the staff directory, an offer's page, and the owner's forms and actions."""

import json
import uuid
from collections.abc import Mapping

from flask import Blueprint, abort, current_app, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import Session, select
from werkzeug.wrappers import Response

from portal import idempotency
from portal.areas import centre_of
from portal.auth.access import role_required
from portal.db import get_session
from portal.exceptions import MissingFairChance, NotAllowed, ReferenceTaken, StaleEdit, StillReferred
from portal.forms import query_values, validate
from portal.htmx import render
from portal.i18n import language_code
from portal.models import DIRECTORY_ROLES, Area, Category, Offer, OfferStatus, Organization, Role
from portal.offers import bulk, services
from portal.offers.forms import LANGUAGE_CODE, LIST_FIELDS, OfferForm

bp = Blueprint("offers", __name__, url_prefix="/offers")

OWNERS = (Role.PROVIDER, Role.VOLUNTEER)
VIEWERS = (*DIRECTORY_ROLES, *OWNERS)


def _areas(session: Session) -> list[Area]:
    return list(session.exec(select(Area).order_by(Area.code)))


# What the directory's filters are called in its address; the pager keeps them, and only them.
FILTER_NAMES = ("q", "category", "area", "language", "status")


def _parse_filter(args: Mapping[str, str]) -> services.DirectoryFilter:
    """Read the directory's filters; a value that makes no sense is ignored, not an error."""

    try:
        area_id = uuid.UUID(args.get("area", "")) if args.get("area") else None
    except ValueError:
        area_id = None
    language = args.get("language", "")
    return services.DirectoryFilter(
        text=args.get("q", "").strip()[:100],
        category=Category(args["category"]) if args.get("category") in set(Category) else None,
        area_id=area_id,
        language=language if LANGUAGE_CODE.match(language) else "",
        status=OfferStatus(args["status"]) if args.get("status") in set(OfferStatus) else None,
        after=args.get("after", "")[:500],
    )


@bp.route("/")
@role_required(*DIRECTORY_ROLES)
def index() -> Response:
    """The directory: search as you type by text, category, area, language and status."""
    session = get_session()
    wanted = _parse_filter(request.args)
    # A page link edited by hand raises BadCursor: portal/errors.py answers 400 for every list.
    found = services.search_directory(session, wanted, current_app.config["DIRECTORY_PAGE_SIZE"])
    return render(
        "offers/index.html",
        "offers/_results.html",
        found=found,
        wanted=wanted,
        query=query_values(FILTER_NAMES, request.args),
        count_limit=services.COUNT_LIMIT,
        areas=_areas(session),
        owners=services.owner_names(session, found.offers),
    )


@bp.route("/mine")
@role_required(*OWNERS)
def mine() -> str:
    """The offers of the user's organization, or the volunteer's own, the latest changed first, 50 a
    page; the next page continues after the last one shown."""
    after = request.args.get("after") or None
    page = services.own_offers(get_session(), current_user, after)
    return render_template("offers/mine.html", offers=page.items, next_cursor=page.next_cursor, after=after)


@bp.route("/import", methods=["GET", "POST"])
@role_required(*OWNERS)
def import_offers() -> Response | str | tuple[str, int]:
    """Offers from a spreadsheet: a file is checked first (every problem by row and column), then,
    when it has none, imported from the rows the check page sends back (checked again)."""
    session = get_session()
    if request.method == "GET":
        return render_template("offers/import.html", checked=None, rows_json="", refused="")
    try:
        if request.form.get("confirm") == "1":
            rows = bulk.as_rows(json.loads(request.form.get("rows", "")))
        else:
            upload = request.files.get("file")
            rows = bulk.read_table(upload.filename or "", upload.read()) if upload else []
            if not rows:
                raise bulk.NotATable(str(bulk.NOT_A_TABLE))
    except (bulk.NotATable, ValueError) as problem:
        refused = problem.message if isinstance(problem, bulk.NotATable) else str(bulk.NOT_A_TABLE)
        return render_template("offers/import.html", checked=None, rows_json="", refused=refused), 422
    checked = bulk.check(session, current_user, rows)
    if checked.problems or request.form.get("confirm") != "1":
        columns = bulk.HEADERS[language_code()]  # a problem names its column as the template does
        page = render_template(
            "offers/import.html", checked=checked, rows_json=json.dumps(rows), refused="", columns=columns
        )
        return page, 422 if checked.problems else 200
    try:
        created, updated = bulk.import_rows(session, current_user, checked)
    except (ReferenceTaken, StaleEdit):
        refused = _("Your offers changed while you were importing. Check the file again.")
        return render_template("offers/import.html", checked=None, rows_json="", refused=refused), 409
    flash(_("Offers imported: %(created)d new (drafts), %(updated)d updated.", created=created, updated=updated))
    return redirect(url_for("offers.mine"), code=303)


@bp.route("/import/template")
@role_required(*OWNERS)
def import_template() -> Response:
    """The spreadsheet to fill in (`format`: csv, the default, or xlsx), with its headers in the
    language asked for (`lang`), else the reader's."""
    kind = request.args.get("format", "csv")
    if kind not in ("csv", "xlsx"):
        abort(404)
    asked = request.args.get("lang", "")
    language = asked if asked in bulk.HEADERS else language_code()
    body = bulk.template_csv(language) if kind == "csv" else bulk.template_xlsx(language)
    mimetype = "text/csv" if kind == "csv" else bulk.XLSX
    filename = f"bridge-offers-{language}.{kind}"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.route("/<uuid:offer_id>")
@role_required(*VIEWERS)
def detail(offer_id: uuid.UUID) -> str:
    """Everything a caseworker needs to judge an offer."""
    session = get_session()
    offer = services.find_offer(session, current_user, offer_id) or abort(404)
    area = session.get(Area, offer.area_id) if offer.area_id else None
    return render_template(
        "offers/detail.html",
        offer=offer,
        area=area,
        owner=services.owner_names(session, [offer])[offer.id],
        organization=session.get(Organization, offer.organization_id) if offer.organization_id else None,
        can_edit=services.owns(current_user, offer),
        actions=services.available_actions(offer),
        at_centre=(offer.latitude, offer.longitude) == centre_of(session, offer.area_id),
    )


def _form_errors(session: Session, data: OfferForm | None, errors: dict[str, str]) -> dict[str, str]:
    if data is not None and data.area_id is not None and session.get(Area, data.area_id) is None:
        errors = {**errors, "area_id": _("Choose one of the options.")}
    return errors


@bp.route("/new", methods=["GET", "POST"])
@role_required(*OWNERS)
def create() -> Response | str | tuple[str, int]:
    """Post a new offer; it starts as a draft that only its owner sees."""
    session = get_session()
    if request.method == "GET":
        return render_template("offers/form.html", form={}, errors={}, offer=None, areas=_areas(session))
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        return _form_again(session, None, {"__all__": idempotency.bad_key_message()}, 400)
    data, errors = validate(OfferForm, request.form, LIST_FIELDS)
    errors = _form_errors(session, data, errors)
    if data is None or errors:
        return _form_again(session, None, errors, 422)
    earlier = idempotency.claim(session, current_user, key, Offer)
    if earlier is not None:  # sent twice: the offer saved the first time
        try:
            return redirect(url_for("offers.detail", offer_id=idempotency.replayed_id(earlier, Offer)), code=303)
        except idempotency.BadKey:
            abort(400)
    try:
        offer = services.create_offer(session, current_user, data)
    except ReferenceTaken:
        return _form_again(session, None, {"reference": reference_taken()}, 409)
    flash(_("Offer saved as a draft. Publish it when it is ready."), "success")
    return redirect(url_for("offers.detail", offer_id=offer.id), code=303)


@bp.route("/<uuid:offer_id>/edit", methods=["GET", "POST"])
@role_required(*OWNERS)
def update(offer_id: uuid.UUID) -> Response | str | tuple[str, int]:
    """Edit an offer of one's own; saving also confirms it is current."""
    session = get_session()
    offer = services.find_own_offer(session, current_user, offer_id) or abort(404)
    if request.method == "GET":
        return render_template(
            "offers/form.html", form=_form_values(offer), errors={}, offer=offer, areas=_areas(session)
        )
    data, errors = validate(OfferForm, request.form, LIST_FIELDS)
    errors = _form_errors(session, data, errors)
    if data is None or errors:
        return _form_again(session, offer, errors, 422)
    try:
        services.update_offer(session, current_user, offer, data)
    except StaleEdit as stale:
        session.refresh(offer)
        return _form_again(session, offer, {"__all__": stale.message()}, 409, version=offer.version)
    except ReferenceTaken:
        return _form_again(session, offer, {"reference": reference_taken()}, 409)
    flash(_("Offer saved."), "success")
    return redirect(url_for("offers.detail", offer_id=offer_id), code=303)


def _form_again(
    session: Session, offer: Offer | None, errors: dict[str, str], status: int, version: int | None = None
) -> tuple[str, int]:
    """Show the form again with what was typed, so nothing is lost."""
    form = request.form.to_dict(flat=True)
    for name in LIST_FIELDS:
        form[name] = request.form.getlist(name)  # type: ignore[assignment]
    if version is not None:
        form["version"] = str(version)
    page = render_template("offers/form.html", form=form, errors=errors, offer=offer, areas=_areas(session))
    return page, status


def _form_values(offer: Offer) -> dict[str, object]:
    values = {name: getattr(offer, name) for name in OfferForm.model_fields}
    values["skills"] = ", ".join(offer.skills)
    return {k: ("" if v is None else v) for k, v in values.items()}


@bp.route("/<uuid:offer_id>/status", methods=["POST"])
@role_required(*OWNERS)
def status(offer_id: uuid.UUID) -> Response:
    """Publish, pause, reopen or close an offer of one's own."""
    session = get_session()
    offer = services.find_own_offer(session, current_user, offer_id) or abort(404)
    action = request.form.get("action", "")
    try:
        services.change_status(session, current_user, offer, action, confirmed=request.form.get("confirmed") == "1")
    except NotAllowed:
        abort(409)
    except StillReferred as under_way:
        return make_response(
            render_template("offers/confirm_status.html", offer=offer, action=action, under_way=under_way)
        )
    except MissingFairChance:
        flash(
            _(
                "A job is published with a fair-chance statement. Write one, or tick that you give none, "
                "then publish again."
            ),
            "error",
        )
        return redirect(url_for("offers.update", offer_id=offer_id, _anchor="fair_chance_statement"), code=303)
    flash(status_changed(action), "success")
    return redirect(url_for("offers.detail", offer_id=offer_id), code=303)


def reference_taken() -> str:
    return _("Another of your offers has this reference. Each reference names one offer.")


def status_changed(action: str) -> str:
    """What an owner's action did to the offer, said as such."""
    sentences = {
        "publish": lambda: _("Offer published: caseworkers can now find it and refer people to it."),
        "pause": lambda: _("Offer paused: no new referrals until you reopen it."),
        "reopen": lambda: _("Offer reopened: caseworkers can refer people to it again."),
        "close": lambda: _("Offer closed: no new referrals."),
    }
    return sentences[action]()


@bp.route("/<uuid:offer_id>/confirm", methods=["POST"])
@role_required(*OWNERS)
def confirm(offer_id: uuid.UUID) -> Response:
    """Confirm that an offer is still current."""
    session = get_session()
    offer = services.find_own_offer(session, current_user, offer_id) or abort(404)
    services.confirm_offer(session, current_user, offer)
    flash(_("Thank you: the offer is confirmed as current."), "success")
    return redirect(url_for("offers.detail", offer_id=offer_id), code=303)
