"""Bridge's directory as HSDS 3.0 documents: an offer is a service, its place a location and a
service-at-location, its categories and eligibility taxonomy terms and attributes.

Only what describes an offer and the organization that chose to publish it: nothing about any
person. Contacts (the offer's contact person, the organization's phone and e-mail) only when the
organization chose to publish them too. Texts Bridge writes (eligibility, schedules, category
names) are in the request's language; what the organization wrote is as written.

Ids: offers and organizations keep theirs; the rows HSDS has and Bridge does not (a location, a
schedule, an attribute) get UUIDs derived from the offer's id, so they too stay the same.
"""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _

from portal.clock import local_date
from portal.hsds import taxonomy
from portal.hsds.taxonomy import Taxonomy, Term
from portal.i18n import language_code
from portal.labels import label
from portal.models import Area, Category, Offer, OfferStatus, Organization, ScheduleSlot

VERSION = "3.0"
# Bridge serves HSDS as it is, with no profile of its own: the profile is the specification's.
PROFILE = "https://docs.openreferral.org/en/3.0/hsds/overview.html"
TIMEZONE = 8  # UTC+8: the times of a schedule are the city's
STATUS = {OfferStatus.OPEN: "active", OfferStatus.PAUSED: "temporarily closed", OfferStatus.CLOSED: "inactive"}
# What Bridge's three times of the week are, as RFC 5545 rules with opening hours.
WEEKDAYS = "MO,TU,WE,TH,FR"
SLOT_RULES: dict[ScheduleSlot, tuple[str, str, str]] = {
    ScheduleSlot.WEEKDAY_DAY: (WEEKDAYS, "09:00", "18:00"),
    ScheduleSlot.WEEKDAY_EVENING: (WEEKDAYS, "18:00", "22:00"),
    ScheduleSlot.WEEKEND: ("SA,SU", "09:00", "18:00"),
}


def derived_id(kind: str, owner: uuid.UUID, part: str = "") -> str:
    return str(uuid.uuid5(taxonomy.NAMESPACE, f"{kind}:{owner}:{part}"))


def linked_id(kind: str, offer_id: uuid.UUID) -> str:
    """The id of the offer's location or service-at-location: the offer's id with a mask of the kind,
    so that the API finds the offer again from it (reversed_id)."""
    return str(reversed_id(kind, offer_id))


def reversed_id(kind: str, linked: uuid.UUID) -> uuid.UUID:
    mask = uuid.uuid5(taxonomy.NAMESPACE, f"mask:{kind}").int
    return uuid.UUID(int=linked.int ^ mask)


def _clean(document: dict[str, Any]) -> dict[str, Any]:
    """Without the fields Bridge has no value for: HSDS leaves them out rather than empty (an empty
    string is not an e-mail address or a URI)."""
    return {key: value for key, value in document.items() if value not in (None, "")}


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


@dataclass(frozen=True)
class Directory:
    """What the documents of a page need besides the offers: their organizations and areas."""

    organizations: dict[uuid.UUID, Organization]
    areas: dict[uuid.UUID, Area]

    def area_name(self, area_id: uuid.UUID | None) -> str:
        area = self.areas.get(area_id) if area_id else None
        if area is None:
            return ""
        return area.name_zh if language_code() == "zh" else area.name_en

    def district_name(self, area_id: uuid.UUID | None) -> str:
        area = self.areas.get(area_id) if area_id else None
        while area is not None and area.parent_id is not None and area.parent_id in self.areas:
            area = self.areas[area.parent_id]
        return self.area_name(area.id) if area else ""


def taxonomy_document(item: Taxonomy) -> dict[str, Any]:
    name = item.name
    return _clean(
        {"id": str(item.id), "name": name, "description": item.description, "uri": item.uri, "version": item.version}
    )


def term_document(term: Term, full: bool = True) -> dict[str, Any]:
    name = term.name
    if term.taxonomy == taxonomy.CATEGORIES:
        name = label(term.code)
    document: dict[str, Any] = {
        "id": str(term.id),
        "code": term.code,
        "name": name,
        "description": term.description,
        "parent_id": str(term.parent_id) if term.parent_id else None,
        "taxonomy": term.taxonomy.name,
        "taxonomy_id": str(term.taxonomy.id),
        "language": language_code() if term.taxonomy == taxonomy.CATEGORIES else "en",
    }
    if full:
        document["taxonomy_detail"] = taxonomy_document(term.taxonomy)
    return _clean(document)


