"""The audit trail: a gap-free MAC chain under concurrency, every view, change and refusal
logged without sensitive values, append-only tables, the verify command and its anchor, and who sees the trail."""

import hashlib
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select

from portal.audit.services import (
    canonical,
    chain_mac,
    link_pending,
    record,
    record_view,
    trail_of,
    verify_chain,
)
from portal.clock import local_today
from portal.db import get_engine
from portal.keyset import encode_cursor
from portal.matches.services import LiveIndex
from portal.migrations import downgrade, upgrade
from portal.models import (
    Area,
    AuditEvent,
    FollowUp,
    FollowUpKind,
    Need,
    Offer,
    Person,
    Referral,
    ReferralStatus,
    Role,
    User,
    UTCDateTime,
    utcnow,
)
from portal.referrals import services as referrals
from tests.conftest import consent_to_every_recipient, keyed, revision_before, sign_in_with_session
from tests.portal.audit_trail import members_of

Login = Callable[[User], FlaskClient]
# Values a log must never hold: a scan for them over the whole trail finds nothing.
NAME, PHONE, NOTE = "陈秘密", "139 0000 7777", "relapse-sentinel-note"


@pytest.fixture
def area(session: Session) -> Area:
    area = Area(level="district", name_en="Lianhu", name_zh="莲湖区", code="LH")
    session.add(area)
    session.commit()
    return area


@pytest.fixture
def caseworker(make_user: Callable[..., User], area: Area) -> User:
    return make_user(Role.CASEWORKER, name="Zhao Min", email="zhao@bridge.example", area_id=area.id)


@pytest.fixture
def person(session: Session, caseworker: User, area: Area) -> Person:
    person = Person(code="XA-T-0900", full_name=NAME, phone=PHONE, caseworker_id=caseworker.id, area_id=area.id)
    session.add(person)
    session.commit()
    return person


def events(session: Session, **where: object) -> list[AuditEvent]:
    """The trail as it stands now (ending the test's read transaction first), oldest first."""
    session.rollback()
    query = select(AuditEvent).order_by(col(AuditEvent.sequence))
    for name, value in where.items():
        query = query.where(getattr(AuditEvent, name) == value)
    return list(session.exec(query))


# --- The chain ---------------------------------------------------------------------------------


def test_each_event_links_to_the_one_before(app: Flask, caseworker: User) -> None:
    with Session(get_engine(app)) as own:
        first = record(own, caseworker, "view", "person", uuid.uuid4())
        second = record(own, None, "referral_expired", "referral", uuid.uuid4())
        own.commit()
        assert (first.sequence, second.sequence) == (1, 2)
        assert first.previous_hash == "" and second.previous_hash == first.hash != second.hash
        assert verify_chain(own).intact and verify_chain(own).events == 2


