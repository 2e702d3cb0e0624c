"""Field-level encryption at rest (security.md item 37): what reaches the database is ciphertext
bound to its row and column, keys rotate, and the duplicate check still finds people."""

import base64
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from flask import Flask
from sqlmodel import Session, SQLModel, select

from matching.semantic import meaning_from_text
from portal import create_app
from portal.crypto import NONCE_BYTES, KeyRing, encrypted_columns, key_id_of, keyring_of, reseal_table
from portal.db import get_engine
from portal.migrations import downgrade, upgrade
from portal.models import (
    Area,
    Consent,
    ConsentOverride,
    DirectoryImport,
    Need,
    Offer,
    OverrideBasis,
    Person,
    Role,
    User,
)
from portal.people.services import SAME_ID_NUMBER, SAME_PHONE, find_duplicates
from tests.conftest import TEST_CONFIG
from tests.portal.person_record import SENTINEL, build_record

SECOND_KEY = base64.b64encode(b"test-only-data-key-number-two-02").decode()


@pytest.fixture
def caseworker(make_user: Callable[..., User]) -> User:
    return make_user(Role.CASEWORKER)


@pytest.fixture
def offer(make_user: Callable[..., User], make_offer: Callable[..., Offer]) -> Offer:
    return make_offer(make_user(Role.PROVIDER))


def _mark_every_encrypted_column(session: Session, caseworker: User, grid: Area, offer: Offer) -> None:
    """build_record marks most texts; the consent's note, representative and end event, a
    supervisor's override note, a two-step seed and an import's token too."""
    record = build_record(session, caseworker, grid, offer)
    caseworker.totp_secret = f"{SENTINEL} JBSWY3DPEHPK3PXP"
    session.add(caseworker)
    session.add(DirectoryImport(source="https://city.example/api/hsds", token=f"{SENTINEL} partner-token"))
    consent = session.exec(select(Consent).where(Consent.person_id == record.person.id)).one()
    consent.note = f"{SENTINEL} signed by the mother"
    consent.representative_name = f"{SENTINEL} 王小明's mother"
    consent.expiry_event_text = f"{SENTINEL} the end of the court order"
    session.add(consent)
    session.add(
        ConsentOverride(
            referral_id=record.referral.id, by_id=caseworker.id, basis=OverrideBasis.COURT_ORDER, note=f"{SENTINEL} 1"
        )
    )
    session.commit()


def _model(table: sa.Table) -> Any:
    return next(m.class_ for m in SQLModel._sa_registry.mappers if m.local_table is table)


def _raw(session: Session, table: str, columns: list[str]) -> list[Any]:
    """Rows as the database holds them, with no column type in between."""
    t = sa.table(table, sa.column("id"), *(sa.column(c, sa.Text) for c in columns))
    return list(session.connection().execute(sa.select(t.c.id, *(t.c[c] for c in columns))))


def test_no_encrypted_column_holds_its_plain_text_in_the_database(
    app: Flask, session: Session, caseworker: User, grid: Area, offer: Offer
) -> None:
    _mark_every_encrypted_column(session, caseworker, grid, offer)
    session.rollback()
    tables = encrypted_columns(SQLModel.metadata)
    assert len(tables) == 15
    for table, columns in tables.items():
        names = [c.name for c in columns]
        rows = _raw(session, table.name, names)
        assert rows, table.name
        for row in rows:
            for name, stored in zip(names, row[1:], strict=True):
                if stored is None:  # users without two-step sign-in
                    continue
                assert SENTINEL not in stored and "王小明" not in stored, (table.name, name)
                assert key_id_of(stored) == 1, (table.name, name)
        # Through the portal the same rows read back whole: every column carries the mark.
        with Session(get_engine(app)) as reader:
            objects = list(reader.exec(select(_model(table))))
            for name in names:
                if (table.name, name) == ("need", "meaning"):  # the description's vectors, not text
                    assert any(meaning_from_text(obj.meaning, obj.description) for obj in objects)
                    continue
                assert any(SENTINEL in (getattr(obj, name) or "") for obj in objects), (table.name, name)


