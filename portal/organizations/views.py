"""The verification queue and organization pages (admins and supervisors)."""

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, url_for
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
    """Every organization, pending ones first."""
    return render_template("organizations/index.html", organizations=services.list_organizations(get_session()))


@bp.route("/<uuid:organization_id>")
@role_required(Role.ADMIN, Role.SUPERVISOR)
def detail(organization_id: uuid.UUID) -> str:
    """One organization: its details, staff and offers."""
    session = get_session()
    organization = services.find_organization(session, organization_id) or abort(404)
    staff, offers = services.organization_members(session, organization)
    return render_template("organizations/detail.html", organization=organization, staff=staff, offers=offers)


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
