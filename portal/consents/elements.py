"""The elements a written consent must have (42 CFR 2.31(a), 2024 rule), checked in one place: the
consent form and the service that records a consent both ask `missing_elements`, so no path can
store a consent that 2.31(c) would call deficient."""

from collections.abc import Mapping
from datetime import date
from typing import Any

from flask_babel import gettext as _

from portal.consent_text import REVOCATION_STATEMENT_VERSION, known_text_hashes
from portal.models import (
    ConsentMethod,
    ConsentPurpose,
    DataCategory,
    ExpiryEvent,
    RecipientKind,
    SignerRole,
)

REVOCATION_STATEMENT_VERSIONS = frozenset({REVOCATION_STATEMENT_VERSION})


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _one_of(value: Any, choices: type[Any]) -> bool:
    try:
        choices(value)
    except ValueError:
        return False
    return True


def missing_elements(consent: Mapping[str, Any], today: date) -> dict[str, str]:
    """Each missing or invalid element, by the form field that holds it; empty when complete."""
    errors: dict[str, str] = {}
    required = _("This field is required.")
    invalid = _("Choose one of the options.")
    if consent.get("person_id") is None:
        errors["person_id"] = required
    if _blank(consent.get("discloser")):
        errors["discloser"] = required
    categories = consent.get("data_categories") or []
    if not categories:
        errors["data_categories"] = required
    elif not all(_one_of(category, DataCategory) for category in categories):
        errors["data_categories"] = invalid
    organization, kind = consent.get("recipient_organization_id"), consent.get("recipient_kind")
    if (organization is None) == (kind is None) or (kind is not None and not _one_of(kind, RecipientKind)):
        errors["recipient"] = invalid
    if not _one_of(consent.get("purpose"), ConsentPurpose):
        errors["purpose"] = invalid
    if not _one_of(consent.get("method"), ConsentMethod):
        errors["method"] = invalid
    if consent.get("revocation_statement_version") not in REVOCATION_STATEMENT_VERSIONS:
        errors["revocation_statement_version"] = _("The consent text has changed: read the current text again.")
    if consent.get("text_version_sha256") not in known_text_hashes():
        errors["text_version_sha256"] = _("The consent text has changed: read the current text again.")
    _check_dates(consent, today, errors)
    _check_signature(consent, errors)
    return errors


def _check_dates(consent: Mapping[str, Any], today: date, errors: dict[str, str]) -> None:
    valid_from, valid_until, event = consent.get("valid_from"), consent.get("valid_until"), consent.get("expiry_event")
    if not isinstance(valid_from, date):
        errors["valid_from"] = _("This field is required.")
    elif isinstance(valid_until, date) and valid_until < valid_from:
        errors["valid_until"] = _("The consent cannot end before it starts.")
    if valid_until is None and event is None:
        errors["valid_until"] = _("Give an end date or the event that ends the consent.")
    elif event is not None and not _one_of(event, ExpiryEvent):
        errors["expiry_event"] = _("Choose one of the options.")
    elif event == ExpiryEvent.OTHER and _blank(consent.get("expiry_event_text")):
        errors["expiry_event_text"] = _("Say which event ends the consent.")
    signed_at = consent.get("signed_at")
    if not isinstance(signed_at, date):
        errors["signed_at"] = _("This field is required.")
    elif signed_at > today:
        errors["signed_at"] = _("The date signed cannot be in the future.")


def _check_signature(consent: Mapping[str, Any], errors: dict[str, str]) -> None:
    if _blank(consent.get("signature_ref")):
        errors["signature_ref"] = _("This field is required.")
    role = consent.get("signed_by_role")
    if not _one_of(role, SignerRole):
        errors["signed_by_role"] = _("Choose one of the options.")
    elif role == SignerRole.REPRESENTATIVE and _blank(consent.get("representative_name")):
        errors["representative_name"] = _("Give the name of the representative who signed.")
