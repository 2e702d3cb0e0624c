"""Each user's notifications in their language, marking them read, the e-mail that goes with each,
its delivery by SMTP (a fake server that records what it is given), and the admins' outbox."""

import re
import smtplib
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlmodel import Session, col, select

from portal import create_app
from portal.config import ConfigError
from portal.db import get_engine
from portal.jobs import run_due_jobs
from portal.matches.services import LiveIndex
from portal.migrations import downgrade, upgrade
from portal.models import NoticeTarget, Notification, OutboxMail, Person, Role, User, utcnow
from portal.notifications.delivery import deliver_outbox
from portal.notifications.services import notify
from tests.conftest import revision_before
from tests.portal.pager import rows, walk

Login = Callable[[User], FlaskClient]
PERSON_ID = uuid.uuid4()  # what a notice is about need not exist for its link
HTMX = {"HX-Request": "true"}
SMTP_CONFIG = {
    "SMTP_HOST": "mail.bridge.example",
    "SMTP_PORT": 587,
    "SMTP_USER": "bridge",
    "SMTP_PASSWORD": "secret",
    "SMTP_STARTTLS": True,
    "MAIL_FROM": "bridge@bridge.example",
}


class FakeSMTP:
    """Stands in for smtplib.SMTP: records connections and messages; can be told to fail."""

    def __init__(self, server: "FakeServer", host: str, port: int, timeout: float | None = None) -> None:
        if server.unreachable:
            raise ConnectionRefusedError("connection refused")
        self.server = server
        server.connections.append((host, port))

    def starttls(self, context: Any = None) -> None:
        self.server.calls.append("starttls")

    def login(self, user: str, password: str) -> None:
        self.server.calls.append(f"login {user}")

    def send_message(self, message: EmailMessage) -> None:
        if message["To"] in self.server.refused:
            raise smtplib.SMTPRecipientsRefused({message["To"]: (550, b"mailbox unavailable")})
        if message["To"] in self.server.deferred:
            raise smtplib.SMTPRecipientsRefused({message["To"]: (452, b"mailbox full, try later")})
        self.server.messages.append(message)

    def quit(self) -> None:
        self.server.calls.append("quit")

    def close(self) -> None:
        pass


class FakeServer:
    def __init__(self) -> None:
        self.connections: list[tuple[str, int]] = []
        self.calls: list[str] = []
        self.messages: list[EmailMessage] = []
        self.refused: set[str] = set()  # for good (550)
        self.deferred: set[str] = set()  # for now (452)
        self.unreachable = False


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    server = FakeServer()
    monkeypatch.setattr(smtplib, "SMTP", lambda *args, **kwargs: FakeSMTP(server, *args, **kwargs))
    yield server


def tell(
    app: Flask,
    session: Session,
    user: User,
    kind: str,
    target: NoticeTarget = NoticeTarget.NONE,
    target_id: uuid.UUID | None = None,
    **params: str,
) -> None:
    """Notify as the portal does, in an app context (as from a view or the CLI), and commit."""
    with app.app_context():
        notify(session, user.id, kind, target, target_id, **params)
        session.commit()


def mails(session: Session) -> list[OutboxMail]:
    session.rollback()
    return list(
        session.exec(select(OutboxMail).order_by(col(OutboxMail.created_at)).execution_options(populate_existing=True))
    )


# The in-app list


