"""Reading another directory's HSDS 3.0 data for an import (portal/hsds/importing.py): its tabular
form (a folder or a .zip of the CSV files and datapackage.json that `hsds export` writes), its API's
JSON (a file holding a service, a list of them or a page of them), or its API itself (a base URL,
read page by page); each record checked against HSDS 3.0's own schemas (the vendored ones).

Bad input says why, as problems named by file, row and field: a file over the size limit is refused
by its size before a byte is read; a CSV that does not parse, a wrong type, another version of HSDS
(2.x's tables and fields, a datapackage or an API saying another version) are problems like any
other. Messages are data (a code and its parameters) so that a page can translate them; `message`
is the English the command prints, or the reader's language on a page.
"""

import csv
import io
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cache
from pathlib import Path
from typing import Any

from flask import has_request_context
from flask_babel import gettext
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from portal.hsds import network, tabular
from portal.hsds.openapi import SCHEMA_DIR

# A file (or a member of a .zip, or one page of an API) larger than this is refused unread: the
# 10,000 services of the benchmark take about 20 MB in all, their largest file 6 MB.
MAX_FILE_BYTES = 50 * 1024 * 1024
MAX_TOTAL_BYTES = 200 * 1024 * 1024
MAX_SERVICES = 50_000
MAX_PAGES = 2_000
TIMEOUT_SECONDS = 30
PER_PAGE = 200
# HSDS 2.x's tables, and the fields of its services that 3.0 renamed or moved: data in 2.x.
HSDS2_FILES = {
    "physical_addresses.csv",
    "postal_addresses.csv",
    "regular_schedules.csv",
    "holiday_schedules.csv",
    "service_taxonomy.csv",
    "taxonomy.csv",
    "eligibility.csv",
    "payment_accepted.csv",
}
HSDS2_FIELDS = {
    "regular_schedule",
    "regular_schedules",
    "holiday_schedule",
    "holiday_schedules",
    "physical_address",
    "physical_addresses",
    "postal_address",
    "postal_addresses",
    "service_taxonomy",
    "eligibility",
    "payment_accepted",
}


def _l(text: str) -> str:
    """Marks a message for translation (`make messages` extracts `_l`) and leaves it as it is: the
    command prints the English, a page translates it when it shows it (gettext_noop's idiom)."""
    return text


# Where a problem is on no row: the file as a whole.
WHOLE_FILE = 0
ORIGIN = "__origin__"  # the (file, row) a record assembled from CSV rows was read from

