"""Every column is classified (security.md item 36), and the classes keep their promises."""

from sqlmodel import SQLModel

import portal.models  # noqa: F401  (registers the tables)
from portal.classification import COLUMN_CLASSES, INTERNAL, PART2, columns_of_class


def test_every_column_of_every_table_has_a_class_and_no_class_names_a_missing_column() -> None:
    columns = {(table.name, column.name) for table in SQLModel.metadata.sorted_tables for column in table.columns}
    assert sorted(columns - COLUMN_CLASSES.keys()) == []
    assert sorted(COLUMN_CLASSES.keys() - columns) == []


def test_the_audit_trail_holds_nothing_but_internal_columns() -> None:
    assert {level for (table, _), level in COLUMN_CLASSES.items() if table == "auditevent"} == {INTERNAL}


def test_a_persons_name_contacts_and_treatment_are_part_2_records() -> None:
    person = set(columns_of_class(PART2)["person"])
    assert {"full_name", "phone", "id_number", "address", "programme", "programme_start"} <= person
