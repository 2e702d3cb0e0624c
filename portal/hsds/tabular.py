"""The directory as HSDS 3.0 tabular data: one CSV file a table and a `datapackage.json` naming them,
as Open Referral's own example (`examples/csv/`) lays them out, for a partner who loads files
rather than reading the API.

What is written is what a partner holding a token reads through the API (portal/hsds/services.py):
the same documents (portal/hsds/documents.py), each nested list flattened into its own table, so
the files and the API never say two things. The tables' columns, file names and the datapackage's
field descriptions come from the vendored schemas (`schema/<table>.json`: "path",
"datapackage_metadata", each property's "datapackage_type"), which is how the specification builds
its own datapackage.json.
"""

import csv
import json
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from flask_babel import force_locale
from sqlmodel import Session

from portal.hsds import documents, taxonomy
from portal.hsds.openapi import SCHEMA_DIR
from portal.hsds.services import everything_published
from portal.i18n import LOCALES

# The tables Bridge has something to write into, in the datapackage's order.
TABLES = (
    "organization",
    "service",
    "attribute",
    "service_at_location",
    "location",
    "phone",
    "contact",
    "address",
    "schedule",
    "language",
    "taxonomy_term",
    "organization_identifier",
    "taxonomy",
)
# Every table of HSDS 3.0's tabular form (an import reads any of them it is given).
ALL_TABLES = (
    *TABLES,
    "program",
    "funding",
    "service_area",
    "required_document",
    "accessibility",
    "metadata",
    "meta_table_description",
    "cost_option",
)
# What the specification's own datapackage.json says of itself.
PACKAGE = {
    "name": "human_services_data",
    "title": "Human Services Data Specification",
    "description": (
        "HSDS describes data about organizations, the services they provide, the locations at which these "
        "services can be accessed, and associated details."
    ),
    "profile": "tabular-data-package",
    "version": "3.0.0",
    "homepage": "http://docs.openreferral.org",
    "license": {
        "url": "https://creativecommons.org/licenses/by-sa/4.0/",
        "type": "CC-BY-SA-4.0",
        "name": "Creative Commons Attribution-ShareAlike 4.0",
    },
}
_TABLE_SCHEMA_TYPES = {"string": "string", "number": "number", "integer": "integer", "boolean": "boolean"}


@cache
def table_schema(table: str) -> dict[str, Any]:
    """The vendored JSON schema of one table ("service", "taxonomy_term")."""
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{table}.json").read_text(encoding="utf-8"))
    return schema


def file_name(table: str) -> str:
    return str(table_schema(table)["path"])


@cache
def columns(table: str) -> tuple[str, ...]:
    """The table's columns: its schema's properties that are not lists or nested records."""
    return tuple(
        name
        for name, spec in table_schema(table)["properties"].items()
        if spec.get("type") != "array" and "$ref" not in spec
    )


def required(table: str) -> set[str]:
    """The columns a row must fill in: the record's required fields, and those the tabular form
    needs to link the row to its owner (a service's organization_id)."""
    schema = table_schema(table)
    return set(schema.get("required", [])) | set(schema.get("tabular_required", []))


def field_type(table: str, column: str) -> str:
    """The column's Table Schema type: string, number, integer, boolean, date, datetime or time."""
    spec = table_schema(table)["properties"][column]
    return str(spec.get("datapackage_type") or _TABLE_SCHEMA_TYPES.get(spec.get("type", "string"), "string"))


def is_reference(table: str, column: str) -> bool:
    """The column holds a record's id (its own, or its owner's)."""
    return table_schema(table)["properties"][column].get("format") == "uuid"


def _field(table: str, column: str) -> dict[str, Any]:
    spec = table_schema(table)["properties"][column]
    described: dict[str, Any] = {"name": column, "type": field_type(table, column)}
    for key in ("title", "description"):
        if key in spec:
            described[key] = spec[key]
    if spec.get("format") and described["type"] == "string":
        described["format"] = spec["format"]
    described["constraints"] = {
        "required": column in required(table),
        "unique": bool(spec.get("constraints", {}).get("unique", False)),
    }
    if "enum" in spec:
        described["constraints"]["enum"] = spec["enum"]
    return described


def _foreign_keys(table: str, tables: Iterable[str]) -> list[dict[str, Any]]:
    """`<table>_id` columns naming a table of the package, as the specification's datapackage has them."""
    present = set(tables)
    keys = []
    for column in columns(table):
        target = column.removesuffix("_id")
        if column.endswith("_id") and target in present:
            keys.append({"fields": column, "reference": {"resource": target, "fields": "id"}})
    return keys