def _copy_raw(session: Session, table: str, source_column: str, source_id: Any, column: str, row_id: Any) -> None:
    t = sa.table(table, sa.column("id"), sa.column(source_column, sa.Text), sa.column(column, sa.Text))
    stored = session.connection().execute(sa.select(t.c[source_column]).where(t.c.id == source_id)).scalar_one()
    session.connection().execute(sa.update(t).where(t.c.id == row_id).values({column: stored}))
    session.commit()


def _person(session: Session, caseworker: User, code: str, **fields: Any) -> Person:
    person = Person(code=code, caseworker_id=caseworker.id, full_name=fields.pop("full_name", "Li Ming"), **fields)
    session.add(person)
    session.commit()
    return person


def _raw_person_ids(session: Session, *people: Person) -> list[Any]:
    """The ids as the database spells them (32 hex digits on SQLite, a UUID on PostgreSQL)."""
    t = sa.table("person", sa.column("id"), sa.column("code"))
    by_code = dict(session.connection().execute(sa.select(t.c.code, t.c.id)).all())
    return [by_code[p.code] for p in people]


def test_a_ciphertext_copied_onto_another_row_or_column_does_not_decrypt(
    app: Flask, session: Session, caseworker: User
) -> None:
    zhang = _person(session, caseworker, "XA-2026-0001", full_name="张伟", phone="13800138000")
    wang = _person(session, caseworker, "XA-2026-0002", full_name="王芳")
    zhang_id, wang_id = _raw_person_ids(session, zhang, wang)
    _copy_raw(session, "person", "full_name", zhang_id, "full_name", wang_id)
    with Session(get_engine(app)) as reader:
        with pytest.raises(InvalidTag, match=r"person\|full_name\|.*copied from another row"):
            reader.get(Person, wang.id)
    _copy_raw(session, "person", "phone", zhang_id, "address", zhang_id)
    with Session(get_engine(app)) as reader:
        with pytest.raises(InvalidTag, match=r"person\|address\|.*copied from another row"):
            reader.get(Person, zhang.id)


def test_plain_text_is_never_compared_or_written_in_sql(app: Flask, session: Session) -> None:
    with pytest.raises(sa.exc.StatementError, match="plain text given for an encrypted column"):
        session.exec(select(Person).where(Person.full_name == "Li Ming")).all()
    session.rollback()
    with pytest.raises(sa.exc.StatementError, match="plain text given"):
        session.exec(sa.update(Person).values(full_name="Li Ming"))


def test_a_thousand_encryptions_use_a_thousand_nonces(app: Flask) -> None:
    ring: KeyRing = app.extensions["portal_keyring"]
    sealed = [ring.seal("13800138000", "person|phone|1") for _ in range(1000)]
    nonces = {base64.b64decode(s.partition(":")[2])[:NONCE_BYTES] for s in sealed}
    assert len(nonces) == 1000
    assert all(ring.open(s, "person|phone|1") == "13800138000" for s in sealed)


def _app_with_keys(database_url: str, keys: dict[str, str], current: str) -> Flask:
    return create_app({**TEST_CONFIG, "DATABASE_URL": database_url, "DATA_KEYS": keys, "DATA_KEY_CURRENT": current})


def _read_everything(app: Flask) -> list[str]:
    with Session(get_engine(app)) as reader:
        texts = []
        for table, columns in encrypted_columns(SQLModel.metadata).items():
            texts += [getattr(obj, c.name) or "" for obj in reader.exec(select(_model(table))) for c in columns]
    return texts


def test_after_rotation_the_old_key_can_go_and_every_row_still_decrypts(
    app: Flask, session: Session, caseworker: User, grid: Area, offer: Offer
) -> None:
    _mark_every_encrypted_column(session, caseworker, grid, offer)
    session.close()
    before = sorted(_read_everything(app))
    url, first = app.config["DATABASE_URL"], TEST_CONFIG["DATA_KEYS"]["1"]
    both = _app_with_keys(url, {"1": first, "2": SECOND_KEY}, "2")
    only_second = _app_with_keys(url, {"2": SECOND_KEY}, "2")
    try:
        # Key 2 is current: new values use it, old ones still open with key 1.
        assert "key 1: " in both.test_cli_runner().invoke(args=["keys", "status"]).output
        with pytest.raises(InvalidTag, match="key 1, which is not configured"):
            _read_everything(only_second)
        result = both.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "re-encrypted" in result.output and "person: 1" in result.output
        status = both.test_cli_runner().invoke(args=["keys", "status"]).output
        assert "key 1" not in status and "key 2 (current)" in status
        assert sorted(_read_everything(only_second)) == before
        assert "re-encrypted 0 rows" in both.test_cli_runner().invoke(args=["keys", "rotate"]).output
    finally:
        get_engine(both).dispose()
        get_engine(only_second).dispose()


