"""Volunteers' hours: the volunteer's log, certificate and ID type; the confirmers' list; the export."""

import uuid

from flask import Blueprint, abort, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import idempotency
from portal.audit.services import record_view
from portal.auth.access import fresh_sign_in_required, role_required
from portal.clock import local_today
from portal.db import get_session
from portal.exceptions import AlreadyDecided, BadCursor, NotAllowed
from portal.forms import query_values, validate
from portal.hours import services
from portal.hours.forms import ActivityForm, DecisionForm, IdTypeForm, PeriodForm
from portal.hours.pages import export_csv, period_errors_page
from portal.models import ActivityKind, IdType, Role, VolunteerActivity

bp = Blueprint("hours", __name__, url_prefix="/hours")

CONFIRMERS = (Role.PROVIDER, Role.CASEWORKER, Role.SUPERVISOR)
EXPORTERS = (Role.PROVIDER, Role.SUPERVISOR, Role.ADMIN)
# Activities on a page of the volunteer's log or of the confirmers' list.
PER_PAGE = 25


@bp.route("/")
@role_required(Role.VOLUNTEER)
def index() -> Response | str:
    """The volunteer's hours: totals, every activity logged (the latest first), their ID type."""
    session = get_session()
    try:
        found = services.own_activities(session, current_user, request.args.get("after") or None, PER_PAGE)
    except BadCursor:
        abort(400)
    return render_template(
        "hours/index.html",
        totals=services.totals(session, current_user, local_today()),
        activities=found,
        decided_by=services.decided_by(session, found.items),
        id_types=[(value.value, value) for value in IdType],
        first_page=not request.args.get("after"),
    )


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.VOLUNTEER)
def create() -> Response | tuple[str, int]:
    """Log an activity; it waits for the confirmation of whoever the volunteer named."""
    session = get_session()
    if request.method == "GET":
        host = services.last_host(session, current_user)
        typed = {"done_on": local_today().isoformat(), "served": f"organization:{host}" if host else ""}
        return _form(typed, {})
    typed = request.form.to_dict(flat=True)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        return _form(typed, {"__all__": idempotency.bad_key_message()}, 400)
    data, errors = validate(ActivityForm, request.form)
    if data is None:
        return _form(typed, errors, 422)
    if idempotency.claim(session, current_user, key, VolunteerActivity) is None:
        activity = services.Activity(
            data.done_on, data.minutes, data.kind, data.description, data.referral_id, data.organization_id
        )
        try:
            services.log(session, current_user, activity)
        except NotAllowed:
            session.rollback()
            return _form(typed, {"served": _("Choose one of the options.")}, 422)
    flash(_("%(hours)s hours logged. They count once they are confirmed.", hours=data.hours.normalize()), "success")
    return redirect(url_for("hours.index"), code=303)


