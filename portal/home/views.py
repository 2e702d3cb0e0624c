"""Each role's starting page."""

from flask import Blueprint, current_app, render_template
from flask_login import current_user
from sqlmodel import Session, func, select
from werkzeug.wrappers import Response

from portal.audit.services import record_view
from portal.auth.access import public
from portal.clock import local_today
from portal.db import get_session, session_scope
from portal.followups import services as followups
from portal.home import services
from portal.hours import services as hours
from portal.indicators.summary import summary
from portal.models import Organization, Role, User, VerificationStatus, utcnow
from portal.offers.services import own_offers
from portal.people.search import summarize
from portal.people.services import caseworker_loads, visibility
from portal.referrals.services import INBOX_FILTERS, inbox

bp = Blueprint("home", __name__)

# How many referrals a provider's home page shows (the oldest waiting for an answer); the inbox has the rest.
INBOX_PREVIEW = 5
# How many of a provider's offers their home page lists (the latest changed), and how many of those
# not confirmed for long (the longest first); "See all my offers" has them all.
OFFERS_PREVIEW = 10
# How many follow-ups the attention list of a caseworker's or supervisor's home page shows, the
# oldest due first; /followups/ has them all.
ATTENTION_PREVIEW = 10
# How many referrals of each list it shows: proposed again for approval (the oldest first), and
# waiting for a provider's answer (the soonest deadline first); /people/?proposed=1 and
# /people/?waiting=1 have the people of them all.
REFERRALS_PREVIEW = 10


@bp.route("/")
@public
def index() -> Response | str:
    """Anonymous visitors see what the portal is; signed-in users their own starting page."""
    if not current_user.is_authenticated:
        return render_template("home/welcome.html")
    session = get_session()
    context: dict[str, object] = {}
    if current_user.role in (Role.PROVIDER, Role.VOLUNTEER):
        context.update(_provider_context(session))
    if current_user.role == Role.ADMIN:
        context["pending_organizations"] = session.exec(
            select(func.count()).where(Organization.status == VerificationStatus.PENDING)
        ).one()
        context["pending_volunteers"] = session.exec(
            select(func.count()).where(User.role == Role.VOLUNTEER, User.verified_at == None)  # noqa: E711
        ).one()
    if current_user.role == Role.VOLUNTEER:
        context["hours_totals"] = hours.totals(session, current_user, local_today())
    if current_user.role in (Role.PROVIDER, Role.CASEWORKER, Role.SUPERVISOR):
        context["hours_waiting"] = hours.count_waiting(session, current_user)
    if current_user.role in (Role.CASEWORKER, Role.SUPERVISOR):
        context.update(_case_context(session))
    if current_user.role == Role.SUPERVISOR:
        context["loads"] = caseworker_loads(session, current_user, local_today())
    if current_user.role in (Role.SUPERVISOR, Role.ADMIN):
        context["indicator_summary"] = summary(session, current_user)
    return render_template("home/index.html", **context)


def _provider_context(session: Session) -> dict[str, object]:
    """A provider's or volunteer's offers, the few referrals to answer first (a volunteer's first
    few people) as the inbox shows them, through the disclosure table, and how many wait: the
    home reads a handful of referrals and one count, never the whole inbox."""
    first = INBOX_FILTERS["waiting"] if current_user.role == Role.PROVIDER else INBOX_FILTERS["all"]
    preview = inbox(session, current_user, first, per_page=INBOX_PREVIEW)
    shown = preview.page.items
    record_view(current_user, "list", "referral", [item.referral.id for item in shown])
    return {
        "offers": own_offers(session, current_user, per_page=OFFERS_PREVIEW).items,
        "organization": (
            session.get(Organization, current_user.organization_id) if current_user.organization_id else None
        ),
        "waiting_count": preview.counts["waiting"],
        "inbox_items": shown,
        "stale_offers": services.needs_confirming(session, current_user, OFFERS_PREVIEW),
    }


def _case_context(session: Session) -> dict[str, object]:
    """What needs a caseworker's (or supervisor's) attention today, and the caseload in figures.
    The attention list shows the most overdue few; the rest are a link away (every follow-up on
    /followups/, every overdue person on /people/?contact=overdue), and the figures are counts."""
    today, allowed_gap = local_today(), current_app.config["CONTACT_GAP_DAYS"]
    # The periodic job may have run hours ago: who became overdue since is listed now, as the
    # caseload's figures below count them. Found by this request's own reads; opened (rarely) in a
    # session of its own, as this request only reads, and then a fresh read sees them.
    opening = followups.contact_follow_ups_due(session, today, allowed_gap, current_user)
    if opening:
        with session_scope() as writer:
            followups.open_follow_ups(writer, opening)
        session.commit()
    due = followups.attention(session, current_user, today, per_page=ATTENTION_PREVIEW)
    referrals = services.case_referrals(session, current_user, REFERRALS_PREVIEW)
    people = (
        [item.person.id for item in due.page.items]
        + [p.id for _r, p in referrals.proposals]
        + [w.person.id for w in referrals.waiting]
    )
    record_view(current_user, "list", "person", people)
    context: dict[str, object] = {
        "attention": due.page.items,
        "attention_total": due.total,
        "proposals": referrals.proposals,
        "proposals_total": referrals.proposals_total,
        "waiting": referrals.waiting,
        "waiting_total": referrals.waiting_total,
        "now": utcnow(),
        "snooze_choices": followups.SNOOZE_CHOICES,
        "job_checks": followups.JOB_CHECKS,
        "job_check_outcomes": followups.JOB_CHECK_OUTCOMES,
    }
    if current_user.role == Role.CASEWORKER:
        context["caseload_summary"] = summarize(session, visibility(current_user), today, allowed_gap)
    return context


@bp.route("/healthz")
@public
def health() -> Response:
    """For the load balancer: the app answers and reaches its database."""
    get_session().exec(select(1)).one()
    return Response("ok", mimetype="text/plain")