# The messages, English %-style templates, translated when a page shows them (Problem.message); the
# words a message takes as its `kind`, translated with it.
MESSAGES = {
    "too_large": _l("The file is %(size_mb)s MB, over the limit of %(limit_mb)s MB: nothing was read."),
    "too_much": _l("The files come to more than %(limit_mb)s MB: nothing was read."),
    "too_many_services": _l("More than %(limit)s services: split the import."),
    "not_found": _l("There is no such file or folder."),
    "not_hsds": _l("This is neither HSDS 3.0 tabular data (CSV files and datapackage.json) nor HSDS JSON."),
    "not_utf8": _l("This is not UTF-8 text."),
    "broken_csv": _l("This CSV file cannot be read: %(error)s."),
    "broken_json": _l("This is not JSON: %(error)s."),
    "broken_zip": _l("This is not a .zip file that can be read."),
    "unreachable": _l("%(url)s could not be read: %(error)s."),
    "private_address": _l(
        "%(url)s is on a private network (%(address)s). An import reads public addresses only; an operator "
        "can read a partner inside the network with `flask --app wsgi hsds import URL --private-network`."
    ),
    "other_version": _l("This is HSDS %(version)s, not 3.0: export it again as HSDS 3.0."),
    "other_profile": _l("The datapackage's profile is %(profile)s, not tabular-data-package."),
    "hsds2_file": _l("%(name)s is a table of HSDS 2, not 3.0: export the data again as HSDS 3.0."),
    "hsds2_field": _l("%(name)s is a field of HSDS 2, not 3.0: export the data again as HSDS 3.0."),
    "unknown_file": _l("HSDS 3.0 has no table in a file named %(name)s."),
    "unknown_column": _l("HSDS 3.0's %(file)s has no column %(column)s."),
    "missing_column": _l("The header lacks the column %(column)s, which every row needs."),
    "cells": _l("The row has %(found)s cells, the header %(expected)s."),
    "required": _l("This field is required."),
    "wrong_type": _l("'%(value)s' is not %(kind)s."),
    "schema": "%(detail)s",
    "repeated_id": _l("This id is on row %(first)s too."),
    "unknown_reference": _l("No %(table)s has the id %(id)s."),
    "no_organization": _l("The service names no organization that is in the data."),
    "no_category": _l("None of the service's taxonomy terms names a Bridge category."),
    "not_services": _l("Bridge imports services: this JSON holds none."),
    "language": _l("'%(code)s' is not a language code Bridge knows (two letters, such as zh or en)."),
    "gender": _l("'%(value)s' is not a gender Bridge knows (male, female or other)."),
    "whole_number": _l("'%(value)s' is not a whole number from %(low)s to %(high)s."),
    "too_long": _l("At most %(most)s characters."),
    "pair": _l("Give both latitude and longitude, or neither."),
    "offer_rule": "%(detail)s",
    "own_record": _l("This is the portal's own %(kind)s: it is left as it is."),
    "gone": _l(
        "“%(title)s” is no longer among its organization's services in the source: the import closes it "
        "(referrals under way go on)."
    ),
    "unfinished_job": _l(
        "A job is published only with its kind and the employer's fair-chance statement, which this one"
        " lacks: it is imported as a draft for the employer to complete."
    ),
}
KINDS = (
    _l("a number"),
    _l("a whole number"),
    _l("true or false"),
    _l("a date"),
    _l("a date (ISO 8601)"),
    _l("a datetime (ISO 8601)"),
    _l("a time (ISO 8601)"),
    _l("organization"),
    _l("offer"),
)


@dataclass(frozen=True)
class Problem:
    """Where something is wrong (the file, its row: a CSV line counting the header as 1, or the
    record's number in a JSON list; 0 for the whole file) and what, as a code and its parameters."""

    file: str
    row: int
    field: str
    code: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def message(self) -> str:
        """In the reader's language on a page; in English elsewhere (the command)."""
        params = dict(self.params)
        template = MESSAGES[self.code]
        if not has_request_context():
            return template % params
        if isinstance(params.get("kind"), str):
            params["kind"] = gettext(params["kind"])
        return gettext(template) % params

    def __str__(self) -> str:
        where = f"{self.file}" + (f", row {self.row}" if self.row else "") + (f", {self.field}" if self.field else "")
        return f"{where}: {self.message}"


def problem(file: str, row: int, name: str, code: str, /, **params: Any) -> Problem:
    return Problem(file, row, name, code, tuple(params.items()))


@dataclass
class Counts:
    create: int = 0
    update: int = 0
    unchanged: int = 0
    # Offers an earlier import made for an organization the source still lists, and that it no
    # longer lists among that organization's services.
    close: int = 0


@dataclass
class Report:
    """What an import found and would do (a dry run), or did (applied)."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    # (taxonomy, code, name) of each term no Bridge category could be read from, with how many
    # services carry it.
    unmapped_terms: dict[tuple[str, str, str], int] = field(default_factory=dict)
    organizations: Counts = field(default_factory=Counts)
    offers: Counts = field(default_factory=Counts)
    services_read: int = 0
    applied: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    def by_file(self) -> dict[str, list[Problem]]:
        found: dict[str, list[Problem]] = {}
        for item in sorted(self.problems, key=lambda p: (p.file, p.row, p.field)):
            found.setdefault(item.file, []).append(item)
        return found


class Refused(ValueError):
    """An import with problems was asked to be applied."""


# --- HSDS 3.0's schemas ---------------------------------------------------------------------------

_BASE = "https://hsds.invalid/schema/"


@cache
def _registry() -> Registry[Any]:
    resources = []
    for path in sorted(SCHEMA_DIR.glob("*.json")) + sorted((SCHEMA_DIR / "compiled").glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        name = path.relative_to(SCHEMA_DIR).as_posix()
        resources.append((_BASE + name, Resource.from_contents(contents, default_specification=DRAFT202012)))
    return Registry().with_resources(resources)


@cache
def validator(schema: str) -> Draft202012Validator:
    """A validator of one vendored schema ("service.json"), formats checked (uuid, email, uri)."""
    return Draft202012Validator(
        {"$ref": _BASE + schema}, registry=_registry(), format_checker=Draft202012Validator.FORMAT_CHECKER
    )


def _schema_problems(schema: str, document: Any, file: str, row: int, prefix: str = "") -> list[Problem]:
    found = []
    for error in validator(schema).iter_errors(document):
        path = "/".join(str(part) for part in error.absolute_path)
        if error.validator == "required" and isinstance(error.instance, dict):
            missing = re.search(r"'([^']+)' is a required property", error.message)
            path = "/".join(filter(None, [path, missing.group(1) if missing else ""]))
            found.append(problem(file, row, prefix + path, "required"))
            continue
        found.append(problem(file, row, prefix + path, "schema", detail=error.message[:300]))
    return found


# --- Reading what is given ------------------------------------------------------------------------


@dataclass
class Source:
    """What was read: organizations by id and services, as HSDS's full JSON documents."""

    name: str
    organizations: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def origin_of(document: dict[str, Any], fallback: tuple[str, int]) -> tuple[str, int]:
    found = document.get(ORIGIN)
    return found if isinstance(found, tuple) else fallback


