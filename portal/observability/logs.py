"""Logs an operator can follow: one JSON object a line on stderr. Each request writes a line (its
id, the account's id, the route as declared, the status, the time taken and the database's share
of it), and every other record written during a request carries that request's id. Only ids and
declared routes: never a path (it holds record ids), a query string, or a value typed about a person."""

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request
from flask.logging import default_handler
from sqlalchemy import Engine, event

REQUEST_LOGGER = logging.getLogger("portal.request")
# What a request's line carries besides its id, as attributes of the record (logging's `extra`).
REQUEST_FIELDS = ("user_id", "method", "route", "status", "duration_ms", "db_ms", "db_queries")
# The root logger's handler this module installs, found by name when an app is configured again.
_HANDLER_NAME = "portal-json"
_QUERY_STARTED = "portal_query_started"
# PostgreSQL's DETAIL line quotes values of the row a statement failed on (the duplicate e-mail, the
# whole "failing row"): the error and its statement stay in the log, the values do not.
_ROW_VALUES = re.compile(r"^DETAIL:.*$", re.MULTILINE)


def request_id() -> str:
    """This request's id: made at its first use, then the same in its log lines, in the
    X-Request-ID header and on the error page, so a user's reference finds the lines."""
    if "request_id" not in g:
        g.request_id = uuid.uuid4().hex[:12]
    value: str = g.request_id
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if has_request_context():
            entry["request_id"] = request_id()
        for name in REQUEST_FIELDS:
            if hasattr(record, name):
                entry[name] = getattr(record, name)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False, default=str)

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's name
        return _ROW_VALUES.sub("DETAIL: (withheld from the log)", super().formatException(ei))


class StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is at each record, not as it was when the app was made: a test
    runner or a server may replace it in between."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _replaced: Any) -> None:
        pass


def configure(app: Flask) -> None:
    """In json format, every logger of the process (the app's, the libraries', warnings) writes
    through one JSON handler on the root logger. The handler replaces the one an earlier app of this
    process installed: logging is the process's, not the app's. Text leaves Python's defaults."""
    if app.config["LOG_FORMAT"] != "json":
        return
    root = logging.getLogger()
    for handler in [handler for handler in root.handlers if handler.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Flask's own handler would write the app's records a second time, as text.
    app.logger.removeHandler(default_handler)
    logging.captureWarnings(True)


def _query_started(connection: Any, *_args: Any) -> None:
    connection.info[_QUERY_STARTED] = time.perf_counter()


def _query_ended(connection: Any, *_args: Any) -> None:
    started = connection.info.pop(_QUERY_STARTED, None)
    if started is None or not has_request_context():
        return
    g.db_ms = g.get("db_ms", 0.0) + (time.perf_counter() - started) * 1000
    g.db_queries = g.get("db_queries", 0) + 1


def time_queries(engine: Engine) -> None:
    """Sum the time each request waits on the database, every session and connection of it included."""
    event.listen(engine, "before_cursor_execute", _query_started)
    event.listen(engine, "after_cursor_execute", _query_ended)


def log_request(route: str | None, status: int, seconds: float) -> None:
    # Only a user already loaded by this request: loading one here would query the database (and
    # could touch the session) for a page that never asked who is signed in.
    user = g.get("_login_user")
    user_id = str(user.id) if user is not None and user.is_authenticated else None
    fields = {
        "user_id": user_id,
        "method": request.method,
        "route": route,
        "status": status,
        "duration_ms": round(seconds * 1000, 2),
        "db_ms": round(g.get("db_ms", 0.0), 2),
        "db_queries": g.get("db_queries", 0),
    }
    REQUEST_LOGGER.info("%s %s %s", request.method, route or "(no route)", status, extra=fields)
