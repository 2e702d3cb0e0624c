"""Figures for Prometheus at /metrics: requests and their latency per route (the URL rule, never a
path, which would hold record ids) and status class, and what only the database knows (the mail
waiting to be sent, when the periodic job and the audit check last succeeded, audit events waiting
to be chained), read at each scrape.

Under gunicorn each worker counts its own requests. With PROMETHEUS_MULTIPROC_DIR set (before the
server starts: prometheus_client reads it at import) every worker writes its counts to files there
and a scrape of any one worker adds up them all (gunicorn.conf.py forgets a worker that exits)."""

import hmac
import os
from collections.abc import Iterator
from ipaddress import IPv4Network, IPv6Network, ip_address

import sqlalchemy as sa
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from sqlmodel import Session

from portal.observability import services

# A `_created` series beside every counter and histogram doubles what is stored for nothing asked.
disable_created_metrics()
# Not in prometheus_client's default registry: a scrape gathers exactly what the portal declares.
REQUESTS = Counter(
    "bridge_requests",
    "Requests answered, by route, method and status class.",
    ["route", "method", "status"],
    registry=None,
)
LATENCY = Histogram(
    "bridge_request_duration_seconds",
    "Time to answer a request, by route and method.",
    ["route", "method"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=None,
)
# The label of a request that matched no route: its path could be anything anyone typed.
UNMATCHED = "(no route)"


def observe(route: str | None, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route or UNMATCHED, method, f"{status // 100}xx").inc()
    LATENCY.labels(route or UNMATCHED, method).observe(seconds)


class DatabaseFigures:
    """Read at each scrape from the database every worker shares, so any worker gives the same answer."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        try:
            with Session(self.engine.execution_options(read_only=True)) as session:
                found = services.figures(session)
        except sa.exc.SQLAlchemyError:
            yield GaugeMetricFamily("bridge_database_up", "Whether the database answered this scrape.", value=0)
            return
        yield GaugeMetricFamily("bridge_database_up", "Whether the database answered this scrape.", value=1)
        yield GaugeMetricFamily("bridge_outbox_unsent", "E-mails in the outbox not sent yet.", value=found.unsent_mail)
        jobs = GaugeMetricFamily(
            "bridge_job_last_success_timestamp_seconds",
            "When a periodic command last did all its work: run-due-jobs, audit-verify (a clean `audit verify`).",
            labels=["job"],
        )
        for job, at in sorted(found.last_successes.items()):
            jobs.add_metric([job], at.timestamp())
        yield jobs
        yield GaugeMetricFamily(
            "bridge_audit_linked_events", "Audit events chained so far.", value=found.linked_audit_events
        )
        yield GaugeMetricFamily(
            "bridge_audit_unlinked_events",
            "Audit events written but not chained yet (run-due-jobs chains those a request left).",
            value=found.unlinked_audit_events,
        )
        oldest = found.oldest_unlinked_audit_event
        yield GaugeMetricFamily(
            "bridge_audit_oldest_unlinked_timestamp_seconds",
            "When the oldest audit event still waiting to be chained was written (0: none waits).",
            value=oldest.timestamp() if oldest else 0,
        )


def exposition(engine: sa.Engine) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(DatabaseFigures(engine))
    return generate_latest(registry)


def may_read(allowed: list[IPv4Network | IPv6Network], token: str, remote_addr: str | None, authorization: str) -> bool:
    """From an allowed address, or with the token when one is set (compared in constant time)."""
    if token and hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ip_address(remote_addr or "")
    except ValueError:
        return False
    return any(address in network for network in allowed)
