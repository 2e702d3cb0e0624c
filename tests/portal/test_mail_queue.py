"""Mail leaves the request and arrives within seconds: sent by this process once the response is out
(no queue), or by an RQ worker (a queue on Redis), through a real SMTP server on a local port. The
outbox stays the truth: a queue that cannot be reached, a rollback, a server that is down or that
refuses a mail for good never loses a mail, never sends one twice, and tells the admins when one
will never arrive."""

import logging
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from sqlmodel import Session, col, select

import portal.queue
from portal.models import Area, NoticeTarget, Notification, OutboxMail, Person, Role, User, utcnow
from portal.notifications.delivery import ATTEMPTS, BACKOFF, deliver_outbox
from portal.notifications.services import notify
from tests.portal.smtp_server import SMTPServer

Login = Callable[[User], FlaskClient]
# Database 15 is the tests', and each test has a queue of its own there, emptied after it.
REDIS_URL = "redis://127.0.0.1:6379/15"
NOWHERE = "redis://127.0.0.1:1/15"  # nothing listens there


@pytest.fixture
def smtp(app: Flask) -> Iterator[SMTPServer]:
    server = SMTPServer()
    server.start()
    app.config.update(server.config())
    yield server
    server.stop()


def _empty(queue: Queue) -> None:
    queue.empty()
    for registry in (queue.scheduled_job_registry, queue.failed_job_registry, queue.finished_job_registry):
        for job_id in registry.get_job_ids():
            registry.remove(job_id, delete_job=True)


@pytest.fixture
def queue(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Queue]:
    """A mail queue of this test's own on this machine's Redis, which the app hands mail to."""
    connection = Redis.from_url(REDIS_URL)
    try:
        connection.ping()
    except RedisError:
        pytest.skip("Redis is not reachable at 127.0.0.1:6379")
    name = f"mail-test-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(portal.queue, "MAIL_QUEUE", name)
    mail_queue = Queue(name, connection=connection)
    _empty(mail_queue)
    app.config["QUEUE_URL"] = REDIS_URL
    yield mail_queue
    _empty(mail_queue)
    connection.close()


class BurstWorker(SimpleWorker):
    """A worker in this process that takes no commands: the thread that listens for them can hold
    the worker's end for up to a minute."""

    def subscribe(self) -> None:
        pass


def work(app: Flask, queue: Queue) -> None:
    """What `flask --app wsgi mail-worker` does, until the queue is empty."""
    with app.app_context():
        BurstWorker([queue], connection=queue.connection).work(burst=True)


def mails(session: Session) -> list[OutboxMail]:
    session.rollback()
    query = select(OutboxMail).order_by(col(OutboxMail.created_at)).execution_options(populate_existing=True)
    return list(session.exec(query))


def handed_over(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], grid: Area
) -> tuple[User, User]:
    """A supervisor hands a person over, in a request: both caseworkers are told, by mail too.
    The response is closed as a server closes it once sent."""
    old = make_user(Role.CASEWORKER, email="old@bridge.example")
    new = make_user(Role.CASEWORKER, email="new@bridge.example")
    person = Person(code="XA-Q-0001", full_name="测试 交接", caseworker_id=old.id, area_id=grid.id)
    session.add(person)
    session.commit()
    login(make_user(Role.SUPERVISOR, area_id=grid.id))
    response = client.post(f"/people/{person.id}/handover", data={"to_user_id": str(new.id), "note": "moving"})
    assert response.status_code == 303
    response.close()
    return old, new


def tell(app: Flask, session: Session, user: User) -> None:
    """A notification written by a command (run-due-jobs): no request, so no response to wait for."""
    with app.app_context():
        notify(session, user.id, "referral_reminder", NoticeTarget.REFERRAL_INBOX, offer="Job club")
        session.commit()


