"""What a load balancer and a monitoring server ask: is this server ready, and its figures."""

from flask import Blueprint, abort, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST
from werkzeug.wrappers import Response

from portal import queue
from portal.auth.access import public
from portal.db import get_engine
from portal.observability import metrics, services

bp = Blueprint("observability", __name__)


@bp.route("/readyz")
@public
def ready() -> Response:
    """Take this server out of the load balancer while what it needs does not answer: the database
    and, when one is configured, the mail queue (/healthz reads the database only)."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    failed = services.failed_checks(get_engine(), queue.connection(app) if app.config["QUEUE_URL"] else None)
    if failed:
        return Response(f"not ready: {', '.join(failed)}", status=503, mimetype="text/plain")
    return Response("ready", mimetype="text/plain")


@bp.route("/metrics")
@public
def figures() -> Response:
    """For the monitoring server alone; anyone else finds no such page."""
    config = current_app.config
    authorization = request.headers.get("Authorization", "")
    if not metrics.may_read(config["METRICS_ALLOWED"], config["METRICS_TOKEN"], request.remote_addr, authorization):
        abort(404)
    return Response(metrics.exposition(get_engine()), headers={"Content-Type": CONTENT_TYPE_LATEST})