def _form(typed: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    session = get_session()
    return render_template(
        "hours/form.html",
        form=typed,
        errors=errors,
        kinds=[(kind.value, kind) for kind in ActivityKind],
        referrals=services.served_referrals(session, current_user),
        hosts=services.hosts(session),
    ), status


@bp.route("/<uuid:activity_id>/withdraw", methods=["POST"])
@role_required(Role.VOLUNTEER)
def withdraw(activity_id: uuid.UUID) -> Response:
    """Take back hours not confirmed yet."""
    session = get_session()
    activity = services.own_activity(session, current_user, activity_id) or abort(404)
    try:
        services.withdraw(session, current_user, activity)
    except AlreadyDecided:
        flash(_("These hours were confirmed meanwhile: they are part of your record and stay."), "error")
    else:
        flash(_("The hours were taken back."), "success")
    return redirect(url_for("hours.index"), code=303)


@bp.route("/id-type", methods=["POST"])
@role_required(Role.VOLUNTEER)
def id_type() -> Response:
    """The identity document type volunteer service records name (never its number)."""
    data, _errors = validate(IdTypeForm, request.form)
    if data is None:
        abort(400)
    services.set_id_type(get_session(), current_user, data.id_type)
    flash(_("Your identity document type is saved."), "success")
    return redirect(url_for("hours.index"), code=303)


@bp.route("/certificate")
@role_required(Role.VOLUNTEER)
def certificate() -> Response | str:
    """The volunteer's confirmed hours over a period, as a page to print."""
    data, errors = validate(PeriodForm, request.args)
    if data is None:
        return period_errors_page(errors)
    today = local_today()
    first, last = data.days(today)
    activities = services.certificate(get_session(), current_user, first, last)
    return render_template(
        "hours/certificate.html",
        activities=activities,
        decided_by=services.decided_by(get_session(), activities),
        first=first,
        last=last,
        total=sum(activity.minutes for activity in activities) / 60,
        issued_on=today,
    )


@bp.route("/confirm")
@role_required(*CONFIRMERS)
def confirm() -> Response | str:
    """The hours waiting for this user's confirmation, the oldest logged first; an organization
    also sees its volunteers' confirmed hours this year."""
    session = get_session()
    try:
        found = services.waiting(session, current_user, request.args.get("after") or None, PER_PAGE)
    except BadCursor:
        abort(400)
    # A caseworker reads which of their people each volunteer's hours served.
    served = [item.activity.referral_id for item in found.items if item.activity.referral_id]
    record_view(current_user, "list", "referral", served)
    today = local_today()
    totals = []
    if current_user.role == Role.PROVIDER:
        totals = services.volunteer_totals(session, current_user, today.replace(month=1, day=1), today)
    return render_template(
        "hours/confirm.html",
        waiting=found,
        totals=totals,
        first_page=not request.args.get("after"),
        errors={},
    )


@bp.route("/<uuid:activity_id>/decide", methods=["POST"])
@role_required(*CONFIRMERS)
def decide(activity_id: uuid.UUID) -> Response | tuple[str, int]:
    """Confirm an activity's hours, or return them to the volunteer with a reason."""
    session = get_session()
    activity = services.find_waiting(session, current_user, activity_id) or abort(404)
    data, errors = validate(DecisionForm, request.form)
    if data is None:
        if "reason" not in errors:
            abort(400)
        flash(errors["reason"], "error")
        return redirect(url_for("hours.confirm"), code=303)
    try:
        services.decide(session, current_user, activity, data.decision == "confirm", data.reason.strip())
    except NotAllowed:
        abort(404)
    except AlreadyDecided:
        flash(_("Someone confirmed or returned these hours a moment ago: nothing was changed."), "error")
        return redirect(url_for("hours.confirm"), code=303)
    hours = f"{activity.hours:g}"
    if data.decision == "confirm":
        flash(_("%(hours)s hours confirmed.", hours=hours), "success")
    else:
        flash(_("%(hours)s hours returned to the volunteer with your reason.", hours=hours), "success")
    return redirect(url_for("hours.confirm"), code=303)


@bp.route("/export.csv")
@role_required(*EXPORTERS)
@fresh_sign_in_required
def export() -> Response | str:
    """Confirmed hours over a period, with the columns volunteer service records use (name, ID
    type, hours, activity, date, organization); one audit event names every activity in it."""
    data, errors = validate(PeriodForm, request.args)
    if data is None:
        return period_errors_page(errors)
    first, last = data.days(local_today())
    rows = services.export_rows(get_session(), current_user, first, last)
    record_view(current_user, "export", "volunteer_activity", [row.activity.id for row in rows])
    response = make_response(export_csv(rows))
    response.mimetype = "text/csv"
    filename = f"volunteer_hours_{first.isoformat()}_{last.isoformat()}.csv"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@bp.route("/export")
@role_required(*EXPORTERS)
def export_page() -> str:
    """Choose the period of the export; the totals per volunteer of the period chosen."""
    data, errors = validate(PeriodForm, request.args)
    today = local_today()
    first, last = data.days(today) if data else PeriodForm().days(today)
    return render_template(
        "hours/export.html",
        form=query_values(PeriodForm.model_fields, request.args),
        errors=errors,
        totals=services.volunteer_totals(get_session(), current_user, first, last),
        first=first,
        last=last,
    )