def test_without_a_queue_mail_written_in_a_request_goes_out_once_the_response_is_sent(
    app: Flask,
    client: FlaskClient,
    login: Login,
    session: Session,
    make_user: Callable[..., User],
    grid: Area,
    smtp: SMTPServer,
) -> None:
    handed_over(client, login, session, make_user, grid)
    assert sorted(message["To"] for message in smtp.messages) == ["new@bridge.example", "old@bridge.example"]
    assert all(mail.sent_at is not None and mail.attempts == 1 for mail in mails(session))
    assert deliver_outbox(session, app.config) == 0  # nothing left for the periodic run


def test_without_a_queue_mail_written_by_a_command_goes_out_at_its_commit(
    app: Flask, session: Session, make_user: Callable[..., User], smtp: SMTPServer
) -> None:
    tell(app, session, make_user(Role.PROVIDER, email="anna@ngo.example"))
    assert [message["To"] for message in smtp.messages] == ["anna@ngo.example"]


def test_the_worker_command_needs_a_queue(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["mail-worker"])
    assert result.exit_code == 2 and "PORTAL_QUEUE_URL is not set" in result.output


def test_with_a_queue_the_mail_is_enqueued_after_the_commit_and_the_worker_sends_it(
    app: Flask,
    client: FlaskClient,
    login: Login,
    session: Session,
    make_user: Callable[..., User],
    grid: Area,
    smtp: SMTPServer,
    queue: Queue,
) -> None:
    handed_over(client, login, session, make_user, grid)
    assert queue.count == 2 and smtp.messages == []  # the request only handed them on
    assert {job.args for job in queue.jobs} == {(str(mail.id),) for mail in mails(session)}
    work(app, queue)
    assert sorted(message["To"] for message in smtp.messages) == ["new@bridge.example", "old@bridge.example"]
    assert all(mail.sent_at is not None for mail in mails(session))
    assert queue.failed_job_registry.count == 0


def test_a_rolled_back_transaction_hands_nothing_on(
    app: Flask, session: Session, make_user: Callable[..., User], smtp: SMTPServer, queue: Queue
) -> None:
    undone, kept = make_user(Role.PROVIDER), make_user(Role.PROVIDER)
    with app.app_context():
        notify(session, undone.id, "referral_received", offer="Job club")
        session.rollback()
        notify(session, kept.id, "referral_received", offer="Job club")
        session.commit()
    [mail] = mails(session)
    assert mail.to_address == kept.email
    assert [job.args for job in queue.jobs] == [(str(mail.id),)]