def test_the_duplicate_check_finds_the_same_phone_and_id_number_typed_differently(
    app: Flask, session: Session, caseworker: User
) -> None:
    known = _person(session, caseworker, "XA-2026-0007", phone="138 0013 8000", id_number="11010519491231002x")
    [raw_index] = session.connection().execute(sa.text("SELECT phone_index FROM person")).scalars()
    assert raw_index and "13800138000" not in raw_index and len(raw_index) == 64
    found = find_duplicates(session, "Someone Else", "+86 (138) 0013-8000", "", None)
    assert [(d.person.id, d.reasons) for d in found] == [(known.id, [SAME_PHONE])]
    found = find_duplicates(session, "Someone Else", "", "110105 19491231002X", None)
    assert [(d.person.id, d.reasons) for d in found] == [(known.id, [SAME_ID_NUMBER])]
    assert find_duplicates(session, "Someone Else", "13800138001", "", None) == []
    # A changed number is found under the new number only; blanks never match each other.
    known.phone = "139-0000-1111"
    session.add(known)
    session.commit()
    _person(session, caseworker, "XA-2026-0008")
    assert find_duplicates(session, "Someone Else", "13800138000", "", None) == []
    assert [d.person.id for d in find_duplicates(session, "Someone Else", "13900001111", "", None)] == [known.id]
    assert find_duplicates(session, "Nobody Alike", "", "", None) == []


def test_values_stay_readable_in_the_objects_that_wrote_them(session: Session, caseworker: User) -> None:
    person = _person(session, caseworker, "XA-2026-0009", full_name="赵敏", address="北院门 12 号")
    assert (person.full_name, person.address) == ("赵敏", "北院门 12 号")
    person.address = "西大街 3 号"
    session.add(person)
    session.commit()
    session.refresh(person)
    assert (person.full_name, person.address) == ("赵敏", "西大街 3 号")


def test_the_migration_encrypts_existing_rows_and_its_downgrade_decrypts_them(
    app: Flask, session: Session, caseworker: User
) -> None:
    person = _person(session, caseworker, "XA-2026-0010", full_name="陈静", phone="13800138000", id_number="X1234567")
    # Rows referring to the person: SQLite rebuilds the person table under them.
    session.add(Need(person_id=person.id, category="housing", description="a room near the hospital"))
    session.commit()
    session.close()
    url, ring = app.config["DATABASE_URL"], keyring_of(get_engine(app))
    get_engine(app).dispose()
    downgrade(url, "0007", keyring=ring)
    plain = sa.create_engine(url)
    try:
        with plain.connect() as connection:
            row = connection.execute(sa.text("SELECT full_name, phone, id_number FROM person")).one()
            assert tuple(row) == ("陈静", "13800138000", "X1234567")
            assert connection.execute(sa.text("SELECT description FROM need")).scalar() == "a room near the hospital"
        with pytest.raises(RuntimeError, match="db upgrade"):
            upgrade(url)  # without the keys there is no encrypting the rows
        upgrade(url, keyring=ring)
        with plain.connect() as connection:
            row = connection.execute(sa.text("SELECT full_name, phone_index FROM person")).one()
            assert "陈静" not in row.full_name and key_id_of(row.full_name) == 1 and len(row.phone_index) == 64
    finally:
        plain.dispose()
    with Session(get_engine(app)) as reader:
        person = reader.exec(select(Person)).one()
        assert (person.full_name, person.phone, person.id_number) == ("陈静", "13800138000", "X1234567")
        assert reader.exec(select(Need)).one().description == "a room near the hospital"
        assert [d.person.id for d in find_duplicates(reader, "", "+86 138 0013 8000", "", None)] == [person.id]
        assert [d.person.id for d in find_duplicates(reader, "", "", "x1234567", None)] == [person.id]


