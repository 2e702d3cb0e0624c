"""Sign in, sign out, sign up (organizations and volunteers), and the language switch."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlmodel import Session
from werkzeug.wrappers import Response

from portal import idempotency
from portal.auth import mfa, resets, services, sessions, throttle
from portal.auth.access import (
    AGENT_KEY,
    TOKEN_KEY,
    agent_digest,
    public,
    role_required,
    session_limits,
    touch_session,
)
from portal.auth.forms import (
    AccountFields,
    ForgotPasswordForm,
    LoginForm,
    OrganizationSignupForm,
    PasswordChangeForm,
    VolunteerSignupForm,
    checked_password,
)
from portal.auth.passwords import MAX_LENGTH, MIN_LENGTH, STAFF_MIN_LENGTH, password_problem
from portal.db import get_session
from portal.exceptions import Throttled, WrongPassword
from portal.forms import validate
from portal.i18n import LOCALES
from portal.models import Role, User, utcnow

bp = Blueprint("auth", __name__, url_prefix="/auth")

# Half-way through signing in: the password was right, the code is still owed.
MFA_PENDING = "mfa_pending"
MFA_STEP_SECONDS = 300


def safe_next(target: str | None) -> str:
    """Only same-site paths: `next` must never send a user to another site."""
    if not target:
        return url_for("home.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("home.index")
    if "\\" in target:
        return url_for("home.index")
    return target


def login_policy() -> throttle.Policy:
    config = current_app.config
    return throttle.Policy(
        per_account=config["LOGIN_LIMIT_PER_ACCOUNT"],
        per_address=config["LOGIN_LIMIT_PER_ADDRESS"],
        lockout_failures=config["LOCKOUT_FAILURES"],
        lockout=timedelta(minutes=config["LOCKOUT_MINUTES"]),
    )


@bp.route("/login", methods=["GET", "POST"])
@public
def login() -> Response | str | tuple[str, int]:
    """Sign in with e-mail and password."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    if request.method == "GET":
        return render_template("auth/login.html", form={}, errors={})
    data, errors = validate(LoginForm, request.form)
    form = {"email": request.form.get("email", "")}
    if data is None:
        return render_template("auth/login.html", form=form, errors=errors), 422
    try:
        user = services.authenticate(
            get_session(),
            data.email,
            request.form.get("password", ""),  # exactly as typed: validate() strips whitespace
            request.remote_addr or "",
            str(current_app.config["SECRET_KEY"]),
            login_policy(),
        )
    except Throttled as refused:
        return render_template("auth/login.html", form=form, errors={"__all__": _throttled_message(refused)}), 429
    if user is None:
        errors = {"__all__": _("The e-mail address or password is not right.")}
        return render_template("auth/login.html", form=form, errors=errors), 422
    next_url = safe_next(request.args.get("next"))
    if user.mfa_enrolled_at is not None:
        # Not signed in yet: only the code step knows who is half-way through.
        _fresh_flask_session()
        session[MFA_PENDING] = {"user": str(user.id), "at": utcnow().timestamp(), "next": next_url}
        return redirect(url_for("auth.mfa_verify"))
    start_session(user)
    return redirect(next_url)


def _throttled_message(refused: Throttled) -> str:
    if refused.verdict is throttle.Verdict.LOCKED:
        return _(
            "Too many failed attempts for this account. It is locked for %(minutes)s minutes.",
            minutes=current_app.config["LOCKOUT_MINUTES"],
        )
    return _("Too many sign-in attempts. Wait a minute, then try again.")


def _pending_user() -> tuple[User, str] | None:
    """The user who gave the right password in the last few minutes and still owes a code."""
    pending = session.get(MFA_PENDING)
    if not isinstance(pending, dict):
        return None
    try:
        started = float(pending["at"])
        user_id = uuid.UUID(str(pending["user"]))
    except (KeyError, TypeError, ValueError):
        return None
    if utcnow().timestamp() - started > MFA_STEP_SECONDS:
        return None
    user = get_session().get(User, user_id)
    if user is None or not user.active or user.mfa_enrolled_at is None:
        return None
    return user, safe_next(str(pending.get("next", "")))


