"""Another directory's services, imported from HSDS 3.0: its tabular form (a folder or a .zip of the
CSV files and datapackage.json that `hsds export` writes), its API's JSON (a file holding a
service, a list of them or a page of them), or its API itself (a base URL, read page by page).

An import is first a dry run: every record is read, checked against HSDS 3.0's own schemas (the
vendored ones the API's answers are checked with) and against Bridge's rules for an offer (the
offer form's, as the spreadsheet import applies them, portal/offers/bulk.py), and every problem is
named by its file, row and field. Only an import without problems is applied, in one transaction:
each organization and service creates the record with the source's id (`source_id`), or updates the
record that already has it, so importing the same data again changes nothing at all. Imported
organizations wait for an admin's verification like any other (their offers are seen by no one
before), and publish nothing to the API until they choose to.

Reading and its checks against HSDS's schemas are portal/hsds/reading.py's; bad input changes
nothing.
"""

import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from flask import has_request_context
from flask_babel import force_locale
from sqlmodel import Session, col, select
from werkzeug.datastructures import MultiDict

from portal.audit import services as audit
from portal.clock import local_date, local_midnight, utcnow
from portal.forms import validate
from portal.hsds import taxonomy
from portal.hsds.reading import (
    MAX_SERVICES,
    ORIGIN,
    WHOLE_FILE,
    Progress,
    Refused,
    Report,
    Source,
    origin_of,
    problem,
)
from portal.i18n import LOCALES
from portal.models import (
    Category,
    Gender,
    Offer,
    OfferStatus,
    OfferTerm,
    Organization,
    OrganizationKind,
    Publication,
    ScheduleSlot,
    User,
    VerificationStatus,
)
from portal.offers.forms import LIST_FIELDS, OfferForm
from portal.offers.search import offer_terms

# --- Bridge's rules -------------------------------------------------------------------------------

STATUS = {
    "active": OfferStatus.OPEN,
    "temporarily closed": OfferStatus.PAUSED,
    "inactive": OfferStatus.CLOSED,
    "defunct": OfferStatus.CLOSED,
}
# Three-letter and regional language codes Bridge reads as its two-letter ones.
LANGUAGES = {"eng": "en", "zho": "zh", "chi": "zh", "cmn": "zh", "yue": "zh"}
EVENING = time(17, 0)
WEEKEND_DAYS = {"SA", "SU"}
USCC = "CN-USCC"
# How often a long loop tells its progress: every this many records.
PROGRESS_EVERY = 200
# The offer fields an import writes, and compares to find what changed.
OFFER_FIELDS = (
    "category",
    "title",
    "description",
    "languages",
    "address",
    "latitude",
    "longitude",
    "remote",
    "schedule",
    "capacity",
    "min_age",
    "max_age",
    "genders",
    "min_months_in_recovery",
    "contact_name",
    "contact_phone",
    "contact_email",
    "employment_type",
    "fair_chance_statement",
    "fair_chance_none_given",
    "status",
)
# What an employer completes on a job that another directory did not say.
JOB_COMPLETION = ("employment_type", "fair_chance_statement", "fair_chance_none_given", "status")
ORGANIZATION_FIELDS = ("name", "description", "email", "website", "phone", "credit_code")
ORGANIZATION_LIMITS = {"name": 200, "description": 4000, "email": 254, "website": 300, "phone": 40, "credit_code": 18}


@dataclass
class Planned:
    """One service as Bridge would write it: the offer's fields, and its organization's source id."""

    source_id: str
    organization_source_id: str
    values: dict[str, Any]
    confirmed_on: date | None
    # A job the source says nothing of its kind or fair chance: once its employer completed it
    # here, another import leaves those fields (and whether it is published) as they are.
    unfinished_job: bool = False


@dataclass
class Plan:
    report: Report
    organizations: dict[str, dict[str, Any]] = field(default_factory=dict)
    services: list[Planned] = field(default_factory=list)