# Told how far a long task has got: its phase ("reading", "checking", "writing"), done and total.
Progress = Callable[[str, int, int], None]


def read(
    location: str, token: str | None = None, opener: Callable[..., Any] | None = None, progress: Progress | None = None
) -> Source:
    """The services at `location`: a folder, a .zip, a .json file, or an http(s) base URL (whose
    pages are told to `progress` as they are read: an API may take minutes). A URL is read from a
    public address only, unless the `opener` given says otherwise (`network.opener`)."""
    if re.match(r"https?://", location, re.IGNORECASE):
        return _read_api(location.rstrip("/"), token, opener or network.opener(), progress)
    path = Path(location)
    name = path.name or location
    if path.is_dir():
        return _read_folder(path)
    if not path.is_file():
        return Source(name, problems=[problem(name, WHOLE_FILE, "", "not_found")])
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        return Source(name, problems=[_too_large(name, size)])
    if zipfile.is_zipfile(path):
        return _read_zip(path)
    data = path.read_bytes()
    if path.suffix.lower() == ".csv":
        return _read_tables(name, {path.name: data}, None)
    return _read_json(name, [(name, data)])


def _too_large(name: str, size: int) -> Problem:
    return problem(name, WHOLE_FILE, "", "too_large", size_mb=round(size / 2**20), limit_mb=MAX_FILE_BYTES // 2**20)


def _read_folder(folder: Path) -> Source:
    name = folder.name or str(folder)
    files = {path.name: path for path in folder.iterdir() if path.is_file()}
    wanted = {n: p for n, p in files.items() if n.lower().endswith(".csv") or n == "datapackage.json"}
    if not any(n.lower().endswith(".csv") for n in wanted):
        json_files = [p for n, p in sorted(files.items()) if n.lower().endswith(".json") and n != "datapackage.json"]
        if not json_files:
            return Source(name, problems=[problem(name, WHOLE_FILE, "", "not_hsds")])
        wanted = {p.name: p for p in json_files}
    sizes = {n: p.stat().st_size for n, p in wanted.items()}
    refused = [_too_large(n, size) for n, size in sizes.items() if size > MAX_FILE_BYTES]
    if refused:
        return Source(name, problems=refused)
    if sum(sizes.values()) > MAX_TOTAL_BYTES:
        return Source(name, problems=[problem(name, WHOLE_FILE, "", "too_much", limit_mb=MAX_TOTAL_BYTES // 2**20)])
    if not any(n.lower().endswith(".csv") for n in wanted):
        return _read_json(name, [(n, p.read_bytes()) for n, p in sorted(wanted.items())])
    package = wanted.pop("datapackage.json", None)
    return _read_tables(
        name, {n: p.read_bytes() for n, p in sorted(wanted.items())}, package.read_bytes() if package else None
    )


def _read_zip(path: Path) -> Source:
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            refused = [_too_large(m.filename, m.file_size) for m in members if m.file_size > MAX_FILE_BYTES]
            if refused:
                return Source(path.name, problems=refused)
            if sum(m.file_size for m in members) > MAX_TOTAL_BYTES:
                limit = MAX_TOTAL_BYTES // 2**20
                return Source(path.name, problems=[problem(path.name, WHOLE_FILE, "", "too_much", limit_mb=limit)])
            contents = {Path(m.filename).name: archive.read(m) for m in members}
    except (zipfile.BadZipFile, OSError, EOFError):
        return Source(path.name, problems=[problem(path.name, WHOLE_FILE, "", "broken_zip")])
    package = contents.pop("datapackage.json", None)
    tables = {n: data for n, data in contents.items() if n.lower().endswith(".csv")}
    if not tables:
        return Source(path.name, problems=[problem(path.name, WHOLE_FILE, "", "not_hsds")])
    return _read_tables(path.name, tables, package)


# --- The tabular form -----------------------------------------------------------------------------


def _version_problems(file: str, declared: object) -> list[Problem]:
    if declared is None:
        return []
    text = str(declared).strip()
    if re.fullmatch(r"v?3\.0(\.\d+)?", text):
        return []
    return [problem(file, WHOLE_FILE, "version", "other_version", version=text)]


def _package_problems(data: bytes) -> list[Problem]:
    try:
        package = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return [problem("datapackage.json", WHOLE_FILE, "", "not_utf8")]
    except ValueError as error:
        return [problem("datapackage.json", WHOLE_FILE, "", "broken_json", error=str(error))]
    if not isinstance(package, dict):
        return [problem("datapackage.json", WHOLE_FILE, "", "not_hsds")]
    found = _version_problems("datapackage.json", package.get("version"))
    profile = package.get("profile")
    if profile is not None and profile not in ("tabular-data-package", "data-package"):
        found.append(problem("datapackage.json", WHOLE_FILE, "profile", "other_profile", profile=str(profile)))
    for resource in package.get("resources", []) if isinstance(package.get("resources"), list) else []:
        name = str(resource.get("path", "")) if isinstance(resource, dict) else ""
        if name in HSDS2_FILES:
            found.append(problem("datapackage.json", WHOLE_FILE, "resources", "hsds2_file", name=name))
    return found


def _typed(table: str, column: str, text: str) -> tuple[Any, str | None]:
    """A cell as the value its column's type says, or the kind it should have been."""
    kind = tabular.field_type(table, column)
    try:
        if kind == "number":
            value: Any = int(text) if re.fullmatch(r"[+-]?\d+", text) else float(text)
            if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
                return None, "a number"
            return value, None
        if kind == "integer":
            return int(text), None
        if kind == "boolean":
            if text.lower() not in ("true", "false", "1", "0"):
                return None, "true or false"
            return text.lower() in ("true", "1"), None
        if kind == "date":
            date.fromisoformat(text)
        elif kind == "datetime":
            datetime.fromisoformat(text)
        elif kind == "time":
            time.fromisoformat(text)
    except ValueError:
        return None, {"number": "a number", "integer": "a whole number"}.get(kind, f"a {kind} (ISO 8601)")
    return text, None


def _parse_csv(file: str, data: bytes) -> tuple[list[str], list[tuple[int, list[str]]], list[Problem]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [], [problem(file, WHOLE_FILE, "", "not_utf8")]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows = []
    try:
        header = next(reader, [])
        for cells in reader:
            if any(cell.strip() for cell in cells):
                rows.append((reader.line_num, cells))
    except csv.Error as error:
        return [], [], [problem(file, reader.line_num, "", "broken_csv", error=str(error))]
    return [cell.strip() for cell in header], rows, []


def _read_table(table: str, file: str, data: bytes) -> tuple[list[dict[str, Any]], list[Problem]]:
    header, rows, found = _parse_csv(file, data)
    if found:
        return [], found
    known = set(tabular.columns(table))
    found += [problem(file, 1, name, "unknown_column", file=file, column=name) for name in header if name not in known]
    missing = sorted(tabular.required(table) - set(header))
    found += [problem(file, 1, name, "missing_column", column=name) for name in missing]
    if found:
        return [], found
    schema = f"{table}.json"
    needed = tabular.required(table)
    # A cell cannot tell an empty text from none: a required text column left empty (an address's
    # postal code, which Chinese addresses in Bridge do not have) is read as the empty text the API
    # would give; ids, links and names may not be empty.
    blank_allowed = {name for name in needed if name not in ("id", "name") and not tabular.is_reference(table, name)}
    records = []
    for line, cells in rows:
        if len(cells) != len(header):
            found.append(problem(file, line, "", "cells", found=len(cells), expected=len(header)))
            continue
        record: dict[str, Any] = {}
        for name, text in zip(header, cells, strict=True):
            text = text.strip()
            if not text:
                continue
            value, wrong = _typed(table, name, text)
            if wrong:
                found.append(problem(file, line, name, "wrong_type", value=text[:60], kind=wrong))
            else:
                record[name] = value
        for name in sorted(needed - set(record)):
            if name in blank_allowed:
                record[name] = ""
            else:
                found.append(problem(file, line, name, "required"))
        found += [p for p in _schema_problems(schema, record, file, line) if p.code != "required"]
        record[ORIGIN] = (file, line)
        records.append(record)
    return records, found


def _read_tables(name: str, files: dict[str, bytes], package: bytes | None) -> Source:
    source = Source(name)
    if package is not None:
        source.problems += _package_problems(package)
    by_file = {tabular.file_name(table): table for table in tabular.ALL_TABLES}
    by_file["service_at_locations.csv"] = "service_at_location"  # the name its siblings suggest
    tables: dict[str, list[dict[str, Any]]] = {table: [] for table in tabular.ALL_TABLES}
    for file, data in files.items():
        if file in HSDS2_FILES:
            source.problems.append(problem(file, WHOLE_FILE, "", "hsds2_file", name=file))
            continue
        table = by_file.get(file)
        if table is None:
            source.problems.append(problem(file, WHOLE_FILE, "", "unknown_file", name=file))
            continue
        records, found = _read_table(table, file, data)
        tables[table] += records
        source.problems += found
    if not tables["service"] and not source.problems:
        source.problems.append(problem(name, WHOLE_FILE, "", "not_services"))
    if source.problems:
        return source
    _assemble(source, tables)
    return source


def _indexed(table: str, records: list[dict[str, Any]], found: list[Problem]) -> dict[str, dict[str, Any]]:
    index: dict[str, dict[str, Any]] = {}
    for record in records:
        earlier = index.get(record["id"])
        if earlier is not None:
            file, line = record[ORIGIN]
            found.append(problem(file, line, "id", "repeated_id", first=earlier[ORIGIN][1]))
            continue
        index[record["id"]] = record
    return index


def _assemble(source: Source, tables: dict[str, list[dict[str, Any]]]) -> None:
    """The rows of the tables as nested documents, as the API's `full` answers nest them."""
    found = source.problems
    organizations = _indexed("organization", tables["organization"], found)
    services = _indexed("service", tables["service"], found)
    locations = _indexed("location", tables["location"], found)
    at_locations = _indexed("service_at_location", tables["service_at_location"], found)
    contacts = _indexed("contact", tables["contact"], found)
    terms = _indexed("taxonomy_term", tables["taxonomy_term"], found)
    taxonomies = _indexed("taxonomy", tables["taxonomy"], found)

    def owner(record: dict[str, Any], column: str, index: dict[str, dict[str, Any]], table: str) -> Any:
        wanted = record.get(column)
        if wanted is None:
            return None
        if wanted not in index:
            file, line = record[ORIGIN]
            found.append(problem(file, line, column, "unknown_reference", table=table, id=wanted))
            return None
        return index[wanted]

    for described in terms.values():
        detail = taxonomies.get(described.get("taxonomy_id", ""))
        if detail is not None:
            described["taxonomy_detail"] = detail
    for identifier in tables["organization_identifier"]:
        organization = owner(identifier, "organization_id", organizations, "organization")
        if organization is not None:
            organization.setdefault("organization_identifiers", []).append(identifier)
    for listed in services.values():
        owner(listed, "organization_id", organizations, "organization")
    for location in locations.values():
        location.setdefault("addresses", [])
    for address in tables["address"]:
        location = owner(address, "location_id", locations, "location")
        if location is not None:
            location["addresses"].append(address)
    for at_location in at_locations.values():
        service = owner(at_location, "service_id", services, "service")
        location = owner(at_location, "location_id", locations, "location")
        if service is not None and location is not None:
            at_location["location"] = location
            service.setdefault("service_at_locations", []).append(at_location)
    for contact in contacts.values():
        service = owner(contact, "service_id", services, "service")
        if service is not None:
            service.setdefault("contacts", []).append(contact)
    for phone in tables["phone"]:
        if phone.get("contact_id"):
            contact = owner(phone, "contact_id", contacts, "contact")
            if contact is not None:
                contact.setdefault("phones", []).append(phone)
        elif phone.get("service_id"):
            service = owner(phone, "service_id", services, "service")
            if service is not None:
                service.setdefault("phones", []).append(phone)
        elif phone.get("organization_id") and not phone.get("location_id"):
            organization = owner(phone, "organization_id", organizations, "organization")
            if organization is not None:
                organization.setdefault("phones", []).append(phone)
    for schedule in tables["schedule"]:
        service = owner(schedule, "service_id", services, "service")
        if service is None and schedule.get("service_at_location_id") and not schedule.get("service_id"):
            at_location = owner(schedule, "service_at_location_id", at_locations, "service_at_location")
            service = services.get(at_location["service_id"]) if at_location else None
        if service is not None:
            service.setdefault("schedules", []).append(schedule)
    for language in tables["language"]:
        service = owner(language, "service_id", services, "service")
        if service is not None:
            service.setdefault("languages", []).append(language)
    for attribute in tables["attribute"]:
        if attribute.get("link_entity") != "service" and attribute["link_id"] not in services:
            continue  # an organization's or a location's: Bridge keeps none
        service = owner(attribute, "link_id", services, "service")
        if service is None:
            continue
        term = terms.get(attribute["taxonomy_term_id"])
        if term is not None:
            attribute["taxonomy_term"] = term
        service.setdefault("attributes", []).append(attribute)
    source.organizations = organizations
    source.services = list(services.values())


# --- The API's JSON -------------------------------------------------------------------------------


def _hsds2_problems(document: dict[str, Any], file: str, row: int) -> list[Problem]:
    return [problem(file, row, name, "hsds2_field", name=name) for name in sorted(HSDS2_FIELDS & set(document))]


def _services_in(file: str, data: bytes) -> tuple[list[dict[str, Any]], dict[str, Any] | None, list[Problem]]:
    """The services a JSON document holds, and the page's fields when it is a page."""
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        return [], None, [problem(file, WHOLE_FILE, "", "not_utf8")]
    except ValueError as error:
        return [], None, [problem(file, WHOLE_FILE, "", "broken_json", error=str(error))]
    page = None
    if isinstance(document, dict) and isinstance(document.get("contents"), list):
        page, items = document, document["contents"]
    elif isinstance(document, list):
        items = document
    elif isinstance(document, dict) and "version" in document and "id" not in document:
        found = _version_problems(file, document["version"])
        return [], None, found or [problem(file, WHOLE_FILE, "", "not_services")]
    else:
        items = [document]
    if not items:
        return [], page, []
    services = [item for item in items if isinstance(item, dict) and "name" in item and "id" in item]
    if len(services) != len(items) or any("status" not in item and "services" in item for item in services):
        return [], page, [problem(file, WHOLE_FILE, "", "not_services")]
    return services, page, []


def _read_json(name: str, files: list[tuple[str, bytes]]) -> Source:
    source = Source(name)
    for file, data in files:
        services, _page, found = _services_in(file, data)
        source.problems += found
        _add_services(source, file, services)
    if not source.services and not source.problems:
        source.problems.append(problem(name, WHOLE_FILE, "", "not_services"))
    return source


def _add_services(source: Source, file: str, services: list[dict[str, Any]], row_offset: int = 0) -> None:
    for number, service in enumerate(services, start=row_offset + 1):
        found = _hsds2_problems(service, file, number) + _schema_problems("service.json", service, file, number)
        if found:
            source.problems += found
            continue
        service[ORIGIN] = (file, number)
        organization = service.get("organization")
        organization_id = service.get("organization_id") or (organization or {}).get("id")
        if organization_id and organization_id not in source.organizations and isinstance(organization, dict):
            source.organizations[organization_id] = organization
        service.setdefault("organization_id", organization_id)
        source.services.append(service)


def _fetch(opener: Callable[..., Any], url: str, token: str | None) -> bytes:
    """One answer of the API, read up to the size limit (a longer one is refused, not truncated)."""
    request = urllib.request.Request(url, headers={"Accept": "application/json", "User-Agent": "Bridge HSDS import"})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with opener(request, timeout=TIMEOUT_SECONDS) as response:
        length = response.headers.get("Content-Length")
        if length and length.isdigit() and int(length) > MAX_FILE_BYTES:
            raise _TooLarge(int(length))
        data: bytes = response.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise _TooLarge(len(data))
    return data


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        super().__init__(size)
        self.size = size


def _read_organizations(opener: Callable[..., Any], base: str, token: str | None, source: Source, total: int) -> int:
    """Add the organizations the API lists, those without a service at the moment among them (their
    services have ended: the import closes what it made of them). An API that does not list its
    organizations gives those its services name, as before. Returns the bytes read so far (past
    MAX_TOTAL_BYTES: a problem, and no more)."""
    page, pages = 1, 1
    while page <= pages and page <= MAX_PAGES:
        url = f"{base}/organizations?page={page}&per_page={PER_PAGE}"
        try:
            data = _fetch(opener, url, token)
            document = json.loads(data)
        except (urllib.error.URLError, OSError, ValueError):
            return total
        total += len(data)
        if total > MAX_TOTAL_BYTES:
            source.problems.append(problem(base, WHOLE_FILE, "", "too_much", limit_mb=MAX_TOTAL_BYTES // 2**20))
            return total
        if not isinstance(document, dict) or not isinstance(document.get("contents"), list):
            return total
        for number, organization in enumerate(document["contents"], start=1):
            if isinstance(organization, dict) and isinstance(organization.get("id"), str) and "name" in organization:
                organization.pop("services", None)
                known = source.organizations.get(organization["id"], {})
                source.organizations[organization["id"]] = {ORIGIN: (url, number), **organization, **known}
        pages = int(document.get("total_pages") or 1)
        page += 1
    return total


def _read_api(base: str, token: str | None, opener: Callable[..., Any], progress: Progress | None = None) -> Source:
    source = Source(base)
    total = 0
    try:
        _none, _page, found = _services_in(base + "/", _fetch(opener, base + "/", token))
        source.problems += [p for p in found if p.code in ("other_version", "broken_json", "not_utf8")]
        if source.problems:
            return source
        page, pages = 1, 1
        while page <= pages and page <= MAX_PAGES:
            url = f"{base}/services?full=true&page={page}&per_page={PER_PAGE}"
            data = _fetch(opener, url, token)
            total += len(data)
            if total > MAX_TOTAL_BYTES:
                source.problems.append(problem(base, WHOLE_FILE, "", "too_much", limit_mb=MAX_TOTAL_BYTES // 2**20))
                return source
            services, page_fields, found = _services_in(url, data)
            source.problems += found
            _add_services(source, url, services)
            if page_fields is None or found:
                break
            pages = int(page_fields.get("total_pages") or 1)
            if progress is not None:
                progress("reading", page, min(pages, MAX_PAGES))
            page += 1
        if _read_organizations(opener, base, token, source, total) > MAX_TOTAL_BYTES:
            return source
        for organization_id, known in list(source.organizations.items()):
            url = f"{base}/organizations/{urllib.parse.quote(organization_id)}"
            try:
                detail = json.loads(_fetch(opener, url, token))
            except (urllib.error.URLError, ValueError, OSError):
                continue  # the service's own copy of it will do
            if isinstance(detail, dict) and detail.get("id") == organization_id:
                detail.pop("services", None)
                source.organizations[organization_id] = {**known, **detail}
    except _TooLarge as error:
        source.problems.append(_too_large(base, error.size))
    except (urllib.error.URLError, OSError, ValueError) as error:
        refused = getattr(error, "reason", error)
        if isinstance(refused, network.PrivateAddress):
            source.problems.append(problem(base, WHOLE_FILE, "", "private_address", url=base, address=refused.address))
        else:
            source.problems.append(problem(base, WHOLE_FILE, "", "unreachable", url=base, error=str(error)[:200]))
    return source
