"""HSDS 3.0's JSON schemas as the import checks records with (portal/hsds/reading.py): the
API's answers are checked by the same validators, formats included (uuid, email, uri, date-time)."""

from typing import Any

from portal.hsds.reading import validator


def problems(schema: str, document: Any) -> list[str]:
    """`schema` is a file's name under the schema folder: "service.json", "compiled/service_list.json"."""
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator(schema).iter_errors(document)
    ]


PAGE_FIELDS = {"total_items", "total_pages", "page_number", "size", "first_page", "last_page", "empty", "contents"}


def page_problems(schema: str, document: dict[str, Any]) -> list[str]:
    """A list answer: the `Page` fields, and each item against the item's schema."""
    found = [f"missing {name}" for name in sorted(PAGE_FIELDS - set(document))]
    for index, item in enumerate(document.get("contents", [])):
        found += [f"contents/{index}/{problem}" for problem in problems(schema, item)]
    return found
