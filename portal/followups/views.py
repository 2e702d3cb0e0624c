"""Follow-ups: every one due, a page at a time (the start page shows the oldest few), and settling
them: done, or snoozed, with a note."""

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.audit.services import record_view
from portal.auth.access import role_required
from portal.clock import local_today
from portal.db import get_session, reads_only
from portal.exceptions import MissingOutcome, NotAllowed
from portal.followups import services
from portal.forms import whole_number
from portal.models import Role

bp = Blueprint("followups", __name__, url_prefix="/followups")


@bp.route("/")
@role_required(Role.CASEWORKER, Role.SUPERVISOR)
@reads_only
def index() -> str:
    """Every follow-up due for the people the user sees, oldest first, 50 a page; the next page
    continues after the last one shown."""
    session = get_session()
    today, after = local_today(), request.args.get("after") or None
    due = services.attention(session, current_user, today, after)
    record_view(current_user, "list", "person", [item.person.id for item in due.page.items])
    return render_template(
        "followups/index.html",
        attention=due.page.items,
        next_cursor=due.page.next_cursor,
        after=after,
        total=due.total,
        snooze_choices=services.SNOOZE_CHOICES,
        job_checks=services.JOB_CHECKS,
        job_check_outcomes=services.JOB_CHECK_OUTCOMES,
    )


@bp.route("/<uuid:follow_up_id>/settle", methods=["POST"])
@role_required(Role.CASEWORKER)
def settle(follow_up_id: uuid.UUID) -> Response:
    """Done, or snoozed for a few days; a note says what was done."""
    session = get_session()
    follow_up = services.find_follow_up(session, current_user, follow_up_id) or abort(404)
    note = request.form.get("note", "").strip()[:2000]
    if not note:
        flash(_("Write a note of what was done before settling a follow-up."), "error")
        return redirect(url_for("home.index"), code=303)
    days = None
    if request.form.get("snooze") == "1":  # the Snooze button, rather than Done
        days = whole_number(request.form.get("snooze_days", ""))
        if days not in services.SNOOZE_CHOICES:
            abort(400)
    try:
        services.settle(session, current_user, follow_up, note, days, request.form.get("outcome", ""))
    except NotAllowed:
        abort(404)
    except MissingOutcome:
        flash(_("Say whether the person is still in the job before marking the check done."), "error")
        return redirect(url_for("home.index"), code=303)
    flash(_("Follow-up snoozed.") if days else _("Follow-up done."), "success")
    return redirect(url_for("home.index"), code=303)
