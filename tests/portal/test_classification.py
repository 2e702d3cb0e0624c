"""Every column is classified (security.md item 36), and the classes keep their promises."""

from sqlmodel import SQLModel

import portal.models  # noqa: F401  (registers the tables)
from portal.classification import COLUMN_CLASSES, INTERNAL, PART2, PERSONAL, columns_of_class
from portal.crypto import EncryptedText


def test_every_column_of_every_table_has_a_class_and_no_class_names_a_missing_column() -> None:
    columns = {(table.name, column.name) for table in SQLModel.metadata.sorted_tables for column in table.columns}
    assert sorted(columns - COLUMN_CLASSES.keys()) == []
    assert sorted(COLUMN_CLASSES.keys() - columns) == []


def test_the_audit_trail_holds_nothing_but_internal_columns() -> None:
    assert {level for (table, _), level in COLUMN_CLASSES.items() if table == "auditevent"} == {INTERNAL}


def test_a_persons_name_contacts_and_treatment_are_part_2_records() -> None:
    person = set(columns_of_class(PART2)["person"])
    assert {"full_name", "phone", "id_number", "address", "programme", "programme_start"} <= person


# Part 2 columns stored in clear, and why (security.md items 36 and 37). The product owner decides
# on this list; anything not on it that is part2 must be encrypted.
CLEAR_PART2 = {
    # Keyed HMAC-SHA-256 of the normalised phone / ID number: not reversible without the
    # blind-index key (kept outside the database), and what the duplicate check compares in SQL.
    ("person", "phone_index"): "blind index",
    ("person", "id_number_index"): "blind index",
    # Dates, the programme and coordinates are filtered and computed on in SQL: the retention job
    # (programme_end), the indicators (programme, its dates, age groups from birth_date) and the
    # same-day duplicate check (birth_date). Encrypting them would move those queries into Python
    # over every record. Alone they do not name anyone; with the name, phone, ID number and
    # address encrypted, a copy of the database does not tell who is in a drug programme.
    ("person", "birth_date"): "duplicate check, age-group indicators, retention keeps the year",
    ("person", "programme"): "indicators and contact-gap rules filter on it",
    ("person", "programme_start"): "indicators",
    ("person", "programme_end"): "retention job selects on it",
    # Used for distance to offers; cleared at anonymisation. Encrypting them is left for later.
    ("person", "latitude"): "distance to offers",
    ("person", "longitude"): "distance to offers",
    # The programme's schedule is read by the specialist's lists and the indicators (dates, counts).
    ("programme_agreement", "programme"): "the programme's rules are chosen by it",
    ("programme_agreement", "signed_on"): "dates the lists sort on",
    ("programme_agreement", "starts_on"): "dates the lists sort on",
    ("programme_agreement", "ends_on"): "dates the lists sort on",
    ("programme_agreement", "check_in_every_days"): "the schedule is computed from it",
    ("programme_agreement", "test_every_days"): "the schedule is computed from it",
    ("programme_check", "kind"): "the lists and indicators count by it",
    ("programme_check", "due_on"): "the lists and indicators count by it",
    ("programme_check", "done_on"): "the lists and indicators count by it",
    ("programme_check", "result"): "the indicators count by it",
    # Where a visit was recorded: compared with the person's address; cleared at anonymisation.
    ("contactlog", "latitude"): "distance from the address",
    ("contactlog", "longitude"): "distance from the address",
}


def test_every_part_2_column_is_encrypted_unless_listed_with_its_reason() -> None:
    tables = {table.name: table for table in SQLModel.metadata.sorted_tables}
    clear = set()
    for table, columns in columns_of_class(PART2).items():
        for column in columns:
            if not isinstance(tables[table].c[column].type, EncryptedText):
                clear.add((table, column))
    assert clear == set(CLEAR_PART2)


def test_every_encrypted_column_is_part_2() -> None:
    encrypted = {
        (table.name, column.name)
        for table in SQLModel.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    }
    # Part 2 records, and the credentials the portal must read back rather than hash: a two-step
    # seed, and the token of another directory's API while an import of it waits.
    credentials = {("user", "totp_secret"), ("directory_import", "token")}
    assert {COLUMN_CLASSES[c] for c in encrypted - credentials} == {PART2}
    assert {COLUMN_CLASSES[c] for c in credentials} == {PERSONAL}
    assert {
        ("person", "full_name"),
        ("person", "phone"),
        ("need", "description"),
        ("referral", "note"),
        ("referral", "summary"),
    } <= encrypted