def organization_document(organization: Organization, full: bool = False) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": str(organization.id),
        "name": organization.name,
        "description": organization.description or organization.name,
        "website": organization.website,
        "email": organization.email if organization.api_contacts else "",
    }
    if organization.credit_code:
        document["organization_identifiers"] = [
            {
                "id": derived_id("organization_identifier", organization.id),
                "organization_id": str(organization.id),
                "identifier_scheme": "CN-USCC",
                "identifier_type": "Unified social credit code",
                "identifier": organization.credit_code,
            }
        ]
    if not full:
        document.pop("organization_identifiers", None)
        return _clean(document)
    document["phones"] = (
        [
            {
                "id": derived_id("phone", organization.id),
                "organization_id": str(organization.id),
                "number": organization.phone,
            }
        ]
        if organization.api_contacts and organization.phone
        else []
    )
    return _clean(document)


def eligibility_text(offer: Offer) -> str:
    parts = []
    if offer.min_age is not None and offer.max_age is not None:
        parts.append(_("Ages %(low)d to %(high)d.", low=offer.min_age, high=offer.max_age))
    elif offer.min_age is not None:
        parts.append(_("Aged %(low)d or over.", low=offer.min_age))
    elif offer.max_age is not None:
        parts.append(_("Aged %(high)d or under.", high=offer.max_age))
    if offer.genders:
        parts.append(_("For: %(genders)s.", genders=", ".join(label(g) for g in offer.genders)))
    if offer.min_months_in_recovery:
        parts.append(_("At least %(months)d months in recovery.", months=offer.min_months_in_recovery))
    return " ".join(parts)


def _attribute(offer: Offer, term: Term, value: object = None) -> dict[str, Any]:
    return _clean(
        {
            "id": derived_id("attribute", offer.id, f"{term.taxonomy.key}:{term.code}:{value or ''}"),
            "link_id": str(offer.id),
            "link_type": "service",
            "link_entity": "service",
            "taxonomy_term_id": str(term.id),
            "value": "" if value is None else str(value),
            "taxonomy_term": term_document(term, full=False),
        }
    )


def attributes(offer: Offer) -> list[dict[str, Any]]:
    found = [
        _attribute(offer, taxonomy.category_term(offer.category)),
        _attribute(offer, taxonomy.open_eligibility_term(offer.category)),
        _attribute(offer, taxonomy.attribute_term(taxonomy.CAPACITY), offer.capacity),
    ]
    if offer.min_months_in_recovery:
        found.append(
            _attribute(offer, taxonomy.attribute_term(taxonomy.MONTHS_IN_RECOVERY), offer.min_months_in_recovery)
        )
    found += [_attribute(offer, taxonomy.attribute_term(taxonomy.GENDER), gender) for gender in offer.genders]
    if offer.remote:
        found.append(_attribute(offer, taxonomy.attribute_term(taxonomy.REMOTE), "true"))
    if offer.employment_type:
        found.append(_attribute(offer, taxonomy.attribute_term(taxonomy.EMPLOYMENT_TYPE), offer.employment_type))
    if offer.category == Category.EMPLOYMENT and offer.fair_chance_statement:
        found.append(_attribute(offer, taxonomy.attribute_term(taxonomy.FAIR_CHANCE), offer.fair_chance_statement))
    elif offer.category == Category.EMPLOYMENT and offer.fair_chance_none_given:
        found.append(_attribute(offer, taxonomy.attribute_term(taxonomy.NO_FAIR_CHANCE_STATEMENT), "true"))
    return found


def schedules(offer: Offer) -> list[dict[str, Any]]:
    found = []
    for slot in offer.schedule:
        if slot not in SLOT_RULES:
            continue
        days, opens, closes = SLOT_RULES[ScheduleSlot(slot)]
        found.append(
            {
                "id": derived_id("schedule", offer.id, slot),
                "service_id": str(offer.id),
                "timezone": TIMEZONE,
                "freq": "WEEKLY",
                "interval": 1,
                "wkst": "MO",
                "byday": days,
                "opens_at": opens,
                "closes_at": closes,
                "description": label(slot),
            }
        )
    return found