def _term_of(attribute: dict[str, Any]) -> tuple[taxonomy.Term | None, tuple[str, str, str]]:
    """The Bridge term an attribute names, by its id (Bridge's own export, or any source using
    Bridge's ids) or by its taxonomy and code (Open Eligibility's codes); and how to name it."""
    term_id = str(attribute.get("taxonomy_term_id", ""))
    detail = attribute.get("taxonomy_term") or {}
    try:
        known = taxonomy.terms_by_id().get(uuid.UUID(term_id))
    except ValueError:
        known = None
    taxonomy_detail = detail.get("taxonomy_detail") or {}
    taxonomy_name = str(detail.get("taxonomy") or taxonomy_detail.get("name") or "")
    code = str(detail.get("code") or "")
    label = (taxonomy_name or "?", code or term_id, str(detail.get("name") or ""))
    if known is not None:
        return known, label
    named = f"{taxonomy_name} {taxonomy_detail.get('uri', '')}".casefold()
    for item in (taxonomy.OPEN_ELIGIBILITY, taxonomy.CATEGORIES, taxonomy.ATTRIBUTES):
        if code and (item.name.casefold() in named or "openeligibility" in named and item == taxonomy.OPEN_ELIGIBILITY):
            found = taxonomy.terms_by_id().get(taxonomy.term_id(item, code))
            if found is not None:
                return found, label
    return None, label


def _schedule_slots(schedules: Iterable[dict[str, Any]]) -> list[str]:
    """Bridge's times of the week a service's weekly schedules open in: Saturday or Sunday is the
    weekend; a weekday from 17:00 on is an evening, before it the day."""
    slots = set()
    for schedule in schedules:
        days = {day.strip().upper()[-2:] for day in str(schedule.get("byday", "")).split(",") if day.strip()}
        if not days:
            continue
        if days & WEEKEND_DAYS:
            slots.add(ScheduleSlot.WEEKEND)
        if days - WEEKEND_DAYS:
            try:
                opens = time.fromisoformat(str(schedule.get("opens_at") or "00:00"))
            except ValueError:
                opens = time(0, 0)
            slots.add(ScheduleSlot.WEEKDAY_EVENING if opens >= EVENING else ScheduleSlot.WEEKDAY_DAY)
    return [str(slot) for slot in ScheduleSlot if slot in slots]


def _language(code: str) -> str:
    code = code.strip().lower().replace("_", "-").split("-")[0]
    return LANGUAGES.get(code, code)