@bp.route("/code", methods=["GET", "POST"])
@public
def mfa_verify() -> Response | str | tuple[str, int]:
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    pending = _pending_user()
    if pending is None:
        session.pop(MFA_PENDING, None)
        flash(_("Please sign in again."), "info")
        return redirect(url_for("auth.login"))
    user, next_url = pending
    if request.method == "GET":
        return render_template("auth/mfa_verify.html", errors={})
    try:
        passed = services.check_second_factor(
            get_session(),
            user,
            request.form.get("code", "")[:64],
            request.remote_addr or "",
            str(current_app.config["SECRET_KEY"]),
            login_policy(),
        )
    except Throttled as refused:
        return render_template("auth/mfa_verify.html", errors={"code": _throttled_message(refused)}), 429
    if not passed:
        errors = {"code": _("This code is not right, or was used already. Try the next code from your app.")}
        return render_template("auth/mfa_verify.html", errors=errors), 422
    start_session(user)
    return redirect(next_url)


@bp.route("/two-step", methods=["GET", "POST"])
@role_required(*Role)
def mfa_setup() -> Response | str | tuple[str, int]:
    """Set up two-step sign-in with an authenticator app: scan, then confirm with a code."""
    db = get_session()
    # Once on, it stays on: moving to a new phone is for an admin to reset, not for whoever holds a session.
    if request.method == "POST" and request.form.get("action") == "start" and current_user.mfa_enrolled_at is None:
        mfa.begin_enrolment(db, current_user)
        return redirect(url_for("auth.mfa_setup"), code=303)
    seed = mfa.pending_seed(current_user)
    if request.method == "GET" or seed is None:
        return render_template("auth/mfa_setup.html", seed=seed, qr=_qr(seed), errors={})
    codes = mfa.confirm_enrolment(db, current_user, request.form.get("code", "")[:64], utcnow())
    if codes is None:
        errors = {"code": _("This code is not right. Check the clock of your phone and try the newest code.")}
        return render_template("auth/mfa_setup.html", seed=seed, qr=_qr(seed), errors=errors), 422
    flash(_("Two-step sign-in is on."), "success")
    return render_template("auth/recovery_codes.html", codes=codes)


def _qr(seed: str | None) -> str | None:
    return mfa.qr_svg_data_uri(mfa.provisioning_uri(current_user, seed)) if seed else None


def _fresh_flask_session() -> None:
    """Empty the cookie's session but for the language chosen."""
    locale = session.get("locale")
    session.clear()
    if locale:
        session["locale"] = locale


def start_session(user: User) -> None:
    """Sign the user in with a new server-side session. Nothing from before is carried over but the
    language chosen, so a session id planted before sign-in is worth nothing after it."""
    _fresh_flask_session()
    token = services.sign_in(get_session(), user)
    login_user(user)
    session[TOKEN_KEY] = token
    session[AGENT_KEY] = agent_digest(request.headers.get("User-Agent", ""))
    session.permanent = True  # the cookie expires with the absolute limit, PERMANENT_SESSION_LIFETIME


@bp.route("/confirm", methods=["GET", "POST"])
@role_required(*Role)
def confirm() -> Response | str | tuple[str, int]:
    """Confirm it is you (password, and a code with two-step sign-in) before an export, an override,
    an account change or the audit trail; then back to where you were going."""
    next_url = safe_next(request.values.get("next"))
    if request.method == "GET":
        return render_template("auth/confirm.html", next_url=next_url, errors={})
    token = _current_token()
    if token is None:  # cannot happen for a signed-in user; never a 500 if it does
        return redirect(url_for("auth.login"))
    try:
        passed = services.reauthenticate(
            get_session(),
            current_user,
            token,
            request.form.get("password", "")[:MAX_LENGTH],
            request.form.get("code", "")[:64],
            request.remote_addr or "",
            str(current_app.config["SECRET_KEY"]),
            login_policy(),
        )
    except Throttled as refused:
        errors = {"__all__": _throttled_message(refused)}
        return render_template("auth/confirm.html", next_url=next_url, errors=errors), 429
    if not passed:
        if current_user.mfa_enrolled_at is not None:
            message = _("The password or the code is not right.")
        else:
            message = _("This is not your current password.")
        return render_template("auth/confirm.html", next_url=next_url, errors={"__all__": message}), 422
    return redirect(next_url, code=303)


