"""What the consent and override forms accept."""

import uuid
from datetime import date
from typing import Self

from flask_babel import gettext as _
from pydantic import BaseModel, Field, field_validator, model_validator

from portal.clock import local_today
from portal.consents.elements import missing_elements
from portal.forms import FieldErrors
from portal.models import (
    ConsentMethod,
    ConsentPurpose,
    DataCategory,
    ExpiryEvent,
    OverrideBasis,
    RecipientKind,
    SignerRole,
)

ORGANIZATION_PREFIX = "organization:"
KIND_PREFIX = "kind:"


class ConsentForm(BaseModel):
    """One consent: one recipient, one purpose, the categories ticked one by one, and the signature."""

    recipient: str = Field(min_length=1, max_length=60)
    purpose: ConsentPurpose
    data_categories: list[DataCategory] = Field(min_length=1)
    discloser: str = Field(min_length=1, max_length=200)
    valid_from: date
    valid_until: date | None = None
    expiry_event: ExpiryEvent | None = None
    expiry_event_text: str = Field(default="", max_length=300)
    method: ConsentMethod
    signature_ref: str = Field(min_length=1, max_length=100)
    signed_at: date
    signed_by_role: SignerRole = SignerRole.SELF
    representative_name: str = Field(default="", max_length=120)
    revocation_statement_version: str = Field(min_length=1, max_length=20)
    text_version_sha256: str = Field(min_length=1, max_length=64)
    note: str = Field(default="", max_length=2000)

    @field_validator("recipient")
    @classmethod
    def _recipient_form(cls, value: str) -> str:
        if value.startswith(KIND_PREFIX) and value[len(KIND_PREFIX) :] in set(RecipientKind):
            return value
        if value.startswith(ORGANIZATION_PREFIX):
            try:
                uuid.UUID(value[len(ORGANIZATION_PREFIX) :])
            except ValueError:
                pass
            else:
                return value
        raise ValueError(_("Choose one of the options."))

    @model_validator(mode="after")
    def _elements(self) -> Self:
        errors = missing_elements({**self.columns(), "person_id": "given by the page"}, local_today())
        if errors:
            raise FieldErrors(errors)
        return self

    def columns(self) -> dict[str, object]:
        """The consent's columns as typed, whitespace trimmed; the person and the recorder come from
        the page and the signed-in user."""
        return {
            "recipient_organization_id": self.recipient_organization_id,
            "recipient_kind": self.recipient_kind,
            "purpose": self.purpose,
            "data_categories": sorted(str(category) for category in self.data_categories),
            "discloser": self.discloser.strip(),
            "valid_from": self.valid_from,
            "valid_until": self.valid_until,
            "expiry_event": self.expiry_event,
            "expiry_event_text": self.expiry_event_text.strip() if self.expiry_event == ExpiryEvent.OTHER else "",
            "method": self.method,
            "signature_ref": self.signature_ref.strip(),
            "signed_at": self.signed_at,
            "signed_by_role": self.signed_by_role,
            "representative_name": (
                self.representative_name.strip() if self.signed_by_role == SignerRole.REPRESENTATIVE else ""
            ),
            "revocation_statement_version": self.revocation_statement_version,
            "text_version_sha256": self.text_version_sha256,
            "note": self.note.strip(),
        }

    @property
    def recipient_organization_id(self) -> uuid.UUID | None:
        if self.recipient.startswith(ORGANIZATION_PREFIX):
            return uuid.UUID(self.recipient[len(ORGANIZATION_PREFIX) :])
        return None

    @property
    def recipient_kind(self) -> RecipientKind | None:
        if self.recipient.startswith(KIND_PREFIX):
            return RecipientKind(self.recipient[len(KIND_PREFIX) :])
        return None


class OverrideForm(BaseModel):
    """A supervisor's legal basis for sending one referral without consent: a choice and why."""

    basis: OverrideBasis
    note: str = Field(min_length=1, max_length=2000)
