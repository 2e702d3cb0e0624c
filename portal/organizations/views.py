"""The verification queue and organization pages (admins and supervisors); a provider's choice of
what its organization publishes to the directory API."""

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.auth.access import fresh_sign_in_required, role_required
from portal.db import get_session
from portal.labels import label
from portal.models import Publication, Role
from portal.organizations import services

bp = Blueprint("organizations", __name__, url_prefix="/organizations")


@bp.route("/")
@role_required(Role.ADMIN, Role.SUPERVISOR)
def index() -> str:
    """The organizations, pending ones first, 50 a page."""
    after = request.args.get("after") or None
    page = services.list_organizations(get_session(), after)
    return render_template(
        "organizations/index.html", organizations=page.items, next_cursor=page.next_cursor, after=after
    )


@bp.route("/<uuid:organization_id>")
@role_required(Role.ADMIN, Role.SUPERVISOR)
def detail(organization_id: uuid.UUID) -> str:
    """One organization: its details, staff and offers, 50 offers a page."""
    session = get_session()
    organization = services.find_organization(session, organization_id) or abort(404)
    offers_after = request.args.get("offers_after") or None
    staff, offers = services.organization_members(session, organization, offers_after)
    return render_template(
        "organizations/detail.html",
        organization=organization,
        staff=staff,
        offers=offers.items,
        next_cursor=offers.next_cursor,
        offers_after=offers_after,
    )


@bp.route("/<uuid:organization_id>/verify", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def verify(organization_id: uuid.UUID) -> Response:
    """Verify an organization after checking who they are."""
    session = get_session()
    organization = services.find_organization(session, organization_id) or abort(404)
    services.verify_organization(session, current_user, organization)
    flash(_("%(name)s is verified; its published offers are now in the directory.", name=organization.name), "success")
    return redirect(url_for("organizations.detail", organization_id=organization_id), code=303)


@bp.route("/publication", methods=["GET", "POST"])
@role_required(Role.PROVIDER)
def publication() -> str | Response | tuple[str, int]:
    """Who may read the organization's offers through the directory API: nobody (the default),
    partner systems with a token, or everyone; and whether its contacts are published too."""
    session = get_session()
    organization = services.own_organization(session, current_user) or abort(404)
    if request.method == "GET":
        return render_template("organizations/publication.html", organization=organization)
    try:
        chosen = Publication(request.form.get("publication", ""))
    except ValueError:
        flash(_("Choose who may read your offers."), "error")
        return render_template("organizations/publication.html", organization=organization), 422
    services.set_publication(session, current_user, organization, chosen, request.form.get("contacts") == "1")
    flash(_("Saved: %(choice)s.", choice=label(chosen)), "success")
    return redirect(url_for("organizations.publication"), code=303)