def test_with_the_queue_down_the_request_succeeds_and_the_sweep_sends_the_mail_later(
    app: Flask,
    client: FlaskClient,
    login: Login,
    session: Session,
    make_user: Callable[..., User],
    grid: Area,
    smtp: SMTPServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    app.config["QUEUE_URL"] = NOWHERE
    with caplog.at_level(logging.WARNING, logger="portal.queue"):
        handed_over(client, login, session, make_user, grid)
    assert "mail queue unreachable (ConnectionError): 2 mails wait for the periodic run" in caplog.messages
    assert "bridge.example" not in caplog.text
    assert smtp.messages == [] and all(mail.sent_at is None for mail in mails(session))
    assert deliver_outbox(session, app.config) == 2
    assert len(smtp.messages) == 2


def test_with_smtp_down_the_mail_waits_and_goes_out_once_when_it_is_back(
    app: Flask, session: Session, make_user: Callable[..., User], smtp: SMTPServer, queue: Queue
) -> None:
    smtp.stop()
    tell(app, session, make_user(Role.PROVIDER, email="anna@ngo.example"))
    work(app, queue)
    [mail] = mails(session)
    assert mail.sent_at is None and mail.failed_at is None and mail.attempts == 1
    assert mail.error.startswith("ConnectionRefusedError") and mail.next_attempt_at is not None
    # The job failed and waits for its retry; the row says when the sweep may try.
    [retry] = queue.scheduled_job_registry.get_job_ids()
    assert deliver_outbox(session, app.config, mail.next_attempt_at - timedelta(seconds=1)) == 0  # not yet

    smtp.start()
    assert deliver_outbox(session, app.config, mail.next_attempt_at) == 1
    queue.scheduled_job_registry.requeue(retry)  # its wait over, the scheduler puts it back
    work(app, queue)
    [message] = smtp.messages  # once: the retry found it sent
    [mail] = mails(session)
    assert mail.sent_at is not None and mail.error == "" and mail.attempts == 2
    assert message["Message-ID"] == f"<{mail.id}@bridge.example>"
    assert queue.scheduled_job_registry.count == 0 and queue.failed_job_registry.count == 0


def test_a_refused_recipient_fails_for_good_and_the_admins_are_told(
    app: Flask,
    client: FlaskClient,
    login: Login,
    session: Session,
    make_user: Callable[..., User],
    smtp: SMTPServer,
    queue: Queue,
) -> None:
    admin = make_user(Role.ADMIN)
    retired = make_user(Role.ADMIN, active=False)
    smtp.refused.add("gone@ngo.example")
    tell(app, session, make_user(Role.PROVIDER, email="gone@ngo.example"))
    work(app, queue)
    [mail] = mails(session)
    assert mail.failed_at is not None and mail.sent_at is None and mail.attempts == 1
    assert "550" in mail.error and mail.next_attempt_at is None
    assert queue.scheduled_job_registry.count == 0 and queue.failed_job_registry.count == 0  # no retry
    assert deliver_outbox(session, app.config, utcnow() + BACKOFF[-1] * 2) == 0 and smtp.messages == []

    told = session.exec(select(Notification).where(Notification.kind == "mail_failed")).all()
    assert [(n.user_id, n.params, n.target) for n in told] == [
        (admin.id, {"account": "gone@ngo.example"}, NoticeTarget.OUTBOX)
    ]
    assert retired.id not in {n.user_id for n in told}
    assert len(mails(session)) == 1  # the admins are told in the portal only, not by another mail
    login(admin)
    notices = client.get("/notifications/").get_data(as_text=True)
    assert "An e-mail to gone@ngo.example could not be delivered and will not be tried again" in notices
    assert 'href="/notifications/outbox"' in notices
    outbox = client.get("/notifications/outbox").get_data(as_text=True)
    assert "Failed: not tried again" in outbox and "1 attempt" in outbox


def test_the_sweep_backs_off_and_a_mail_failing_every_try_ends_failed(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], smtp: SMTPServer
) -> None:
    """The mail was written while the queue and the in-process delivery missed it (no app here)."""
    admin = make_user(Role.ADMIN)
    notify(session, make_user(Role.PROVIDER).id, "referral_received", offer="Job club")
    session.commit()
    smtp.stop()
    now, waits = utcnow(), []
    for _ in range(ATTEMPTS):
        assert deliver_outbox(session, app.config, now) == 0
        [mail] = mails(session)
        if mail.next_attempt_at is None:
            break
        assert deliver_outbox(session, app.config, mail.next_attempt_at - BACKOFF[0] / 2) == 0  # still waiting
        assert mails(session)[0].attempts == len(waits) + 1
        waits.append(mail.next_attempt_at - now)
        now = mail.next_attempt_at
    assert waits == list(BACKOFF)
    assert mail.attempts == ATTEMPTS and mail.failed_at is not None
    assert session.exec(select(Notification.user_id).where(Notification.kind == "mail_failed")).all() == [admin.id]
    login(admin)
    assert f"{ATTEMPTS} attempts" in client.get("/notifications/outbox").get_data(as_text=True)

    smtp.start()
    assert deliver_outbox(session, app.config, now + BACKOFF[-1]) == 0 and smtp.messages == []  # failed is final


def test_in_chinese_the_outbox_shows_the_tries(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    session.add(
        OutboxMail(id=uuid.uuid4(), to_address="x@ngo.example", subject="s", body="b", attempts=3, failed_at=utcnow())
    )
    session.commit()
    login(make_user(Role.ADMIN, locale="zh"))
    html = client.get("/notifications/outbox", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "失败：不再重试" in html and "已尝试 3 次" in html