def test_concurrent_appends_give_a_gap_free_valid_chain(app: Flask, caseworker: User, session: Session) -> None:
    """Ten writers at once, half in their own transactions, half through record_view: no lost or
    repeated sequence, no error, every event linked (each writer's linker, or the one holding the
    lock, links it), and the chain verifies."""
    engine = get_engine(app)
    start = threading.Barrier(10)
    failures: list[str] = []
    shown: list[set[uuid.UUID]] = []

    def write(index: int) -> None:
        try:
            start.wait()
            for _ in range(5):
                if index % 2:
                    with app.app_context():
                        ids = {uuid.uuid4(), uuid.uuid4()}
                        shown.append(ids)
                        record_view(caseworker, "list", "person", ids)
                else:
                    with Session(engine) as own:
                        record(own, caseworker, "update", "person", uuid.uuid4())
                        own.commit()
        except Exception as exc:  # noqa: BLE001 - any failure is the test's failure
            failures.append(repr(exc))

    threads = [threading.Thread(target=write, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    trail = events(session)
    assert [e.sequence for e in trail] == list(range(1, 5 * 5 + 5 * 5 + 1))  # one event per list
    lists = members_of(session, [e.id for e in trail if e.action == "list"])
    assert sorted(map(sorted, lists.values())) == sorted(map(sorted, shown))
    assert verify_chain(session).intact


def test_concurrent_page_views_are_all_served_and_logged(
    app: Flask, caseworker: User, person: Person, session: Session
) -> None:
    start = threading.Barrier(8)
    statuses: list[int] = []

    clients = [sign_in_with_session(app.test_client(), session, caseworker) for _ in range(8)]

    def view(client: FlaskClient) -> None:
        start.wait()
        statuses.append(client.get(f"/people/{person.id}").status_code)

    threads = [threading.Thread(target=view, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert len(events(session, action="view", record_id=person.id)) == 8
    assert verify_chain(session).intact


# --- What is logged ------------------------------------------------------------------------------


def test_viewing_a_person_logs_exactly_one_view(
    client: FlaskClient, login: Login, caseworker: User, person: Person, session: Session
) -> None:
    login(caseworker)
    assert client.get(f"/people/{person.id}").status_code == 200
    trail = events(session)
    assert [(e.action, e.record_type, e.record_id, e.actor_id) for e in trail] == [
        ("view", "person", person.id, caseworker.id)
    ]


def test_a_refused_lookup_logs_a_denied_event(
    client: FlaskClient, login: Login, make_user: Callable[..., User], person: Person, session: Session
) -> None:
    intruder = make_user(Role.CASEWORKER)
    login(intruder)
    assert client.get(f"/people/{person.id}").status_code == 404
    assert client.post(f"/people/{person.id}/contacts", data=keyed({})).status_code == 404
    trail = events(session)
    assert [(e.action, e.record_id, e.actor_id) for e in trail] == [("denied", person.id, intruder.id)] * 2


def test_a_list_is_one_event_and_who_viewed_finds_everyone_in_it(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    person: Person,
    make_user: Callable[..., User],
    make_offer: Callable[..., Offer],
    session: Session,
) -> None:
    others = [Person(code=f"XA-T-{n}", full_name="另一个人", caseworker_id=caseworker.id) for n in range(1000, 1019)]
    need = Need(person_id=person.id, category="counselling", description="weekly group")
    session.add_all([*others, need])
    session.commit()
    login(caseworker)
    assert client.get("/people/").status_code == 200
    (listed,) = events(session, action="list")
    everyone = {person.id, *(other.id for other in others)}
    assert listed.record_id is None and set(members_of(session, [listed.id])[listed.id]) == everyone
    for shown in everyone:
        assert [(e.actor_name, e.action) for e in trail_of(session, [shown])] == [("Zhao Min", "list")]
    provider = make_user(Role.PROVIDER)
    offer = make_offer(provider)
    referral = Referral(need_id=need.id, offer_id=offer.id, status=ReferralStatus.SENT)
    session.add(referral)
    session.commit()
    consent_to_every_recipient(session, person)
    login(provider)
    assert client.get("/referrals/inbox").status_code == 200
    shown = [(e.record_type, e.record_id) for e in events(session, action="list", actor_id=provider.id)]
    assert shown == [("referral", referral.id)]  # the person's trail includes their referrals
    assert verify_chain(session).intact


def test_a_list_of_five_hundred_is_one_event_found_by_each_record_and_by_the_search(
    app: Flask, client: FlaskClient, login: Login, caseworker: User, make_user: Callable[..., User], session: Session
) -> None:
    shown = [uuid.uuid4() for _ in range(500)]
    with app.app_context():
        record_view(caseworker, "list", "person", shown)
    assert len(events(session)) == 1
    assert all([e.action for e in trail_of(session, [record_id])] == ["list"] for record_id in shown)
    login(make_user(Role.ADMIN))
    found = client.get(f"/audit/?record_id={shown[321]}").get_data(as_text=True)
    assert found.count("<tr>") == 2 and "Seen in a list" in found and "A list of 500 records" in found
    assert "No events match" in client.get(f"/audit/?record_id={uuid.uuid4()}").get_data(as_text=True)
    assert verify_chain(session).events == 1


def test_the_matches_page_logs_a_view_of_the_person(
    client: FlaskClient, login: Login, caseworker: User, person: Person, session: Session
) -> None:
    need = Need(person_id=person.id, category="counselling", description="weekly group")
    session.add(need)
    session.commit()
    login(caseworker)
    assert client.get(f"/matches/needs/{need.id}").status_code == 200
    assert [(e.action, e.record_id) for e in events(session)] == [("view", person.id)]


def test_changes_are_logged_with_no_sensitive_value(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    person: Person,
    area: Area,
    make_user: Callable[..., User],
    session: Session,
) -> None:
    supervisor = make_user(Role.SUPERVISOR, area_id=area.id)
    colleague = make_user(Role.CASEWORKER)
    login(caseworker)
    created = client.post("/people/new", data=keyed({"full_name": "新来的人", "area_id": str(area.id)}))
    assert created.status_code == 303
    form = {"full_name": NAME, "area_id": str(area.id), "phone": PHONE}
    assert client.post(f"/people/{person.id}/edit", data=form).status_code == 303
    assert client.post(
        f"/people/{person.id}/needs", data=keyed({"category": "housing", "description": NOTE})
    ).status_code
    session.rollback()
    need = session.exec(select(Need).where(Need.person_id == person.id)).one()
    assert client.post(f"/people/needs/{need.id}/status", data={"status": "met"}).status_code == 303
    contact = {"kind": "call", "occurred_on": local_today().isoformat(), "outcome": "reached", "note": NOTE}
    assert client.post(f"/people/{person.id}/contacts", data=keyed(contact)).status_code == 303
    login(supervisor)
    handover = {"to_user_id": str(colleague.id), "note": NOTE}
    assert client.post(f"/people/{person.id}/handover", data=handover).status_code == 303
    changes = [(e.action, e.record_type) for e in events(session) if e.action not in ("view", "list")]
    assert changes == [
        ("create", "person"),
        ("update", "person"),
        ("create", "need"),
        ("status", "need"),
        ("create", "contact"),
        ("handover", "person"),
    ]
    session.rollback()
    dump = " ".join(" ".join(str(v) for v in row) for row in session.execute(sa.text("SELECT * FROM auditevent")))
    assert NAME not in dump and PHONE not in dump and NOTE not in dump and "新来的人" not in dump
    assert verify_chain(session).intact


def test_referral_steps_are_logged_and_sending_is_the_disclosure(
    session: Session, caseworker: User, person: Person, make_user: Callable[..., User], make_offer: Callable[..., Offer]
) -> None:
    need = Need(person_id=person.id, category="counselling", description="weekly group")
    session.add(need)
    session.commit()
    offer = make_offer(make_user(Role.PROVIDER))
    consent_to_every_recipient(session, person)
    referral = referrals.approve_match(session, LiveIndex(), caseworker, need, offer.id, referrals.Policy())
    trail = events(session, record_id=referral.id)
    assert [(e.action, e.actor_id) for e in trail] == [(s, caseworker.id) for s in ("proposed", "approved", "sent")]


def test_settling_a_follow_up_is_logged(
    client: FlaskClient, login: Login, caseworker: User, person: Person, session: Session
) -> None:
    follow_up = FollowUp(key="check:1", kind=FollowUpKind.CONTACT_OVERDUE, person_id=person.id, due_on=local_today())
    session.add(follow_up)
    session.commit()
    login(caseworker)
    assert client.post(f"/followups/{follow_up.id}/settle", data={"note": NOTE}).status_code == 303
    assert [(e.action, e.record_type, e.record_id) for e in events(session)] == [("status", "follow_up", follow_up.id)]


# --- Append-only, and the verify command ----------------------------------------------------------


def test_the_trail_refuses_updates_and_deletes(app: Flask, caseworker: User) -> None:
    with Session(get_engine(app)) as own:
        record(own, caseworker, "view", "person", uuid.uuid4())
        own.commit()
    for statement in ("UPDATE auditevent SET action = 'nothing'", "DELETE FROM auditevent"):
        with get_engine(app).connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(sa.text(statement))
    with Session(get_engine(app)) as own:
        assert [e.action for e in own.exec(select(AuditEvent))] == ["view"]


def _tamper(app: Flask, statement: str) -> None:
    """Edit the trail as an attacker with the database owner's rights would: triggers off, for one
    transaction only (PostgreSQL's DDL is transactional, so other tests never see them off)."""
    engine = get_engine(app)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            tables = [t for t in ("auditevent", "auditeventrecord") if sa.inspect(connection).has_table(t)]
            for table in tables:
                connection.exec_driver_sql(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
            connection.exec_driver_sql(statement)
            for table in tables:
                connection.exec_driver_sql(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        else:
            for trigger in SQLITE_TRIGGERS:
                connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger}")
            connection.exec_driver_sql(statement)


SQLITE_TRIGGERS = (
    "auditevent_no_update",
    "auditevent_no_delete",
    "auditeventrecord_linked",
    "auditeventrecord_no_update",
    "auditeventrecord_no_delete",
)


def _fill(app: Flask, actor: User, count: int) -> None:
    """`count` events of one record each, committed together and linked."""
    with Session(get_engine(app)) as own:
        for _ in range(count):
            record(own, actor, "list", "person", uuid.uuid4())
        own.commit()
        while link_pending(own):  # a commit links a few thousand; the periodic job links the rest
            pass


def test_verify_reports_an_intact_chain(app: Flask, caseworker: User) -> None:
    _fill(app, caseworker, 10)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 0 and "audit chain intact: 10 events" in result.output


@pytest.mark.parametrize(
    ("statement", "broken"),
    [
        ("UPDATE auditevent SET action = 'view' WHERE sequence = 5", 5),
        ("DELETE FROM auditevent WHERE sequence = 7", 7),
        ("UPDATE auditevent SET at = at - INTERVAL '1 hour' WHERE sequence = 3", 3),
    ],
)
def test_verify_names_the_first_tampered_event(app: Flask, caseworker: User, statement: str, broken: int) -> None:
    if "INTERVAL" in statement and get_engine(app).dialect.name == "sqlite":
        statement = "UPDATE auditevent SET at = '2020-01-01 00:00:00.000000' WHERE sequence = 3"
    _fill(app, caseworker, 10)
    _tamper(app, statement)
    result = app.test_cli_runner().invoke(args=["audit", "verify"])
    assert result.exit_code == 1
    assert f"broken at sequence {broken} " in result.output


def test_verify_finds_one_altered_event_among_ten_thousand(app: Flask, caseworker: User) -> None:
    _fill(app, caseworker, 10_000)
    _tamper(app, "UPDATE auditevent SET record_type = 'need' WHERE sequence = 7777")
    with Session(get_engine(app)) as own:
        verdict = verify_chain(own)
    assert (verdict.broken_at, verdict.events) == (7777, 7776)


def _list_among_others(app: Flask, actor: User) -> list[uuid.UUID]:
    """Three events, a list of four records (sequence 4), then two events more."""
    shown = [uuid.uuid4() for _ in range(4)]
    _fill(app, actor, 3)
    with app.app_context():
        record_view(actor, "list", "person", shown)
    _fill(app, actor, 2)
    return shown


@pytest.mark.parametrize(
    "change",
    [
        "DELETE FROM auditeventrecord WHERE record_id = '{shown}'",
        "UPDATE auditeventrecord SET record_id = '{other}' WHERE record_id = '{shown}'",
        "INSERT INTO auditeventrecord (event_id, record_id) "
        "SELECT event_id, '{other}' FROM auditeventrecord WHERE record_id = '{shown}'",
        "UPDATE auditevent SET record_id = '{other}' WHERE sequence = 4",
    ],
)
def test_changing_who_was_in_a_list_is_found(app: Flask, caseworker: User, change: str) -> None:
    shown = _list_among_others(app, caseworker)
    assert _verify(app) == (0, "audit chain intact: 6 events\n")
    _tamper(app, change.format(shown=shown[2].hex, other=uuid.uuid4().hex))
    status, output = _verify(app)
    assert status == 1 and "audit chain broken at sequence 4 " in output


def test_deleting_a_list_event_is_found(app: Flask, caseworker: User) -> None:
    _list_among_others(app, caseworker)
    with Session(get_engine(app)) as own:
        listed = own.exec(select(AuditEvent).where(AuditEvent.sequence == 4)).one()
    _tamper(app, f"DELETE FROM auditeventrecord WHERE event_id = '{listed.id.hex}'")
    _tamper(app, f"DELETE FROM auditevent WHERE id = '{listed.id.hex}'")
    status, output = _verify(app)
    assert status == 1 and "audit chain broken at sequence 4 " in output


def _pending(app: Flask, actor: User, at: datetime) -> None:
    """An event committed but never linked: its server stopped between the commit and the linking."""
    with get_engine(app).begin() as connection:
        connection.execute(
            sa.insert(AuditEvent.__table__),  # type: ignore[attr-defined]
            {
                "id": uuid.uuid4(),
                "at": at,
                "actor_id": actor.id,
                "action": "update",
                "record_type": "person",
                "record_id": uuid.uuid4(),
                "previous_hash": "",
                "hash": "",
            },
        )


def test_only_the_linker_changes_an_event_and_only_once(app: Flask, caseworker: User) -> None:
    """A pending event may get its sequence and MACs once; nothing else about it, or about a linked
    event or the records of a linked list, ever changes."""
    shown = _list_among_others(app, caseworker)
    _pending(app, caseworker, utcnow())
    refused = [
        "UPDATE auditevent SET action = 'nothing' WHERE sequence IS NULL",
        "UPDATE auditevent SET sequence = 7, action = 'nothing' WHERE sequence IS NULL",
        "UPDATE auditevent SET hash = '' WHERE sequence = 2",
        "UPDATE auditevent SET sequence = NULL, hash = '', previous_hash = '' WHERE sequence = 6",
        "DELETE FROM auditevent WHERE sequence IS NULL",
        f"DELETE FROM auditeventrecord WHERE record_id = '{shown[0].hex}'",
        f"UPDATE auditeventrecord SET record_id = '{uuid.uuid4().hex}' WHERE record_id = '{shown[0].hex}'",
        f"INSERT INTO auditeventrecord (event_id, record_id) SELECT id, '{uuid.uuid4().hex}' FROM auditevent "
        "WHERE sequence = 4",
    ]
    for statement in refused:
        with get_engine(app).begin() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(sa.text(statement))
    linking = "UPDATE auditevent SET sequence = 7, previous_hash = 'a', hash = 'b' WHERE sequence IS NULL"
    with get_engine(app).begin() as connection:
        connection.execute(sa.text(linking))
    with get_engine(app).begin() as connection, pytest.raises(DBAPIError, match="append-only"):
        connection.execute(sa.text("UPDATE auditevent SET hash = 'c' WHERE sequence = 7"))


def test_an_event_left_pending_is_linked_by_the_next_commit_or_the_periodic_job(
    app: Flask, client: FlaskClient, login: Login, caseworker: User, person: Person, session: Session, tmp_path: Path
) -> None:
    _pending(app, caseworker, utcnow())
    verdict = verify_chain(session)
    assert verdict.intact and verdict.events == 0  # a moment's wait is no problem
    login(caseworker)
    assert client.get(f"/people/{person.id}").status_code == 200
    assert [(e.sequence, e.action) for e in events(session)] == [(1, "update"), (2, "view")]
    _pending(app, caseworker, utcnow())
    anchors = tmp_path / "audit-anchors.log"
    assert "audit events linked 1" in _run_jobs(app, anchors)
    assert [e.sequence for e in events(session)] == [1, 2, 3]
    assert _verify(app, "--anchor", str(anchors)) == (0, "audit chain intact: 3 events, anchor at sequence 3 matches\n")


def test_events_pending_for_minutes_fail_verification(app: Flask, caseworker: User) -> None:
    _fill(app, caseworker, 2)
    _pending(app, caseworker, utcnow() - timedelta(minutes=10))
    status, output = _verify(app)
    assert status == 1
    assert "1 event waiting to be linked for more than 5 minutes" in output


def test_appending_waits_for_no_lock_held_elsewhere(app: Flask, caseworker: User, session: Session) -> None:
    """While another server links (PostgreSQL: it holds the linkers' lock), a request still appends
    and commits at once, and its event is linked as soon as a linker can."""
    if get_engine(app).dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time by design; there is no shared linker lock to hold")
    with get_engine(app).connect() as other_server:
        other_server.execute(sa.text("SELECT pg_advisory_xact_lock(727001)"))
        done = threading.Event()

        def view() -> None:
            with app.app_context():
                record_view(caseworker, "view", "person", [uuid.uuid4()])
            done.set()

        thread = threading.Thread(target=view)
        thread.start()
        assert done.wait(timeout=10)  # not blocked by the lock
        thread.join()
        assert [e.sequence for e in events(session)] == [None]
        other_server.rollback()
    with Session(get_engine(app)) as own:
        assert link_pending(own) == 1
    assert verify_chain(session).events == 1


def _rechain_without_the_key(app: Flask) -> None:
    """What someone who can write the table but lacks the key does after editing it: renumber the
    events and compute the chain again, with plain SHA-256 as the trail used to be chained."""
    engine = get_engine(app)
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # off for this transaction only, as in _tamper
            connection.exec_driver_sql("ALTER TABLE auditevent DISABLE TRIGGER auditevent_append_only")
        table = AuditEvent.__table__  # type: ignore[attr-defined]
        rows = connection.execute(sa.select(table).order_by(table.c.sequence)).mappings().all()
        previous = ""
        for sequence, row in enumerate(rows, start=1):
            fields = {**row, "sequence": sequence}
            mac = hashlib.sha256((previous + canonical(fields)).encode()).hexdigest()
            connection.execute(
                sa.update(table)
                .where(table.c.id == row["id"])
                .values(sequence=sequence, previous_hash=previous, hash=mac)
            )
            previous = mac
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ALTER TABLE auditevent ENABLE TRIGGER auditevent_append_only")


def _verify(app: Flask, *options: str) -> tuple[int, str]:
    result = app.test_cli_runner().invoke(args=["audit", "verify", *options])
    return result.exit_code, result.output


def test_deleting_the_newest_events_and_recomputing_the_chain_without_the_key_is_found(
    app: Flask, caseworker: User
) -> None:
    _fill(app, caseworker, 300)
    _tamper(app, "DELETE FROM auditevent WHERE sequence > 102")
    _rechain_without_the_key(app)
    status, output = _verify(app)
    assert status == 1 and "audit chain broken at sequence 1 " in output


def test_re_attributing_events_and_recomputing_the_chain_without_the_key_is_found(
    app: Flask, caseworker: User, make_user: Callable[..., User]
) -> None:
    _fill(app, caseworker, 300)
    scapegoat = make_user(Role.CASEWORKER)
    _tamper(app, f"UPDATE auditevent SET actor_id = '{scapegoat.id.hex}' WHERE sequence > 115")
    with Session(get_engine(app)) as own:
        assert len(own.exec(select(AuditEvent).where(AuditEvent.actor_id == scapegoat.id)).all()) == 185
    _rechain_without_the_key(app)
    status, output = _verify(app)
    assert status == 1 and "audit chain broken at sequence 1 " in output


def _run_jobs(app: Flask, anchors: Path) -> str:
    app.config["AUDIT_ANCHOR_FILE"] = str(anchors)
    result = app.test_cli_runner().invoke(args=["run-due-jobs"])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_periodic_job_anchors_the_head_once_per_change_and_logs_it(
    app: Flask, caseworker: User, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    anchors = tmp_path / "audit-anchors.log"
    _fill(app, caseworker, 10)
    with caplog.at_level(logging.INFO, logger="portal.audit.services"):
        output = _run_jobs(app, anchors)
    with Session(get_engine(app)) as own:
        newest = own.exec(select(AuditEvent).where(AuditEvent.sequence == 10)).one()
    line = anchors.read_text().strip()
    assert re.fullmatch(rf"audit anchor at=\S+ sequence=10 mac={newest.hash}", line)
    assert line in output and line in caplog.text
    _run_jobs(app, anchors)
    assert anchors.read_text().count("audit anchor") == 1  # nothing new on the trail: nothing appended
    _fill(app, caseworker, 2)
    _run_jobs(app, anchors)
    assert [text.split()[3] for text in anchors.read_text().splitlines()] == ["sequence=10", "sequence=12"]
    assert _verify(app, "--anchor", str(anchors)) == (
        0,
        "audit chain intact: 12 events, anchor at sequence 12 matches\n",
    )


def test_removing_the_newest_events_is_found_with_the_anchor(app: Flask, caseworker: User, tmp_path: Path) -> None:
    """A shorter chain still holds together: only the head kept outside the database shows what went."""
    anchors = tmp_path / "audit-anchors.log"
    _fill(app, caseworker, 300)
    _run_jobs(app, anchors)
    _tamper(app, "DELETE FROM auditevent WHERE sequence > 102")
    assert _verify(app)[0] == 0
    status, output = _verify(app, "--anchor", str(anchors))
    assert status == 1
    assert "names sequence 300, but the trail ends at sequence 102: events were removed from its end" in output


def test_a_trail_replaced_up_to_the_anchor_is_found(app: Flask, caseworker: User, tmp_path: Path) -> None:
    """Every event deleted and as many written again through the portal: the chain holds, but the
    anchored event does not carry the anchored MAC."""
    anchors = tmp_path / "audit-anchors.log"
    _fill(app, caseworker, 10)
    _run_jobs(app, anchors)
    _tamper(app, "DELETE FROM auditevent")
    _fill(app, caseworker, 12)
    status, output = _verify(app, "--anchor", str(anchors))
    assert status == 1 and "event 10 does not carry the MAC anchored at" in output


def test_an_unreadable_anchor_file_is_named(app: Flask, caseworker: User, tmp_path: Path) -> None:
    anchors = tmp_path / "audit-anchors.log"
    anchors.write_text("cron started\naudit anchor at=yesterday sequence=3 mac=abc\n")
    status, output = _verify(app, "--anchor", str(anchors))
    assert status == 1 and f"{anchors}, line 2: not an audit anchor" in output
    anchors.write_text("cron started\n")
    status, output = _verify(app, "--anchor", str(anchors))
    assert status == 1 and "holds no audit anchor" in output


def test_the_migration_re_chains_a_plain_trail_with_the_key_and_refuses_a_broken_one(
    app: Flask, caseworker: User, database_url: str
) -> None:
    """0017 moves a trail chained with plain SHA-256 to the keyed chain, after checking it: a trail
    tampered with before the move is not blessed with the key."""
    key = app.extensions["portal_audit_key"]
    _fill(app, caseworker, 20)
    get_engine(app).dispose()
    downgrade(database_url, revision_before("0017"), audit_key=key)  # back to the plain chain
    with get_engine(app).connect() as connection:
        first = connection.execute(sa.select(OLD_EVENTS).where(OLD_EVENTS.c.sequence == 1)).mappings().one()
    assert first["hash"] == hashlib.sha256(canonical(first).encode()).hexdigest()
    with pytest.raises(RuntimeError, match="PORTAL_AUDIT_KEY"):
        upgrade(database_url)
    upgrade(database_url, audit_key=key)
    assert _verify(app) == (0, "audit chain intact: 20 events\n")

    downgrade(database_url, revision_before("0017"), audit_key=key)
    _tamper(app, "UPDATE auditevent SET action = 'nothing' WHERE sequence = 5")
    with pytest.raises(RuntimeError, match="broken at sequence 5"):
        upgrade(database_url, audit_key=key)
    if get_engine(app).dialect.name == "postgresql":  # leave the shared database at head for the next tests
        _tamper(app, "DELETE FROM auditevent")
        upgrade(database_url)


# The trail's columns before 0022.
OLD_EVENTS = sa.table(
    "auditevent",
    *(sa.column(name, sa.Uuid()) for name in ("id", "actor_id", "record_id")),
    sa.column("sequence", sa.Integer()),
    sa.column("at", UTCDateTime()),
    *(sa.column(name, sa.String()) for name in ("action", "record_type", "previous_hash", "hash")),
)


def _keyed_chain_holds(app: Flask, key: bytes) -> list[uuid.UUID | None]:
    """Check the chain as the portal kept it before lists (one record an event, all linked); the
    records the events name, in sequence."""
    with get_engine(app).connect() as connection:
        rows = connection.execute(sa.select(OLD_EVENTS).order_by(OLD_EVENTS.c.sequence)).mappings().all()
    previous = ""
    for sequence, row in enumerate(rows, start=1):
        assert row["sequence"] == sequence and row["previous_hash"] == previous
        assert row["hash"] == (previous := chain_mac(key, previous, row))
    return [row["record_id"] for row in rows]


def test_the_migration_keeps_events_as_they_were_and_splits_lists_going_down(
    app: Flask, caseworker: User, database_url: str
) -> None:
    """Events written before 0022 stay untouched (and verify); going down, each list becomes one event
    per record and pending events are linked, chained again with the key after checking the chain."""
    key = app.extensions["portal_audit_key"]
    shown = _list_among_others(app, caseworker)
    _pending(app, caseworker, utcnow())
    get_engine(app).dispose()
    below = revision_before("0022")
    with pytest.raises(RuntimeError, match="PORTAL_AUDIT_KEY"):
        downgrade(database_url, below)
    downgrade(database_url, below, audit_key=key)
    named = _keyed_chain_holds(app, key)
    assert len(named) == 3 + 4 + 2 + 1 and set(named[3:7]) == set(shown)
    upgrade(database_url, audit_key=key)
    assert _verify(app) == (0, "audit chain intact: 10 events\n")

    with app.app_context():
        record_view(caseworker, "list", "person", shown)
    _tamper(app, f"DELETE FROM auditeventrecord WHERE record_id = '{shown[1].hex}'")
    get_engine(app).dispose()
    with pytest.raises(RuntimeError, match="broken at sequence 11"):
        downgrade(database_url, below, audit_key=key)
    assert _verify(app)[1] == "audit chain broken at sequence 11 (after 10 intact events)\n"  # nothing changed


# --- Who viewed this record ---------------------------------------------------------------------


def test_supervisors_see_who_viewed_the_record_and_caseworkers_do_not(
    client: FlaskClient,
    login: Login,
    caseworker: User,
    person: Person,
    area: Area,
    make_user: Callable[..., User],
) -> None:
    login(caseworker)
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    assert "Who viewed this record" not in page
    login(make_user(Role.SUPERVISOR, area_id=area.id, name="Qian Hong"))
    client.get(f"/people/{person.id}")
    page = client.get(f"/people/{person.id}").get_data(as_text=True)
    trail = page[page.index('id="record-trail"') :]
    rows = re.findall(r"<tr>\s*<td>[^<]*</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", trail)
    # Newest first; the view being drawn is logged once it is drawn, on both databases alike.
    assert rows == [("Qian Hong", "Supervisor", "Viewed"), ("Zhao Min", "Caseworker", "Viewed")]


# --- The administrators' search -----------------------------------------------------------------


def _pages(client: FlaskClient, url: str) -> list[str]:
    """Every page of a search, following its "Older" links (plain links, no JavaScript)."""
    pages = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        pages.append(html := response.get_data(as_text=True))
        older = re.search(r'<a href="([^"]+)" rel="next">', html)
        url = older.group(1).replace("&amp;", "&") if older else ""
    return pages


def test_admins_search_the_trail_by_actor_record_action_and_date(
    client: FlaskClient, login: Login, caseworker: User, person: Person, make_user: Callable[..., User], app: Flask
) -> None:
    login(caseworker)
    client.get(f"/people/{person.id}")
    _fill(app, make_user(Role.SUPERVISOR, email="sup@bridge.example"), 60)
    login(make_user(Role.ADMIN))
    pages = _pages(client, "/audit/")
    rows = [re.findall(r"<tr>\s*<td>(\d+)</td>", page) for page in pages]
    assert [len(page) for page in rows] == [50, 11]
    assert sorted(int(sequence) for page in rows for sequence in page) == list(range(1, 62))  # each once
    by_actor = _pages(client, "/audit/?actor=ZHAO@bridge.example")
    assert len(by_actor) == 1 and str(person.id) in by_actor[0] and NAME not in by_actor[0] and PHONE not in by_actor[0]
    assert by_actor[0].count("<tr>") == 2  # the heading and one event
    assert client.get(f"/audit/?record_id={person.id}&action=view").get_data(as_text=True).count("<tr>") == 2
    assert "No events match" in client.get(f"/audit/?record_id={person.id}&action=denied").get_data(as_text=True)
    today = local_today()
    assert len(_pages(client, f"/audit/?date_from={today}&date_to={today}&action=list")) == 2
    tomorrow = today + timedelta(days=1)
    assert "No events match" in client.get(f"/audit/?date_from={tomorrow}").get_data(as_text=True)


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "WyJ4IiwieSJd",
        "e30",
        encode_cursor(["2026-12-01T00:00:00", "7c1b7e2c-1f4c-4c3e-9a51-2f9c1d7e0b11"]),
    ],
)
def test_a_page_link_not_made_for_the_search_is_refused(
    client: FlaskClient, login: Login, make_user: Callable[..., User], cursor: str
) -> None:
    login(make_user(Role.ADMIN))
    response = client.get(f"/audit/?after={cursor}")
    assert response.status_code == 400
    assert "This page link was not made for this search" in response.get_data(as_text=True)


def test_invalid_search_values_get_a_message_at_their_field(
    client: FlaskClient, login: Login, make_user: Callable[..., User]
) -> None:
    login(make_user(Role.ADMIN))
    response = client.get("/audit/?record_id=abc&date_from=yesterday&action=DROP+TABLE")
    assert response.status_code == 422
    errors = dict(
        re.findall(r'<p class="field-error" id="([a-z_]+)-error">([^<]*)</p>', response.get_data(as_text=True))
    )
    assert set(errors) == {"record_id", "date_from", "action"}
    assert client.get(f"/audit/?after={'x' * 500}").status_code == 422
    reversed_dates = client.get("/audit/?date_from=2026-05-02&date_to=2026-05-01")
    assert reversed_dates.status_code == 422 and "cannot be before the start date" in reversed_dates.get_data(
        as_text=True
    )
