"""What the readiness check and the metrics read: each a few aggregate queries, run when asked."""

import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from redis import Redis
from redis.exceptions import RedisError
from sqlmodel import Session, col, func, select

from portal.job_runs import last_successes
from portal.models import AuditEvent, OutboxMail

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Figures:
    unsent_mail: int
    last_successes: dict[str, datetime]
    linked_audit_events: int
    unlinked_audit_events: int
    oldest_unlinked_audit_event: datetime | None


def figures(session: Session) -> Figures:
    linked = session.exec(select(func.max(AuditEvent.sequence))).one()
    unlinked, oldest = session.exec(
        select(func.count(), func.min(AuditEvent.at)).where(col(AuditEvent.sequence).is_(None))
    ).one()
    return Figures(
        unsent_mail=session.exec(select(func.count()).where(col(OutboxMail.sent_at).is_(None))).one(),
        last_successes=last_successes(session),
        linked_audit_events=linked or 0,
        unlinked_audit_events=unlinked,
        oldest_unlinked_audit_event=oldest,
    )


def failed_checks(engine: sa.Engine, queue: Redis | None) -> list[str]:
    """The names of what does not answer: "database", "queue" (when one is configured). Names only:
    the errors would carry host names and, for some drivers, the connection string."""
    failed = []
    try:
        with engine.execution_options(read_only=True).connect() as connection:
            connection.execute(sa.select(1))
    except sa.exc.SQLAlchemyError as error:
        logger.warning("not ready: the database does not answer (%s)", type(error).__name__)
        failed.append("database")
    if queue is not None:
        try:
            queue.ping()
        except RedisError as error:
            logger.warning("not ready: the queue does not answer (%s)", type(error).__name__)
            failed.append("queue")
    return failed
