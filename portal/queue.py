"""Mail leaves the request: the moment a transaction that wrote mails commits, their ids are handed
on. With PORTAL_QUEUE_URL they go to RQ on Redis, where `flask --app wsgi mail-worker` sends them
within seconds; without it (the embedded default, `make run`) this process sends them once the
response is out, so no other server is needed. Either way the outbox row was committed first: if the
queue cannot be reached, or the process stops, the periodic sweep of run-due-jobs still finds it."""

import logging
import uuid

import click
from flask import Flask, after_this_request, current_app, has_app_context, has_request_context
from flask.cli import with_appcontext
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Retry, Worker
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction
from werkzeug.wrappers import Response

MAIL_QUEUE = "mail"
# Where a session keeps the ids of the mails it added, until its transaction ends.
PENDING = "portal_mail_ids"
# Redis is on the request's path only for the enqueue: a server that does not answer is given up
# on quickly, and the mail left to the sweep.
REDIS_TIMEOUT_SECONDS = 2

log = logging.getLogger(__name__)


def hand_on(session: Session, mail_id: uuid.UUID) -> None:
    """Deliver this mail once the session's transaction commits (never if it rolls back)."""
    session.info.setdefault(PENDING, []).append(mail_id)


@event.listens_for(Session, "after_commit")
def _committed(session: Session) -> None:
    mail_ids = session.info.pop(PENDING, None)
    if mail_ids and has_app_context():  # without an app there is no configuration: the sweep sends them
        _dispatch(current_app._get_current_object(), mail_ids)  # type: ignore[attr-defined]


@event.listens_for(Session, "after_soft_rollback")
def _rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    # A savepoint's rollback keeps the outer transaction's mails; one it undid is found missing
    # when its turn comes, and skipped.
    if not previous_transaction.nested:
        session.info.pop(PENDING, None)


def connection(app: Flask) -> Redis:
    """The app's Redis connection (a pool, opened at first use)."""
    if "portal_queue" not in app.extensions:
        app.extensions["portal_queue"] = Redis.from_url(
            app.config["QUEUE_URL"],
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
        )
    redis: Redis = app.extensions["portal_queue"]
    return redis


def _dispatch(app: Flask, mail_ids: list[uuid.UUID]) -> None:
    if app.config["QUEUE_URL"]:
        _enqueue(app, mail_ids)
    elif has_request_context():

        @after_this_request
        def _after_response(response: Response) -> Response:
            response.call_on_close(lambda: _deliver_in_process(app, mail_ids))
            return response

    else:  # a command: nobody waits on a response
        _deliver_in_process(app, mail_ids)


def _enqueue(app: Flask, mail_ids: list[uuid.UUID]) -> None:
    # Imported here: delivery tells the admins through the notifications, which write mail.
    from portal.notifications.delivery import BACKOFF, deliver_mail

    retry = Retry(max=len(BACKOFF), interval=[int(wait.total_seconds()) for wait in BACKOFF])
    queue = Queue(MAIL_QUEUE, connection=connection(app))
    jobs = [Queue.prepare_data(deliver_mail, (str(mail_id),), retry=retry, result_ttl=0) for mail_id in mail_ids]
    try:
        queue.enqueue_many(jobs)
    except RedisError as error:
        log.warning("mail queue unreachable (%s): %d mails wait for the periodic run", type(error).__name__, len(jobs))


def _deliver_in_process(app: Flask, mail_ids: list[uuid.UUID]) -> None:
    from portal.notifications.delivery import deliver_now

    try:
        deliver_now(app, mail_ids)
    except Exception as error:  # noqa: BLE001 - after the commit nothing may fail the caller
        # The error's kind only: its text may hold an address.
        log.warning("mail not delivered in-process (%s): it waits for the periodic run", type(error).__name__)


@click.command("mail-worker")
@with_appcontext
def mail_worker_command() -> None:
    """Send mail handed on by the portal as it comes, retrying temporary failures (PORTAL_QUEUE_URL)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if not app.config["QUEUE_URL"]:
        raise click.UsageError("PORTAL_QUEUE_URL is not set: mail is sent by the portal itself.")
    # The scheduler puts retries back on the queue once their wait is over.
    Worker([MAIL_QUEUE], connection=connection(app)).work(with_scheduler=True)


def init_app(app: Flask) -> None:
    app.cli.add_command(mail_worker_command)
