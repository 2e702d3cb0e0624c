"""Who may do what: the login manager and the role decorator used on every view."""

import hashlib
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, abort, current_app, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, current_user
from sqlmodel import Session
from werkzeug.wrappers import Response

from portal.auth import mfa, sessions
from portal.db import READ_ONLY_METHODS, get_engine, get_session
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
    if sessions.needs_touch(row, now):
        if request.method in READ_ONLY_METHODS:
            # The request's own session is read-only: write in a short transaction of its own.
            with Session(get_engine()) as writer:
                sessions.touch(writer, row.id, now)
        else:
            sessions.touch(get_session(), row.id, now)
    return user


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


def public(view: View) -> View:
    """Mark a view as open to everyone, so the route audit knows it was meant to be."""
    view.allowed_roles = "public"  # type: ignore[attr-defined]
    return view


def totp_key() -> bytes:
    config = current_app.config
    return mfa.encryption_key(config["TOTP_KEY"], str(config["SECRET_KEY"]))


# Where a staff member without a second factor may still go: setting it up, or leaving.
_OPEN_WITHOUT_SECOND_FACTOR = frozenset({"auth.mfa_setup", "auth.logout", "auth.language", "static"})


def _require_second_factor() -> Response | None:
    """Where MFA is required, a staff member who has not set it up reaches only the set-up page."""
    if not current_app.config["MFA_REQUIRED"] or request.endpoint in _OPEN_WITHOUT_SECOND_FACTOR:
        return None
    if current_user.is_authenticated and current_user.is_staff and current_user.mfa_enrolled_at is None:
        setup_url = url_for("auth.mfa_setup")
        if htmx:
            response = Response(status=401)
            response.headers["HX-Redirect"] = setup_url
            return response
        return redirect(setup_url)
    return None


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    app.before_request(_require_second_factor)
