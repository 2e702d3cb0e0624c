"""HSDS 3.0's JSON schemas (vendored in portal/hsds/schema) as validators, formats checked (uuid,
email, uri, date-time), their relative references resolved among themselves."""

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.hsds.openapi import SCHEMA_DIR

BASE = "https://hsds.invalid/schema/"


@cache
def _registry() -> Registry[Any]:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")) + sorted((SCHEMA_DIR / "compiled").glob("*.json")):
        name = path.relative_to(SCHEMA_DIR).as_posix()
        contents = json.loads(path.read_text(encoding="utf-8"))
        resources.append((BASE + name, Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


@cache
def validator(schema: str) -> Draft202012Validator:
    """`schema` is a file's name under the schema folder: "service.json", "compiled/service_list.json"."""
    return Draft202012Validator(
        {"$ref": BASE + schema}, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def problems(schema: str, document: Any) -> list[str]:
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