def resource(table: str, tables: Iterable[str] = TABLES) -> dict[str, Any]:
    """The table as the datapackage describes it."""
    schema = table_schema(table)
    described: dict[str, Any] = {
        "name": table,
        "path": file_name(table),
        "description": schema.get("description", ""),
        **{key: value for key, value in schema.get("datapackage_metadata", {}).items() if key != "order"},
        "schema": {"primaryKey": "id", "fields": [_field(table, column) for column in columns(table)]},
    }
    foreign = _foreign_keys(table, tables)
    if foreign:
        described["schema"]["foreignKeys"] = foreign
    return described


def datapackage(tables: Iterable[str] = TABLES) -> dict[str, Any]:
    chosen = list(tables)
    return {**PACKAGE, "resources": [resource(table, chosen) for table in chosen]}


def cell(value: object) -> str:
    """A value as the CSV holds it: booleans as true/false, numbers as JSON writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return json.dumps(value)
    return str(value)


def flattened(organizations: Iterable[dict[str, Any]], services: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """Full HSDS documents (an organization's, a service's) as the rows of each table."""
    tables: dict[str, list[dict[str, Any]]] = {table: [] for table in TABLES}
    for organization in organizations:
        tables["organization"].append(organization)
        tables["organization_identifier"] += organization.get("organization_identifiers", [])
        tables["phone"] += organization.get("phones", [])
    term_ids: dict[str, None] = {}
    for service in services:
        tables["service"].append(service)
        tables["schedule"] += service.get("schedules", [])
        tables["language"] += service.get("languages", [])
        tables["phone"] += service.get("phones", [])
        for attribute in service.get("attributes", []):
            tables["attribute"].append(attribute)
            term_ids[attribute["taxonomy_term_id"]] = None
        for contact in service.get("contacts", []):
            tables["contact"].append(contact)
            tables["phone"] += contact.get("phones", [])
        for at_location in service.get("service_at_locations", []):
            tables["service_at_location"].append(at_location)
            location = at_location.get("location")
            if location:
                tables["location"].append(location)
                tables["address"] += location.get("addresses", [])
    terms = _with_ancestors(term_ids)
    tables["taxonomy_term"] = [documents.term_document(term, full=False) for term in terms]
    used = {term.taxonomy for term in terms}
    tables["taxonomy"] = [documents.taxonomy_document(item) for item in taxonomy.TAXONOMIES if item in used]
    return tables


def _with_ancestors(term_ids: Iterable[str]) -> list[taxonomy.Term]:
    """The terms the attributes name, and the terms above them (a term's parent_id names a row)."""
    known = {str(term_id): term for term_id, term in taxonomy.terms_by_id().items()}
    found: dict[str, taxonomy.Term] = {}
    for term_id in term_ids:
        term = known.get(term_id)
        while term is not None and str(term.id) not in found:
            found[str(term.id)] = term
            term = known.get(str(term.parent_id)) if term.parent_id else None
    return sorted(found.values(), key=lambda term: (term.taxonomy.key, term.code))


def write(folder: Path, tables: dict[str, list[Any]]) -> dict[str, int]:
    """Each table as its CSV file (UTF-8, a header row), and the datapackage; rows written a table."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for table in TABLES:
        with (folder / file_name(table)).open("w", encoding="utf-8", newline="") as file:
            writer = csv.writer(file)
            writer.writerow(columns(table))
            for row in tables.get(table, []):
                writer.writerow([cell(row.get(column)) for column in columns(table)])
        written[table] = len(tables.get(table, []))
    (folder / "datapackage.json").write_text(
        json.dumps(datapackage(TABLES), ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return written


def export(session: Session, folder: Path, language: str = "en") -> dict[str, int]:
    """Write what partners may read into `folder` as HSDS 3.0 tabular data; rows written a table.
    Bridge's own words (category names, eligibility, schedules) are in `language` (en or zh)."""
    organizations, found = everything_published(session)
    with force_locale(LOCALES[language]):
        organization_documents = [documents.organization_document(o, full=True) for o in organizations]
        service_documents = [documents.service_document(offer, found.directory, full=True) for offer in found.offers]
        tables = flattened(organization_documents, service_documents)
    return write(folder, tables)