def languages(offer: Offer, owner_key: str = "service_id") -> list[dict[str, Any]]:
    return [
        {"id": derived_id("language", offer.id, code), owner_key: str(offer.id), "name": label(code), "code": code}
        for code in offer.languages
    ]


def has_location(offer: Offer) -> bool:
    return offer.latitude is not None and offer.longitude is not None or bool(offer.address)


def location_document(offer: Offer, directory: Directory, full: bool) -> dict[str, Any]:
    location_id = linked_id("location", offer.id)
    organization = directory.organizations.get(offer.organization_id) if offer.organization_id else None
    document: dict[str, Any] = {
        "id": location_id,
        "location_type": "physical",
        "organization_id": str(offer.organization_id) if offer.organization_id else None,
        "name": directory.area_name(offer.area_id) or (organization.name if organization else ""),
        "latitude": offer.latitude,
        "longitude": offer.longitude,
    }
    if full:
        document["addresses"] = (
            [
                {
                    "id": derived_id("address", offer.id),
                    "location_id": location_id,
                    "address_1": offer.address,
                    "city": directory.district_name(offer.area_id),
                    "state_province": "",
                    "postal_code": "",
                    "country": "CN",
                    "address_type": "physical",
                }
            ]
            if offer.address
            else []
        )
    return _clean(document)


def service_at_location_document(
    offer: Offer, directory: Directory, full: bool, with_service: bool = True
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": linked_id("service_at_location", offer.id),
        "service_id": str(offer.id),
        "location_id": linked_id("location", offer.id),
        "location": location_document(offer, directory, full),
    }
    if with_service:
        document["service"] = service_document(offer, directory, full=False)
    return _clean(document)


def _contacts(offer: Offer, organization: Organization | None) -> list[dict[str, Any]]:
    if organization is None or not organization.api_contacts or not (offer.contact_name or offer.contact_phone):
        return []
    contact_id = derived_id("contact", offer.id)
    phones = (
        [{"id": derived_id("phone", offer.id), "contact_id": contact_id, "number": offer.contact_phone}]
        if offer.contact_phone
        else []
    )
    return [
        _clean(
            {
                "id": contact_id,
                "service_id": str(offer.id),
                "name": offer.contact_name,
                "email": offer.contact_email,
                "phones": phones,
            }
        )
    ]


def service_document(offer: Offer, directory: Directory, full: bool) -> dict[str, Any]:
    organization = directory.organizations.get(offer.organization_id) if offer.organization_id else None
    publishes_contacts = organization is not None and organization.api_contacts
    document: dict[str, Any] = {
        "id": str(offer.id),
        "organization_id": str(offer.organization_id) if offer.organization_id else None,
        "name": offer.title,
        "description": offer.description,
        "email": offer.contact_email if publishes_contacts else "",
        "status": STATUS.get(offer.status, "inactive"),
        "eligibility_description": eligibility_text(offer),
        "minimum_age": offer.min_age,
        "maximum_age": offer.max_age,
        "assured_date": local_date(offer.last_confirmed_at).isoformat(),
        "last_modified": _iso(offer.updated_at),
    }
    if organization is not None:
        document["organization"] = organization_document(organization)
    if full:
        document |= {
            "schedules": schedules(offer),
            "languages": languages(offer),
            "attributes": attributes(offer),
            "contacts": _contacts(offer, organization),
            "service_at_locations": (
                [service_at_location_document(offer, directory, full=True, with_service=False)]
                if has_location(offer)
                else []
            ),
            "phones": [],
        }
    return _clean(document)


def page_document(contents: Iterable[dict[str, Any]], total: int, page: int, per_page: int) -> dict[str, Any]:
    """The reference's `Page` around a list: page numbers count from 1."""
    items = list(contents)
    pages = max(1, -(-total // per_page))
    return {
        "total_items": total,
        "total_pages": pages,
        "page_number": page,
        "size": len(items),
        "first_page": page == 1,
        "last_page": page >= pages,
        "empty": total == 0,
        "contents": items,
    }
