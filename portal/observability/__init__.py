"""What an operator watches: structured logs of every request, /readyz, and /metrics for Prometheus."""

import time

from flask import Flask, g, request
from werkzeug.wrappers import Response

from portal.db import get_engine
from portal.observability import logs, metrics
from portal.observability.views import bp


def _start() -> None:
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    seconds = time.perf_counter() - g.get("request_started", time.perf_counter())
    route = request.url_rule.rule if request.url_rule else None
    logs.log_request(route, response.status_code, seconds)
    metrics.observe(route, request.method, response.status_code, seconds)
    response.headers["X-Request-ID"] = logs.request_id()
    return response


def init_app(app: Flask) -> None:
    """Call before the other before-request hooks are registered, so the time taken counts theirs."""
    logs.configure(app)
    logs.time_queries(get_engine(app))
    app.before_request(_start)
    app.after_request(_finish)
    app.register_blueprint(bp)
