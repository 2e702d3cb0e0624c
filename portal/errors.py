"""Error pages: every failure gets a clear page in the user's language, never a traceback."""

from contextlib import suppress

from flask import Flask, abort, current_app, g, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from portal.exceptions import BadCursor
from portal.observability import logs


def _render(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    return render_template("errors/error.html", status=status), status


def _csrf(_error: CSRFError) -> tuple[str, int]:
    return render_template("errors/error.html", status=400, csrf=True), 400


def _unexpected(error: Exception) -> tuple[str, int]:
    """The last resort: the detail goes to the log under a reference, the user gets the reference only.
    The reference is the request's id, on each of its log lines; the route, not the path (record ids)."""
    request_id = logs.request_id()
    route = request.url_rule.rule if request.url_rule else None
    current_app.logger.error("request %s failed: %s %s", request_id, request.method, route, exc_info=error)
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    # The X-Request-ID header carries it too, as on every answer (portal/observability).
    return render_template("errors/error.html", status=500, request_id=request_id), 500


def _stale(_error: StaleDataError) -> tuple[str, int]:
    """A case record changed under a write that carried no version to compare (the version counter
    caught it at the UPDATE): nothing of this request was saved, and the user is told to reload."""
    session = g.get("db_session")
    if session is not None:
        session.rollback()
    return render_template("errors/error.html", status=409), 409


def _database_unavailable(error: OperationalError) -> tuple[str, int, dict[str, str]]:
    """The database cannot be reached or cannot write just now (restarting, a full disk, a file made
    read-only): the request's transaction is dropped whole, so nothing half-done stays, and the user
    is asked to retry rather than told the portal broke. The pool checks each connection before use
    (pool_pre_ping), so the first request after the database is back succeeds without a restart."""
    route = request.url_rule.rule if request.url_rule else None
    current_app.logger.warning("database unavailable: %s %s: %s", request.method, route, type(error.orig).__name__)
    session = g.get("db_session")
    if session is not None:
        with suppress(SQLAlchemyError):
            session.rollback()
    # The page is rendered for nobody in particular: loading the signed-in user (for the menu and
    # the language) would ask the database again. The language then follows the browser's.
    current_app.login_manager._update_request_context_with_user()  # type: ignore[attr-defined]
    return render_template("errors/error.html", status=503), 503, {"Retry-After": "30"}


def _bad_cursor(_error: BadCursor) -> tuple[str, int]:
    """A "next page" link edited by hand, or taken from another list: say so, rather than guess a page."""
    message = _(
        "This page of the list cannot be found: the link was changed or belongs to another list. "
        "Start again from the first page."
    )
    return render_template("errors/error.html", status=400, message=message), 400


def _reject_nul_bytes() -> None:
    """No one types a NUL character; PostgreSQL cannot store one. Refuse it before any view runs."""
    for values in (request.args, request.form):
        for _name, value in values.items(multi=True):
            if "\x00" in value:
                abort(400)


def init_app(app: Flask) -> None:
    app.before_request(_reject_nul_bytes)
    app.register_error_handler(CSRFError, _csrf)
    app.register_error_handler(StaleDataError, _stale)
    app.register_error_handler(BadCursor, _bad_cursor)
    app.register_error_handler(OperationalError, _database_unavailable)
    app.register_error_handler(HTTPException, _render)
    app.register_error_handler(500, _unexpected)
    # Any exception no view caught: without this, Flask would answer with its bare 500 page.
    app.register_error_handler(Exception, _unexpected)