@bp.route("/keep-alive", methods=["POST"])
@role_required(*Role)
def keep_alive() -> Response:
    """The "stay signed in" button of the time-out warning: counts as activity, nothing else."""
    touch_session(g.user_session.id, utcnow())
    return Response(status=204)


@bp.route("/logout", methods=["POST"])
@role_required(*Role)
def logout() -> Response:
    """Sign out: the server-side session is revoked, so a copy of the cookie is worth nothing."""
    services.sign_out(get_session(), current_user, _current_token())
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    response = redirect(url_for("auth.login"))
    # Whatever the browser kept of the pages seen (cache, storage) goes too.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response


def _current_token() -> str | None:
    token = session.get(TOKEN_KEY)
    return token if isinstance(token, str) else None


def _account_page(form: dict[str, str], errors: dict[str, str], status: int = 200) -> tuple[str, int]:
    others = [
        row
        for row in sessions.live_sessions(get_session(), current_user, session_limits(), utcnow())
        if row.token_hash != sessions.digest(_current_token() or "")
    ]
    minimum = STAFF_MIN_LENGTH if current_user.is_staff else MIN_LENGTH
    html = render_template(
        "auth/account.html",
        form=form,
        errors=errors,
        others=others,
        password_min=minimum,
        must_change=current_user.must_change_password,
    )
    return html, status


@bp.route("/account", methods=["GET"])
@role_required(*Role)
def account() -> tuple[str, int]:
    """The user's own account: change the password, sign out other browsers."""
    return _account_page({}, {})


@bp.route("/password", methods=["POST"])
@role_required(*Role)
def change_password() -> Response | tuple[str, int]:
    """Change the password; the current one is asked for, and every other session ends."""
    data, errors = validate(PasswordChangeForm, request.form)
    data, errors = checked_password(
        data, errors, request.form.get("new_password", ""), staff=current_user.is_staff, field="new_password"
    )
    if data is not None:
        try:
            services.change_password(
                get_session(),
                current_user,
                request.form.get("current_password", ""),
                data.new_password,
                keep_token=_current_token(),
            )
        except WrongPassword:
            errors = {"current_password": _("This is not your current password.")}
        else:
            flash(_("Your password is changed. You are signed out everywhere else."), "success")
            return redirect(url_for("auth.account"), code=303)
    return _account_page({}, errors, 422)


@bp.route("/sessions/others", methods=["POST"])
@role_required(*Role)
def sign_out_others() -> Response:
    """Sign out every other browser where this account is signed in."""
    services.sign_out_elsewhere(get_session(), current_user, keep_token=_current_token())
    flash(_("You are signed out everywhere else."), "success")
    return redirect(url_for("auth.account"), code=303)


@bp.route("/forgot", methods=["GET", "POST"])
@public
def forgot_password() -> Response | str | tuple[str, int]:
    """Ask for a password-reset link; the answer never says whether the address has an account."""
    if request.method == "GET":
        return render_template("auth/forgot.html", form={}, errors={})
    data, errors = validate(ForgotPasswordForm, request.form)
    if data is None:
        return render_template("auth/forgot.html", form=request.form, errors=errors), 422
    resets.request_reset(
        get_session(),
        data.email,
        lambda token: url_for("auth.reset_password", token=token),
        utcnow(),
        current_app.config,
    )
    flash(
        _("If an account uses this address, a link to reset its password is on its way. It works for 10 minutes."),
        "info",
    )
    return redirect(url_for("auth.login"), code=303)


