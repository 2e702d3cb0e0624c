"""Each role's starting page."""

from flask import Blueprint, render_template
from flask_login import current_user
from sqlmodel import func, select
from werkzeug.wrappers import Response

from portal.auth.access import public
from portal.db import get_session
from portal.followups import services as followups
from portal.followups.views import SNOOZE_CHOICES
from portal.indicators.views import summary
from portal.models import Offer, OfferStatus, Organization, Role, User, VerificationStatus
from portal.offers.services import own_offers, visible_to_staff
from portal.people.forms import local_today
from portal.people.services import caseworker_loads

bp = Blueprint("home", __name__)


@bp.route("/")
@public
def index() -> Response | str:
    """Anonymous visitors see what the portal is; signed-in users their own starting page."""
    if not current_user.is_authenticated:
        return render_template("home/welcome.html")
    session = get_session()
    context: dict[str, object] = {}
    if current_user.role in (Role.PROVIDER, Role.VOLUNTEER):
        context["offers"] = own_offers(session, current_user)
        context["organization"] = (
            session.get(Organization, current_user.organization_id) if current_user.organization_id else None
        )
    if current_user.role == Role.ADMIN:
        context["pending_organizations"] = session.exec(
            select(func.count()).where(Organization.status == VerificationStatus.PENDING)
        ).one()
        context["pending_volunteers"] = session.exec(
            select(func.count()).where(User.role == Role.VOLUNTEER, User.verified_at == None)  # noqa: E711
        ).one()
    if current_user.role in (Role.CASEWORKER, Role.SUPERVISOR):
        today = local_today()
        context["attention"] = followups.attention(session, current_user, today)
        context["proposals"] = followups.proposals(session, current_user)
        context["snooze_choices"] = SNOOZE_CHOICES
        context["job_checks"] = followups.JOB_CHECKS
        context["job_check_outcomes"] = followups.JOB_CHECK_OUTCOMES
    if current_user.role == Role.SUPERVISOR:
        context["loads"] = caseworker_loads(session, current_user, local_today())
    if current_user.role in (Role.SUPERVISOR, Role.ADMIN):
        context["indicator_summary"] = summary(session, current_user)
    if current_user.is_staff:
        visible_open = visible_to_staff(select(Offer).where(Offer.status == OfferStatus.OPEN))
        context["open_offers"] = session.exec(select(func.count()).select_from(visible_open.subquery())).one()
    return render_template("home/index.html", **context)


@bp.route("/healthz")
@public
def health() -> Response:
    """For the load balancer: the app answers and reaches its database."""
    get_session().exec(select(1)).one()
    return Response("ok", mimetype="text/plain")