class _Checker:
    """Reads one service as Bridge's offer, collecting problems where they are (the row of the CSV
    file a value came from, or the record and path in a JSON file)."""

    def __init__(self, plan: Plan, service: dict[str, Any]) -> None:
        self.plan = plan
        self.service = service
        self.origin = origin_of(service, ("?", WHOLE_FILE))
        self.places: dict[str, tuple[str, int, str]] = {}
        self.start = len(plan.report.problems)

    def place(self, form_field: str, item: dict[str, Any] | None, hsds_field: str, path: str = "") -> None:
        """Where the form's field was read from, so that its problems are named there."""
        if item is not None and ORIGIN in item:
            file, row = item[ORIGIN]
            self.places[form_field] = (file, row, hsds_field)
        else:
            self.places[form_field] = (*self.origin, path or hsds_field)

    def add(self, form_field: str, code: str, /, **params: Any) -> None:
        file, row, name = self.places.get(form_field, (*self.origin, form_field))
        self.plan.report.problems.append(problem(file, row, name, code, **params))

    def number(self, form_field: str, value: Any, low: int, high: int) -> int | None:
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not number.is_integer() or not low <= number <= high:  # nan and inf are not whole
            self.add(form_field, "whole_number", value=str(value)[:60], low=low, high=high)
            return None
        return int(number)

    def check(self) -> Planned | None:
        service = self.service
        report = self.plan.report
        fields: MultiDict[str, str] = MultiDict()
        self.place("title", None, "name")
        fields["title"] = str(service.get("name", ""))
        self.place("description", None, "description")
        fields["description"] = str(service.get("description") or "")
        categories, values = self._attributes()
        if not categories:
            self.place("category", None, "attributes")
            self.add("category", "no_category")
        category = categories[0] if categories else Category.HEALTH
        fields["category"] = str(category)
        # A job is published only with its kind and its employer's fair-chance answer (Bridge's own
        # export carries them as attributes; other directories do not): one without them is checked
        # as if they were given, then imported as a draft for its employer to complete.
        unfinished_job = category == Category.EMPLOYMENT and (
            not values.get("employment_type")
            or not (values.get("fair_chance_statement") or values.get("fair_chance_none_given") == "true")
        )
        given_kind, given_statement = values.get("employment_type"), values.get("fair_chance_statement")
        if unfinished_job:
            values = {**values, "employment_type": given_kind or "full_time", "fair_chance_none_given": "true"}
        for name in ("min_age", "max_age"):
            hsds = "minimum_age" if name == "min_age" else "maximum_age"
            self.place(name, None, hsds)
            if service.get(hsds) is not None:
                number = self.number(name, service[hsds], 0, 120)
                if number is not None:
                    fields[name] = str(number)
        for name, value in values.items():
            if isinstance(value, list):
                for item in value:
                    fields.add(name, item)
            elif value is not None:
                fields[name] = value
        confirmed_on = None
        if service.get("assured_date"):
            try:
                confirmed_on = date.fromisoformat(str(service["assured_date"])[:10])
            except ValueError:
                self.add("assured_date", "wrong_type", value=str(service["assured_date"])[:60], kind="a date")
        self._languages(fields)
        fields.setlist("schedule", _schedule_slots(service.get("schedules", [])))
        self._location(fields)
        self._contact(fields)
        # The form's rules too, whatever was found above: every problem is reported at once (a value
        # found wrong above was not given to the form, so none is reported twice).
        form, errors = validate(OfferForm, fields, LIST_FIELDS)
        for name, message in errors.items():
            self.add(name, "offer_rule", detail=message)
        if form is None or len(report.problems) > self.start:
            return None
        offer_values = form.model_dump(include=set(OFFER_FIELDS))
        offer_values["contact_email"] = form.contact_email or ""
        offer_values["schedule"] = list(offer_values["schedule"])
        offer_values["genders"] = sorted(str(g) for g in offer_values["genders"])
        offer_values |= form.job_fields_cleared()
        offer_values["status"] = STATUS.get(str(service.get("status")), OfferStatus.OPEN)
        if unfinished_job:
            offer_values |= {
                "employment_type": given_kind or None,
                "fair_chance_statement": given_statement or "",
                "fair_chance_none_given": False,
            }
            if offer_values["status"] != OfferStatus.CLOSED:
                offer_values["status"] = OfferStatus.DRAFT
                report.warnings.append(problem(*self.origin, "status", "unfinished_job"))
        return Planned(
            source_id=str(service["id"]),
            organization_source_id=str(service.get("organization_id") or ""),
            values=offer_values,
            confirmed_on=confirmed_on,
            unfinished_job=unfinished_job,
        )

    def _attributes(self) -> tuple[list[Category], dict[str, Any]]:
        categories: list[Category] = []
        values: dict[str, Any] = {"genders": []}
        unmapped: list[tuple[str, str, str]] = []
        for index, attribute in enumerate(self.service.get("attributes", [])):
            term, label = _term_of(attribute)
            path = f"attributes/{index}/value"
            if term is not None and term.taxonomy == taxonomy.ATTRIBUTES:
                value = str(attribute.get("value") or "").strip()
                name = {
                    taxonomy.CAPACITY: "capacity",
                    taxonomy.MONTHS_IN_RECOVERY: "min_months_in_recovery",
                    taxonomy.GENDER: "genders",
                    taxonomy.REMOTE: "remote",
                    taxonomy.EMPLOYMENT_TYPE: "employment_type",
                    taxonomy.FAIR_CHANCE: "fair_chance_statement",
                    taxonomy.NO_FAIR_CHANCE_STATEMENT: "fair_chance_none_given",
                }[term.code]
                self.place(name, attribute, "value", path)
                if name == "capacity":
                    number = self.number(name, value, 0, 10000)
                    values[name] = None if number is None else str(number)
                elif name == "min_months_in_recovery":
                    number = self.number(name, value, 0, 600)
                    values[name] = None if number is None else str(number)
                elif name == "genders":
                    if value not in {str(g) for g in Gender}:
                        self.add(name, "gender", value=value)
                    else:
                        values["genders"].append(value)
                elif name in ("remote", "fair_chance_none_given"):
                    values[name] = "true" if value.lower() in ("true", "1", "yes", "") else "false"
                else:  # the job's kind and the employer's statement, which the offer form checks
                    values[name] = value
                continue
            category = taxonomy.category_of(term) if term is not None else None
            if category is None:
                unmapped.append(label)
            elif term is not None and term.taxonomy == taxonomy.CATEGORIES:
                categories.insert(0, category)  # Bridge's own category says it exactly
            else:
                categories.append(category)
        for label in dict.fromkeys(unmapped):
            self.plan.report.unmapped_terms[label] = self.plan.report.unmapped_terms.get(label, 0) + 1
        return categories, values

    def _languages(self, fields: MultiDict[str, str]) -> None:
        for index, language in enumerate(self.service.get("languages", [])):
            code = _language(str(language.get("code") or ""))
            self.place("languages", language, "code", f"languages/{index}/code")
            if not re.fullmatch(r"[a-z]{2}", code):
                self.add("languages", "language", code=str(language.get("code") or ""))
                continue
            if code not in fields.getlist("languages"):
                fields.add("languages", code)

    def _location(self, fields: MultiDict[str, str]) -> None:
        at_locations = self.service.get("service_at_locations") or []
        location = next((a.get("location") for a in at_locations if isinstance(a.get("location"), dict)), None)
        if location is None:
            return
        for name in ("latitude", "longitude"):
            self.place(name, location, name, f"service_at_locations/0/location/{name}")
            if location.get(name) is not None:
                fields[name] = str(location[name])
        if (location.get("latitude") is None) != (location.get("longitude") is None):
            self.add("longitude", "pair")
        addresses = location.get("addresses") or []
        if addresses:
            self.place("address", addresses[0], "address_1", "service_at_locations/0/location/addresses/0/address_1")
            fields["address"] = str(addresses[0].get("address_1") or "")

    def _contact(self, fields: MultiDict[str, str]) -> None:
        contacts = self.service.get("contacts") or []
        contact = contacts[0] if contacts else None
        if contact is not None:
            self.place("contact_name", contact, "name", "contacts/0/name")
            fields["contact_name"] = str(contact.get("name") or "")
            phones = contact.get("phones") or []
            if phones:
                self.place("contact_phone", phones[0], "number", "contacts/0/phones/0/number")
                fields["contact_phone"] = str(phones[0].get("number") or "")
        email = (contact or {}).get("email") or self.service.get("email")
        if email:
            self.place("contact_email", contact if contact and contact.get("email") else None, "email")
            fields["contact_email"] = str(email)


