"""Account management for admins."""

import uuid

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select
from werkzeug.wrappers import Response

from portal import idempotency
from portal.auth.access import fresh_sign_in_required, role_required
from portal.auth.forms import checked_password
from portal.auth.passwords import STAFF_MIN_LENGTH
from portal.db import get_session
from portal.exceptions import EmailTaken
from portal.forms import validate
from portal.models import Area, Role, User
from portal.users import services
from portal.users.forms import StaffAccountForm

bp = Blueprint("users", __name__, url_prefix="/users")


@bp.route("/")
@role_required(Role.ADMIN)
def index() -> str:
    """The accounts, 50 a page, with volunteers waiting for verification marked."""
    after = request.args.get("after") or None
    page = services.list_users(get_session(), after)
    return render_template("users/index.html", accounts=page.items, next_cursor=page.next_cursor, after=after)


@bp.route("/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def create() -> Response | str | tuple[str, int]:
    """Create a caseworker or supervisor account."""
    session = get_session()
    areas = list(session.exec(select(Area).order_by(Area.code)))
    if request.method == "GET":
        return render_template("users/form.html", form={}, errors={}, areas=areas, password_min=STAFF_MIN_LENGTH)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        errors = {"__all__": idempotency.bad_key_message()}
        page = render_template(
            "users/form.html", form=request.form, errors=errors, areas=areas, password_min=STAFF_MIN_LENGTH
        )
        return page, 400
    data, errors = validate(StaffAccountForm, request.form)
    data, errors = checked_password(data, errors, request.form.get("password", ""), staff=True)
    if data is not None and data.area_id is not None and session.get(Area, data.area_id) is None:
        data, errors = None, {"area_id": _("Choose one of the options.")}
    if data is not None and idempotency.claim(session, current_user, key, User) is not None:
        return redirect(url_for("users.index"), code=303)  # sent twice: the account was made the first time
    if data is not None:
        try:
            user = services.create_staff_account(session, current_user, data)
        except EmailTaken:
            session.rollback()
            errors = {"email": _("An account with this e-mail address already exists.")}
        else:
            flash(_("Account created for %(name)s.", name=user.name), "success")
            return redirect(url_for("users.index"), code=303)
    page = render_template(
        "users/form.html", form=request.form, errors=errors, areas=areas, password_min=STAFF_MIN_LENGTH
    )
    return page, 422


def _back_to_list() -> Response:
    """Back to the page of accounts the admin acted on, not the first one."""
    return redirect(url_for("users.index", after=request.form.get("after") or None), code=303)


@bp.route("/<uuid:user_id>/verify", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def verify(user_id: uuid.UUID) -> Response:
    """Verify a volunteer."""
    session = get_session()
    user = services.find_user(session, user_id) or abort(404)
    try:
        services.verify_volunteer(session, current_user, user)
    except ValueError:
        abort(409)
    flash(_("%(name)s is verified.", name=user.name), "success")
    return _back_to_list()


@bp.route("/<uuid:user_id>/active", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def active(user_id: uuid.UUID) -> Response:
    """Deactivate or reactivate an account."""
    session = get_session()
    user = services.find_user(session, user_id) or abort(404)
    choice = request.form.get("active")
    if choice not in {"0", "1"}:
        abort(400)
    make_active = choice == "1"
    try:
        services.set_active(session, current_user, user, make_active)
    except ValueError:
        flash(_("You cannot deactivate your own account."), "error")
        return _back_to_list()
    if make_active:
        flash(_("%(name)s can sign in again.", name=user.name), "success")
    else:
        flash(_("%(name)s is deactivated and signed out.", name=user.name), "success")
    return _back_to_list()


@bp.route("/<uuid:user_id>/sessions/end", methods=["POST"])
@role_required(Role.ADMIN)
def end_sessions(user_id: uuid.UUID) -> Response:
    """Sign a user out of every browser."""
    session = get_session()
    user = services.find_user(session, user_id) or abort(404)
    services.end_sessions(session, current_user, user)
    flash(_("%(name)s is signed out everywhere.", name=user.name), "success")
    return _back_to_list()


@bp.route("/<uuid:user_id>/two-step/reset", methods=["POST"])
@role_required(Role.ADMIN)
@fresh_sign_in_required
def reset_second_factor(user_id: uuid.UUID) -> Response:
    """Let a user who lost their phone set up two-step sign-in again."""
    session = get_session()
    user = services.find_user(session, user_id) or abort(404)
    try:
        services.reset_second_factor(session, current_user, user)
    except ValueError:
        abort(409)
    flash(_("%(name)s will set up two-step sign-in again at the next sign-in.", name=user.name), "success")
    return _back_to_list()
