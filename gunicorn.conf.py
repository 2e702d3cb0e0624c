"""gunicorn's settings for a Bridge deployment: `gunicorn -c gunicorn.conf.py wsgi:app`.

Every value can be changed from the environment (`GUNICORN_CMD_ARGS`, or the BRIDGE_* variables
below) without editing this file. The portal's own settings stay in `PORTAL_*` variables."""

import os
from pathlib import Path
from typing import Any

# Behind the reverse proxy on the same machine; nginx forwards to this address.
bind = os.environ.get("BRIDGE_BIND", "127.0.0.1:8000")
# Sync workers, two per core: a request's time is mostly the database's, and a worker that waits
# holds no other request up. Each worker maps the same matches index files (PORTAL_INDEX_DIR), so
# more workers cost little memory beyond their own.
workers = int(os.environ.get("BRIDGE_WORKERS", 2 * (os.cpu_count() or 1)))
worker_class = "sync"
# A request that takes longer than this is stuck: the worker is replaced, and the client gets 502.
timeout = 30
# On `kill -HUP` (a deploy) or SIGTERM, workers finish the requests they hold for up to this long.
graceful_timeout = 30
keepalive = 5
# Each worker is replaced after about a thousand requests, so that no slow growth of memory
# outlives a day.
max_requests = 1000
max_requests_jitter = 100
# Each worker builds its own app: nothing opened before the fork (database connections, index
# files) is shared between processes.
preload_app = False
# The access log has the path without its query string: a search (a name, a phone number) or a
# link's token never reaches a log file. Method, path, status, bytes and seconds taken.
accesslog = "-"
access_log_format = '%(h)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(L)s'
errorlog = "-"
loglevel = "info"
# Only the local proxy may say the request came over https (X-Forwarded-Proto); the client's
# address is taken from X-Forwarded-For by the portal itself (PORTAL_TRUSTED_PROXIES).
forwarded_allow_ips = "127.0.0.1,::1"

# Prometheus: with PROMETHEUS_MULTIPROC_DIR set in the environment (a folder of this server's own),
# every worker writes its request counts there and a scrape of /metrics from any worker adds them
# all up (portal/observability/metrics.py); unset, each worker would report only its own.
_METRICS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def on_starting(_server: object) -> None:
    """The counts of a previous run would be added to this one's: start from an empty folder."""
    if _METRICS_DIR:
        Path(_METRICS_DIR).mkdir(parents=True, exist_ok=True)
        for leftover in Path(_METRICS_DIR).glob("*.db"):
            leftover.unlink()


def child_exit(_server: object, worker: Any) -> None:
    """A worker gone (replaced after max_requests, or killed): its counts stay in the totals, but
    the figures only a live process may report are dropped."""
    if _METRICS_DIR:
        from prometheus_client import multiprocess  # noqa: PLC0415 - only when the folder is set

        multiprocess.mark_process_dead(worker.pid)
