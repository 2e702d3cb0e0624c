"""Who may do what: the login manager and the role decorator used on every view."""

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, flash, g, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from sqlmodel import Session
from werkzeug.wrappers import Response

from portal.auth import sessions
from portal.db import READ_ONLY_METHODS, get_engine, get_session, is_read_only_request
from portal.htmx import htmx
from portal.models import Role, User, utcnow

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to see this page.")
login_manager.login_message_category = "info"

# The Flask-session key holding the server-side session's token.
TOKEN_KEY = "auth_token"
# ... and the digest of the browser's User-Agent at sign-in, for staff sessions.
AGENT_KEY = "agent"


def agent_digest(user_agent: str) -> str:
    return hashlib.sha256(user_agent.encode()).hexdigest()[:32]


View = TypeVar("View", bound=Callable[..., Any])


def session_limits() -> sessions.Limits:
    config = current_app.config
    return sessions.Limits(
        staff_idle=timedelta(minutes=config["SESSION_IDLE_MINUTES_STAFF"]),
        others_idle=timedelta(minutes=config["SESSION_IDLE_MINUTES_OTHERS"]),
        absolute=config["PERMANENT_SESSION_LIFETIME"],
    )


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    """The user of a live server-side session; a revoked, idle or expired session, or a
    deactivated user, loads as nobody and the cookie is emptied."""
    token = session.get(TOKEN_KEY)
    try:
        key = uuid.UUID(user_id)
    except ValueError:
        key = None
    now = utcnow()
    found = key and isinstance(token, str) and sessions.find_live(get_session(), token, key, session_limits(), now)
    if not found:
        session.clear()  # signed out for good, even if the account is reactivated later
        return None
    row, user = found
    # Defence in depth for staff: a copied cookie replayed from another browser is refused. (Not
    # for providers and volunteers, whose phones update their browsers mid-session.)
    if user.is_staff and session.get(AGENT_KEY) != agent_digest(request.headers.get("User-Agent", "")):
        session.clear()
        return None
    g.user_session = row
    idle = session_limits().idle_for(user)
    # Last-seen is written at most once a minute: the idle clock may have started before this page.
    g.idle_deadline = row.last_seen_at + idle
    if sessions.needs_touch(row, now):
        touch_session(row.id, now)
        g.idle_deadline = now + idle
    g.idle_seconds = max(0, int((g.idle_deadline - now).total_seconds()))
    g.idle_full_seconds = int(idle.total_seconds())
    return user


def touch_session(row_id: uuid.UUID, now: datetime) -> None:
    if is_read_only_request():
        # The request's own session is read-only: write in a short transaction of its own.
        with Session(get_engine()) as writer:
            sessions.touch(writer, row_id, now)
    else:
        sessions.touch(get_session(), row_id, now)


@login_manager.unauthorized_handler
def unauthorized() -> Response:
    """Send anonymous users to sign in; htmx gets a 401 that redirects the whole page."""
    login_url = url_for("auth.login", next=request.full_path.rstrip("?"))
    if htmx:
        response = Response(status=401)
        response.headers["HX-Redirect"] = login_url
        return response
    flash(str(login_manager.login_message), "info")
    return redirect(login_url)


def role_required(*roles: Role) -> Callable[[View], View]:
    """Let signed-in users with one of these roles through; others get 403, anonymous users sign in."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        wrapped.allowed_roles = frozenset(roles)  # type: ignore[attr-defined]
        return wrapped  # type: ignore[return-value]

    return decorator


def _send_to(url: str) -> Response:
    """A redirect; for htmx a 401 that moves the whole page, not a page swapped into a fragment."""
    if htmx:
        response = Response(status=401)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url)


def signed_in_recently() -> bool:
    """Has the user of this request given their password (and code) within FRESH_SIGN_IN_MINUTES?"""
    row = g.get("user_session")
    window = timedelta(minutes=current_app.config["FRESH_SIGN_IN_MINUTES"])
    return row is not None and sessions.signed_in_within(row, window, utcnow())


def _same_site_referrer() -> str | None:
    """The page a refused POST came from, to return to after confirming; never another site's."""
    if not request.referrer:
        return None
    parts = urlsplit(request.referrer)
    if parts.netloc != request.host:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def ask_to_confirm() -> Response:
    """Send the user to confirm it is them, then back: to this page for a GET, to the page the form
    was on for a POST (which is not performed: it may have been sent by someone else's script)."""
    if request.method in READ_ONLY_METHODS:
        back = request.full_path.rstrip("?")
    else:
        back = _same_site_referrer() or url_for("home.index")
    return _send_to(url_for("auth.confirm", next=back))


def fresh_sign_in_required(view: View) -> View:
    """For what discloses a whole record or changes who may see what: the user must have proved who
    they are within the last few minutes, not merely hold a session someone may have walked up to.
    Put it under `role_required`, so a wrong role is still refused with 403 first."""

    @wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_user.is_authenticated and not signed_in_recently():
            return ask_to_confirm()
        return view(*args, **kwargs)

    wrapped.fresh_sign_in = True  # type: ignore[attr-defined]
    return wrapped  # type: ignore[return-value]


def public(view: View) -> View:
    """Mark a view as open to everyone, so the route audit knows it was meant to be."""
    view.allowed_roles = "public"  # type: ignore[attr-defined]
    return view


# Where a staff member without a second factor may still go: setting it up, or leaving.
_OPEN_WITHOUT_SECOND_FACTOR = frozenset({"auth.mfa_setup", "auth.logout", "auth.language", "auth.keep_alive", "static"})
# Where a user holding a one-time password may go: choosing their own, or leaving.
_OPEN_WITH_ONE_TIME_PASSWORD = frozenset(
    {"auth.account", "auth.change_password", "auth.logout", "auth.language", "auth.keep_alive", "static"}
)


def _require_own_password() -> Response | None:
    """A one-time password (the first admin's) opens only the page to choose a password of one's own."""
    if request.endpoint in _OPEN_WITH_ONE_TIME_PASSWORD:
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        return _send_to(url_for("auth.account"))
    return None


def _require_second_factor() -> Response | None:
    """Where MFA is required, a staff member who has not set it up reaches only the set-up page."""
    if not current_app.config["MFA_REQUIRED"] or request.endpoint in _OPEN_WITHOUT_SECOND_FACTOR:
        return None
    if not current_user.is_authenticated or current_user.must_change_password:
        return None  # the password comes first (above)
    if current_user.is_staff and current_user.mfa_enrolled_at is None:
        return _send_to(url_for("auth.mfa_setup"))
    return None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(_require_own_password)
    app.before_request(_require_second_factor)