def _organization_values(document: dict[str, Any], file: str, row: int, report: Report) -> dict[str, Any]:
    identifiers = document.get("organization_identifiers") or []
    phones = document.get("phones") or []
    credit = next((i for i in identifiers if str(i.get("identifier_scheme", "")).upper() == USCC), None)
    name = str(document.get("name") or "").strip()
    description = str(document.get("description") or "").strip()
    values = {
        "name": name,
        # Bridge writes an organization's name as its description when it has none.
        "description": "" if description == name else description,
        "email": str(document.get("email") or ""),
        "website": str(document.get("website") or ""),
        "phone": str(phones[0].get("number") or "") if phones else "",
        "credit_code": str(credit.get("identifier") or "") if credit else "",
    }
    for key, most in ORGANIZATION_LIMITS.items():
        if len(values[key]) > most:
            report.problems.append(problem(file, row, key, "too_long", most=most))
    if not name:
        report.problems.append(problem(file, row, "name", "required"))
    return values


def plan(source: Source, progress: Progress | None = None) -> Plan:
    """Every service read as an offer, and its organization, checked; nothing is looked up yet."""
    report = Report(source=source.name, problems=list(source.problems), services_read=len(source.services))
    made = Plan(report)
    if len(source.services) > MAX_SERVICES:
        report.problems.append(problem(source.name, WHOLE_FILE, "", "too_many_services", limit=MAX_SERVICES))
        return made
    for source_id, document in source.organizations.items():
        file, row = origin_of(document, (source.name, WHOLE_FILE))
        made.organizations[source_id] = _organization_values(document, file, row, report)
    total = len(source.services)
    for number, service in enumerate(source.services):
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress("checking", number, total)
        before = len(report.problems)
        if service.get("organization_id") not in made.organizations:
            file, row = origin_of(service, (source.name, WHOLE_FILE))
            report.problems.append(problem(file, row, "organization_id", "no_organization"))
        planned = _Checker(made, service).check()
        if planned is not None and len(report.problems) == before:
            made.services.append(planned)
    if progress is not None:
        progress("checking", total, total)
    return made