@bp.route("/reset/<token>", methods=["GET", "POST"])
@public
def reset_password(token: str) -> Response | str | tuple[str, int]:
    """Choose a new password from an e-mailed link; then sign in as usual (with the code, if any)."""
    db = get_session()
    user = resets.user_for_token(db, token, utcnow())
    if user is None:
        return render_template("auth/reset.html", valid=False, errors={}, password_min=MIN_LENGTH), 400
    minimum = STAFF_MIN_LENGTH if user.is_staff else MIN_LENGTH
    if request.method == "GET":
        return render_template("auth/reset.html", valid=True, errors={}, password_min=minimum)
    problem = password_problem(request.form.get("new_password", ""), staff=user.is_staff)
    if problem is not None:
        errors = {"new_password": problem}
        return render_template("auth/reset.html", valid=True, errors=errors, password_min=minimum), 422
    if resets.reset_password(db, token, request.form.get("new_password", ""), utcnow()) is None:
        return render_template("auth/reset.html", valid=False, errors={}, password_min=minimum), 400
    flash(_("Your password is changed. Sign in with the new one."), "success")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/signup", methods=["GET"])
@public
def signup() -> str:
    """Choose how to join: as an organization or as a volunteer."""
    return render_template("auth/signup.html")


def _sign_up(
    schema: type[AccountFields], register: Callable[[Session, Any], User], template: str, welcome: str
) -> Response | str | tuple[str, int]:
    """Show the sign-up form, or take it: a new address gets its account, a known one's owner an
    e-mail, and both the same answer (sign in now), so the form tells no one who has an account."""
    if request.method == "GET":
        return render_template(template, form={}, errors={}, password_min=MIN_LENGTH)
    try:
        key = idempotency.form_key(request.form)
    except idempotency.BadKey:
        errors = {"__all__": idempotency.bad_key_message()}
        return render_template(template, form=request.form, errors=errors, password_min=MIN_LENGTH), 400
    data, errors = validate(schema, request.form)
    data, errors = checked_password(data, errors, request.form.get("password", ""), staff=False)
    if data is None:
        return render_template(template, form=request.form, errors=errors, password_min=MIN_LENGTH), 422
    # Sent twice: the first submission did the work; the copy gets the same answer.
    if idempotency.claim(get_session(), None, key, User) is None:
        base_url = str(current_app.config.get("PUBLIC_URL") or "").rstrip("/")
        links = (base_url + url_for("auth.login"), base_url + url_for("auth.forgot_password"))
        try:
            services.sign_up(
                get_session(),
                data,
                register,
                request.remote_addr or "",
                int(current_app.config["SIGNUP_LIMIT_PER_ADDRESS"]),
                links,
            )
        except Throttled:
            errors = {"__all__": _("Too many sign-ups from your network in the last hour. Try again later.")}
            return render_template(template, form=request.form, errors=errors, password_min=MIN_LENGTH), 429
    flash(
        _(
            "Thank you. If this address is new to Bridge, your account is made: sign in with it and your "
            "password. If it has an account already, we sent it an e-mail."
        ),
        "success",
    )
    flash(welcome, "info")
    return redirect(url_for("auth.login"), code=303)


@bp.route("/signup/organization", methods=["GET", "POST"])
@public
def signup_organization() -> Response | str | tuple[str, int]:
    """An NGO or employer joins with its first staff account."""
    welcome = _(
        "Welcome. An administrator will verify your organization; until then your offers are visible only to you."
    )
    return _sign_up(OrganizationSignupForm, services.register_organization, "auth/signup_organization.html", welcome)


@bp.route("/signup/volunteer", methods=["GET", "POST"])
@public
def signup_volunteer() -> Response | str | tuple[str, int]:
    """A volunteer joins; an admin verifies them before their offers are seen."""
    welcome = _("Welcome. An administrator will verify your account; until then your offers are visible only to you.")
    return _sign_up(VolunteerSignupForm, services.register_volunteer, "auth/signup_volunteer.html", welcome)


@bp.route("/language", methods=["POST"])
@public
def language() -> Response:
    """Switch the language, remembered for the session and, when signed in, for the user."""
    choice = request.form.get("lang", "")
    if choice in LOCALES:
        session["locale"] = choice
        if current_user.is_authenticated:
            services.remember_locale(get_session(), current_user, choice)
    return redirect(safe_next(request.form.get("next")))
