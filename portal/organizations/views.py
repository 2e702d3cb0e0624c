"""The verification queue and organization pages (admins and supervisors)."""

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.auth.access import fresh_sign_in_required, role_required
from portal.db import get_session
from portal.models import Role
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