# --- Comparing with the database, and writing ------------------------------------------------------


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _uuids(texts: Iterable[str]) -> list[uuid.UUID]:
    found = []
    for text in texts:
        try:
            found.append(uuid.UUID(text))
        except ValueError:
            continue
    return found


def _confirmed_at(day: date | None) -> datetime:
    """The moment a source's "assured" day began where the users live."""
    return local_midnight(day) if day else utcnow()


def _offer_changes(offer: Offer, planned: Planned, organization_id: uuid.UUID) -> dict[str, Any]:
    kept = JOB_COMPLETION if planned.unfinished_job and offer.status != OfferStatus.DRAFT else ()
    changes = {
        name: value for name, value in planned.values.items() if name not in kept and getattr(offer, name) != value
    }
    if offer.organization_id != organization_id:
        changes["organization_id"] = organization_id
    if planned.confirmed_on and local_date(offer.last_confirmed_at) != planned.confirmed_on:
        changes["last_confirmed_at"] = _confirmed_at(planned.confirmed_on)
    return changes


@dataclass
class _Matched:
    organizations: dict[str, Organization]
    offers: dict[str, Offer]
    own_organizations: set[str]
    own_offers: set[str]
    # Open offers an earlier import made for these organizations that the source no longer lists.
    gone: list[Offer] = field(default_factory=list)


def _match(session: Session, made: Plan) -> _Matched:
    """The records an earlier import made from these ids, and the portal's own records whose ids
    the source carries (an export of this very portal: they are left alone); and the offers that
    have gone from the source: an organization the source lists has the services it lists, so an
    offer imported for it before and missing now was ended there. An organization missing from
    the source altogether is left as it is (a file may hold part of a directory)."""
    organization_ids = list(made.organizations)
    offer_ids = [p.source_id for p in made.services]
    matched = _Matched({}, {}, set(), set())
    for chunk in _chunks(organization_ids):
        for organization in session.exec(select(Organization).where(col(Organization.source_id).in_(chunk))):
            matched.organizations[organization.source_id] = organization
        own = _uuids(chunk)
        if own:
            query = select(Organization.id).where(col(Organization.id).in_(own), Organization.source_id == "")
            matched.own_organizations |= {str(found) for found in session.exec(query)}
    for chunk in _chunks(offer_ids):
        for offer in session.exec(select(Offer).where(col(Offer.source_id).in_(chunk))):
            matched.offers[offer.source_id] = offer
        own = _uuids(chunk)
        if own:
            query = select(Offer.id).where(col(Offer.id).in_(own), Offer.source_id == "")
            matched.own_offers |= {str(found) for found in session.exec(query)}
    listed = set(offer_ids)
    for chunk in _chunks([organization.id for organization in matched.organizations.values()]):
        still = select(Offer).where(
            col(Offer.organization_id).in_(chunk), Offer.source_id != "", Offer.status != OfferStatus.CLOSED
        )
        matched.gone += [offer for offer in session.exec(still) if offer.source_id not in listed]
    matched.gone.sort(key=lambda offer: (offer.title, offer.source_id))
    return matched