def test_the_list_shows_the_users_own_notifications_newest_first(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    me, other = make_user(Role.PROVIDER), make_user(Role.PROVIDER)
    now = utcnow()
    session.add_all(
        [
            Notification(user_id=me.id, kind="referral_received", params={"offer": "Old offer"}, created_at=now),
            Notification(
                user_id=me.id,
                kind="referral_reminder",
                params={"offer": "New offer"},
                target=NoticeTarget.REFERRAL_INBOX,
                created_at=now + timedelta(minutes=5),
            ),
            Notification(user_id=other.id, kind="referral_received", params={"offer": "Somebody else's offer"}),
        ]
    )
    session.commit()
    login(me)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "New referral for Old offer" in html
    assert "Reminder: a referral for New offer is waiting for your answer" in html
    assert html.index("New offer") < html.index("Old offer")
    assert '<a href="/referrals/inbox">' in html
    assert "Somebody else" not in html
    assert "Notifications (2 unread)" in html and html.count(">Unread<") == 2


def test_each_kind_reads_as_a_sentence_and_unknown_kinds_read_generically(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    caseworker = make_user(Role.CASEWORKER)
    tell(
        app,
        session,
        caseworker,
        "referral_accept",
        NoticeTarget.PERSON,
        PERSON_ID,
        offer="Warehouse job",
        person="XA-0001",
    )
    tell(app, session, caseworker, "follow_up_lost_contact", NoticeTarget.HOME, person="XA-0002")
    tell(app, session, caseworker, "something_new", offer="X")
    login(caseworker)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "XA-0001: referral to Warehouse job was accepted" in html
    assert "Follow up with XA-0002: no contact for too long" in html
    assert "You have a new notification" in html
    assert "You have a new notification</a>" not in html  # about nothing: no link


def test_each_notice_opens_the_page_it_is_about(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], caseworker: User
) -> None:
    person = Person(code="XA-2026-0100", caseworker_id=caseworker.id, full_name="Li Ming")
    session.add(person)
    session.commit()
    tell(app, session, caseworker, "person_handed_over", NoticeTarget.PERSON, person.id, person=person.code)
    tell(app, session, caseworker, "follow_up_lost_contact", NoticeTarget.HOME, person=person.code)
    provider = make_user(Role.PROVIDER)
    tell(app, session, provider, "referral_received", NoticeTarget.REFERRAL_INBOX, offer="Job club")
    expected = {
        caseworker: {
            "XA-2026-0100: handed over to a new caseworker": f"/people/{person.id}",
            "Follow up with XA-2026-0100: no contact for too long": "/",
        },
        provider: {"New referral for Job club": "/referrals/inbox"},
    }
    for user, links in expected.items():
        signed_in = login(user)
        html = signed_in.get("/notifications/").get_data(as_text=True)
        shown = {text: href for href, text in re.findall(r'<a href="([^"]+)">([^<]+)</a>', html)}
        for text, href in links.items():
            assert shown[text] == href
            assert signed_in.get(href).status_code == 200


def test_the_list_reads_in_chinese_for_a_user_who_chose_chinese(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    caseworker = make_user(Role.CASEWORKER, locale="zh")
    tell(
        app,
        session,
        caseworker,
        "referral_accept",
        NoticeTarget.PERSON,
        PERSON_ID,
        offer="仓库分拣员",
        person="XA-0003",
    )
    tell(app, session, caseworker, "follow_up_lost_contact", NoticeTarget.HOME, person="XA-0004")
    login(caseworker)
    html = client.get("/notifications/").get_data(as_text=True)
    assert "XA-0003：仓库分拣员 已接收转介" in html
    assert "请跟进 XA-0004：已较长时间未联系" in html
    assert "通知（2 条未读）" in html
    assert "was accepted" not in html and "Follow up" not in html


@pytest.mark.parametrize("role", list(Role))
def test_every_role_has_a_notification_list_and_the_count_in_the_navigation(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], role: Role
) -> None:
    user = make_user(role)
    login(user)
    assert 'id="nav-notifications"' in client.get("/notifications/").get_data(as_text=True)
    tell(app, session, user, "referral_received", offer="Counselling")
    assert "Notifications (1 unread)" in client.get("/notifications/").get_data(as_text=True)


def test_mark_all_read_marks_only_the_users_own(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    me, other = make_user(Role.VOLUNTEER), make_user(Role.VOLUNTEER)
    tell(app, session, me, "referral_received", offer="Tea and talk")
    tell(app, session, other, "referral_received", offer="Tea and talk")
    login(me)
    response = client.post("/notifications/read")
    assert response.status_code == 303 and response.headers["Location"] == "/notifications/"
    session.rollback()
    unread = session.exec(select(Notification.user_id).where(col(Notification.read_at).is_(None))).all()
    assert unread == [other.id]
    html = client.get("/notifications/").get_data(as_text=True)
    assert ">Unread<" not in html and "New referral for Tea and talk" in html
    assert "Mark all as read" not in html and "unread)" not in html


def test_mark_all_read_with_htmx_swaps_the_list_and_the_navigation_count(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    me = make_user(Role.SUPERVISOR)
    tell(app, session, me, "referral_needs_approval", NoticeTarget.PERSON, PERSON_ID, person="XA-0005")
    login(me)
    response = client.post("/notifications/read", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<section id="notification-list"')
    assert 'id="nav-notifications" href="/notifications/" hx-swap-oob="true"' in html
    assert ">Unread<" not in html and "<html" not in html


def test_the_list_comes_fifty_a_page_newest_first_and_older_pages_hold_every_one_once(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    me = make_user(Role.CASEWORKER)
    start = utcnow() - timedelta(days=1)
    # Two by two at the same moment: the order must still be total. The three oldest are unread.
    session.add_all(
        Notification(
            user_id=me.id,
            kind="referral_received",
            params={"offer": f"Offer {n:02d}"},
            created_at=start + timedelta(minutes=n // 2),
            read_at=None if n < 3 else start,
        )
        for n in range(53)
    )
    session.commit()
    expected = sorted(session.exec(select(Notification)), key=lambda row: (row.created_at, row.id), reverse=True)
    login(me)
    pages = walk(client, "/notifications/")
    shown = rows(pages, r"New referral for (Offer \d+)")
    assert [len(page) for page in shown] == [50, 3]
    assert sum(shown, []) == [row.params["offer"] for row in expected]
    assert "Older" in pages[0] and "Newest" not in pages[0] and "Newest" in pages[1]
    assert "Mark all as read" in pages[0]  # the unread ones are on the older page, but it marks them too
    assert client.get("/notifications/?after=not-a-cursor").status_code == 400


def test_mark_all_read_on_an_older_page_marks_all_and_shows_that_page_again(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    me = make_user(Role.PROVIDER)
    start = utcnow() - timedelta(days=1)
    session.add_all(
        Notification(
            user_id=me.id,
            kind="referral_received",
            params={"offer": f"Offer {n:02d}"},
            created_at=start + timedelta(minutes=n),
        )
        for n in range(52)
    )
    session.commit()
    login(me)
    first, older = walk(client, "/notifications/")
    cursor = re.search(r'rel="next" href="/notifications/\?after=([^"]+)"', first).group(1)  # type: ignore[union-attr]
    assert f'<input type="hidden" name="after" value="{cursor}">' in older
    response = client.post("/notifications/read", data={"after": cursor}, headers=HTMX)
    html = response.get_data(as_text=True)
    assert html.startswith('<section id="notification-list"') and ">Unread<" not in html
    assert re.findall(r"New referral for (Offer \d+)", html) == ["Offer 01", "Offer 00"]
    assert ">Newest</a>" in html and "Mark all as read" not in html
    session.rollback()
    assert session.exec(select(Notification).where(col(Notification.read_at).is_(None))).all() == []
    response = client.post("/notifications/read", data={"after": cursor})
    assert response.status_code == 303 and response.headers["Location"] == f"/notifications/?after={cursor}"


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/notifications/")
    assert response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


# The outbox page


@pytest.mark.parametrize("role", [Role.SUPERVISOR, Role.CASEWORKER, Role.PROVIDER, Role.VOLUNTEER])
def test_only_admins_see_the_outbox(
    client: FlaskClient, login: Login, make_user: Callable[..., User], role: Role
) -> None:
    login(make_user(role))
    assert client.get("/notifications/outbox").status_code == 403


def test_without_smtp_mail_stays_in_the_outbox_for_admins_to_read(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], smtp: FakeServer
) -> None:
    provider = make_user(Role.PROVIDER, email="anna@ngo.example", name="Anna")
    tell(app, session, provider, "referral_received", NoticeTarget.REFERRAL_INBOX, offer="Job club")
    report = run_due_jobs(session, LiveIndex(), utcnow(), app.config)
    assert report.mailed == 0 and smtp.connections == []
    [mail] = mails(session)
    assert mail.sent_at is None and mail.error == ""
    login(make_user(Role.ADMIN))
    html = client.get("/notifications/outbox").get_data(as_text=True)
    assert "anna@ngo.example" in html and "Bridge: New referral for Job club" in html
    assert "Hello Anna," in html and "Not sent" in html


def test_the_outbox_comes_fifty_a_page_newest_first_each_mail_once(
    client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User]
) -> None:
    start = utcnow() - timedelta(days=1)
    session.add_all(
        OutboxMail(
            to_address=f"to{n}@bridge.example",
            subject=f"Mail {n:02d}",
            body="Hello",
            created_at=start + timedelta(minutes=n),
        )
        for n in range(53)
    )
    session.commit()
    login(make_user(Role.ADMIN))
    pages = walk(client, "/notifications/outbox")
    shown = rows(pages, r"<td>(Mail \d+)</td>")
    assert [len(page) for page in shown] == [50, 3]
    assert sum(shown, []) == [f"Mail {n:02d}" for n in range(52, -1, -1)]
    assert "Older" in pages[0] and "Newest" in pages[1]
    assert client.get("/notifications/outbox?after=not-a-cursor").status_code == 400


# E-mail: written at notify time in the recipient's language


def test_the_mail_is_written_in_the_recipients_saved_language(
    app: Flask, session: Session, make_user: Callable[..., User]
) -> None:
    chinese = make_user(Role.CASEWORKER, locale="zh", name="王芳", email="wang@bridge.example")
    english = make_user(Role.CASEWORKER, name="Sam", email="sam@bridge.example")
    # The sender reads English; each recipient still gets their own language.
    with app.test_request_context(headers={"Accept-Language": "en"}):
        notify(
            session,
            chinese.id,
            "referral_decline",
            NoticeTarget.PERSON,
            PERSON_ID,
            offer="仓库分拣员",
            person="XA-0006",
        )
        notify(
            session, english.id, "referral_decline", NoticeTarget.PERSON, PERSON_ID, offer="Warehouse", person="XA-0006"
        )
        session.commit()
    by_address = {mail.to_address: mail for mail in mails(session)}
    zh, en = by_address["wang@bridge.example"], by_address["sam@bridge.example"]
    assert zh.subject == "桥梁：XA-0006：仓库分拣员 未接收转介"
    assert zh.body.startswith("王芳，您好：") and f"/people/{PERSON_ID}" in zh.body
    assert en.subject == "Bridge: XA-0006: referral to Warehouse was declined"
    assert en.body.startswith("Hello Sam,") and f"Open it in Bridge: /people/{PERSON_ID}" in en.body


def test_links_in_mail_are_absolute_when_the_public_address_is_set(
    app: Flask, session: Session, make_user: Callable[..., User]
) -> None:
    app.config["PUBLIC_URL"] = "https://bridge.example.org/"
    tell(app, session, make_user(Role.PROVIDER), "referral_reminder", NoticeTarget.REFERRAL_INBOX, offer="Job club")
    [mail] = mails(session)
    assert "https://bridge.example.org/referrals/inbox" in mail.body


def test_no_mail_for_deactivated_accounts_and_english_outside_the_app(
    app: Flask, session: Session, make_user: Callable[..., User]
) -> None:
    gone = make_user(Role.CASEWORKER, active=False, locale="zh")
    reader = make_user(Role.CASEWORKER, locale="zh")
    tell(app, session, gone, "referral_proposed", NoticeTarget.PERSON, PERSON_ID, offer="Job club")
    notify(session, reader.id, "referral_proposed", NoticeTarget.PERSON, PERSON_ID, offer="Job club")  # no app context
    session.commit()
    [mail] = mails(session)
    assert mail.to_address == reader.email
    assert mail.subject == "Bridge: A new offer is proposed for your review: Job club"
    assert len(session.exec(select(Notification)).all()) == 2  # both still see it in the portal


# Delivery by SMTP


def test_deliver_outbox_sends_each_mail_once(
    app: Flask, session: Session, make_user: Callable[..., User], smtp: FakeServer
) -> None:
    user = make_user(Role.CASEWORKER, locale="zh", email="li@bridge.example")
    tell(app, session, user, "follow_up_contact_overdue", NoticeTarget.HOME, person="XA-0007")
    assert deliver_outbox(session, SMTP_CONFIG) == 1
    assert smtp.connections == [("mail.bridge.example", 587)]
    assert smtp.calls == ["starttls", "login bridge", "quit"]
    [message] = smtp.messages
    assert message["To"] == "li@bridge.example" and message["From"] == "bridge@bridge.example"
    assert message["Subject"] == "桥梁：请跟进 XA-0007：约定的联系已逾期"
    assert "请跟进 XA-0007" in message.get_content()
    [mail] = mails(session)
    assert mail.sent_at is not None and mail.error == ""

    assert deliver_outbox(session, SMTP_CONFIG) == 0
    assert len(smtp.messages) == 1 and len(smtp.connections) == 1  # nothing to send: no connection


def test_a_deferred_mail_is_recorded_and_tried_again_once_its_wait_is_over(
    app: Flask, session: Session, make_user: Callable[..., User], smtp: FakeServer
) -> None:
    deferred = make_user(Role.PROVIDER, email="full@ngo.example")
    fine = make_user(Role.PROVIDER, email="ok@ngo.example")
    tell(app, session, deferred, "referral_received", offer="Job club")
    tell(app, session, fine, "referral_received", offer="Job club")
    smtp.deferred.add("full@ngo.example")
    assert deliver_outbox(session, SMTP_CONFIG) == 1  # the other mail still goes out
    by_address = {mail.to_address: mail for mail in mails(session)}
    waiting = by_address["full@ngo.example"]
    assert waiting.sent_at is None and waiting.failed_at is None and waiting.attempts == 1
    assert "SMTPRecipientsRefused" in waiting.error and waiting.next_attempt_at is not None
    assert by_address["ok@ngo.example"].sent_at is not None

    smtp.deferred.clear()
    assert deliver_outbox(session, SMTP_CONFIG) == 0  # not before its wait is over
    assert deliver_outbox(session, SMTP_CONFIG, waiting.next_attempt_at) == 1
    assert [m["To"] for m in smtp.messages] == ["ok@ngo.example", "full@ngo.example"]
    retried = next(mail for mail in mails(session) if mail.to_address == "full@ngo.example")
    assert retried.sent_at is not None and retried.error == "" and retried.attempts == 2


def test_an_unreachable_server_is_recorded_and_the_run_stops(
    app: Flask, session: Session, make_user: Callable[..., User], smtp: FakeServer
) -> None:
    for _ in range(2):
        tell(app, session, make_user(Role.VOLUNTEER), "referral_received", offer="Tea and talk")
    smtp.unreachable = True
    assert deliver_outbox(session, SMTP_CONFIG) == 0
    first, second = mails(session)
    assert "ConnectionRefusedError" in first.error and first.sent_at is None
    assert second.error == ""  # not tried against a server that is down

    smtp.unreachable = False
    assert deliver_outbox(session, SMTP_CONFIG) == 1  # the first waits out its backoff
    assert first.next_attempt_at is not None
    assert deliver_outbox(session, SMTP_CONFIG, first.next_attempt_at) == 1
    assert all(mail.sent_at is not None and mail.error == "" for mail in mails(session))


def test_the_periodic_job_delivers_the_outbox(
    app: Flask, session: Session, make_user: Callable[..., User], smtp: FakeServer
) -> None:
    tell(
        app,
        session,
        make_user(Role.SUPERVISOR),
        "referral_needs_approval",
        NoticeTarget.PERSON,
        PERSON_ID,
        person="XA-0008",
    )
    app.config.update(SMTP_CONFIG)  # configured since the mail was written: only the sweep can send it
    assert run_due_jobs(session, LiveIndex(), utcnow(), app.config).mailed == 1
    assert run_due_jobs(session, LiveIndex(), utcnow(), app.config).mailed == 0
    assert len(smtp.messages) == 1


def test_smtp_needs_a_sender_address(app: Flask) -> None:
    config = {"SECRET_KEY": "test-secret", "DATABASE_URL": app.config["DATABASE_URL"], "SMTP_HOST": "mail.example"}
    with pytest.raises(ConfigError, match="PORTAL_MAIL_FROM"):
        create_app(config)


def test_a_reset_link_goes_straight_to_the_server_and_the_outbox_keeps_no_link(
    app: Flask, client: FlaskClient, login: Login, session: Session, make_user: Callable[..., User], smtp: FakeServer
) -> None:
    """An admin reading the outbox (or anyone reading the database) could otherwise take over any
    account within ten minutes."""
    app.config.update(SMTP_CONFIG)
    make_user(Role.CASEWORKER, email="cw@bridge.example")
    client.post("/auth/forgot", data={"email": "cw@bridge.example"})
    [message] = smtp.messages
    token = message.get_content().split("/auth/reset/")[1].split()[0]
    [mail] = mails(session)
    assert mail.sent_at is not None and token not in mail.body and "/auth/reset/" not in mail.body
    login(make_user(Role.ADMIN))
    html = client.get("/notifications/outbox").get_data(as_text=True)
    assert "cw@bridge.example" in html and token not in html
    assert deliver_outbox(session, SMTP_CONFIG) == 0  # sent once, in the request


def test_the_migration_turns_stored_links_into_targets_and_back(
    app: Flask, session: Session, make_user: Callable[..., User]
) -> None:
    user = make_user(Role.CASEWORKER)
    targets = [(NoticeTarget.PERSON, PERSON_ID), (NoticeTarget.REFERRAL_INBOX, None), (NoticeTarget.HOME, None)]
    for target, target_id in [*targets, (NoticeTarget.NONE, None)]:
        session.add(Notification(user_id=user.id, kind="referral_received", target=target, target_id=target_id))
    session.commit()
    session.close()
    url = app.config["DATABASE_URL"]
    get_engine(app).dispose()
    downgrade(url, revision_before("0019"))
    raw = sa.create_engine(url)
    try:
        with raw.begin() as connection:
            links = set(connection.execute(sa.text("SELECT link FROM notification")).scalars())
            assert links == {f"/people/{PERSON_ID}", "/referrals/inbox", "/", ""}
            connection.execute(sa.text("UPDATE notification SET link = 'https://elsewhere.example/' WHERE link = ''"))
        upgrade(url)
    finally:
        raw.dispose()
    with Session(get_engine(app)) as reader:
        stored = {(n.target, n.target_id) for n in reader.exec(select(Notification))}
    assert stored == {*targets, (NoticeTarget.NONE, None)}  # a link to elsewhere opens nothing


@pytest.mark.parametrize(
    ("kind", "reason", "zh_subject", "en_subject"),
    [
        (
            "referral_complete",
            "got_help",
            "桥梁：XA-0006：仓库分拣员 的服务结果已记录：已获得帮助",
            "Bridge: XA-0006: the outcome at Warehouse was recorded: Got the help",
        ),
        (
            "referral_decline",
            "",
            "桥梁：XA-0006：仓库分拣员 未接收转介",
            "Bridge: XA-0006: referral to Warehouse was declined",
        ),
    ],
)
def test_an_outcome_or_a_decline_says_which_in_the_readers_language(
    app: Flask,
    session: Session,
    make_user: Callable[..., User],
    kind: str,
    reason: str,
    zh_subject: str,
    en_subject: str,
) -> None:
    chinese = make_user(Role.CASEWORKER, locale="zh", email="wang@bridge.example")
    english = make_user(Role.CASEWORKER, email="sam@bridge.example")
    with app.test_request_context(headers={"Accept-Language": "en"}):
        for reader, offer in ((chinese, "仓库分拣员"), (english, "Warehouse")):
            # Notices stored before reasons were (no `reason`) read as they always did.
            given = {"reason": reason} if reason else {}
            notify(session, reader.id, kind, NoticeTarget.PERSON, PERSON_ID, offer=offer, person="XA-0006", **given)
        session.commit()
    by_address = {mail.to_address: mail for mail in mails(session)}
    assert by_address["wang@bridge.example"].subject == zh_subject
    assert by_address["sam@bridge.example"].subject == en_subject