# The queries that name an encrypted column: the caseload's name search selects ids and names only
# and opens them with `portal.crypto.open_selected`, so as not to decrypt every field of every person
# to compare their names; the matching backfill finds needs whose vectors are NULL (never sealed,
# so nothing is compared with ciphertext).
OPENED_AS_COLUMNS = {("people/search.py", "Person.full_name"), ("matches/services.py", "Need.meaning")}


def test_no_query_in_the_portal_names_an_encrypted_column() -> None:
    """`Person.full_name` in a query would compare plain text with ciphertext (refused at run time)
    or, in a column list, hand back ciphertext: the portal selects whole rows and filters on the
    blind indexes instead (but for `OPENED_AS_COLUMNS`). Instances are lower-case names, so
    `Model.column` only appears in SQL."""
    root = Path(__file__).resolve().parents[2] / "portal"
    names = [
        f"{_model(table).__name__}.{column.name}"
        for table, columns in encrypted_columns(SQLModel.metadata).items()
        for column in columns
    ]
    found = [
        (str(path.relative_to(root)), name)
        for path in root.rglob("*.py")
        for name in names
        if re.search(rf"\b{re.escape(name)}\b", path.read_text(encoding="utf-8"))
    ]
    assert set(found) == OPENED_AS_COLUMNS


def test_after_a_new_blind_index_key_reindex_makes_the_duplicate_check_work_again(
    app: Flask, session: Session, caseworker: User
) -> None:
    known = _person(session, caseworker, "XA-2026-0011", phone="138 0013 8000", id_number="11010519491231002x")
    session.close()
    new_key = base64.b64encode(b"test-only-new-blind-index-key-03").decode()
    renewed = create_app({**TEST_CONFIG, "DATABASE_URL": app.config["DATABASE_URL"], "BLIND_INDEX_KEY": new_key})
    try:
        with Session(get_engine(renewed)) as reader:
            assert find_duplicates(reader, "Someone Else", "13800138000", "", None) == []  # stale indexes
        result = renewed.test_cli_runner().invoke(args=["keys", "reindex"])
        assert result.exit_code == 0 and "recomputed the blind indexes of 1 rows" in result.output
        with Session(get_engine(renewed)) as reader:
            found = find_duplicates(reader, "Someone Else", "+86 138 0013 8000", "110105 19491231002X", None)
            assert [(d.person.id, sorted(d.reasons)) for d in found] == [
                (known.id, sorted([SAME_PHONE, SAME_ID_NUMBER]))
            ]
            assert reader.get(Person, known.id).phone == "138 0013 8000"  # type: ignore[union-attr]
        assert "of 0 rows" in renewed.test_cli_runner().invoke(args=["keys", "reindex"]).output
    finally:
        get_engine(renewed).dispose()


def test_rotation_reads_a_table_in_batches_and_reaches_every_row(
    app: Flask, session: Session, caseworker: User
) -> None:
    people = [_person(session, caseworker, f"XA-2026-01{n:02}", full_name=f"Person {n}") for n in range(5)]
    session.close()
    both = _app_with_keys(app.config["DATABASE_URL"], {"1": TEST_CONFIG["DATA_KEYS"]["1"], "2": SECOND_KEY}, "2")
    ring = keyring_of(get_engine(both))
    selects: list[str] = []

    def count_selects(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    try:
        with get_engine(both).begin() as connection:
            sa.event.listen(connection, "before_cursor_execute", count_selects)
            changed = reseal_table(
                connection, "person", "id", ["full_name"], ring.open, ring.seal, lambda s: key_id_of(s) != 2, batch=2
            )
        assert changed == 5
        assert len(selects) == 4  # 2 + 2 + 1 rows, then an empty batch
        with Session(get_engine(both)) as reader:
            assert sorted(p.full_name for p in reader.exec(select(Person))) == sorted(p.full_name for p in people)
            assert {key_id_of(stored) for (_id, stored) in _raw(reader, "person", ["full_name"])} == {2}
    finally:
        get_engine(both).dispose()