@dataclass
class Checked:
    """A dry run: its report, and what applying it would write."""

    plan: Plan
    matched: _Matched

    @property
    def report(self) -> Report:
        return self.plan.report


def dry_run(session: Session, source: Source, progress: Progress | None = None, language: str | None = None) -> Checked:
    """What importing the source would do, and every problem that stops it; nothing is written.
    The offer form's messages in the report are in `language`, else the request's, else English
    (the command's); `progress` is told every few hundred services."""
    if has_request_context() and language is None:
        made = plan(source, progress)
    else:
        with force_locale(LOCALES[language or "en"]):
            made = plan(source, progress)
    report = made.report
    matched = _match(session, made) if report.ok else _Matched({}, {}, set(), set())
    if not report.ok:
        return Checked(made, matched)
    for source_id, values in made.organizations.items():
        if source_id in matched.own_organizations:
            report.warnings.append(problem(source.name, WHOLE_FILE, source_id, "own_record", kind="organization"))
            continue
        existing = matched.organizations.get(source_id)
        if existing is None:
            report.organizations.create += 1
        elif _organization_changed(existing, values, source.name):
            report.organizations.update += 1
        else:
            report.organizations.unchanged += 1
    for planned in made.services:
        if planned.source_id in matched.own_offers or planned.organization_source_id in matched.own_organizations:
            report.warnings.append(problem(source.name, WHOLE_FILE, planned.source_id, "own_record", kind="offer"))
            continue
        offer = matched.offers.get(planned.source_id)
        organization = matched.organizations.get(planned.organization_source_id)
        if offer is None:
            report.offers.create += 1
        elif organization is None or _offer_changes(offer, planned, organization.id):
            report.offers.update += 1
        else:
            report.offers.unchanged += 1
    for offer in matched.gone:
        report.offers.close += 1
        report.warnings.append(problem(source.name, WHOLE_FILE, offer.source_id, "gone", title=offer.title))
    return Checked(made, matched)


def _organization_changed(existing: Organization, values: dict[str, Any], source_name: str) -> bool:
    return any(getattr(existing, name) != value for name, value in values.items()) or existing.source != source_name


def apply(session: Session, checked: Checked, progress: Progress | None = None, actor: User | None = None) -> Report:
    """Write a dry run without problems, in one transaction. Raises Refused for one with problems.
    `progress` is told every few hundred offers; `actor` is the admin who confirmed, for the audit
    trail (none: the command)."""
    if not checked.report.ok:
        raise Refused(f"{len(checked.report.problems)} problem(s): nothing imported")
    _apply(session, checked.plan, checked.matched, progress, actor)
    checked.report.applied = True
    return checked.report


def _kind(services: list[Planned]) -> OrganizationKind:
    return (
        OrganizationKind.EMPLOYER
        if services and all(p.values["category"] == Category.EMPLOYMENT for p in services)
        else OrganizationKind.NGO
    )


def _apply(
    session: Session, made: Plan, matched: _Matched, progress: Progress | None = None, actor: User | None = None
) -> None:
    """Write what the dry run found, in one transaction, with one audit event naming every record
    created or changed. New offers are inserted a thousand to a statement, their search terms with
    them; their matching features are left to `flask matching backfill` (the model takes some 30 ms
    an offer: minutes for thousands), which a worker also computes for itself if it loads an offer
    first, and which no one needs before an admin verifies the organization."""
    source_name = made.report.source
    now = utcnow()
    touched: list[uuid.UUID] = []
    organizations: dict[str, Organization] = {}
    services_of: dict[str, list[Planned]] = {}
    for planned in made.services:
        services_of.setdefault(planned.organization_source_id, []).append(planned)
    for source_id, values in made.organizations.items():
        if source_id in matched.own_organizations:
            continue
        existing = matched.organizations.get(source_id)
        if existing is None:
            existing = Organization(
                kind=_kind(services_of.get(source_id, [])),
                status=VerificationStatus.PENDING,
                api_publication=Publication.NONE,
                source_id=source_id,
                source=source_name,
                **values,
            )
            session.add(existing)
            touched.append(existing.id)
        elif _organization_changed(existing, values, source_name):
            for name, value in values.items():
                setattr(existing, name, value)
            existing.source = source_name
            touched.append(existing.id)
        organizations[source_id] = existing
    session.flush()
    new_rows: list[dict[str, Any]] = []
    term_rows: list[dict[str, Any]] = []
    table = Offer.__table__  # type: ignore[attr-defined]
    total = len(made.services)
    for number, planned in enumerate(made.services):
        if progress is not None and number % PROGRESS_EVERY == 0:
            progress("writing", number, total)
        organization = organizations.get(planned.organization_source_id)
        if organization is None or planned.source_id in matched.own_offers:
            continue
        offer = matched.offers.get(planned.source_id)
        if offer is None:
            offer = Offer(
                organization_id=organization.id,
                source_id=planned.source_id,
                last_confirmed_at=_confirmed_at(planned.confirmed_on),
                created_at=now,
                updated_at=now,
                version=1,
                **planned.values,
            )
            new_rows.append({column.name: getattr(offer, column.name) for column in table.columns})
            term_rows += [{"term": term, "offer_id": offer.id} for term in sorted(offer_terms(offer))]
            touched.append(offer.id)
            continue
        changes = _offer_changes(offer, planned, organization.id)
        if changes:
            for name, value in changes.items():
                setattr(offer, name, value)
            offer.updated_at = now
            touched.append(offer.id)
    for offer in matched.gone:
        offer.status = OfferStatus.CLOSED
        offer.updated_at = now
        touched.append(offer.id)
    session.flush()
    for rows in _chunks(new_rows, 1000):
        session.execute(sa.insert(table), rows)
    terms = OfferTerm.__table__  # type: ignore[attr-defined]
    for rows in _chunks(term_rows, 5000):
        session.execute(sa.insert(terms), rows)
    audit.record_list(session, actor, "hsds_import", "directory", touched)
    session.commit()
    if progress is not None:
        progress("writing", total, total)


def english(report: Report) -> list[str]:
    """The report as the command prints it."""
    lines = [f"source: {report.source}: {report.services_read} service(s) read"]
    for file, problems in report.by_file().items():
        lines.append(f"{file}: {len(problems)} problem(s)")
        lines += [f"  {f'row {p.row}, ' if p.row else ''}{p.field or '-'}: {p.message}" for p in problems]
    for warning in report.warnings:
        lines.append(f"note: {warning}")
    if report.unmapped_terms:
        lines.append("taxonomy terms no Bridge category could be read from (services carrying each):")
        for (name, code, term), count in sorted(report.unmapped_terms.items()):
            lines.append(f"  {name}: {code} {term}".rstrip() + f" ({count})")
    if report.ok:
        verb = "" if report.applied else "would be "
        for name, counts in (("organizations", report.organizations), ("offers", report.offers)):
            closed = f", {counts.close} {verb}closed (gone from the source)" if name == "offers" else ""
            lines.append(
                f"{name}: {counts.create} {verb}created, {counts.update} {verb}updated, {counts.unchanged} unchanged"
                + closed
            )
    else:
        lines.append(f"{len(report.problems)} problem(s): nothing imported")
    return lines
